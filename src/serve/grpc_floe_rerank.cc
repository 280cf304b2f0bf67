// floe.v1.EmbeddingService's Rerank and Classify (cross-encoders and
// classifiers) on the Frontend; scores as TEI's (serve/scores.h).
#include "serve/errors.h"
#include "serve/grpc_services.h"
#include "serve/scores.h"
#include "text/utf8.h"

namespace floe {

using grpc_util::CheckAuth;
namespace pb = floe::v1;
namespace lenient = floe::internal::lenient;

namespace {

const std::string kRerank = "floe.v1.EmbeddingService/Rerank";
const std::string kClassify = "floe.v1.EmbeddingService/Classify";

std::vector<std::string> Take(google::protobuf::RepeatedPtrField<std::string>* texts) {
  return {std::make_move_iterator(texts->begin()), std::make_move_iterator(texts->end())};
}

// The checks and request id both methods share; false when `reactor` was
// failed (and must be returned as it is).
template <class Req, class Resp>
bool Begin(Frontend* fe, grpc::CallbackServerContext* ctx, const grpc::ByteBuffer& in,
           const google::protobuf::Descriptor& pub, const std::string& route,
           Clock::time_point start, grpc_util::RawReactor<Req, Resp>* reactor) {
  Status s = CheckAuth(*fe, ctx);
  if (s.ok()) s = grpc_util::ParseRequest(in, pub, &reactor->req);
  if (text::FindInvalidUtf8(reactor->req.request_id()) == std::string_view::npos) {
    reactor->resp.set_request_id(reactor->req.request_id());
  }
  if (!s.ok()) {
    reactor->Fail(route, start, ToGrpcStatus(s));
    return false;
  }
  return true;
}

}  // namespace

grpc::ServerUnaryReactor* FloeService::Rerank(grpc::CallbackServerContext* ctx,
                                              const grpc::ByteBuffer* in,
                                              grpc::ByteBuffer* out) {
  const auto start = Clock::now();
  auto* reactor =
      new grpc_util::RawReactor<lenient::RerankRequest, pb::RerankResponse>(frontend_, out);
  if (!Begin(frontend_, ctx, *in, *pb::RerankRequest::descriptor(), kRerank, start, reactor)) return reactor;
  lenient::RerankRequest& req = reactor->req;
  EmbedSpec spec;
  spec.request_id = req.request_id();
  spec.model = req.model();
  spec.priority = req.priority();
  spec.params.truncate = req.has_truncate() ? req.truncate() : true;
  spec.texts = Take(req.mutable_texts());
  auto texts = std::make_shared<std::vector<std::string>>();
  if (req.return_text()) *texts = spec.texts;
  const bool raw = req.raw_scores();
  auto* resp = &reactor->resp;
  auto job = frontend_->Rerank(
      req.query(), std::move(spec),
      [reactor, resp, start, raw, texts](StatusOr<EmbedReply> r) {
        if (!r.ok()) return reactor->Done(kRerank, start, ToGrpcStatus(r.status()));
        std::vector<float> scores;
        for (const auto& logits : r->vectors) {
          if (logits.size() != 1) {
            return reactor->Done(kRerank, start,
                                 grpc::Status(grpc::StatusCode::INTERNAL,
                                              "a reranker answered " +
                                                  std::to_string(logits.size()) + " logits"));
          }
          scores.push_back(ScoresFromLogits(logits, raw)[0]);
        }
        for (size_t i : RankByScore(scores)) {
          auto* rank = resp->add_ranks();
          rank->set_index(static_cast<uint32_t>(i));
          rank->set_score(scores[i]);
          if (!texts->empty()) rank->set_text((*texts)[i]);
        }
        resp->set_prompt_tokens(static_cast<uint32_t>(r->prompt_tokens));
        reactor->Done(kRerank, start, grpc::Status::OK);
      });
  reactor->SetJob(std::move(job));
  return reactor;
}

grpc::ServerUnaryReactor* FloeService::Classify(grpc::CallbackServerContext* ctx,
                                                const grpc::ByteBuffer* in,
                                                grpc::ByteBuffer* out) {
  const auto start = Clock::now();
  auto* reactor =
      new grpc_util::RawReactor<lenient::ClassifyRequest, pb::ClassifyResponse>(frontend_, out);
  if (!Begin(frontend_, ctx, *in, *pb::ClassifyRequest::descriptor(), kClassify, start,
             reactor)) return reactor;
  lenient::ClassifyRequest& req = reactor->req;
  EmbedSpec spec;
  spec.request_id = req.request_id();
  spec.model = req.model();
  spec.priority = req.priority();
  spec.params.truncate = req.has_truncate() ? req.truncate() : true;
  spec.texts = Take(req.mutable_texts());
  spec.pair_texts = Take(req.mutable_text_pairs());
  const bool raw = req.raw_scores();
  const std::vector<std::string> labels = frontend_->model_info().labels;
  auto* resp = &reactor->resp;
  auto job = frontend_->Classify(
      std::move(spec), [reactor, resp, start, raw, labels](StatusOr<EmbedReply> r) {
        if (!r.ok()) return reactor->Done(kClassify, start, ToGrpcStatus(r.status()));
        for (const auto& logits : r->vectors) {
          const std::vector<float> scores = ScoresFromLogits(logits, raw);
          auto* result = resp->add_results();
          for (size_t k : RankByScore(scores)) {
            auto* one = result->add_scores();
            one->set_id(static_cast<int32_t>(k));
            one->set_label(k < labels.size() ? labels[k] : "LABEL_" + std::to_string(k));
            one->set_score(scores[k]);
          }
        }
        resp->set_prompt_tokens(static_cast<uint32_t>(r->prompt_tokens));
        reactor->Done(kClassify, start, grpc::Status::OK);
      });
  reactor->SetJob(std::move(job));
  return reactor;
}

}  // namespace floe
