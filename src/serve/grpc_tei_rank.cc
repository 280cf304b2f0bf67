// tei.v1 Predict and Rerank on the Frontend's Classify and Rerank.
#include <cmath>

#include "serve/grpc_tei.h"
#include "serve/grpc_tei_util.h"
#include "serve/scores.h"

namespace floe::tei_grpc {

namespace {

// TEI's messages when the model cannot rerank (router/src/grpc/server.rs).
Status CheckReranker(const ModelInfo& info) {
  if (info.task != "classify") return FailedPreconditionError("model is not a classifier model");
  if (info.num_labels != 1) return FailedPreconditionError("model is not a re-ranker model");
  return OkStatus();
}

Status NaNCheck(const std::vector<float>& scores) {
  for (float s : scores) {
    if (std::isnan(s)) return InternalError("score is NaN");
  }
  return OkStatus();
}

// One Predict: input 0 of `spec` (a text or a pair) through Classify.
std::shared_ptr<EmbedJob> Classify(Context* c, EmbedSpec spec, bool raw, uint32_t chars,
                                   Answer<pb::PredictResponse> answer) {
  const auto start = Clock::now();
  const ModelInfo& info = c->frontend->model_info();
  return c->frontend->Classify(
      std::move(spec), [&info, answer = std::move(answer), raw, chars,
                        start](StatusOr<EmbedReply> r) {
        if (!r.ok()) {
          answer(TeiStatus(r.status()), {});
          return;
        }
        const std::vector<float> scores = ScoresFromLogits(std::move(r->vectors.at(0)), raw);
        if (Status s = NaNCheck(scores); !s.ok()) {
          answer(TeiStatus(s), {});
          return;
        }
        pb::PredictResponse resp;
        for (size_t i : RankByScore(scores)) {
          auto* p = resp.add_predictions();
          p->set_score(scores[i]);
          p->set_label(i < info.labels.size() ? info.labels[i] : "LABEL_" + std::to_string(i));
        }
        FillMetadata(*r, chars, start, resp.mutable_metadata());
        answer(grpc::Status::OK, std::move(resp));
      });
}

std::shared_ptr<EmbedJob> PredictWork(Context* c, pb::PredictRequest req,
                                      Clock::time_point deadline,
                                      Answer<pb::PredictResponse> answer) {
  EmbedSpec spec;
  Status s = req.inputs().empty() ? InvalidArgumentError("`inputs` cannot be empty")
                                  : SetTruncation(req.truncation_direction(), req.truncate(), &spec);
  if (!s.ok()) {
    answer(TeiStatus(s), {});
    return nullptr;
  }
  spec.deadline = deadline;
  const uint32_t chars = CharCount(req.inputs());
  spec.texts.push_back(std::move(*req.mutable_inputs()));
  return Classify(c, std::move(spec), req.raw_scores(), chars, std::move(answer));
}

std::shared_ptr<EmbedJob> PredictPairWork(Context* c, pb::PredictPairRequest req,
                                          Clock::time_point deadline,
                                          Answer<pb::PredictResponse> answer) {
  EmbedSpec spec;
  const int n = req.inputs_size();
  Status s = n == 1 || n == 2 ? SetTruncation(req.truncation_direction(), req.truncate(), &spec)
                              : InvalidArgumentError(
                                    "`inputs` must have a single or two elements. Given: " +
                                    std::to_string(n));
  uint32_t chars = 0;
  for (const auto& t : req.inputs()) chars += CharCount(t);
  if (s.ok() && chars == 0) s = InvalidArgumentError("`inputs` cannot be empty");
  if (!s.ok()) {
    answer(TeiStatus(s), {});
    return nullptr;
  }
  spec.deadline = deadline;
  spec.texts.push_back(std::move(*req.mutable_inputs(0)));
  if (n == 2) spec.pair_texts.push_back(std::move(*req.mutable_inputs(1)));
  return Classify(c, std::move(spec), req.raw_scores(), chars, std::move(answer));
}

// Ranks of raw logits, one per text, highest score first.
StatusOr<pb::RerankResponse> Ranks(const EmbedReply& r, bool raw,
                                   const std::vector<std::string>* texts) {
  std::vector<float> scores;
  scores.reserve(r.vectors.size());
  for (const auto& v : r.vectors) scores.push_back(ScoresFromLogits(v, raw).at(0));
  FLOE_RETURN_IF_ERROR(NaNCheck(scores));
  pb::RerankResponse resp;
  for (size_t i : RankByScore(scores)) {
    auto* rank = resp.add_ranks();
    rank->set_index(static_cast<uint32_t>(i));
    rank->set_score(scores[i]);
    if (texts) rank->set_text((*texts)[i]);
  }
  return resp;
}

// Answers `done` with the ranks of `spec`'s pairs or an error.
EmbedDone RankDone(bool raw, std::shared_ptr<const std::vector<std::string>> texts,
                   uint32_t chars, Clock::time_point start,
                   std::function<void(grpc::Status, pb::RerankResponse)> answer) {
  return [=](StatusOr<EmbedReply> r) {
    if (!r.ok()) {
      answer(TeiStatus(r.status()), {});
      return;
    }
    StatusOr<pb::RerankResponse> resp = Ranks(*r, raw, texts.get());
    if (!resp.ok()) {
      answer(TeiStatus(resp.status()), {});
      return;
    }
    FillMetadata(*r, chars, start, resp->mutable_metadata());
    answer(grpc::Status::OK, std::move(resp).value());
  };
}

std::shared_ptr<EmbedJob> RerankWork(Context* c, pb::RerankRequest req,
                                     Clock::time_point deadline,
                                     Answer<pb::RerankResponse> answer) {
  const auto start = Clock::now();
  const int max_batch = c->frontend->options().max_client_batch_size;
  EmbedSpec spec;
  Status s = req.texts_size() == 0 ? InvalidArgumentError("`texts` cannot be empty")
                                   : CheckReranker(c->frontend->model_info());
  if (s.ok() && req.texts_size() > max_batch) {
    s = InvalidArgumentError("batch size " + std::to_string(req.texts_size()) +
                             " > maximum allowed batch size " + std::to_string(max_batch));
  }
  if (s.ok()) s = SetTruncation(req.truncation_direction(), req.truncate(), &spec);
  if (!s.ok()) {
    answer(TeiStatus(s), {});
    return nullptr;
  }
  uint32_t chars = 0;
  for (const auto& t : req.texts()) chars += CharCount(req.query()) + CharCount(t);
  spec.deadline = deadline;
  spec.texts.assign(req.texts().begin(), req.texts().end());
  std::shared_ptr<const std::vector<std::string>> texts;
  if (req.return_text()) texts = std::make_shared<std::vector<std::string>>(spec.texts);
  return c->frontend->Rerank(std::move(*req.mutable_query()), std::move(spec),
                             RankDone(req.raw_scores(), texts, chars, start, std::move(answer)));
}

// RerankStream: every message a (query, text) pair with its own truncate and
// truncation_direction; raw_scores and return_text are the first message's
// (as TEI has it). All pairs go to the Frontend as one Classify request once
// the client half-closes.
class RerankStreamReactor final : public grpc::ServerReadReactor<Raw> {
 public:
  RerankStreamReactor(Context* c, Ctx* ctx, Raw* out)
      : c_(c), out_(out), start_(Clock::now()), deadline_(grpc_util::SteadyDeadline(ctx)) {
    Status s = grpc_util::CheckAuth(*c_->frontend, ctx);
    if (s.ok()) s = CheckReranker(c_->frontend->model_info());
    if (!s.ok()) {
      End(TeiStatus(s));
      return;
    }
    StartRead(&in_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      Run();
      return;
    }
    pb::RerankStreamRequest req;
    Status s = ParseTei(in_, &req);
    EmbedSpec one;  // this message's truncation
    if (s.ok()) s = SetTruncation(req.truncation_direction(), req.truncate(), &one);
    if (s.ok() && spec_.texts.empty()) {
      raw_ = req.raw_scores();
      return_text_ = req.return_text();
    }
    const size_t max_batch = static_cast<size_t>(c_->frontend->options().max_client_batch_size);
    if (s.ok() && spec_.texts.size() >= max_batch) {
      s = InvalidArgumentError("batch size over the maximum allowed batch size " +
                               std::to_string(max_batch));
    }
    if (!s.ok()) {
      End(TeiStatus(s));
      return;
    }
    chars_ += CharCount(req.query()) + CharCount(req.text());
    spec_.truncation.push_back({one.params.truncate, one.params.truncate_left});
    spec_.texts.push_back(std::move(*req.mutable_query()));
    spec_.pair_texts.push_back(std::move(*req.mutable_text()));
    StartRead(&in_);
  }

