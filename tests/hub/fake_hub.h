// A local stand-in for the Hugging Face Hub, on 127.0.0.1 inside the test process,
// speaking the hub's URL layout and headers (see src/hub/download.h):
//   GET  /api/models/ORG/NAME/revision/REV   {"sha", "siblings": [{"rfilename"}]}
//   HEAD|GET /ORG/NAME/resolve/REV/FILE      regular files: 200, ETag = git blob sha1;
//        *.safetensors (LFS): 302 to /cdn/<sha256> with X-Linked-Etag, X-Linked-Size
//   GET  /cdn/<sha256>                       the bytes, Range honoured
// Knobs make it misbehave (drop a connection mid-file, lie about a hash, want a token);
// every request is logged so tests can tell what went over the wire.
#pragma once

#include <httplib.h>

#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace floe::testing {

using Files = std::map<std::string, std::string>;  // path in repo -> bytes

class FakeHub {
 public:
  FakeHub();
  ~FakeHub();
  FakeHub(const FakeHub&) = delete;
  FakeHub& operator=(const FakeHub&) = delete;

  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }

  // Adds (or replaces) commit `commit` of `id` and points `ref` (a branch or tag) at it.
  void AddCommit(const std::string& id, const std::string& ref, const std::string& commit,
                 const Files& files);

  // The next `times` GETs of a CDN blob send `bytes` of the answer, then close.
  void DropConnections(int times, size_t bytes) {
    std::lock_guard<std::mutex> l(mu_);
    drops_left_ = times;
    drop_after_ = bytes;
  }
  // Reports a wrong sha256 for `file` (its bytes are served unchanged).
  void LieAboutHash(const std::string& file) {
    std::lock_guard<std::mutex> l(mu_);
    lie_about_ = file;
  }
  // API and resolve requests without "Authorization: Bearer <token>" get 401.
  void RequireToken(const std::string& token) {
    std::lock_guard<std::mutex> l(mu_);
    token_ = token;
  }

  // "METHOD /path [range]" for every request so far.
  std::vector<std::string> log() const {
    std::lock_guard<std::mutex> l(mu_);
    return log_;
  }
  size_t requests() const { return log().size(); }

 private:
  struct Commit {
    Files files;
  };
  struct Repo {
    std::map<std::string, std::string> refs;  // ref -> commit
    std::map<std::string, Commit> commits;
  };
  // The commit `rev` names in `repo` (a ref or a commit hash), or "".
  std::string Resolve(const Repo& repo, const std::string& rev) const;
  bool Authorized(const httplib::Request& req, httplib::Response& res) const;

  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;

  mutable std::mutex mu_;
  std::map<std::string, Repo> repos_;
  std::map<std::string, std::string> blobs_;  // sha256 -> bytes
  std::vector<std::string> log_;
  int drops_left_ = 0;
  size_t drop_after_ = 0;
  std::string lie_about_;
  std::string token_;
};

// Every file under `dir`, by relative path.
Files ReadFolder(const std::string& dir);

}  // namespace floe::testing
