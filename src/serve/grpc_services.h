// gRPC services over the Frontend, callback API: handlers validate, hand the
// work to the Frontend and return; replies are finished from the completion
// path. Every call gets its Finish, cancelled ones included.
//
// The methods whose requests carry text (arctic Encode, floe.v1 Embed,
// EmbedStream, Tokenize) are raw: their bytes are parsed into the lenient
// mirrors of proto/floe/internal/lenient.proto, so that text which is not
// UTF-8 gets INVALID_ARGUMENT naming the field ("prompts[2] is not valid
// UTF-8 (byte 5)") instead of protobuf's parse failure, which gRPC answers
// with an empty UNIMPLEMENTED. Reflection still describes the public protos.
#pragma once

#include "arctic_inference/inference.grpc.pb.h"
#include "floe/internal/lenient.pb.h"
#include "floe/v1/embed.grpc.pb.h"
#include "serve/frontend.h"

namespace floe {

// arctic_inference.InferenceService, wire-compatible with ArcticInference.
using ArcticServiceBase =
    arctic_inference::InferenceService::WithRawCallbackMethod_Encode<
        arctic_inference::InferenceService::WithCallbackMethod_Abort<
            arctic_inference::InferenceService::WithCallbackMethod_GetReplicaInfo<
                arctic_inference::InferenceService::WithCallbackMethod_HealthCheck<
                    arctic_inference::InferenceService::Service>>>>;
class ArcticService final : public ArcticServiceBase {
 public:
  explicit ArcticService(Frontend* frontend) : frontend_(frontend) {}

  grpc::ServerUnaryReactor* Encode(grpc::CallbackServerContext* ctx,
                                   const grpc::ByteBuffer* in,
                                   grpc::ByteBuffer* out) override;
  grpc::ServerUnaryReactor* Abort(grpc::CallbackServerContext* ctx,
                                  const arctic_inference::AbortRequest* req,
                                  arctic_inference::AbortResponse* resp) override;
  grpc::ServerUnaryReactor* GetReplicaInfo(
      grpc::CallbackServerContext* ctx, const arctic_inference::ReplicaInfoRequest* req,
      arctic_inference::ReplicaInfoResponse* resp) override;
  grpc::ServerUnaryReactor* HealthCheck(
      grpc::CallbackServerContext* ctx, const arctic_inference::HealthCheckRequest* req,
      arctic_inference::HealthCheckResponse* resp) override;

 private:
  Frontend* frontend_;
};

// floe.v1.EmbeddingService.
using FloeServiceBase = floe::v1::EmbeddingService::WithRawCallbackMethod_Embed<
    floe::v1::EmbeddingService::WithRawCallbackMethod_EmbedStream<
        floe::v1::EmbeddingService::WithRawCallbackMethod_Tokenize<
            floe::v1::EmbeddingService::WithCallbackMethod_Info<
                floe::v1::EmbeddingService::WithRawCallbackMethod_Rerank<
                    floe::v1::EmbeddingService::WithRawCallbackMethod_Classify<
                        floe::v1::EmbeddingService::Service>>>>>>;
class FloeService final : public FloeServiceBase {
 public:
  explicit FloeService(Frontend* frontend) : frontend_(frontend) {}

  grpc::ServerUnaryReactor* Embed(grpc::CallbackServerContext* ctx,
                                  const grpc::ByteBuffer* in,
                                  grpc::ByteBuffer* out) override;
  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* EmbedStream(
      grpc::CallbackServerContext* ctx) override;
  grpc::ServerUnaryReactor* Tokenize(grpc::CallbackServerContext* ctx,
                                     const grpc::ByteBuffer* in,
                                     grpc::ByteBuffer* out) override;
  grpc::ServerUnaryReactor* Info(grpc::CallbackServerContext* ctx,
                                 const floe::v1::InfoRequest* req,
                                 floe::v1::InfoResponse* resp) override;
  // grpc_floe_rerank.cc
  grpc::ServerUnaryReactor* Rerank(grpc::CallbackServerContext* ctx,
                                   const grpc::ByteBuffer* in,
                                   grpc::ByteBuffer* out) override;
  grpc::ServerUnaryReactor* Classify(grpc::CallbackServerContext* ctx,
                                     const grpc::ByteBuffer* in,
                                     grpc::ByteBuffer* out) override;

