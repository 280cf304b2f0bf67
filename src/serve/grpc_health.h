// Keeps grpc.health.v1 (gRPC's default health service) in step with the
// replicas: SERVING for "" and every named service while `serving()` says so,
// NOT_SERVING otherwise. A thread looks every `period` and writes only
// changes; HTTP /health and arctic HealthCheck ask Frontend::ready() the same
// question on each call.
#pragma once

#include <grpcpp/health_check_service_interface.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace floe {

class GrpcHealthWatcher {
 public:
  // Sets the status at once, then starts watching. `health` may be null
  // (then nothing is watched).
  GrpcHealthWatcher(grpc::HealthCheckServiceInterface* health,
                    std::vector<std::string> services, std::function<bool()> serving,
                    std::chrono::milliseconds period = std::chrono::milliseconds(200));
  ~GrpcHealthWatcher();  // Stop()
  GrpcHealthWatcher(const GrpcHealthWatcher&) = delete;
  GrpcHealthWatcher& operator=(const GrpcHealthWatcher&) = delete;

  // Looks now instead of at the next tick.
  void Update();
  // Stops watching and sets NOT_SERVING for good (draining). Idempotent.
  void Stop();

 private:
  void Set(bool serving);  // takes mu_ held

  grpc::HealthCheckServiceInterface* health_;
  std::vector<std::string> services_;
  std::function<bool()> serving_;
  std::chrono::milliseconds period_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopped_ = false;  // GUARDED_BY(mu_)
  int current_ = -1;      // GUARDED_BY(mu_): -1 unset, 0 NOT_SERVING, 1 SERVING
  std::thread thread_;
};

}  // namespace floe
