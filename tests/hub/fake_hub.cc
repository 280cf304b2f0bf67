#include "hub/fake_hub.h"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "hub/hash.h"

namespace floe::testing {
namespace fs = std::filesystem;
using hub::HashBytes;
using hub::HashKind;

namespace {
bool IsLfs(const std::string& file) {
  return file.size() > 12 && file.compare(file.size() - 12, 12, ".safetensors") == 0;
}
std::string Quoted(const std::string& s) {
  std::string q;
  q.reserve(s.size() + 2);
  q.append(1, '"').append(s).append(1, '"');
  return q;
}
void NotFound(httplib::Response& res, const std::string& code,
              const std::string& message) {
  res.status = 404;
  res.set_header("X-Error-Code", code);
  res.set_content(nlohmann::json{{"error", message}}.dump(), "application/json");
}
}  // namespace

Files ReadFolder(const std::string& dir) {
  Files files;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    std::ifstream in(e.path(), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    files[fs::relative(e.path(), dir).string()] = ss.str();
  }
  return files;
}

FakeHub::FakeHub() {
  server_.set_logger([this](const httplib::Request& req, const httplib::Response&) {
    std::lock_guard<std::mutex> l(mu_);
    std::string line = req.method;
    line.append(" ").append(req.path);
    if (req.has_header("Range")) line.append(" ").append(req.get_header_value("Range"));
    log_.push_back(line);
  });

  server_.Get(R"(/api/models/([^/]+/[^/]+)/revision/([^/]+))", [this](
                                                                   const httplib::Request&
                                                                       req,
                                                                   httplib::Response&
                                                                       res) {
    if (!Authorized(req, res)) return;
    std::lock_guard<std::mutex> l(mu_);
    auto it = repos_.find(req.matches[1]);
    if (it == repos_.end()) {
      return NotFound(res, "RepositoryNotFound", "Repository not found");
    }
    const std::string commit = Resolve(it->second, req.matches[2]);
    if (commit.empty()) {
      return NotFound(res, "RevisionNotFound",
                      "Invalid rev id: " + std::string(req.matches[2]));
    }
    nlohmann::json siblings = nlohmann::json::array();
    for (const auto& [name, bytes] : it->second.commits.at(commit).files) {
      siblings.push_back({{"rfilename", name}});
    }
    nlohmann::json j = {{"id", req.matches[1]}, {"sha", commit}, {"siblings", siblings}};
    res.set_content(j.dump(), "application/json");
  });

  server_.Get(R"(/([^/]+/[^/]+)/resolve/([^/]+)/(.+))",
              [this](const httplib::Request& req, httplib::Response& res) {
                if (!Authorized(req, res)) return;
                std::lock_guard<std::mutex> l(mu_);
                auto it = repos_.find(req.matches[1]);
                if (it == repos_.end())
                  return NotFound(res, "RepositoryNotFound", "Repository not found");
                const std::string commit = Resolve(it->second, req.matches[2]);
                if (commit.empty())
                  return NotFound(res, "RevisionNotFound", "Invalid rev id");
                const std::string file = req.matches[3];
                const Files& files = it->second.commits.at(commit).files;
                auto f = files.find(file);
                if (f == files.end())
                  return NotFound(res, "EntryNotFound", "Entry not found");
                res.set_header("X-Repo-Commit", commit);
                res.set_header(
                    "ETag", Quoted(HashBytes(f->second, HashKind::kGitBlobSha1)));
                if (IsLfs(file)) {
                  std::string sha = HashBytes(f->second, HashKind::kSha256);
                  blobs_[sha] = f->second;
                  const std::string reported =
                      file == lie_about_ ? HashBytes("something else", HashKind::kSha256)
                                         : sha;
                  res.set_header("X-Linked-Etag", Quoted(reported));
                  res.set_header("X-Linked-Size", std::to_string(f->second.size()));
                  res.set_redirect(endpoint() + "/cdn/" + sha, 302);
                  return;
                }
                res.set_content(f->second, "application/octet-stream");
              });

  server_.Get(R"(/cdn/([0-9a-f]{64}))", [this](const httplib::Request& req,
                                               httplib::Response& res) {
    std::lock_guard<std::mutex> l(mu_);
    auto it = blobs_.find(req.matches[1]);
    if (it == blobs_.end()) return NotFound(res, "EntryNotFound", "no such blob");
    const std::string* bytes = &it->second;
    size_t budget = std::string::npos;
    if (req.method == "GET" && drops_left_ > 0) {
      --drops_left_;
      budget = drop_after_;
    }
    // httplib applies the Range: the provider is asked for [offset, offset+length).
    res.set_content_provider(
        bytes->size(), "application/octet-stream",
        [bytes, budget](size_t offset, size_t length, httplib::DataSink& sink) mutable {
          const size_t n = std::min<size_t>({length, 64 * 1024, budget});
          if (n == 0) return false;  // budget spent: drop the connection
          sink.write(bytes->data() + offset, n);
          if (budget != std::string::npos) budget -= n;
          return true;
        });
  });

  port_ = server_.bind_to_any_port("127.0.0.1");
  thread_ = std::thread([this] { server_.listen_after_bind(); });
  while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

FakeHub::~FakeHub() {
  server_.stop();
  thread_.join();
}

void FakeHub::AddCommit(const std::string& id, const std::string& ref,
                        const std::string& commit, const Files& files) {
  std::lock_guard<std::mutex> l(mu_);
  repos_[id].commits[commit].files = files;
  repos_[id].refs[ref] = commit;
}

std::string FakeHub::Resolve(const Repo& repo, const std::string& rev) const {
  if (auto r = repo.refs.find(rev); r != repo.refs.end()) return r->second;
  if (repo.commits.count(rev)) return rev;
  return "";
}

bool FakeHub::Authorized(const httplib::Request& req, httplib::Response& res) const {
  std::lock_guard<std::mutex> l(mu_);
  if (token_.empty() || req.get_header_value("Authorization") == "Bearer " + token_)
    return true;
  res.status = 401;
  res.set_header("X-Error-Code", "RepositoryNotFound");
  res.set_content(R"({"error":"Invalid username or password."})", "application/json");
  return false;
}

}  // namespace floe::testing
