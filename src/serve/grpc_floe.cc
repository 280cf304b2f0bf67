// floe.v1.EmbeddingService on the Frontend.
#include <deque>

#include "serve/codec.h"
#include "serve/errors.h"
#include "serve/grpc_services.h"
#include "text/utf8.h"

namespace floe {

using grpc_util::CheckAuth;
using grpc_util::FinishNow;
namespace pb = floe::v1;
namespace lenient = floe::internal::lenient;

namespace {

const std::string kEmbed = "floe.v1.EmbeddingService/Embed";
constexpr int kStreamWindow = 64;  // requests one stream may have in flight

// Takes the request's texts (moves them out).
EmbedSpec SpecFrom(lenient::EmbedRequest* in) {
  const lenient::EmbedRequest& req = *in;
  EmbedSpec spec;
  spec.request_id = req.request_id();
  spec.model = req.model();
  spec.priority = req.priority();
  spec.params.prompt_name = req.prompt_name();
  spec.params.dimensions = req.dimensions();
  spec.params.normalize = req.has_normalize() ? req.normalize() : true;
  spec.params.truncate = req.has_truncate() ? req.truncate() : true;
  if (req.token_ids_size() > 0) {
    spec.use_token_ids = true;
    spec.token_ids.reserve(req.token_ids_size());
    for (const auto& t : req.token_ids())
      spec.token_ids.emplace_back(t.ids().begin(), t.ids().end());
  } else {
    spec.texts.assign(std::make_move_iterator(in->mutable_texts()->begin()),
                      std::make_move_iterator(in->mutable_texts()->end()));
  }
  return spec;
}

// Parses and checks one raw EmbedRequest.
Status CheckRequest(const grpc::ByteBuffer& in, lenient::EmbedRequest* out) {
  if (Status s = grpc_util::ParseRequest(in, *pb::EmbedRequest::descriptor(), out);
      !s.ok()) {
    return s;
  }
  const lenient::EmbedRequest& req = *out;
  if (req.texts_size() > 0 && req.token_ids_size() > 0) {
    return InvalidArgumentError("send either texts or token_ids, not both");
  }
  if (!pb::OutputDtype_IsValid(req.output_dtype())) {
    return InvalidArgumentError("unknown output_dtype " +
                                std::to_string(req.output_dtype()));
  }
  return OkStatus();
}

// A failed Embed's status, with {request_id, error, error_code} in its details
// (grpc-status-details-bin): what EmbedStream answers a bad message with.
grpc::Status EmbedError(const Status& s, pb::EmbedResponse* resp) {
  const grpc::Status status = ToGrpcStatus(s);
  resp->set_error(status.error_message());
  resp->set_error_code(static_cast<int>(status.error_code()));
  return grpc_util::WithDetails(status, *resp);
}

void FillResponse(const EmbedReply& r, pb::OutputDtype dtype, pb::EmbedResponse* resp) {
  resp->set_request_id(r.request_id);
  resp->set_n(static_cast<int>(r.vectors.size()));
  resp->set_dimension(r.dimension);
  resp->set_dtype(dtype);
  resp->set_prompt_tokens(static_cast<uint32_t>(r.prompt_tokens));
  std::string* out = resp->mutable_embeddings();
  const size_t width = dtype == pb::FLOAT32 ? 4 : 2;
  out->resize(r.vectors.size() * r.dimension * width);
  char* p = out->data();
  for (const auto& v : r.vectors) {
    if (dtype == pb::FLOAT32) {
      std::memcpy(p, v.data(), v.size() * 4);
      p += v.size() * 4;
    } else {
      for (float f : v) {
        const uint16_t h = dtype == pb::FLOAT16 ? FloatToHalf(f) : FloatToBFloat16(f);
        std::memcpy(p, &h, 2);
        p += 2;
      }
    }
  }
}

// One bidirectional EmbedStream. Requests are pipelined (up to kStreamWindow
// in flight); responses go out in completion order, one write at a time.
class StreamReactor final
    : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  StreamReactor(Frontend* frontend, grpc::CallbackServerContext* ctx)
      : frontend_(frontend), start_(Clock::now()) {
    if (Status s = CheckAuth(*frontend_, ctx); !s.ok()) {
      Finish(ToGrpcStatus(s));
      return;
    }
    deadline_ = grpc_util::SteadyDeadline(ctx);
    reading_ = true;
    StartRead(&req_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      std::unique_lock<std::mutex> lock(mu_);
      reading_ = false;
      reads_done_ = true;
      MaybeFinishLocked(lock);
      return;
    }
    lenient::EmbedRequest req;
    Status bad = CheckRequest(req_, &req);
    const pb::OutputDtype dtype = req.output_dtype();
    std::string id = req.request_id();
    // An id that is not UTF-8 cannot travel back in a string field.
    if (text::FindInvalidUtf8(id) != std::string_view::npos) id.clear();
    EmbedSpec spec = SpecFrom(&req);
    spec.deadline = deadline_;
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++pending_;
    }
    if (!bad.ok()) {
      OnResult(id, dtype, bad, nullptr);
    } else {
      auto job =
          frontend_->Embed(std::move(spec), [this, id, dtype](StatusOr<EmbedReply> r) {
            OnResult(id, dtype, r.status(), r.ok() ? &*r : nullptr);
          });
      if (job) {
        std::lock_guard<std::mutex> lock(mu_);
        if (cancelled_)
          frontend_->Cancel(job);
        else
          jobs_.push_back(job);
      }
    }
    bool read_more;
    {
      std::lock_guard<std::mutex> lock(mu_);
      read_more = !cancelled_ && pending_ < kStreamWindow;
      reading_ = read_more;
    }
    if (read_more) StartRead(&req_);
  }

