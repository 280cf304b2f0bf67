#include "serve/grpc_health.h"

#include "core/log.h"

namespace floe {

GrpcHealthWatcher::GrpcHealthWatcher(grpc::HealthCheckServiceInterface* health,
                                     std::vector<std::string> services,
                                     std::function<bool()> serving,
                                     std::chrono::milliseconds period)
    : health_(health),
      services_(std::move(services)),
      serving_(std::move(serving)),
      period_(period) {
  if (!health_) return;
  Update();
  thread_ = std::thread([this] {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stopped_) {
      cv_.wait_for(lock, period_);
      if (stopped_) break;
      lock.unlock();
      const bool serving = serving_();  // outside mu_: it may take other locks
      lock.lock();
      if (!stopped_) Set(serving);
    }
  });
}

GrpcHealthWatcher::~GrpcHealthWatcher() { Stop(); }

void GrpcHealthWatcher::Update() {
  if (!health_) return;
  const bool serving = serving_();
  std::lock_guard<std::mutex> lock(mu_);
  if (!stopped_) Set(serving);
}

void GrpcHealthWatcher::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) return;
    stopped_ = true;
    if (health_) Set(false);
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void GrpcHealthWatcher::Set(bool serving) {
  if (current_ == static_cast<int>(serving)) return;
  if (current_ != -1) {
    FLOE_LOG(kInfo) << "serve: grpc.health.v1 " << (serving ? "SERVING" : "NOT_SERVING");
  }
  current_ = serving;
  // The named services first, the server ("") last: a client that sees ""
  // change sees every service changed.
  for (const auto& s : services_) health_->SetServingStatus(s, serving);
  health_->SetServingStatus("", serving);
}

}  // namespace floe
