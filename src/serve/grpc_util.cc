#include "serve/errors.h"
#include "serve/grpc_services.h"

namespace floe::grpc_util {

namespace {
std::string CodeName(grpc::StatusCode c) {
  static const char* kNames[] = {"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT",
                                 "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
                                 "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
                                 "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
                                 "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
                                 "UNAUTHENTICATED"};
  int i = static_cast<int>(c);
  return i >= 0 && i <= 16 ? kNames[i] : std::to_string(i);
}
double Since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}
}  // namespace

Status CheckAuth(const Frontend& frontend, const grpc::CallbackServerContext* ctx) {
  if (frontend.options().api_key.empty()) return OkStatus();
  const auto& md = ctx->client_metadata();
  auto it = md.find("authorization");
  std::string_view value;
  if (it != md.end()) value = std::string_view(it->second.data(), it->second.size());
  return frontend.CheckApiKey(value);
}

Clock::time_point SteadyDeadline(const grpc::CallbackServerContext* ctx) {
  const auto d = ctx->deadline();
  const auto now = std::chrono::system_clock::now();
  if (d >= now + std::chrono::hours(24 * 365)) return Clock::time_point::max();
  return Clock::now() + std::chrono::duration_cast<Clock::duration>(d - now);
}

void JobReactor::SetJob(std::shared_ptr<EmbedJob> job) {
  bool cancel_now;
  {
    std::lock_guard<std::mutex> lock(mu_);
    job_ = job;
    cancel_now = cancelled_;
  }
  if (cancel_now) frontend_->Cancel(job);
  Unref();
}

void JobReactor::OnCancel() {
  std::shared_ptr<EmbedJob> job;
  {
    std::lock_guard<std::mutex> lock(mu_);
    cancelled_ = true;
    job = job_;
  }
  if (job) frontend_->Cancel(job);
}

void JobReactor::Done(const std::string& route, Clock::time_point start,
                      const grpc::Status& status) {
  frontend_->metrics().CountRequest(route, CodeName(status.error_code()), Since(start));
  {
    std::lock_guard<std::mutex> lock(mu_);
    job_.reset();
  }
  Finish(status);
}

grpc::ServerUnaryReactor* FinishNow(Frontend* frontend, grpc::CallbackServerContext* ctx,
                                    const std::string& route, Clock::time_point start,
                                    const grpc::Status& status) {
  frontend->metrics().CountRequest(route, CodeName(status.error_code()), Since(start));
  auto* reactor = ctx->DefaultReactor();
  reactor->Finish(status);
  return reactor;
}

}  // namespace floe::grpc_util
