#include "replica/process_replica.h"

#include <grpcpp/grpcpp.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>

#include "core/log.h"
#include "replica/process_util.h"
#include "replica/worker_codec.h"

namespace floe {

namespace pb = ::floe::internal;

struct ProcessReplica::Call {
  std::shared_ptr<EmbedJob> job;
  EmbedCallback done;
  size_t tokens = 0;
  bool job_deadline = false;  // the call's deadline is the job's own
  std::atomic<bool> cancelled{false};
  std::string fail_reason;  // set before TryCancel by FailInFlight (under mu_)
  grpc::ClientContext ctx;
  pb::WorkerEmbedRequest req;
  pb::WorkerEmbedResponse resp;
};

namespace {

using process_detail::DrainEventFd;
using process_detail::Poke;
using process_detail::Seconds;
using process_detail::SystemDeadline;

std::string DescribeExit(int wstatus) {
  if (WIFEXITED(wstatus)) return "exited with code " + std::to_string(WEXITSTATUS(wstatus));
  if (WIFSIGNALED(wstatus)) {
    return std::string("killed by signal ") + std::to_string(WTERMSIG(wstatus)) + " (" +
           strsignal(WTERMSIG(wstatus)) + ")";
  }
  return "stopped";
}

// One Health probe in flight; its callback only touches this state (never
// the replica), so a probe may outlive the worker it was sent to.
struct Probe {
  Probe() : fd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}
  ~Probe() {
    if (fd >= 0) close(fd);
  }
  int fd;
  grpc::ClientContext ctx;
  pb::WorkerHealthRequest req;
  pb::WorkerHealthResponse resp;
  std::atomic<bool> done{false};
  grpc::Status status;
};

// A worker's answer has the job's shape: per-token matrices of each input's
// length when the job asked for them, one vector per input otherwise.
StatusOr<EmbedOutput> CheckShape(const EmbedJob& job, EmbedOutput out, const std::string& who) {
  if (out.per_token != job.params.per_token) {
    return InternalError(who + " answered " + (out.per_token ? "per-token" : "pooled") +
                         " vectors to a " + (job.params.per_token ? "per-token" : "pooled") +
                         " request");
  }
  for (size_t i = 0; out.per_token && i < out.vectors.size(); ++i) {
    if (out.vectors[i].size() != job.inputs[i].size() * static_cast<size_t>(out.dimension)) {
      return InternalError(who + " answered input " + std::to_string(i) + " with " +
                           std::to_string(out.vectors[i].size()) + " floats for " +
                           std::to_string(job.inputs[i].size()) + " tokens");
    }
  }
  return out;
}

}  // namespace

ProcessReplica::ProcessReplica(ProcessReplicaOptions options) : options_(std::move(options)) {
  wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  supervisor_ = std::thread([this] { Supervise(); });
}

ProcessReplica::~ProcessReplica() {
  Drain();
  if (wake_fd_ >= 0) close(wake_fd_);
}

pid_t ProcessReplica::pid() const {
  std::lock_guard<std::mutex> lock(mu_);
  return pid_;
}

RuntimeOptions ProcessReplica::worker_engine() const {
  std::lock_guard<std::mutex> lock(mu_);
  return worker_engine_;
}

bool ProcessReplica::healthy() const {
  std::lock_guard<std::mutex> lock(mu_);
  return state_ == ReplicaState::kReady && !stopping_;
}

ReplicaStats ProcessReplica::stats() const {
  ReplicaStats s;
  s.id = options_.id;
  s.placement = options_.placement;
  std::lock_guard<std::mutex> lock(mu_);
  s.state = state_;
  s.device = worker_engine_.device.empty() ? options_.engine.device : worker_engine_.device;
  if (!options_.placement.empty()) s.device += " (" + options_.placement + ")";
  s.dtype = worker_engine_.device.empty() ? options_.engine.dtype : worker_engine_.dtype;
  s.pid = pid_;
  s.queued_jobs = calls_.size();
  s.queued_tokens = queued_tokens_;
  s.requests_served = served_;
  s.restarts = restarts_;
  s.last_error = last_error_;
  s.gave_up = gave_up_;
  return s;
}

BatchStats ProcessReplica::batch_stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  BatchStats all = retired_batches_;
  all.Add(worker_batches_);
  return all;
}

