// The hub client against a local fake hub (fake_hub.h): no internet needed.
#include "hub/download.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "api/model_path.h"
#include "floe/embedder.h"
#include "hub/cache.h"
#include "hub/fake_hub.h"
#include "hub/hash.h"

namespace floe::hub {
namespace {
namespace fs = std::filesystem;
using testing::FakeHub;
using testing::Files;

const std::string kModel = std::string(FLOE_TEST_DATA) + "/models/bert-tiny-cls";
const std::string kMain(40, 'b');
const std::string kV1(40, 'a');

std::string Slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

bool HasLine(const std::vector<std::string>& log, const std::string& needle) {
  for (const auto& l : log) {
    if (l.find(needle) != std::string::npos) return true;
  }
  return false;
}

class HubDownloadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static int n = 0;
    cache_ = fs::temp_directory_path() /
             ("floe_hub_test_" + std::to_string(::getpid()) + "_" + std::to_string(n++));
    fs::create_directories(cache_);
    files_ = testing::ReadFolder(kModel);
    hub_.AddCommit("org/tiny", "main", kMain, files_);
    // An older revision whose config.json differs, reachable as "v1" or by hash.
    Files v1 = files_;
    auto cfg = nlohmann::json::parse(v1["config.json"]);
    cfg["_floe_revision"] = "v1";
    v1["config.json"] = cfg.dump(2);
    hub_.AddCommit("org/tiny", "v1", kV1, v1);
    for (const char* v : {"HF_ENDPOINT", "HF_HUB_CACHE", "HF_HOME", "HF_TOKEN",
                          "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE"}) {
      ::unsetenv(v);
    }
    ::setenv("HF_ENDPOINT", hub_.endpoint().c_str(), 1);
    ::setenv("HF_HUB_CACHE", cache_.c_str(), 1);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(cache_, ec);
  }
  HubOptions Options() const {
    HubOptions o;
    o.endpoint = hub_.endpoint();
    o.cache_root = cache_.string();
    o.retry_delay_ms = 10;
    return o;
  }
  fs::path Repo() const { return cache_ / "models--org--tiny"; }

  FakeHub hub_;
  fs::path cache_;
  Files files_;
};

TEST_F(HubDownloadTest, DownloadsIntoTheHubCacheLayout) {
  auto dir = ResolveModelPath("org/tiny");
  ASSERT_TRUE(dir.ok()) << dir.status().ToString();
  EXPECT_EQ(fs::path(*dir), Repo() / "snapshots" / kMain);
  EXPECT_EQ(Slurp(Repo() / "refs" / "main"), kMain);
  // Every file of the fixture is needed, and each is a relative symlink to its blob.
  for (const auto& [name, bytes] : files_) {
    const fs::path p = fs::path(*dir) / name;
    ASSERT_TRUE(fs::is_symlink(p)) << name;
    EXPECT_TRUE(fs::read_symlink(p).is_relative()) << name;
    EXPECT_EQ(Slurp(p), bytes) << name;
  }
  // Blobs are named as the hub names them: sha256 for LFS, git sha1 otherwise.
  EXPECT_TRUE(fs::exists(Repo() / "blobs" /
                         HashBytes(files_["model.safetensors"], HashKind::kSha256)));
  EXPECT_TRUE(fs::exists(Repo() / "blobs" /
                         HashBytes(files_["config.json"], HashKind::kGitBlobSha1)));
  for (const auto& e : fs::directory_iterator(Repo() / "blobs")) {
    EXPECT_EQ(e.path().string().find(".incomplete"), std::string::npos) << e.path();
  }
}

TEST_F(HubDownloadTest, DownloadedModelEmbedsLikeTheFolder) {
  auto by_id = Embedder::Open("org/tiny");
  ASSERT_TRUE(by_id.ok()) << by_id.status().ToString();
  auto by_folder = Embedder::Open(kModel);
  ASSERT_TRUE(by_folder.ok()) << by_folder.status().ToString();
  auto a = (*by_id)->Embed({{"hello world", {}}});
  auto b = (*by_folder)->Embed({{"hello world", {}}});
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*a, *b);
}

