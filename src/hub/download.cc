#include "hub/download.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "hub/hash.h"
#include "hub/http.h"
#include "hub/progress.h"

namespace floe::hub {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

bool EnvTrue(const char* name) {
  const char* v = std::getenv(name);
  if (!v) return false;
  std::string s(v);
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return s == "1" || s == "true" || s == "yes" || s == "on";
}

// Percent-encodes each path segment, keeping the '/' between them.
std::string EscapePath(const std::string& path) {
  std::string out;
  size_t start = 0;
  while (true) {
    const size_t slash = path.find('/', start);
    const std::string seg = path.substr(
        start, slash == std::string::npos ? std::string::npos : slash - start);
    char* e = curl_easy_escape(nullptr, seg.c_str(), static_cast<int>(seg.size()));
    out += e ? e : seg;
    curl_free(e);
    if (slash == std::string::npos) break;
    out += '/';
    start = slash + 1;
  }
  return out;
}

// ETag: W/"abc" or "abc" -> abc
std::string NormalizeEtag(std::string etag) {
  if (etag.rfind("W/", 0) == 0) etag = etag.substr(2);
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') {
    etag = etag.substr(1, etag.size() - 2);
  }
  return etag;
}

// The hub's error body is {"error": "..."}; anything else is cut short.
std::string HubMessage(const HttpResponse& r) {
  auto j = json::parse(r.body, nullptr, false);
  if (j.is_object() && j.contains("error") && j["error"].is_string()) {
    return j["error"].get<std::string>();
  }
  std::string s = r.body.substr(0, 200);
  std::replace(s.begin(), s.end(), '\n', ' ');
  return s;
}

bool Retryable(long status) { return status == 429 || status >= 500; }

class Hub {
 public:
  Hub(const RepoRef& ref, const HubOptions& o)
      : ref_(ref), o_(o), repo_folder_(RepoFolder(o.cache_root, ref.id)) {}

  StatusOr<std::string> Run();

 private:
  struct FileMeta {
    std::string etag;
    uint64_t size = 0;
    bool size_known = false;
  };

  std::vector<std::string> Headers() const {
    std::vector<std::string> h;
    if (!o_.token.empty()) h.push_back("Authorization: Bearer " + o_.token);
    return h;
  }
  // Runs `fetch` until it gives a non-retryable answer or attempts run out.
  template <typename F>
  StatusOr<HttpResponse> WithRetries(const F& fetch) const;
  Status StatusFor(const HttpResponse& r, const std::string& what) const;

  Status FetchFileList();
  StatusOr<FileMeta> Head(const std::string& file) const;
  Status FetchBlob(const std::string& file, const FileMeta& meta) const;
  Status Fetch(const std::string& file);

  RepoRef ref_;
  HubOptions o_;
  std::string repo_folder_;
  std::string commit_;
  std::set<std::string> siblings_;
  std::vector<std::pair<std::string, std::string>> fetched_;  // file, etag
};

template <typename F>
StatusOr<HttpResponse> Hub::WithRetries(const F& fetch) const {
  int delay = o_.retry_delay_ms;
  for (int attempt = 1;; ++attempt) {
    StatusOr<HttpResponse> r = fetch();
    const bool again =
        r.ok() ? Retryable(r->status) : r.status().code() == StatusCode::kUnavailable;
    if (!again || attempt >= o_.max_attempts) return r;
    std::this_thread::sleep_for(std::chrono::milliseconds(delay));
    delay *= 2;
  }
}

Status Hub::StatusFor(const HttpResponse& r, const std::string& what) const {
  const std::string msg = HubMessage(r);
  const std::string detail =
      " (HTTP " + std::to_string(r.status) + (msg.empty() ? "" : ": " + msg) + ")";
  if (r.status == 401 || r.status == 403) {
    return UnauthenticatedError(
        what + " on " + o_.endpoint + " needs authorization" + detail +
        ": the repository is private, gated or does not exist; " +
        (o_.token.empty() ? "set HF_TOKEN to a token that can read it"
                          : "the HF_TOKEN given cannot read it"));
  }
  if (r.status == 404) {
    const std::string code = r.Header("x-error-code");
    if (code == "RevisionNotFound") {
      return NotFoundError("revision '" + ref_.revision + "' of " + ref_.id +
                           " not found on " + o_.endpoint + detail);
    }
    return NotFoundError(what + " not found on " + o_.endpoint + detail);
  }
  return UnavailableError(what + ": " + o_.endpoint + " answered" + detail);
}

