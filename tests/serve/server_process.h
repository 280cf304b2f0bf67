// Starts the real `floe serve` (FLOE_BINARY) on free loopback ports with the
// fixture model, waits for /health, and stops it with SIGTERM.
#pragma once

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

namespace floe::test {

inline std::string FixtureModel() { return std::string(FLOE_TEST_DATA) + "/models/bert-tiny-cls"; }
inline std::string GoldenFile() { return std::string(FLOE_TEST_DATA) + "/golden/bert-tiny-cls.jsonl"; }

inline int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

class ServerProcess {
 public:
  // Extra flags after --model/--host/--port/--http-port.
  explicit ServerProcess(std::vector<std::string> extra = {},
                         const std::string& model = FixtureModel()) {
    grpc_port_ = FreePort();
    http_port_ = FreePort();
    while (http_port_ == grpc_port_) http_port_ = FreePort();
    std::vector<std::string> args = {FLOE_BINARY,  "serve",
                                     "--model",    model,
                                     "--host",     "127.0.0.1",
                                     "--port",     std::to_string(grpc_port_),
                                     "--http-port", std::to_string(http_port_),
                                     "--log-level", "warn",
                                     "--http-keep-alive", "1"};
    args.insert(args.end(), extra.begin(), extra.end());
    pid_ = fork();
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGTERM);  // no orphan server when a test crashes
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    ready_ = WaitHealthy(std::chrono::seconds(60));
  }
  ~ServerProcess() {
    if (pid_ > 0) Stop();
  }

  bool ready() const { return ready_; }
  int grpc_port() const { return grpc_port_; }
  int http_port() const { return http_port_; }
  std::string grpc_target() const { return "127.0.0.1:" + std::to_string(grpc_port_); }
  pid_t pid() const { return pid_; }
  bool alive() const { return pid_ > 0 && waitpid(pid_, nullptr, WNOHANG) == 0; }

  httplib::Client Http() const {
    httplib::Client c("127.0.0.1", http_port_);
    c.set_read_timeout(60);
    c.set_write_timeout(60);
    return c;
  }

  // SIGTERM, then waits; returns the exit code (or -signal).
  int Stop() {
    if (pid_ <= 0) return -1;
    int status = 0;
    for (int i = 0; i < 600; ++i) {
      if (i == 0) kill(pid_, SIGTERM);
      pid_t r = waitpid(pid_, &status, WNOHANG);
      if (r == pid_) break;
      if (i == 599) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    pid_ = -1;
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    return -WTERMSIG(status);
  }

 private:
  bool WaitHealthy(std::chrono::seconds limit) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
      }
      httplib::Client c("127.0.0.1", http_port_);
      c.set_connection_timeout(1);
      auto r = c.Get("/health");
      if (r && r->status == 200) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

  pid_t pid_ = -1;
  int grpc_port_ = 0;
  int http_port_ = 0;
  bool ready_ = false;
};

struct GoldenRow {
  std::string text;
  std::vector<int32_t> ids;
  std::vector<float> embedding;
  std::string prompt_name;  // "" = none
  int dimensions = 0;       // 0 = full
  bool plain() const { return prompt_name.empty() && dimensions == 0; }
};

// Rows without prompt_name/dimensions when `plain_only`.
inline std::vector<GoldenRow> LoadGolden(bool plain_only = true) {
  std::vector<GoldenRow> rows;
  std::ifstream in(GoldenFile());
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line);
    GoldenRow row;
    row.text = j["text"].get<std::string>();
    row.ids = j["ids"].get<std::vector<int32_t>>();
    row.embedding = j["embedding"].get<std::vector<float>>();
    if (j.contains("prompt_name") && j["prompt_name"].is_string()) {
      row.prompt_name = j["prompt_name"].get<std::string>();
    }
    if (j.contains("dimensions") && j["dimensions"].is_number_integer()) {
      row.dimensions = j["dimensions"].get<int>();
    }
    if (!plain_only || row.plain()) rows.push_back(std::move(row));
  }
  return rows;
}

inline double Cosine(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size() || a.empty()) return -2;
  double ab = 0, aa = 0, bb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    ab += double(a[i]) * b[i];
    aa += double(a[i]) * a[i];
    bb += double(b[i]) * b[i];
  }
  return ab / std::sqrt(aa * bb + 1e-30);
}

}  // namespace floe::test