TEST_F(HubDownloadTest, CachedModelMakesNoRequest) {
  ASSERT_TRUE(ResolveModelPath("org/tiny").ok());
  const size_t before = hub_.requests();
  auto again = ResolveModelPath("org/tiny");
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(hub_.requests(), before);
}

TEST_F(HubDownloadTest, FetchesOnlyTheFilesFloeReads) {
  Files f = files_;
  f["pytorch_model.bin"] = "not wanted";
  f["onnx/model.onnx"] = "not wanted";
  f["README.md"] = "not wanted";
  hub_.AddCommit("org/extra", "main", kMain, f);
  auto dir = DownloadSnapshot({"org/extra", "main"}, Options());
  ASSERT_TRUE(dir.ok()) << dir.status().ToString();
  EXPECT_FALSE(fs::exists(fs::path(*dir) / "pytorch_model.bin"));
  EXPECT_FALSE(fs::exists(fs::path(*dir) / "README.md"));
  EXPECT_FALSE(HasLine(hub_.log(), "pytorch_model.bin"));
  EXPECT_FALSE(HasLine(hub_.log(), "onnx"));
}

TEST_F(HubDownloadTest, FetchesShardsNamedByTheIndex) {
  Files f;
  f["config.json"] = files_["config.json"];
  f["vocab.txt"] = files_["vocab.txt"];
  f["model-00001-of-00002.safetensors"] = std::string(100000, 'x');
  f["model-00002-of-00002.safetensors"] = std::string(50000, 'y');
  f["model-unused.safetensors"] = "z";
  f["model.safetensors.index.json"] = R"({"metadata": {}, "weight_map": {
      "a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors",
      "c": "model-00001-of-00002.safetensors"}})";
  hub_.AddCommit("org/sharded", "main", kMain, f);
  auto dir = DownloadSnapshot({"org/sharded", "main"}, Options());
  ASSERT_TRUE(dir.ok()) << dir.status().ToString();
  EXPECT_EQ(Slurp(fs::path(*dir) / "model-00001-of-00002.safetensors"),
            f["model-00001-of-00002.safetensors"]);
  EXPECT_EQ(Slurp(fs::path(*dir) / "model-00002-of-00002.safetensors"),
            f["model-00002-of-00002.safetensors"]);
  EXPECT_FALSE(fs::exists(fs::path(*dir) / "model-unused.safetensors"));
}

TEST_F(HubDownloadTest, RevisionByRefAndByCommit) {
  auto dir = ResolveModelPath("org/tiny@v1");
  ASSERT_TRUE(dir.ok()) << dir.status().ToString();
  EXPECT_EQ(fs::path(*dir), Repo() / "snapshots" / kV1);
  EXPECT_EQ(Slurp(Repo() / "refs" / "v1"), kV1);
  EXPECT_NE(Slurp(fs::path(*dir) / "config.json").find("_floe_revision"),
            std::string::npos);
  // Same blobs (all but config.json) are not fetched twice.
  const size_t before = hub_.requests();
  auto main = ResolveModelPath("org/tiny");
  ASSERT_TRUE(main.ok()) << main.status().ToString();
  EXPECT_EQ(Slurp(fs::path(*main) / "config.json"), files_["config.json"]);
  int gets = 0;
  auto log = hub_.log();
  for (size_t i = before; i < log.size(); ++i)
    gets += log[i].rfind("GET /org/tiny/resolve", 0) == 0;
  EXPECT_EQ(gets, 1) << "only config.json differs";
  // A commit hash works as a revision and is found in the cache without a ref.
  auto by_hash = ResolveModelPath("org/tiny@" + kV1);
  ASSERT_TRUE(by_hash.ok());
  EXPECT_EQ(*by_hash, *dir);
}

