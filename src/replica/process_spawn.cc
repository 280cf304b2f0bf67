// ProcessReplica's process half: spawning `floe worker`, the READY
// handshake on the status pipe, and stopping it (process_replica.h).
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "core/log.h"
#include "replica/process_replica.h"
#include "replica/process_util.h"

extern char** environ;

namespace floe {

namespace pb = ::floe::internal;

namespace {

using process_detail::DrainEventFd;
using process_detail::Seconds;

// A double as a flag value, exactly ("%.17g": 0.3 stays 0.3 when read back).
std::string FractionArg(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.17g", v);
  return buf;
}

}  // namespace

void ProcessReplica::KillAndReap(int sig) {
  pid_t pid;
  {
    std::lock_guard<std::mutex> lock(mu_);
    pid = pid_;
  }
  if (pid <= 0) return;
  kill(pid, sig);
  if (sig != SIGKILL) {
    // Give it 5 s to drain, then SIGKILL.
    pollfd p{pidfd_, POLLIN, 0};
    if (pidfd_ < 0 || poll(&p, 1, 5000) <= 0) kill(pid, SIGKILL);
  }
  int wstatus = 0;
  while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  if (pidfd_ >= 0) close(pidfd_);
  pidfd_ = -1;
  std::lock_guard<std::mutex> lock(mu_);
  pid_ = 0;
}

Status ProcessReplica::SpawnAndWait() {
  const std::string who = "replica " + std::to_string(options_.id);
  int gen;
  {
    std::lock_guard<std::mutex> lock(mu_);
    gen = ++generation_;
  }
  const std::string address = "unix-abstract:floe-" + std::to_string(getpid()) + "-" +
                              std::to_string(options_.id) + "-" + std::to_string(gen);
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) return InternalError(who + ": pipe: " + strerror(errno));
  // fd 3 in the child; keep the write end off 0..3 so dup2 always clears CLOEXEC.
  int wfd = fcntl(pipefd[1], F_DUPFD_CLOEXEC, 10);
  close(pipefd[1]);
  const int rfd = pipefd[0];

  std::vector<std::string> args = {options_.binary,
                                   "worker",
                                   "--model",
                                   options_.model,
                                   "--address",
                                   address,
                                   "--id",
                                   std::to_string(options_.id),
                                   "--device",
                                   options_.engine.device,
                                   "--dtype",
                                   options_.engine.dtype,
                                   "--threads",
                                   std::to_string(options_.engine.num_threads),
                                   "--max-batch-tokens",
                                   std::to_string(options_.engine.max_batch_tokens),
                                   "--gpu-memory-fraction",
                                   FractionArg(options_.engine.gpu_memory_fraction),
                                   "--parent-pid",
                                   std::to_string(getpid()),
                                   "--status-fd",
                                   "3",
                                   "--log-level",
                                   options_.log_level};
  if (!options_.cores.empty()) {
    args.push_back("--cores");
    args.push_back(options_.cores);
  }
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string kv = *e;
    bool overridden = false;
    for (const auto& [k, v] : options_.env) overridden |= kv.rfind(k + "=", 0) == 0;
    if (!overridden) env.push_back(kv);
  }
  for (const auto& [k, v] : options_.env) env.push_back(k + "=" + v);
  std::vector<char*> argv, envp;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, wfd, 3);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  sigaddset(&defaults, SIGTERM);
  sigaddset(&defaults, SIGINT);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  // Own process group: a terminal's Ctrl-C reaches the manager only, which
  // then stops the workers in order.
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                      POSIX_SPAWN_SETPGROUP);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, options_.binary.c_str(), &fa, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  close(wfd);
  if (rc != 0) {
    close(rfd);
    return InternalError(who + ": cannot start " + options_.binary + ": " + strerror(rc));
  }
  pidfd_ = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  {
    std::lock_guard<std::mutex> lock(mu_);
    pid_ = pid;
  }
  FLOE_LOG(kDebug) << who << ": started worker pid " << pid << " on " << address;

  // The handshake: one line on the pipe, or EOF when the worker dies first.
  std::string line;
  bool stopping = false, timed_out = false;
  const auto end = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                      std::chrono::duration<double>(options_.start_timeout_s));
  for (;;) {
    pollfd fds[2] = {{rfd, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    const int ms = static_cast<int>(std::max<double>(0, Seconds(end - Clock::now()) * 1000));
    const int n = poll(fds, 2, ms);
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) {
      timed_out = true;
      break;
    }
    if (fds[1].revents) {
      DrainEventFd(wake_fd_);
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) {
        stopping = true;
        break;
      }
    }
    if (fds[0].revents) {
      char buf[4096];
      const ssize_t r = read(rfd, buf, sizeof(buf));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) break;  // EOF: the worker is gone
      line.append(buf, static_cast<size_t>(r));
      if (line.find('\n') != std::string::npos) break;
    }
  }
  close(rfd);
  if (auto nl = line.find('\n'); nl != std::string::npos) line.resize(nl);

  if (line == "READY" && !stopping) {
    grpc::ChannelArguments chargs;
    chargs.SetMaxReceiveMessageSize(-1);
    chargs.SetMaxSendMessageSize(-1);
    chargs.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    auto channel = grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), chargs);
    auto stub = std::shared_ptr<pb::Worker::Stub>(pb::Worker::NewStub(channel));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    ctx.set_wait_for_ready(true);
    pb::WorkerInfoResponse info;
    grpc::Status gs = stub->Info(&ctx, pb::WorkerInfoRequest(), &info);
    if (gs.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      channel_ = channel;
      stub_ = stub;
      worker_engine_.device = info.device();
      worker_engine_.dtype = info.dtype();
      worker_engine_.num_threads = info.threads();
      worker_engine_.max_batch_tokens = info.max_batch_tokens();
      worker_engine_.gpu_memory_fraction = info.gpu_memory_fraction();
      state_ = ReplicaState::kReady;
      FLOE_LOG(kInfo) << who << ": ready (worker pid " << pid << ", " << info.device()
                      << (options_.placement.empty() ? "" : ", " + options_.placement) << ", "
                      << info.threads() << " threads)";
      return OkStatus();
    }
    line = "ERROR worker did not answer on " + address + ": " + gs.error_message();
  }
  KillAndReap(SIGKILL);
  if (stopping) return CancelledError(who + ": stopped while starting");
  if (timed_out) {
    return UnavailableError(who + ": worker did not start within " +
                            std::to_string(options_.start_timeout_s) + " s");
  }
  if (line.rfind("ERROR ", 0) == 0) return UnavailableError(line.substr(6));
  return UnavailableError(who + ": worker exited before it was ready");
}

}  // namespace floe