  void OnCancel() override {
    std::shared_ptr<EmbedJob> job;
    {
      std::lock_guard<std::mutex> lock(mu_);
      cancelled_ = true;
      job = job_;
    }
    c_->frontend->Cancel(job);
  }

  void OnDone() override { Unref(); }

 private:
  void Run() {
    if (spec_.texts.empty()) {
      End(TeiStatus(InvalidArgumentError("the stream carried no RerankStreamRequest")));
      return;
    }
    std::shared_ptr<const std::vector<std::string>> texts;
    if (return_text_) texts = std::make_shared<std::vector<std::string>>(spec_.pair_texts);
    spec_.deadline = deadline_;
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++refs_;  // held by the answer
    }
    auto job = c_->frontend->Classify(
        std::move(spec_),
        RankDone(raw_, texts, chars_, start_, [this](grpc::Status s, pb::RerankResponse r) {
          if (s.ok()) s = grpc_util::Serialize(r, out_);
          End(s);
          Unref();
        }));
    bool cancel;
    {
      std::lock_guard<std::mutex> lock(mu_);
      job_ = job;
      cancel = cancelled_;
    }
    if (cancel) c_->frontend->Cancel(job);
  }

  void End(const grpc::Status& s) {
    CountCall(c_->frontend, "tei.v1.Rerank/RerankStream", start_, s);
    Finish(s);
  }