Status Hub::FetchFileList() {
  HttpRequest req;
  req.url =
      o_.endpoint + "/api/models/" + ref_.id + "/revision/" + EscapePath(ref_.revision);
  req.headers = Headers();
  FLOE_ASSIGN_OR_RETURN(HttpResponse r, WithRetries([&] { return HttpFetch(req); }));
  if (r.status != 200) return StatusFor(r, "model '" + ref_.ToString() + "'");
  auto j = json::parse(r.body, nullptr, false);
  if (!j.is_object() || !j.contains("sha") || !j["sha"].is_string()) {
    return UnavailableError(req.url + ": no commit (\"sha\") in the answer");
  }
  commit_ = j["sha"].get<std::string>();
  if (commit_.empty() || commit_.find('/') != std::string::npos ||
      commit_.find("..") != std::string::npos) {
    return UnavailableError(req.url + ": bad commit \"" + commit_ + "\"");
  }
  if (j.contains("siblings") && j["siblings"].is_array()) {
    for (const auto& s : j["siblings"]) {
      if (s.is_object() && s.contains("rfilename") && s["rfilename"].is_string()) {
        siblings_.insert(s["rfilename"].get<std::string>());
      }
    }
  }
  return OkStatus();
}

StatusOr<Hub::FileMeta> Hub::Head(const std::string& file) const {
  HttpRequest req;
  req.url = o_.endpoint + "/" + ref_.id + "/resolve/" + commit_ + "/" + EscapePath(file);
  req.headers = Headers();
  req.head = true;
  req.follow_redirects = false;  // the LFS metadata is on the redirect itself
  HttpResponse r;
  for (int hops = 0;; ++hops) {
    FLOE_ASSIGN_OR_RETURN(r, WithRetries([&] { return HttpFetch(req); }));
    const std::string location = r.Header("location");
    // A relative redirect is the hub's own (a renamed repo): follow it. An absolute
    // one is the CDN holding an LFS file: its metadata is already here.
    if (r.status >= 300 && r.status < 400 && !location.empty() && location[0] == '/' &&
        hops < 5) {
      req.url = o_.endpoint + location;
      continue;
    }
    break;
  }
  if (r.status >= 400) return StatusFor(r, "'" + file + "' of " + ref_.ToString());
  FileMeta meta;
  meta.etag = NormalizeEtag(!r.Header("x-linked-etag").empty() ? r.Header("x-linked-etag")
                                                               : r.Header("etag"));
  if (meta.etag.empty() || meta.etag.find('/') != std::string::npos ||
      meta.etag.find("..") != std::string::npos) {
    return UnavailableError(req.url + ": the hub gave no usable ETag");
  }
  const std::string size = !r.Header("x-linked-size").empty()
                               ? r.Header("x-linked-size")
                               : r.Header("content-length");
  if (!size.empty()) {
    char* end = nullptr;
    meta.size = std::strtoull(size.c_str(), &end, 10);
    meta.size_known = end && *end == '\0';
  }
  const std::string commit = r.Header("x-repo-commit");
  if (!commit.empty() && commit != commit_) {
    return UnavailableError(req.url + ": the hub answered for commit " + commit +
                            ", not " + commit_);
  }
  return meta;
}

// Holds an exclusive lock on a file for its lifetime (other floe processes that
// fetch the same blob wait, then find it done).
class FileLock {
 public:
  explicit FileLock(const std::string& path)
      : fd_(::open(path.c_str(), O_RDWR | O_CREAT, 0644)) {
    if (fd_ >= 0) ::flock(fd_, LOCK_EX);
  }
  ~FileLock() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_;
};

