// `floe serve --num-replicas 2` as a user runs it: real processes on
// loopback, spoken to with ArcticInference's gRPC protocol. Vectors against
// the golden file, a worker killed under load, a model that cannot load,
// SIGTERM and SIGKILL of the server leaving no worker behind.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>

#include "arctic_inference/inference.grpc.pb.h"
#include "replica_test_util.h"
#include "serve/server_process.h"  // FixtureModel, FreePort, LoadGolden, Cosine (no HTTP used)

namespace floe {
namespace {

using test::ProcessAlive;
using test::WaitFor;
namespace ai = ::arctic_inference;

struct ReplicaView {
  pid_t pid = 0;
  bool ready = false;
  std::string config;
};

bool PortOpen(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  close(fd);
  return ok;
}

// `floe serve` over gRPC only, started on a free port.
class Server {
 public:
  explicit Server(std::vector<std::string> extra) {
    port_ = test::FreePort();
    std::vector<std::string> args = {FLOE_BINARY, "serve", "--model", test::FixtureModel(),
                                     "--host", "127.0.0.1", "--port", std::to_string(port_),
                                     "--no-http", "--log-level", getenv("FLOE_TEST_LOG") ? getenv("FLOE_TEST_LOG") : "error"};
    args.insert(args.end(), extra.begin(), extra.end());
    pid_ = fork();
    if (pid_ == 0) {
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    // The channel is made once the port listens: a gRPC channel that found
    // nothing there backs off for seconds before it tries again.
    const bool listening = WaitFor(
        [&] {
          if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
            pid_ = -1;
            return true;
          }
          return PortOpen(port_);
        },
        60);
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(port_),
                                   grpc::InsecureChannelCredentials());
    stub_ = ai::InferenceService::NewStub(channel_);
    ready_ = listening && pid_ > 0 && WaitFor(
        [&] {
          if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
            pid_ = -1;
            return true;
          }
          return Healthy();
        },
        60) &&
             pid_ > 0;
  }
  ~Server() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }

  bool ready() const { return ready_; }
  pid_t pid() const { return pid_; }

  bool Healthy() {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(500));
    ai::HealthCheckResponse resp;
    return stub_->HealthCheck(&ctx, ai::HealthCheckRequest(), &resp).ok() && resp.healthy();
  }

  std::vector<ReplicaView> Replicas() {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    ai::ReplicaInfoResponse resp;
    std::vector<ReplicaView> out;
    if (!stub_->GetReplicaInfo(&ctx, ai::ReplicaInfoRequest(), &resp).ok()) return out;
    static const std::regex pid_re("pid=([0-9]+)");
    for (const auto& r : resp.replica_infos()) {
      ReplicaView v;
      v.ready = r.ready();
      v.config = r.parallel_config();
      std::smatch m;
      if (std::regex_search(v.config, m, pid_re)) v.pid = std::stoi(m[1]);
      out.push_back(v);
    }
    return out;
  }

  // Embeds token ids; "" and the vectors on success, else the error.
  std::string Encode(const std::vector<std::vector<int32_t>>& ids,
                     std::vector<std::vector<float>>* vectors, const std::string& id = "") {
    ai::EncodeRequest req;
    req.set_request_id(id);
    req.set_n_prompts(static_cast<int>(ids.size()));
    for (const auto& v : ids) {
      req.add_token_id_bytes_i32(std::string(reinterpret_cast<const char*>(v.data()), v.size() * 4));
    }
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    ai::EncodeResponse resp;
    grpc::Status s = stub_->Encode(&ctx, req, &resp);
    if (!s.ok()) return "grpc " + std::to_string(s.error_code()) + ": " + s.error_message();
    if (!resp.error().empty()) return resp.error();
    if (vectors) {
      vectors->clear();
      for (const auto& b : resp.embedding_bytes_fp32()) {
        std::vector<float> v(b.size() / 4);
        std::memcpy(v.data(), b.data(), b.size());
        vectors->push_back(std::move(v));
      }
    }
    return "";
  }

  // SIGTERM, then the exit code.
  int Stop() {
    kill(pid_, SIGTERM);
    int status = 0;
    if (!WaitFor([&] { return waitpid(pid_, &status, WNOHANG) == pid_; }, 30)) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
    }
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
  }

  void KillHard() {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  bool ready_ = false;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<ai::InferenceService::Stub> stub_;
};

std::vector<pid_t> WorkerPids(Server& s) {
  std::vector<pid_t> pids;
  for (const auto& r : s.Replicas()) pids.push_back(r.pid);
  return pids;
}

TEST(ServeReplicas, TwoReplicasAgreeWithGoldenVectorsOnDisjointCores) {
  Server s({"--num-replicas", "2"});
  ASSERT_TRUE(s.ready());
  // Serving starts with the first ready replica; wait for the second too.
  ASSERT_TRUE(WaitFor(
      [&] {
        auto r = s.Replicas();
        return r.size() == 2 && r[0].ready && r[1].ready;
      },
      20));
  auto reps = s.Replicas();
  ASSERT_EQ(reps.size(), 2u);
  for (const auto& r : reps) {
    EXPECT_TRUE(r.ready) << r.config;
    EXPECT_GT(r.pid, 0) << r.config;
    EXPECT_NE(r.pid, s.pid());
  }
  if (std::thread::hardware_concurrency() >= 2) {
    EXPECT_NE(test::CpusAllowed(reps[0].pid), test::CpusAllowed(reps[1].pid));
  }
  const auto golden = test::LoadGolden();
  ASSERT_FALSE(golden.empty());
  // One request per row, so both replicas (round robin) serve some.
  const size_t dim = golden[0].embedding.size();
  int compared = 0;
  for (const auto& row : golden) {
    if (row.embedding.size() != dim) continue;  // a row made with `dimensions`
    ++compared;
    std::vector<std::vector<float>> v;
    ASSERT_EQ(s.Encode({row.ids}, &v), "");
    ASSERT_EQ(v.size(), 1u);
    EXPECT_GE(test::Cosine(v[0], row.embedding), 0.99999) << row.text;
  }
  // And all rows in one request.
  std::vector<std::vector<int32_t>> all;
  for (const auto& row : golden) all.push_back(row.ids);
  std::vector<std::vector<float>> v;
  ASSERT_EQ(s.Encode(all, &v), "");
  ASSERT_EQ(v.size(), golden.size());
  for (size_t i = 0; i < v.size(); ++i) {
    if (golden[i].embedding.size() == dim) {
      EXPECT_GE(test::Cosine(v[i], golden[i].embedding), 0.99999);
    }
  }
  EXPECT_GE(compared, 40);
  EXPECT_EQ(s.Stop(), 0);
}