 private:
  Frontend* frontend_;
};

// Shared by both services.
namespace grpc_util {
// UNAUTHENTICATED unless the `authorization` metadata carries the key.
Status CheckAuth(const Frontend& frontend, const grpc::CallbackServerContext* ctx);
// The call's deadline on the steady clock (max when none).
Clock::time_point SteadyDeadline(const grpc::CallbackServerContext* ctx);
// Parses a raw request into its lenient mirror (proto/floe/internal/
// lenient.proto) and checks that every field that is a `string` in `pub`, the
// public message, holds UTF-8. INVALID_ARGUMENT otherwise, naming the field:
// "prompts[2] is not valid UTF-8 (byte 5)". Bytes that are no message leave
// `lenient` empty.
Status ParseRequest(const grpc::ByteBuffer& in, const google::protobuf::Descriptor& pub,
                    google::protobuf::Message* lenient);
// Serializes `msg` into `out` (a raw method's response or stream message).
grpc::Status Serialize(const google::protobuf::Message& msg, grpc::ByteBuffer* out);
// gRPC's rich error model: `status` (code, message) plus binary details, which
// go out as the `grpc-status-details-bin` trailer: a serialized google.rpc.Status
// {code, message, details = [Any packing `detail`]}. An OK status stays OK.
// Details over kMaxDetailsBytes (a request_id or message of kilobytes) are left
// out: gRPC clients refuse a trailer over 8 KiB (base64 of the details plus
// the message), which would lose the status itself.
inline constexpr size_t kMaxDetailsBytes = 2048;
grpc::Status WithDetails(const grpc::Status& status,
                         const google::protobuf::Message& detail);

// A raw unary call's reactor: owns the parsed request and the response,
// which it serializes into the call's buffer when it finishes OK, and cancels
// `job` when the client goes away.
class JobReactor : public grpc::ServerUnaryReactor {
 public:
  // Must be called once, after Frontend::Embed returned (job may be null):
  // the reactor lives until both this and OnDone have happened.
  void SetJob(std::shared_ptr<EmbedJob> job);
  // Records metrics, then finishes.
  void Done(const std::string& route, Clock::time_point start,
            const grpc::Status& status);
  // Done, then SetJob(nullptr): for a call that fails before it has a job.
  void Fail(const std::string& route, Clock::time_point start,
            const grpc::Status& status) {
    Done(route, start, status);
    SetJob(nullptr);
  }
  void OnCancel() override;
  void OnDone() override { Unref(); }

 protected:
  JobReactor(Frontend* frontend, const google::protobuf::Message* resp,
             grpc::ByteBuffer* out)
      : frontend_(frontend), resp_(resp), out_(out) {}
  virtual ~JobReactor() = default;

 private:
  void Unref() {
    if (refs_.fetch_sub(1) == 1) delete this;
  }
  Frontend* frontend_;
  const google::protobuf::Message* resp_;
  grpc::ByteBuffer* out_;
  std::atomic<int> refs_{2};
  std::mutex mu_;
  std::shared_ptr<EmbedJob> job_;  // GUARDED_BY(mu_)
  bool cancelled_ = false;         // GUARDED_BY(mu_)
};
template <class Request, class Response>
class RawReactor final : public JobReactor {
 public:
  RawReactor(Frontend* frontend, grpc::ByteBuffer* out)
      : JobReactor(frontend, &resp, out) {}
  Request req;  // the lenient mirror
  Response resp;
};
// Finishes `ctx`'s default reactor with `status`, counting it on `route`.
grpc::ServerUnaryReactor* FinishNow(Frontend* frontend, grpc::CallbackServerContext* ctx,
                                    const std::string& route, Clock::time_point start,
                                    const grpc::Status& status);
}  // namespace grpc_util

}  // namespace floe