void ProcessReplica::Submit(std::shared_ptr<EmbedJob> job, EmbedCallback done) {
  if (job->inputs.empty()) {
    done(EmbedOutput{});
    return;
  }
  if (job->cancelled.load()) {
    done(CancelledError("request " + job->request_id + " was cancelled"));
    return;
  }
  auto call = std::make_shared<Call>();
  call->tokens = job->total_tokens();
  worker::JobToRequest(*job, &call->req);
  auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                     std::chrono::duration<double>(options_.forward_timeout_s));
  if (job->deadline <= deadline) {
    deadline = job->deadline;
    call->job_deadline = true;
  }
  call->ctx.set_deadline(SystemDeadline(deadline));
  call->job = std::move(job);
  call->done = std::move(done);

  std::shared_ptr<pb::Worker::Stub> stub;
  uint64_t id = 0;
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (state_ != ReplicaState::kReady || stopping_ || !stub_) {
      const std::string why = stopping_ ? "shutting down" : ReplicaStateName(state_);
      lock.unlock();
      call->done(UnavailableError("replica " + std::to_string(options_.id) + " is not ready (" +
                                  why + ")"));
      return;
    }
    id = next_call_++;
    calls_[id] = call;
    queued_tokens_ += call->tokens;
    stub = stub_;
  }
  stub->async()->Embed(
      &call->ctx, &call->req, &call->resp, [this, call, id, stub](grpc::Status gs) {
        StatusOr<EmbedOutput> result = InternalError("unset");
        const std::string who = "replica " + std::to_string(options_.id);
        if (gs.ok()) {
          result = worker::OutputFromResponse(call->resp, call->job->inputs.size(), who);
          if (result.ok()) result = CheckShape(*call->job, std::move(result).value(), who);
        } else if (gs.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
          if (call->job_deadline) {
            result = DeadlineExceededError("deadline passed for request " +
                                           call->job->request_id);
          } else {
            result = UnavailableError(who + " did not answer within --forward-timeout " +
                                      std::to_string(options_.forward_timeout_s) + " s");
          }
        } else if (gs.error_code() == grpc::StatusCode::CANCELLED) {
          if (call->cancelled.load() || call->job->cancelled.load()) {
            result = CancelledError("request " + call->job->request_id + " was cancelled");
          } else {
            std::string reason;
            {
              std::lock_guard<std::mutex> lock(mu_);
              reason = call->fail_reason;
            }
            result = UnavailableError(who + ": " + (reason.empty() ? gs.error_message() : reason));
          }
        } else if (gs.error_code() == grpc::StatusCode::UNAVAILABLE) {
          result = UnavailableError(who + ": " + gs.error_message());
          Poke(wake_fd_);  // let the supervisor look at the process now
        } else {
          result = worker::FromGrpc(gs);
        }
        {
          std::lock_guard<std::mutex> lock(mu_);
          calls_.erase(id);
          queued_tokens_ -= std::min<uint64_t>(queued_tokens_, call->tokens);
          if (result.ok()) served_++;
          cv_.notify_all();
        }
        call->done(std::move(result));
      });
}

bool ProcessReplica::Cancel(const std::string& request_id) {
  std::vector<std::shared_ptr<Call>> hits;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [id, c] : calls_) {
      if (c->job->request_id == request_id) hits.push_back(c);
    }
  }
  for (auto& c : hits) {
    c->cancelled = true;
    c->ctx.TryCancel();
  }
  return !hits.empty();
}

void ProcessReplica::FailInFlight(const std::string& why) {
  std::vector<std::shared_ptr<Call>> all;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [id, c] : calls_) {
      c->fail_reason = why;
      all.push_back(c);
    }
  }
  for (auto& c : all) c->ctx.TryCancel();
}

bool ProcessReplica::SleepUnlessStopping(double seconds) {
  std::unique_lock<std::mutex> lock(mu_);
  return !cv_.wait_for(lock, std::chrono::duration<double>(seconds), [this] { return stopping_; });
}