  void OnWriteDone(bool ok) override {
    std::unique_lock<std::mutex> lock(mu_);
    writing_ = false;
    out_.pop_front();
    if (!ok) cancelled_ = true;
    StepLocked(lock);
  }

  void OnCancel() override {
    std::vector<std::shared_ptr<EmbedJob>> jobs;
    {
      std::lock_guard<std::mutex> lock(mu_);
      cancelled_ = true;
      jobs.swap(jobs_);
    }
    for (auto& j : jobs) frontend_->Cancel(j);
  }

  void OnDone() override { delete this; }

 private:
  void OnResult(const std::string& id, pb::OutputDtype dtype, const Status& status,
                const EmbedReply* reply) {
    pb::EmbedResponse resp;
    if (reply) {
      FillResponse(*reply, dtype, &resp);
    } else {
      resp.set_request_id(id);
      resp.set_error(status.message());
      resp.set_error_code(static_cast<int>(ToGrpcCode(status.code())));
    }
    grpc::ByteBuffer bytes;
    if (grpc::Status s = grpc_util::Serialize(resp, &bytes); !s.ok()) {
      resp.Clear();
      resp.set_request_id(id);
      resp.set_error(s.error_message());
      resp.set_error_code(static_cast<int>(s.error_code()));
      grpc_util::Serialize(resp, &bytes);
    }
    std::unique_lock<std::mutex> lock(mu_);
    --pending_;
    std::erase_if(jobs_, [&](const auto& j) { return j->request_id == id; });
    out_.push_back(std::move(bytes));
    StepLocked(lock);
  }

  // Starts the next write, resumes reading, or finishes. Takes mu_ held.
  void StepLocked(std::unique_lock<std::mutex>& lock) {
    if (cancelled_) out_.clear();
    if (!writing_ && !out_.empty()) {
      writing_ = true;
      const grpc::ByteBuffer* next = &out_.front();  // deque: stable while queued
      lock.unlock();
      StartWrite(next);
      return;
    }
    if (!reading_ && !reads_done_ && !cancelled_ && pending_ < kStreamWindow) {
      reading_ = true;
      lock.unlock();
      StartRead(&req_);
      return;
    }
    MaybeFinishLocked(lock);
  }

  void MaybeFinishLocked(std::unique_lock<std::mutex>& lock) {
    const bool quiet = pending_ == 0 && !writing_ && out_.empty() && !reading_;
    if (finished_ || !quiet || !(reads_done_ || cancelled_)) return;
    finished_ = true;
    const bool cancelled = cancelled_;
    lock.unlock();
    frontend_->metrics().CountRequest(
        "floe.v1.EmbeddingService/EmbedStream", cancelled ? "CANCELLED" : "OK",
        std::chrono::duration<double>(Clock::now() - start_).count());
    Finish(cancelled ? grpc::Status::CANCELLED : grpc::Status::OK);
  }

  Frontend* frontend_;
  Clock::time_point start_;
  Clock::time_point deadline_ = Clock::time_point::max();
  grpc::ByteBuffer req_;  // only touched between StartRead and OnReadDone
  std::mutex mu_;
  int pending_ = 0;                              // GUARDED_BY(mu_)
  bool reading_ = false;                         // GUARDED_BY(mu_)
  bool reads_done_ = false;                      // GUARDED_BY(mu_)
  bool writing_ = false;                         // GUARDED_BY(mu_)
  bool cancelled_ = false;                       // GUARDED_BY(mu_)
  bool finished_ = false;                        // GUARDED_BY(mu_)
  std::deque<grpc::ByteBuffer> out_;             // GUARDED_BY(mu_)
  std::vector<std::shared_ptr<EmbedJob>> jobs_;  // GUARDED_BY(mu_)
};

}  // namespace