Status Hub::FetchBlob(const std::string& file, const FileMeta& meta) const {
  std::error_code ec;
  const fs::path blobs = fs::path(repo_folder_) / "blobs";
  const fs::path blob = blobs / meta.etag;
  auto done = [&] {
    return fs::exists(blob, ec) &&
           (!meta.size_known || fs::file_size(blob, ec) == meta.size);
  };
  if (done()) return OkStatus();
  fs::create_directories(blobs, ec);
  if (ec) return InternalError("cannot create " + blobs.string() + ": " + ec.message());
  FileLock lock(blob.string() + ".lock");
  if (done()) return OkStatus();

  const std::string incomplete = blob.string() + ".incomplete";
  auto have = [&]() -> uint64_t {
    return fs::exists(incomplete, ec) ? fs::file_size(incomplete, ec) : 0;
  };
  if (meta.size_known && have() > meta.size) fs::remove(incomplete, ec);

  HttpRequest req;
  req.url = o_.endpoint + "/" + ref_.id + "/resolve/" + commit_ + "/" + EscapePath(file);
  req.headers = Headers();
  ProgressLine progress(ref_.id + " " + file, meta.size_known ? meta.size : 0,
                        o_.progress);
  int delay = o_.retry_delay_ms;
  for (int attempt = 1;; ++attempt) {
    if (meta.size_known && have() == meta.size) break;  // e.g. finished by an earlier run
    auto r = HttpFetchToFile(req, incomplete,
                             [&](uint64_t d, uint64_t) { progress.Update(d); });
    if (r.ok() && r->status >= 200 && r->status < 300) {
      if (!meta.size_known || have() == meta.size) break;
      r = UnavailableError(req.url + ": got " + std::to_string(have()) + " of " +
                           std::to_string(meta.size) + " bytes");
    } else if (r.ok() &&
               r->status == 416) {  // our partial file does not fit the server's
      fs::remove(incomplete, ec);
      r = UnavailableError(req.url + ": range not satisfiable, starting over");
    } else if (r.ok() && !Retryable(r->status)) {
      progress.Finish(false);
      return StatusFor(*r, "'" + file + "' of " + ref_.ToString());
    }
    if (attempt >= o_.max_attempts) {
      progress.Finish(false);
      const Status s =
          r.ok() ? StatusFor(*r, "'" + file + "' of " + ref_.ToString()) : r.status();
      return Status(s.code(), "downloading '" + file + "' failed after " +
                                  std::to_string(attempt) +
                                  " attempts (run again to resume from " +
                                  FormatBytes(have()) + "): " + s.message());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(delay));
    delay *= 2;
  }
  const uint64_t got = have();
  if (meta.size_known && got != meta.size) {
    progress.Finish(false);
    fs::remove(incomplete, ec);
    return DataLossError("'" + file + "' of " + ref_.ToString() + ": downloaded " +
                         std::to_string(got) + " bytes, the hub reports " +
                         std::to_string(meta.size) + " (partial file deleted)");
  }
  HashKind kind;
  if (EtagHashKind(meta.etag, &kind)) {
    FLOE_ASSIGN_OR_RETURN(std::string digest, HashFile(incomplete, kind));
    if (digest != meta.etag) {
      progress.Finish(false);
      fs::remove(incomplete, ec);
      return DataLossError(
          "'" + file + "' of " + ref_.ToString() +
          " is corrupt: " + (kind == HashKind::kSha256 ? "sha256 " : "git sha1 ") +
          digest + ", the hub reports " + meta.etag + " (file deleted; run again)");
    }
  }
  progress.Finish(true);
  fs::permissions(incomplete, fs::perms(0644), ec);
  fs::rename(incomplete, blob, ec);
  if (ec) return InternalError("cannot rename " + incomplete + ": " + ec.message());
  return OkStatus();
}

Status Hub::Fetch(const std::string& file) {
  FLOE_ASSIGN_OR_RETURN(FileMeta meta, Head(file));
  FLOE_RETURN_IF_ERROR(FetchBlob(file, meta));
  fetched_.emplace_back(file, meta.etag);
  return OkStatus();
}

// Reads a JSON file of the blob just fetched (modules.json, the weights index).
json ReadJson(const fs::path& path) {
  std::ifstream in(path);
  return json::parse(in, nullptr, false);
}