  void Unref() {
    bool last;
    {
      std::lock_guard<std::mutex> lock(mu_);
      last = --refs_ == 0;
    }
    if (last) delete this;
  }

  Context* c_;
  Raw* out_;
  const Clock::time_point start_;
  const Clock::time_point deadline_;
  Raw in_;
  EmbedSpec spec_;  // only touched by the reads, then by Run
  bool raw_ = false;
  bool return_text_ = false;
  uint32_t chars_ = 0;
  std::mutex mu_;
  int refs_ = 1;                   // GUARDED_BY(mu_); gRPC's OnDone
  bool cancelled_ = false;         // GUARDED_BY(mu_)
  std::shared_ptr<EmbedJob> job_;  // GUARDED_BY(mu_)
};

}  // namespace

Unary* PredictService::Predict(Ctx* ctx, const Raw* in, Raw* out) {
  return RunUnary(c_->frontend, ctx, in, out, "tei.v1.Predict/Predict",
                  Bind<pb::PredictRequest, pb::PredictResponse>(c_, PredictWork));
}
Unary* PredictService::PredictPair(Ctx* ctx, const Raw* in, Raw* out) {
  return RunUnary(c_->frontend, ctx, in, out, "tei.v1.Predict/PredictPair",
                  Bind<pb::PredictPairRequest, pb::PredictResponse>(c_, PredictPairWork));
}
Bidi* PredictService::PredictStream(Ctx* ctx) {
  return RunStream(c_->frontend, ctx, "tei.v1.Predict/PredictStream",
                   Bind<pb::PredictRequest, pb::PredictResponse>(c_, PredictWork));
}
Bidi* PredictService::PredictPairStream(Ctx* ctx) {
  return RunStream(c_->frontend, ctx, "tei.v1.Predict/PredictPairStream",
                   Bind<pb::PredictPairRequest, pb::PredictResponse>(c_, PredictPairWork));
}

Unary* RerankService::Rerank(Ctx* ctx, const Raw* in, Raw* out) {
  return RunUnary(c_->frontend, ctx, in, out, "tei.v1.Rerank/Rerank",
                  Bind<pb::RerankRequest, pb::RerankResponse>(c_, RerankWork));
}

grpc::ServerReadReactor<Raw>* RerankService::RerankStream(Ctx* ctx, Raw* out) {
  return new RerankStreamReactor(c_, ctx, out);
}

}  // namespace floe::tei_grpc