TEST_F(HubDownloadTest, UnknownRepoIsNotFound) {
  auto dir = ResolveModelPath("org/nope");
  ASSERT_FALSE(dir.ok());
  EXPECT_EQ(dir.status().code(), StatusCode::kNotFound);
  EXPECT_NE(dir.status().message().find("org/nope"), std::string::npos)
      << dir.status().message();
  EXPECT_NE(dir.status().message().find("404"), std::string::npos)
      << dir.status().message();
  EXPECT_FALSE(fs::exists(cache_ / "models--org--nope" / "snapshots"));
}

TEST_F(HubDownloadTest, UnknownRevisionIsNotFound) {
  auto dir = ResolveModelPath("org/tiny@v9");
  ASSERT_FALSE(dir.ok());
  EXPECT_EQ(dir.status().code(), StatusCode::kNotFound);
  EXPECT_NE(dir.status().message().find("revision 'v9'"), std::string::npos)
      << dir.status().message();
}

TEST_F(HubDownloadTest, NotAModelIsRefused) {
  hub_.AddCommit("org/bin", "main", kMain,
                 {{"config.json", "{}"}, {"pytorch_model.bin", "x"}, {"vocab.txt", "a"}});
  auto dir = DownloadSnapshot({"org/bin", "main"}, Options());
  ASSERT_FALSE(dir.ok());
  EXPECT_EQ(dir.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(dir.status().message().find("pytorch_model.bin must be converted"),
            std::string::npos);
}

TEST_F(HubDownloadTest, TokenIsSentAndItsAbsenceExplained) {
  hub_.RequireToken("hf_secret");
  auto denied = ResolveModelPath("org/tiny");
  ASSERT_FALSE(denied.ok());
  EXPECT_EQ(denied.status().code(), StatusCode::kUnauthenticated);
  EXPECT_NE(denied.status().message().find("HF_TOKEN"), std::string::npos);
  ::setenv("HF_TOKEN", "hf_secret", 1);
  auto dir = ResolveModelPath("org/tiny");
  EXPECT_TRUE(dir.ok()) << dir.status().ToString();
}

TEST_F(HubDownloadTest, ResumesAfterADroppedConnection) {
  const size_t size = files_["model.safetensors"].size();
  hub_.DropConnections(1, size / 2);
  auto dir = DownloadSnapshot({"org/tiny", "main"}, Options());
  ASSERT_TRUE(dir.ok()) << dir.status().ToString();
  EXPECT_EQ(Slurp(fs::path(*dir) / "model.safetensors"), files_["model.safetensors"]);
  // The second GET asked for the rest only.
  EXPECT_TRUE(HasLine(hub_.log(), "bytes=" + std::to_string(size / 2) + "-"))
      << ::testing::PrintToString(hub_.log());
}

TEST_F(HubDownloadTest, ResumesAnEarlierRunsPartialFile) {
  const std::string& weights = files_["model.safetensors"];
  const std::string sha = HashBytes(weights, HashKind::kSha256);
  // Every attempt of the first run is cut short: it fails, keeping what it got.
  HubOptions o = Options();
  o.max_attempts = 2;
  hub_.DropConnections(2, 1 << 20);
  auto first = DownloadSnapshot({"org/tiny", "main"}, o);
  ASSERT_FALSE(first.ok());
  EXPECT_EQ(first.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(first.status().message().find("run again to resume"), std::string::npos)
      << first.status().message();
  const fs::path incomplete = Repo() / "blobs" / (sha + ".incomplete");
  ASSERT_TRUE(fs::exists(incomplete));
  EXPECT_EQ(fs::file_size(incomplete), 2u << 20);
  EXPECT_FALSE(fs::exists(Repo() / "snapshots" / kMain / "model.safetensors"));
  EXPECT_FALSE(fs::exists(Repo() / "refs" / "main"));
  // The next run asks for the rest.
  auto second = DownloadSnapshot({"org/tiny", "main"}, o);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_TRUE(HasLine(hub_.log(), "bytes=" + std::to_string(2 << 20) + "-"));
  EXPECT_EQ(Slurp(fs::path(*second) / "model.safetensors"), weights);
  EXPECT_FALSE(fs::exists(incomplete));
}

TEST_F(HubDownloadTest, HashMismatchIsRejected) {
  hub_.LieAboutHash("model.safetensors");
  auto dir = ResolveModelPath("org/tiny");
  ASSERT_FALSE(dir.ok());
  EXPECT_EQ(dir.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(dir.status().message().find("sha256"), std::string::npos)
      << dir.status().message();
  // Nothing half-checked is left where it could be used.
  EXPECT_FALSE(fs::exists(Repo() / "snapshots" / kMain / "model.safetensors"));
  EXPECT_FALSE(fs::exists(Repo() / "refs" / "main"));
  for (const auto& e : fs::directory_iterator(Repo() / "blobs")) {
    EXPECT_EQ(e.path().string().find(".incomplete"), std::string::npos) << e.path();
  }
}

TEST_F(HubDownloadTest, OfflineModeUsesTheCacheOnly) {
  ::setenv("HF_HUB_OFFLINE", "1", 1);
  auto missing = ResolveModelPath("org/tiny");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("HF_HUB_OFFLINE"), std::string::npos);
  EXPECT_EQ(hub_.requests(), 0u);

  ::unsetenv("HF_HUB_OFFLINE");
  ASSERT_TRUE(ResolveModelPath("org/tiny").ok());
  ::setenv("HF_HUB_OFFLINE", "1", 1);
  const size_t before = hub_.requests();
  auto cached = ResolveModelPath("org/tiny");
  EXPECT_TRUE(cached.ok()) << cached.status().ToString();
  EXPECT_EQ(hub_.requests(), before);
}

TEST_F(HubDownloadTest, UnreachableHubIsUnavailable) {
  HubOptions o = Options();
  o.endpoint = "http://127.0.0.1:1";  // nothing listens there
  o.max_attempts = 2;
  auto dir = DownloadSnapshot({"org/tiny", "main"}, o);
  ASSERT_FALSE(dir.ok());
  EXPECT_EQ(dir.status().code(), StatusCode::kUnavailable);
}

TEST_F(HubDownloadTest, IncompleteSnapshotIsCompleted) {
  // A snapshot holding only config.json (as `AutoConfig` leaves it) is not a model.
  ASSERT_TRUE(WriteFileAtomically((Repo() / "snapshots" / kMain / "config.json").string(),
                                  files_["config.json"])
                  .ok());
  ASSERT_TRUE(WriteFileAtomically((Repo() / "refs" / "main").string(), kMain).ok());
  EXPECT_FALSE(FindCachedSnapshot(cache_.string(), {"org/tiny", "main"}).has_value());
  auto dir = ResolveModelPath("org/tiny");
  ASSERT_TRUE(dir.ok()) << dir.status().ToString();
  EXPECT_TRUE(IsCompleteModelFolder(*dir));
}

TEST(HubRepoRef, Parses) {
  auto r = ParseRepoRef("Snowflake/snowflake-arctic-embed-m-v1.5@v1");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->id, "Snowflake/snowflake-arctic-embed-m-v1.5");
  EXPECT_EQ(r->revision, "v1");
  EXPECT_EQ(ParseRepoRef("a/b")->revision, "main");
  for (const char* bad : {"a", "/a", "a/", "a/b/c", "../a", "a/b@", "a/b@x/y", "a/..b"}) {
    EXPECT_FALSE(ParseRepoRef(bad).ok()) << bad;
  }
}

TEST(HubHash, MatchesGitAndSha256) {
  // `printf hello | git hash-object --stdin` and `printf hello | sha256sum`
  EXPECT_EQ(HashBytes("hello", HashKind::kGitBlobSha1),
            "b6fc4c620b67d95f953a5c1c1230aaab5db5a1b0");
  EXPECT_EQ(HashBytes("hello", HashKind::kSha256),
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
}

}  // namespace
}  // namespace floe::hub