void ProcessReplica::Watch() {
  const std::string who = "replica " + std::to_string(options_.id);
  std::shared_ptr<pb::Worker::Stub> stub;
  pid_t pid;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stub = stub_;
    pid = pid_;
  }
  const auto interval = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(std::max(0.01, options_.health_interval_s)));
  const auto probe_timeout = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(std::max(1.0, options_.health_interval_s)));
  int failed = 0;
  std::shared_ptr<Probe> probe;
  auto next_probe = Clock::now() + interval;
  for (;;) {
    Clock::time_point wake_at = probe ? Clock::time_point::max() : next_probe;
    pollfd fds[3] = {{pidfd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}, {probe ? probe->fd : -1, POLLIN, 0}};
    int ms = -1;
    if (wake_at != Clock::time_point::max()) {
      ms = static_cast<int>(std::max<double>(0, Seconds(wake_at - Clock::now()) * 1000) + 1);
    }
    const int n = poll(fds, 3, ms);
    if (n < 0 && errno == EINTR) continue;
    if (fds[0].revents) {
      int wstatus = 0;
      while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
      }
      close(pidfd_);
      pidfd_ = -1;
      const std::string why = "worker pid " + std::to_string(pid) + " " + DescribeExit(wstatus);
      bool stopping;
      {
        std::lock_guard<std::mutex> lock(mu_);
        stopping = stopping_;
        pid_ = 0;
        state_ = ReplicaState::kUnhealthy;
        if (!stopping) last_error_ = why;
        stub_.reset();
        channel_.reset();
      }
      if (!stopping) {
        FLOE_LOG(kWarn) << who << ": " << why << "; taken out of rotation";
      }
      FailInFlight(why);
      return;
    }
    if (fds[1].revents) {
      DrainEventFd(wake_fd_);
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;  // Supervise() stops the worker
    }
    if (probe && probe->done.load()) {
      DrainEventFd(probe->fd);
      if (probe->status.ok() && probe->resp.serving()) {
        failed = 0;
        auto batches = worker::BatchStatsFromProto(probe->resp.batches());
        std::lock_guard<std::mutex> lock(mu_);
        if (batches.ok()) worker_batches_ = std::move(batches).value();
      } else {
        ++failed;
        FLOE_LOG(kWarn) << who << ": health probe " << failed << "/" << options_.health_failures
                        << " failed: "
                        << (probe->status.ok() ? "not serving" : probe->status.error_message());
      }
      probe.reset();
      next_probe = Clock::now() + interval;
      if (failed >= options_.health_failures) {
        const std::string why = "worker pid " + std::to_string(pid) + " failed " +
                                std::to_string(failed) + " health probes in a row";
        {
          std::lock_guard<std::mutex> lock(mu_);
          state_ = ReplicaState::kUnhealthy;
          last_error_ = why;
          stub_.reset();
          channel_.reset();
        }
        FLOE_LOG(kWarn) << who << ": " << why << "; taken out of rotation and killed";
        FailInFlight(why);
        KillAndReap(SIGKILL);
        return;
      }
    }
    if (!probe && Clock::now() >= next_probe) {
      probe = std::make_shared<Probe>();
      probe->ctx.set_deadline(SystemDeadline(Clock::now() + probe_timeout));
      stub->async()->Health(&probe->ctx, &probe->req, &probe->resp,
                            [p = probe](grpc::Status s) {
                              p->status = std::move(s);
                              p->done = true;
                              Poke(p->fd);
                            });
    }
  }
}

void ProcessReplica::Supervise() {
  const std::string who = "replica " + std::to_string(options_.id);
  int failures_in_row = 0;
  bool ever_ready = false;
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) break;
      state_ = ReplicaState::kStarting;
    }
    Status s = SpawnAndWait();
    if (s.ok()) {
      ever_ready = true;
      const auto ready_at = Clock::now();
      Watch();
      {
        std::lock_guard<std::mutex> lock(mu_);
        retired_batches_.Add(worker_batches_);  // counts only grow across restarts
        worker_batches_ = BatchStats();
        if (stopping_) break;
      }
      if (Clock::now() - ready_at > std::chrono::seconds(60)) failures_in_row = 0;
    } else {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) break;
      last_error_ = s.message();
    }
    if (!s.ok() && !ever_ready) {
      FLOE_LOG(kError) << who << ": cannot start: " << s.message();
      std::lock_guard<std::mutex> lock(mu_);
      gave_up_ = true;
      state_ = ReplicaState::kStopped;
      return;
    }
    ++failures_in_row;
    if (failures_in_row > options_.max_restarts) {
      std::lock_guard<std::mutex> lock(mu_);
      FLOE_LOG(kError) << who << ": gave up after " << options_.max_restarts
                       << " restarts in a row (--max-restarts); last error: " << last_error_;
      gave_up_ = true;
      state_ = ReplicaState::kStopped;
      return;
    }
    const double backoff =
        std::min(30.0, options_.restart_backoff_s * std::pow(2.0, failures_in_row - 1));
    FLOE_LOG(kWarn) << who << ": restarting in " << backoff << " s (" << failures_in_row << "/"
                    << options_.max_restarts << ")";
    if (!SleepUnlessStopping(backoff)) break;
    std::lock_guard<std::mutex> lock(mu_);
    restarts_++;
  }
  // Drain(): stop the worker, if one runs. SIGTERM lets it answer what it
  // still holds (normally nothing: Drain waited for the calls in flight).
  KillAndReap(SIGTERM);
  std::lock_guard<std::mutex> lock(mu_);
  stub_.reset();
  channel_.reset();
  state_ = ReplicaState::kStopped;
}

void ProcessReplica::Drain() {
  std::lock_guard<std::mutex> drain_lock(drain_mu_);
  if (drained_) return;
  drained_ = true;
  {
    std::unique_lock<std::mutex> lock(mu_);
    stopping_ = true;
    cv_.notify_all();
    cv_.wait_for(lock, std::chrono::seconds(30), [this] { return calls_.empty(); });
  }
  FailInFlight("shutting down");
  {
    // Callbacks of the failed calls come quickly; wait so none outlives us.
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(5), [this] { return calls_.empty(); });
  }
  Poke(wake_fd_);
  if (supervisor_.joinable()) supervisor_.join();
}

}  // namespace floe
