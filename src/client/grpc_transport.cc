// gRPC transport: ArcticInference's Encode for vectors (what its clients use),
// floe.v1 for Info and Tokenize. Asynchronous through gRPC's callback API.
#include <grpcpp/grpcpp.h>

#include <cstring>

#include "arctic_inference/inference.grpc.pb.h"
#include "client/grpc_transport.h"
#include "core/grpc_status.h"
#include "floe/v1/embed.grpc.pb.h"

namespace floe::client {
namespace {

// The server's status, by the one table (core/grpc_status.h); UNAVAILABLE
// names the address that could not be reached.
Status FromGrpc(const grpc::Status& s, const std::string& address) {
  Status status = FromGrpcStatus(s);
  if (status.code() != StatusCode::kUnavailable) return status;
  return Status(StatusCode::kUnavailable, address + ": " + s.error_message());
}

std::vector<float> DecodeF32(const std::string& bytes) {
  std::vector<float> v(bytes.size() / 4);
  std::memcpy(v.data(), bytes.data(), v.size() * 4);  // little-endian host
  return v;
}

class GrpcTransport final : public Transport {
 public:
  explicit GrpcTransport(const ConnectOptions& o) : o_(o) {
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(256 << 20);
    args.SetMaxSendMessageSize(256 << 20);
    channel_ = grpc::CreateCustomChannel(o.address, grpc::InsecureChannelCredentials(), args);
    arctic_ = arctic_inference::InferenceService::NewStub(channel_);
    floe_ = floe::v1::EmbeddingService::NewStub(channel_);
  }

  void EmbedAsync(const std::vector<std::string>* texts, EmbedDone done) override {
    struct Call {
      grpc::ClientContext ctx;
      arctic_inference::EncodeRequest req;
      arctic_inference::EncodeResponse resp;
      EmbedDone done;
    };
    auto* call = new Call;
    Prepare(&call->ctx);
    call->req.set_request_id("floe-" + std::to_string(next_id_.fetch_add(1)));
    call->req.set_n_prompts(static_cast<int>(texts->size()));
    call->req.set_model_name(o_.model);
    for (const auto& t : *texts) call->req.add_prompts(t);
    call->done = std::move(done);
    arctic_->async()->Encode(&call->ctx, &call->req, &call->resp,
                             [this, call](grpc::Status s) {
                               // Free the call before answering: the caller
                               // may tear the transport down once answered.
                               StatusOr<EmbedResult> r = Finish(s, call->resp);
                               EmbedDone done = std::move(call->done);
                               delete call;
                               done(std::move(r));
                             });
  }

  StatusOr<ServerInfo> Info() override {
    grpc::ClientContext ctx;
    Prepare(&ctx);
    floe::v1::InfoRequest req;
    floe::v1::InfoResponse resp;
    grpc::Status s = floe_->Info(&ctx, req, &resp);
    ServerInfo info;
    if (s.ok()) {
      info.model = resp.model();
      info.dimension = resp.dimension();
      info.max_tokens = resp.max_tokens();
      info.device = resp.device();
      info.dtype = resp.dtype();
      info.replicas = resp.replicas_size();
      for (const auto& r : resp.replicas()) info.healthy_replicas += r.state() == "ready";
      info.raw = resp.DebugString();
      return info;
    }
    if (s.error_code() != grpc::StatusCode::UNIMPLEMENTED) return FromGrpc(s, o_.address);
    // An ArcticInference server: only GetReplicaInfo.
    grpc::ClientContext ctx2;
    Prepare(&ctx2);
    arctic_inference::ReplicaInfoRequest rreq;
    arctic_inference::ReplicaInfoResponse rresp;
    s = arctic_->GetReplicaInfo(&ctx2, rreq, &rresp);
    if (!s.ok()) return FromGrpc(s, o_.address);
    info.replicas = rresp.n_replicas();
    info.healthy_replicas = rresp.n_healthy_replicas();
    if (rresp.replica_infos_size() > 0) {
      info.model = rresp.replica_infos(0).model_name();
      info.dtype = rresp.replica_infos(0).dtype();
    }
    info.raw = rresp.DebugString();
    return info;
  }

  StatusOr<std::vector<std::vector<int32_t>>> Tokenize(
      const std::vector<std::string>& texts) override {
    grpc::ClientContext ctx;
    Prepare(&ctx);
    floe::v1::TokenizeRequest req;
    req.set_model(o_.model);
    for (const auto& t : texts) req.add_texts(t);
    floe::v1::TokenizeResponse resp;
    grpc::Status s = floe_->Tokenize(&ctx, req, &resp);
    if (!s.ok()) return FromGrpc(s, o_.address);
    std::vector<std::vector<int32_t>> out;
    for (const auto& t : resp.tokens()) out.emplace_back(t.ids().begin(), t.ids().end());
    return out;
  }

 private:
  void Prepare(grpc::ClientContext* ctx) const {
    ctx->set_deadline(std::chrono::system_clock::now() +
                      std::chrono::milliseconds(static_cast<int64_t>(o_.timeout_s * 1000)));
    if (!o_.api_key.empty()) ctx->AddMetadata("authorization", "Bearer " + o_.api_key);
  }

  StatusOr<EmbedResult> Finish(const grpc::Status& s,
                               const arctic_inference::EncodeResponse& resp) const {
    if (!s.ok()) return FromGrpc(s, o_.address);
    if (!resp.error().empty()) return InternalError(resp.error());
    EmbedResult r;
    r.embeddings.reserve(resp.embedding_bytes_fp32_size());
    for (const auto& b : resp.embedding_bytes_fp32()) r.embeddings.push_back(DecodeF32(b));
    return r;
  }

  ConnectOptions o_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<arctic_inference::InferenceService::Stub> arctic_;
  std::unique_ptr<floe::v1::EmbeddingService::Stub> floe_;
  std::atomic<uint64_t> next_id_{0};
};

}  // namespace

std::unique_ptr<Transport> MakeGrpcTransport(const ConnectOptions& options) {
  return std::make_unique<GrpcTransport>(options);
}

}  // namespace floe::client