StatusOr<std::string> Hub::Run() {
  if (o_.offline) {
    return FailedPreconditionError("HF_HUB_OFFLINE is set: not downloading " +
                                   ref_.ToString());
  }
  FLOE_RETURN_IF_ERROR(FetchFileList());
  FLOE_ASSIGN_OR_RETURN(std::vector<std::string> files,
                        SelectModelFiles({siblings_.begin(), siblings_.end()}));
  for (const auto& f : files) {
    Status s = Fetch(f);
    if (!s.ok()) return s;
  }
  // Second round: what the first round's files point at.
  std::vector<std::string> more;
  for (const auto& [file, etag] : fetched_) {
    const fs::path blob = fs::path(repo_folder_) / "blobs" / etag;
    if (file == "model.safetensors.index.json") {
      json j = ReadJson(blob);
      if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object()) {
        return DataLossError(ref_.ToString() +
                             ": model.safetensors.index.json has no weight_map");
      }
      std::set<std::string> shards;
      for (const auto& [name, shard] : j["weight_map"].items()) {
        if (shard.is_string()) shards.insert(shard.get<std::string>());
      }
      for (const auto& s : shards) {
        if (!siblings_.count(s)) {
          return NotFoundError(ref_.ToString() + ": shard '" + s +
                               "' named by the index is not in the repository");
        }
        more.push_back(s);
      }
    } else if (file == "modules.json") {
      json j = ReadJson(blob);
      if (!j.is_array()) continue;
      for (const auto& m : j) {
        if (!m.is_object() || !m.contains("path") || !m["path"].is_string()) continue;
        const std::string cfg = m["path"].get<std::string>() + "/config.json";
        if (siblings_.count(cfg) &&
            std::find(files.begin(), files.end(), cfg) == files.end()) {
          more.push_back(cfg);
        }
      }
    }
  }
  for (const auto& f : more) FLOE_RETURN_IF_ERROR(Fetch(f));

  // Every blob is in place: now the snapshot, then the ref, so neither ever points
  // at a missing file.
  for (const auto& [file, etag] : fetched_) {
    FLOE_RETURN_IF_ERROR(LinkSnapshotFile(repo_folder_, commit_, file, etag));
  }
  if (ref_.revision != commit_) {
    FLOE_RETURN_IF_ERROR(WriteFileAtomically(
        (fs::path(repo_folder_) / "refs" / ref_.revision).string(), commit_));
  }
  return (fs::path(repo_folder_) / "snapshots" / commit_).string();
}

}  // namespace

HubOptions HubOptions::FromEnvironment() {
  HubOptions o;
  if (const char* v = std::getenv("HF_ENDPOINT"); v && *v) o.endpoint = v;
  while (!o.endpoint.empty() && o.endpoint.back() == '/') o.endpoint.pop_back();
  if (const char* v = std::getenv("HF_TOKEN"); v && *v) {
    o.token = v;
  } else if (const char* v2 = std::getenv("HUGGING_FACE_HUB_TOKEN"); v2 && *v2) {
    o.token = v2;
  }
  o.cache_root = DefaultCacheRoot();
  o.offline = EnvTrue("HF_HUB_OFFLINE");
  o.progress = !EnvTrue("FLOE_NO_PROGRESS");
  return o;
}

StatusOr<std::vector<std::string>> SelectModelFiles(
    const std::vector<std::string>& siblings) {
  const std::set<std::string> have(siblings.begin(), siblings.end());
  if (!have.count("config.json")) {
    return FailedPreconditionError(
        "the repository has no config.json: not a Transformers model");
  }
  std::vector<std::string> files = {"config.json"};
  if (have.count("model.safetensors")) {
    files.push_back("model.safetensors");
  } else if (have.count("model.safetensors.index.json")) {
    files.push_back("model.safetensors.index.json");  // shards follow from it
  } else {
    return FailedPreconditionError(
        "the repository has no safetensors weights (model.safetensors or "
        "model.safetensors.index.json)" +
        std::string(have.count("pytorch_model.bin")
                        ? "; pytorch_model.bin must be converted first"
                        : ""));
  }
  if (!have.count("tokenizer.json") && !have.count("vocab.txt")) {
    return FailedPreconditionError(
        "the repository has no tokenizer.json and no vocab.txt");
  }
  for (const char* f :
       {"tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json",
        "modules.json", "config_sentence_transformers.json", "sentence_bert_config.json",
        "1_Pooling/config.json"}) {
    if (have.count(f)) files.push_back(f);
  }
  return files;
}

Status ProbeHub(const HubOptions& options, long connect_timeout_s) {
  if (options.offline) return FailedPreconditionError("HF_HUB_OFFLINE is set");
  HttpRequest req;
  req.url = options.endpoint + "/";
  req.head = true;
  req.follow_redirects = false;
  req.connect_timeout_s = connect_timeout_s;
  req.stall_timeout_s = connect_timeout_s;
  auto r = HttpFetch(req);
  if (!r.ok()) return r.status().WithPrefix(options.endpoint + " is not reachable");
  return OkStatus();
}

StatusOr<std::string> DownloadSnapshot(const RepoRef& ref, const HubOptions& options) {
  Hub hub(ref, options);
  return hub.Run();
}

}  // namespace floe::hub
