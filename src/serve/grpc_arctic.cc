// arctic_inference.InferenceService on the Frontend.
#include <cstring>

#include "serve/errors.h"
#include "serve/grpc_services.h"
#include "text/utf8.h"

namespace floe {

using grpc_util::CheckAuth;
using grpc_util::FinishNow;

namespace {
const std::string kEncode = "arctic_inference.InferenceService/Encode";

// Every Encode error: the status, and in its details (grpc-status-details-bin)
// the EncodeResponse ArcticInference would send, `error` = the message.
// `resp` already holds what was parsed of the request (request_id, n_prompts).
grpc::Status EncodeError(const Status& s, arctic_inference::EncodeResponse* resp) {
  resp->set_error(s.message());
  return grpc_util::WithDetails(ToGrpcStatus(s), *resp);
}
}  // namespace

grpc::ServerUnaryReactor* ArcticService::Encode(grpc::CallbackServerContext* ctx,
                                                const grpc::ByteBuffer* in,
                                                grpc::ByteBuffer* out) {
  const auto start = Clock::now();
  auto* reactor =
      new grpc_util::RawReactor<internal::lenient::EncodeRequest,
                                arctic_inference::EncodeResponse>(frontend_, out);
  const auto* req = &reactor->req;
  auto* resp = &reactor->resp;
  auto fail = [&](const Status& s) {
    reactor->Fail(kEncode, start, EncodeError(s, resp));
    return reactor;
  };
  if (Status s = CheckAuth(*frontend_, ctx); !s.ok()) return fail(s);
  Status parsed = grpc_util::ParseRequest(
      *in, *arctic_inference::EncodeRequest::descriptor(), &reactor->req);
  // Echoed, even with a bad prompt; an id that is not UTF-8 cannot be.
  if (text::FindInvalidUtf8(req->request_id()) == std::string_view::npos) {
    resp->set_request_id(req->request_id());
  }
  resp->set_n_prompts(req->n_prompts());
  if (!parsed.ok()) return fail(parsed);

  EmbedSpec spec;
  spec.request_id = req->request_id();
  spec.model = req->model_name();
  spec.priority = req->priority();
  spec.deadline = grpc_util::SteadyDeadline(ctx);
  const int n_text = req->prompts_size(), n_ids = req->token_id_bytes_i32_size();
  if (n_text > 0 && n_ids > 0) {
    return fail(InvalidArgumentError(
        "send either prompts or token_id_bytes_i32, not both (got " +
        std::to_string(n_text) + " and " + std::to_string(n_ids) + ")"));
  }
  const int n = n_text + n_ids;
  if (req->n_prompts() != n) {
    return fail(InvalidArgumentError("n_prompts is " + std::to_string(req->n_prompts()) +
                                     " but the request carries " + std::to_string(n) +
                                     " prompts"));
  }
  if (n_ids > 0) {
    spec.use_token_ids = true;
    spec.token_ids.resize(n_ids);
    for (int i = 0; i < n_ids; ++i) {
      const std::string& b = req->token_id_bytes_i32(i);
      if (b.size() % 4 != 0) {
        return fail(InvalidArgumentError(
            "token_id_bytes_i32[" + std::to_string(i) + "] has " +
            std::to_string(b.size()) +
            " bytes, not a multiple of 4 (little-endian int32 ids)"));
      }
      spec.token_ids[i].resize(b.size() / 4);
      std::memcpy(spec.token_ids[i].data(), b.data(), b.size());
    }
  } else {
    auto* prompts = reactor->req.mutable_prompts();  // the reactor's own: move them
    spec.texts.assign(std::make_move_iterator(prompts->begin()),
                      std::make_move_iterator(prompts->end()));
  }

  auto job =
      frontend_->Embed(std::move(spec), [reactor, resp, start](StatusOr<EmbedReply> r) {
        if (!r.ok()) {
          reactor->Done(kEncode, start, EncodeError(r.status(), resp));
          return;
        }
        resp->set_request_id(r->request_id);
        resp->set_n_prompts(static_cast<int>(r->vectors.size()));
        resp->set_embedding_dim(r->dimension);
        auto* out = resp->mutable_embedding_bytes_fp32();
        out->Reserve(static_cast<int>(r->vectors.size()));
        for (const auto& v : r->vectors) {
          out->Add()->assign(reinterpret_cast<const char*>(v.data()),
                             v.size() * sizeof(float));
        }
        reactor->Done(kEncode, start, grpc::Status::OK);
      });
  reactor->SetJob(std::move(job));
  return reactor;
}

grpc::ServerUnaryReactor* ArcticService::Abort(grpc::CallbackServerContext* ctx,
                                               const arctic_inference::AbortRequest* req,
                                               arctic_inference::AbortResponse* resp) {
  const auto start = Clock::now();
  const std::string route = "arctic_inference.InferenceService/Abort";
  if (Status s = CheckAuth(*frontend_, ctx); !s.ok()) {
    resp->set_message(s.message());
    return FinishNow(frontend_, ctx, route, start, ToGrpcStatus(s));
  }
  const bool ok = frontend_->Abort(req->request_id());
  resp->set_success(ok);
  resp->set_message(ok ? "request " + req->request_id() + " aborted"
                       : "no request " + req->request_id() + " in flight");
  return FinishNow(frontend_, ctx, route, start, grpc::Status::OK);
}

grpc::ServerUnaryReactor* ArcticService::GetReplicaInfo(
    grpc::CallbackServerContext* ctx, const arctic_inference::ReplicaInfoRequest* req,
    arctic_inference::ReplicaInfoResponse* resp) {
  const auto start = Clock::now();
  const std::string route = "arctic_inference.InferenceService/GetReplicaInfo";
  if (Status s = CheckAuth(*frontend_, ctx); !s.ok()) {
    resp->set_message(s.message());
    return FinishNow(frontend_, ctx, route, start, ToGrpcStatus(s));
  }
  const auto& opts = frontend_->options();
  int healthy = 0;
  auto stats = frontend_->replicas().stats();
  for (const auto& st : stats) {
    auto* r = resp->add_replica_infos();
    const bool ready = st.state == ReplicaState::kReady;
    healthy += ready;
    r->set_model_name(frontend_->model_name());
    r->set_task("embed");
    r->set_dtype(st.dtype);
    r->set_ready(ready);
    r->set_parallel_config("replica=" + std::to_string(st.id) + " device=" + st.device +
                           " pid=" + std::to_string(st.pid) +
                           " state=" + ReplicaStateName(st.state));
    r->set_decoding_config("");
    r->set_scheduler_config("max_batch_tokens=" + std::to_string(opts.engine.max_batch_tokens) +
                            " queued_tokens=" + std::to_string(st.queued_tokens) +
                            " requests_served=" + std::to_string(st.requests_served));
    r->set_lora_config("");
  }
  resp->set_n_replicas(static_cast<int>(stats.size()));
  resp->set_n_healthy_replicas(healthy);
  return FinishNow(frontend_, ctx, route, start, grpc::Status::OK);
}

grpc::ServerUnaryReactor* ArcticService::HealthCheck(
    grpc::CallbackServerContext* ctx, const arctic_inference::HealthCheckRequest* req,
    arctic_inference::HealthCheckResponse* resp) {
  const auto start = Clock::now();
  const bool ok = frontend_->ready();
  resp->set_healthy(ok);
  resp->set_message(ok                      ? ""
                    : frontend_->draining() ? "shutting down"
                                            : "no replica is ready");
  return FinishNow(frontend_, ctx, "arctic_inference.InferenceService/HealthCheck", start,
                   grpc::Status::OK);
}

}  // namespace floe
