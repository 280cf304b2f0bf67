// gRPC services over the Frontend, callback API: handlers validate, hand the
// work to the Frontend and return; replies are finished from the completion
// path. Every call gets its Finish, cancelled ones included.
#pragma once

#include "arctic_inference/inference.grpc.pb.h"
#include "floe/v1/embed.grpc.pb.h"
#include "serve/frontend.h"

namespace floe {

// arctic_inference.InferenceService, wire-compatible with ArcticInference.
class ArcticService final : public arctic_inference::InferenceService::CallbackService {
 public:
  explicit ArcticService(Frontend* frontend) : frontend_(frontend) {}

  grpc::ServerUnaryReactor* Encode(grpc::CallbackServerContext* ctx,
                                   const arctic_inference::EncodeRequest* req,
                                   arctic_inference::EncodeResponse* resp) override;
  grpc::ServerUnaryReactor* Abort(grpc::CallbackServerContext* ctx,
                                  const arctic_inference::AbortRequest* req,
                                  arctic_inference::AbortResponse* resp) override;
  grpc::ServerUnaryReactor* GetReplicaInfo(grpc::CallbackServerContext* ctx,
                                           const arctic_inference::ReplicaInfoRequest* req,
                                           arctic_inference::ReplicaInfoResponse* resp) override;
  grpc::ServerUnaryReactor* HealthCheck(grpc::CallbackServerContext* ctx,
                                        const arctic_inference::HealthCheckRequest* req,
                                        arctic_inference::HealthCheckResponse* resp) override;

 private:
  Frontend* frontend_;
};

// floe.v1.EmbeddingService.
class FloeService final : public floe::v1::EmbeddingService::CallbackService {
 public:
  explicit FloeService(Frontend* frontend) : frontend_(frontend) {}

  grpc::ServerUnaryReactor* Embed(grpc::CallbackServerContext* ctx,
                                  const floe::v1::EmbedRequest* req,
                                  floe::v1::EmbedResponse* resp) override;
  grpc::ServerBidiReactor<floe::v1::EmbedRequest, floe::v1::EmbedResponse>* EmbedStream(
      grpc::CallbackServerContext* ctx) override;
  grpc::ServerUnaryReactor* Tokenize(grpc::CallbackServerContext* ctx,
                                     const floe::v1::TokenizeRequest* req,
                                     floe::v1::TokenizeResponse* resp) override;
  grpc::ServerUnaryReactor* Info(grpc::CallbackServerContext* ctx,
                                 const floe::v1::InfoRequest* req,
                                 floe::v1::InfoResponse* resp) override;

 private:
  Frontend* frontend_;
};

// Shared by both services.
namespace grpc_util {
// UNAUTHENTICATED unless the `authorization` metadata carries the key.
Status CheckAuth(const Frontend& frontend, const grpc::CallbackServerContext* ctx);
// The call's deadline on the steady clock (max when none).
Clock::time_point SteadyDeadline(const grpc::CallbackServerContext* ctx);
// A unary reactor that cancels `job` when the client goes away.
class JobReactor : public grpc::ServerUnaryReactor {
 public:
  explicit JobReactor(Frontend* frontend) : frontend_(frontend) {}
  // Must be called once, after Frontend::Embed returned (job may be null):
  // the reactor lives until both this and OnDone have happened.
  void SetJob(std::shared_ptr<EmbedJob> job);
  // Records metrics, then finishes.
  void Done(const std::string& route, Clock::time_point start, const grpc::Status& status);
  void OnCancel() override;
  void OnDone() override { Unref(); }

 private:
  void Unref() {
    if (refs_.fetch_sub(1) == 1) delete this;
  }
  Frontend* frontend_;
  std::atomic<int> refs_{2};
  std::mutex mu_;
  std::shared_ptr<EmbedJob> job_;  // GUARDED_BY(mu_)
  bool cancelled_ = false;         // GUARDED_BY(mu_)
};
// Finishes `ctx`'s default reactor with `status`, counting it on `route`.
grpc::ServerUnaryReactor* FinishNow(Frontend* frontend, grpc::CallbackServerContext* ctx,
                                    const std::string& route, Clock::time_point start,
                                    const grpc::Status& status);
}  // namespace grpc_util

}  // namespace floe