TEST(ServeReplicas, KilledWorkerUnderLoadLosesNoRequestAndComesBack) {
  Server s({"--num-replicas", "2", "--health-interval", "0.2", "--load-balancing",
            "least_loaded"});
  ASSERT_TRUE(s.ready());
  const auto pids = WorkerPids(s);
  ASSERT_EQ(pids.size(), 2u);
  const auto golden = test::LoadGolden();
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, failed{0};
  std::mutex err_mu;
  std::string first_error;
  std::vector<std::thread> clients;
  for (int c = 0; c < 8; ++c) {
    clients.emplace_back([&, c] {
      for (int i = 0; !stop; ++i) {
        std::vector<std::vector<int32_t>> batch;
        for (int k = 0; k < 8; ++k) batch.push_back(golden[(c * 7 + i + k) % golden.size()].ids);
        std::string e = s.Encode(batch, nullptr);
        if (e.empty()) {
          ++ok;
        } else {
          ++failed;
          std::lock_guard<std::mutex> lock(err_mu);
          if (first_error.empty()) first_error = e;
        }
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  ASSERT_EQ(kill(pids[0], SIGKILL), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  stop = true;
  for (auto& t : clients) t.join();
  EXPECT_EQ(failed.load(), 0) << first_error;
  EXPECT_GT(ok.load(), 20);
  // Back within seconds, with a new pid, and serving.
  ASSERT_TRUE(WaitFor(
      [&] {
        auto r = s.Replicas();
        return r.size() == 2 && r[0].ready && r[0].pid != pids[0] && r[0].pid > 0;
      },
      10));
  const pid_t fresh = s.Replicas()[0].pid;
  EXPECT_TRUE(ProcessAlive(fresh));
  EXPECT_FALSE(ProcessAlive(pids[0]));
  for (int i = 0; i < 10; ++i) EXPECT_EQ(s.Encode({golden[i].ids}, nullptr), "");
  EXPECT_EQ(s.Stop(), 0);
}

TEST(ServeReplicas, ModelThatCannotLoadFailsServeWithTheWorkersError) {
  // The frontend only tokenizes (on the CPU); the workers are asked for CUDA,
  // which this build or machine may not have, so the error is the worker's.
  // Where CUDA works the server starts instead, and that is fine too.
  auto r = test::RunCaptured({FLOE_BINARY, "serve", "--model", test::FixtureModel(), "--host",
                              "127.0.0.1", "--port", std::to_string(test::FreePort()),
                              "--no-http", "--num-replicas", "2", "--device", "cuda:7",
                              "--gpu-memory-utilization", "1.0", "--log-level", "error"},
                             20);
  if (!r.timed_out) {
    EXPECT_NE(r.exit_code, 0) << r.err;
    EXPECT_LT(r.seconds, 10) << r.err;
    EXPECT_NE(r.err.find("no replica could start"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("replica"), std::string::npos) << r.err;
  }
  // A folder that is not a model: fails fast, names the problem.
  char dir[] = "/tmp/floe-badmodel-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  {
    std::ofstream(std::string(dir) + "/config.json") << "{not json";
  }
  auto bad = test::RunCaptured({FLOE_BINARY, "serve", "--model", dir, "--host", "127.0.0.1",
                                "--port", std::to_string(test::FreePort()), "--no-http",
                                "--num-replicas", "2", "--log-level", "error"},
                               20);
  std::filesystem::remove_all(dir);
  EXPECT_FALSE(bad.timed_out);
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_LT(bad.seconds, 10);
  EXPECT_NE(bad.err.find("config.json"), std::string::npos) << bad.err;
}

TEST(ServeReplicas, SigtermStopsWorkersAndLeavesNoOrphan) {
  Server s({"--num-replicas", "2"});
  ASSERT_TRUE(s.ready());
  const auto pids = WorkerPids(s);
  ASSERT_EQ(pids.size(), 2u);
  for (pid_t p : pids) ASSERT_TRUE(ProcessAlive(p));
  EXPECT_EQ(s.Stop(), 0);
  for (pid_t p : pids) EXPECT_TRUE(WaitFor([&] { return !ProcessAlive(p); }, 5)) << p;
}

TEST(ServeReplicas, SigkilledServerLeavesNoOrphan) {
  Server s({"--num-replicas", "2"});
  ASSERT_TRUE(s.ready());
  const auto pids = WorkerPids(s);
  ASSERT_EQ(pids.size(), 2u);
  s.KillHard();
  for (pid_t p : pids) EXPECT_TRUE(WaitFor([&] { return !ProcessAlive(p); }, 5)) << p;
}

}  // namespace
}  // namespace floe