grpc::ServerUnaryReactor* FloeService::Embed(grpc::CallbackServerContext* ctx,
                                             const grpc::ByteBuffer* in,
                                             grpc::ByteBuffer* out) {
  const auto start = Clock::now();
  auto* reactor =
      new grpc_util::RawReactor<lenient::EmbedRequest, pb::EmbedResponse>(frontend_, out);
  auto* resp = &reactor->resp;
  if (Status s = CheckAuth(*frontend_, ctx); !s.ok()) {
    reactor->Fail(kEmbed, start, EmbedError(s, resp));
    return reactor;
  }
  Status checked = CheckRequest(*in, &reactor->req);
  if (text::FindInvalidUtf8(reactor->req.request_id()) == std::string_view::npos) {
    resp->set_request_id(reactor->req.request_id());
  }
  if (!checked.ok()) {
    reactor->Fail(kEmbed, start, EmbedError(checked, resp));
    return reactor;
  }
  EmbedSpec spec = SpecFrom(&reactor->req);
  spec.deadline = grpc_util::SteadyDeadline(ctx);
  const pb::OutputDtype dtype = reactor->req.output_dtype();
  auto job = frontend_->Embed(
      std::move(spec), [reactor, resp, dtype, start](StatusOr<EmbedReply> r) {
        if (!r.ok()) {
          reactor->Done(kEmbed, start, EmbedError(r.status(), resp));
          return;
        }
        FillResponse(*r, dtype, resp);
        reactor->Done(kEmbed, start, grpc::Status::OK);
      });
  reactor->SetJob(std::move(job));
  return reactor;
}

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* FloeService::EmbedStream(
    grpc::CallbackServerContext* ctx) {
  return new StreamReactor(frontend_, ctx);
}

grpc::ServerUnaryReactor* FloeService::Tokenize(grpc::CallbackServerContext* ctx,
                                                const grpc::ByteBuffer* in,
                                                grpc::ByteBuffer* out) {
  const auto start = Clock::now();
  const std::string route = "floe.v1.EmbeddingService/Tokenize";
  auto* reactor =
      new grpc_util::RawReactor<lenient::TokenizeRequest, pb::TokenizeResponse>(frontend_,
                                                                                out);
  if (Status s = CheckAuth(*frontend_, ctx); !s.ok()) {
    reactor->Fail(route, start, ToGrpcStatus(s));
    return reactor;
  }
  auto* req = &reactor->req;
  if (Status s = grpc_util::ParseRequest(*in, *pb::TokenizeRequest::descriptor(), req);
      !s.ok()) {
    reactor->Fail(route, start, ToGrpcStatus(s));
    return reactor;
  }
  EmbedParams params;
  params.prompt_name = req->prompt_name();
  params.truncate = req->has_truncate() ? req->truncate() : true;
  auto* resp = &reactor->resp;
  frontend_->Tokenize(
      std::vector<std::string>(std::make_move_iterator(req->mutable_texts()->begin()),
                               std::make_move_iterator(req->mutable_texts()->end())),
      params, req->model(),
      [reactor, resp, start, route](StatusOr<std::vector<std::vector<int32_t>>> r) {
        if (r.ok()) {
          for (const auto& ids : *r)
            resp->add_tokens()->mutable_ids()->Add(ids.begin(), ids.end());
        }
        reactor->Done(route, start, ToGrpcStatus(r.status()));
      });
  reactor->SetJob(nullptr);
  return reactor;
}

grpc::ServerUnaryReactor* FloeService::Info(grpc::CallbackServerContext* ctx,
                                            const pb::InfoRequest* req,
                                            pb::InfoResponse* resp) {
  const auto start = Clock::now();
  const std::string route = "floe.v1.EmbeddingService/Info";
  if (Status s = CheckAuth(*frontend_, ctx); !s.ok()) {
    return FinishNow(frontend_, ctx, route, start, ToGrpcStatus(s));
  }
  const ModelInfo& info = frontend_->model_info();
  resp->set_model(frontend_->model_name());
  resp->set_model_path(info.path);
  resp->set_model_type(info.model_type);
  resp->set_dimension(info.hidden_size);
  resp->set_max_tokens(frontend_->max_input_tokens());
  resp->set_pooling(info.pooling);
  resp->set_normalize(info.normalize);
  for (const auto& p : info.prompt_names) resp->add_prompt_names(p);
  resp->set_dtype(info.dtype);
  resp->set_device(info.device);
  resp->set_max_batch_tokens(static_cast<int>(frontend_->options().engine.max_batch_tokens));
  resp->set_max_client_batch_size(frontend_->options().max_client_batch_size);
  for (const auto& st : frontend_->replicas().stats()) {
    auto* r = resp->add_replicas();
    r->set_id(st.id);
    r->set_state(ReplicaStateName(st.state));
    r->set_device(st.device);
    r->set_queued_tokens(st.queued_tokens);
    r->set_requests_served(st.requests_served);
  }
  return FinishNow(frontend_, ctx, route, start, grpc::Status::OK);
}

}  // namespace floe
