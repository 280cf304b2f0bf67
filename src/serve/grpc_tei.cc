// tei.v1 Info, Embed and Tokenize on the Frontend; what the services share.
// Predict and Rerank: grpc_tei_rank.cc.
#include "serve/grpc_tei.h"

#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/dynamic_message.h>
#include <grpcpp/support/proto_buffer_reader.h>

#include <limits>
#include <thread>

#include "serve/grpc_tei_util.h"
#include "text/utf8.h"

#ifndef FLOE_VERSION
#error "FLOE_VERSION comes from src/serve/CMakeLists.txt"
#endif

namespace floe {
namespace tei_grpc {

namespace gp = google::protobuf;

namespace {

void MakeLenient(gp::DescriptorProto* m) {
  for (auto& f : *m->mutable_field()) {
    if (f.type() == gp::FieldDescriptorProto::TYPE_STRING) {
      f.set_type(gp::FieldDescriptorProto::TYPE_BYTES);
    }
  }
  for (auto& nested : *m->mutable_nested_type()) MakeLenient(&nested);
}

// Adds `file` and what it imports to `pool`, every string field as bytes.
void AddLenientFile(const gp::FileDescriptor& file, gp::DescriptorPool* pool) {
  if (pool->FindFileByName(file.name())) return;
  for (int i = 0; i < file.dependency_count(); ++i) AddLenientFile(*file.dependency(i), pool);
  gp::FileDescriptorProto proto;
  file.CopyTo(&proto);
  for (auto& m : *proto.mutable_message_type()) MakeLenient(&m);
  pool->BuildFile(proto);
}

// A message like `pub` with bytes for strings, same field numbers and names.
std::unique_ptr<gp::Message> NewLenient(const gp::Descriptor& pub) {
  static std::mutex mu;
  static gp::DescriptorPool* pool = new gp::DescriptorPool();
  static gp::DynamicMessageFactory* factory = new gp::DynamicMessageFactory(pool);
  std::lock_guard<std::mutex> lock(mu);
  const gp::Descriptor* d = pool->FindMessageTypeByName(pub.full_name());
  if (!d) {
    AddLenientFile(*pub.file(), pool);
    d = pool->FindMessageTypeByName(pub.full_name());
  }
  return std::unique_ptr<gp::Message>(factory->GetPrototype(d)->New());
}

uint64_t Nanos(double seconds) { return static_cast<uint64_t>(seconds * 1e9); }

Status NotEmpty(const std::string& text) {
  return text.empty() ? InvalidArgumentError("`inputs` cannot be empty") : OkStatus();
}

// Decode's ids are uint32 on TEI's wire, int32 in floe.
StatusOr<std::vector<int32_t>> Ids(const pb::DecodeRequest& req) {
  std::vector<int32_t> ids;
  ids.reserve(req.ids_size());
  for (int i = 0; i < req.ids_size(); ++i) {
    if (req.ids(i) > static_cast<uint32_t>(std::numeric_limits<int32_t>::max())) {
      return InvalidArgumentError("ids[" + std::to_string(i) + "] = " +
                                  std::to_string(req.ids(i)) + " is outside the vocabulary");
    }
    ids.push_back(static_cast<int32_t>(req.ids(i)));
  }
  return ids;
}

// TEI's /tokenize tokens: a special token has its piece and no offsets; any
// other the bytes of the input it covers.
StatusOr<pb::EncodeResponse> Tokens(const Embedder& embedder, const pb::EncodeRequest& req) {
  FLOE_RETURN_IF_ERROR(NotEmpty(req.inputs()));
  if (!req.prompt_name().empty()) {
    const auto& names = embedder.info().prompt_names;
    if (std::find(names.begin(), names.end(), req.prompt_name()) == names.end()) {
      return InvalidArgumentError("unknown prompt_name " + Quoted(req.prompt_name()));
    }
    return UnimplementedError("Tokenize does not take a prompt_name yet");
  }
  FLOE_ASSIGN_OR_RETURN(std::vector<TokenSpan> spans, embedder.TokenizeSpans(req.inputs()));
  const std::string& text = req.inputs();
  pb::EncodeResponse resp;
  for (const TokenSpan& span : spans) {
    // The template's specials have no span in the text ([CLS], </s>).
    const bool added = span.special && span.start == span.stop;
    if (added && !req.add_special_tokens()) continue;
    auto* t = resp.add_tokens();
    t->set_id(static_cast<uint32_t>(span.id));
    t->set_special(span.special);
    if (span.special || span.stop > text.size() || span.start > span.stop) {
      t->set_text(span.text);
      continue;
    }
    std::string covered = text.substr(span.start, span.stop - span.start);
    // Offsets inside a character (byte-level pieces): the piece instead.
    t->set_text(text::FindInvalidUtf8(covered) == std::string_view::npos ? covered
                                                                         : span.text);
    t->set_start(static_cast<uint32_t>(span.start));
    t->set_stop(static_cast<uint32_t>(span.stop));
  }
  return resp;
}

// Runs `fn` (a tokenizer call) on the Frontend's tokenizer pool, off gRPC's
// threads, and answers with what it returns.
template <class Resp>
std::shared_ptr<EmbedJob> OnPool(Context* c, std::function<StatusOr<Resp>()> fn,
                                 Answer<Resp> answer) {
  c->frontend->Post([fn = std::move(fn), answer = std::move(answer)] {
    StatusOr<Resp> r = fn();
    if (r.ok()) {
      answer(grpc::Status::OK, std::move(r).value());
    } else {
      answer(TeiStatus(r.status()), Resp());
    }
  });
  return nullptr;
}

std::shared_ptr<EmbedJob> EmbedWork(Context* c, pb::EmbedRequest req,
                                    Clock::time_point deadline,
                                    Answer<pb::EmbedResponse> answer) {
  const auto start = Clock::now();
  EmbedSpec spec;
  Status s = NotEmpty(req.inputs());
  if (s.ok()) s = SetTruncation(req.truncation_direction(), req.truncate(), &spec);
  if (s.ok() && req.has_dimensions() &&
      (req.dimensions() == 0 ||
       req.dimensions() > static_cast<uint32_t>(std::numeric_limits<int>::max()))) {
    s = InvalidArgumentError("`dimensions` should be greater than 0 (got " +
                             std::to_string(req.dimensions()) + ")");
  }
  if (!s.ok()) {
    answer(TeiStatus(s), {});
    return nullptr;
  }
  spec.params.dimensions = req.has_dimensions() ? static_cast<int>(req.dimensions()) : 0;
  // TEI: normalize when the request does not say (proto3 optional).
  spec.params.normalize = req.has_normalize() ? req.normalize() : true;
  spec.params.prompt_name = req.prompt_name();
  spec.deadline = deadline;
  const uint32_t chars = CharCount(req.inputs());
  spec.texts.push_back(std::move(*req.mutable_inputs()));
  return c->frontend->Embed(std::move(spec),
                            [answer = std::move(answer), chars, start](StatusOr<EmbedReply> r) {
                              if (!r.ok()) {
                                answer(TeiStatus(r.status()), {});
                                return;
                              }
                              pb::EmbedResponse resp;
                              const auto& v = r->vectors.at(0);
                              resp.mutable_embeddings()->Add(v.begin(), v.end());
                              FillMetadata(*r, chars, start, resp.mutable_metadata());
                              answer(grpc::Status::OK, std::move(resp));
                            });
}

// floe has no SPLADE pooling, which is all TEI serves EmbedSparse from: the
// request is checked, then answered as TEI answers it for any other model.
template <class Req, class Resp>
std::shared_ptr<EmbedJob> SparseWork(Context* c, Req req, Clock::time_point,
                                     Answer<Resp> answer) {
  Status s = NotEmpty(req.inputs());
  EmbedSpec spec;
  if (s.ok()) s = SetTruncation(req.truncation_direction(), req.truncate(), &spec);
  if (s.ok()) {
    s = FailedPreconditionError(
        "Model is not an embedding model with SPLADE pooling (this model pools " +
        c->frontend->model_info().pooling + "; floe serves no SPLADE models)");
  }
  answer(TeiStatus(s), Resp());
  return nullptr;
}

// Per-token vectors (TEI's embed_all): one TokenEmbedding per token of the
// input, specials and prompt included.
std::shared_ptr<EmbedJob> AllWork(Context* c, pb::EmbedAllRequest req,
                                  Clock::time_point deadline,
                                  Answer<pb::EmbedAllResponse> answer) {
  const auto start = Clock::now();
  Status s = NotEmpty(req.inputs());
  EmbedSpec spec;
  if (s.ok()) s = SetTruncation(req.truncation_direction(), req.truncate(), &spec);
  if (s.ok() && c->frontend->model_info().task != "embed") {
    s = FailedPreconditionError("Model is not an embedding model");
  }
  if (!s.ok()) {
    answer(TeiStatus(s), {});
    return nullptr;
  }
  spec.per_token = true;
  spec.params.prompt_name = req.prompt_name();
  spec.deadline = deadline;
  const uint32_t chars = CharCount(req.inputs());
  spec.texts.push_back(std::move(*req.mutable_inputs()));
  return c->frontend->Embed(
      std::move(spec), [answer = std::move(answer), chars, start](StatusOr<EmbedReply> r) {
        if (!r.ok()) {
          answer(TeiStatus(r.status()), {});
          return;
        }
        pb::EmbedAllResponse resp;
        const std::vector<float>& m = r->vectors.at(0);
        const size_t d = static_cast<size_t>(r->dimension);
        for (size_t t = 0; d > 0 && t < m.size() / d; ++t) {
          resp.add_token_embeddings()->mutable_embeddings()->Add(
              m.begin() + static_cast<ptrdiff_t>(t * d),
              m.begin() + static_cast<ptrdiff_t>((t + 1) * d));
        }
        FillMetadata(*r, chars, start, resp.mutable_metadata());
        answer(grpc::Status::OK, std::move(resp));
      });
}

std::shared_ptr<EmbedJob> TokenizeWork(Context* c, pb::EncodeRequest req, Clock::time_point,
                                       Answer<pb::EncodeResponse> answer) {
  auto shared = std::make_shared<pb::EncodeRequest>(std::move(req));
  return OnPool<pb::EncodeResponse>(
      c, [c, shared] { return Tokens(c->frontend->embedder(), *shared); }, std::move(answer));
}

std::shared_ptr<EmbedJob> DecodeWork(Context* c, pb::DecodeRequest req, Clock::time_point,
                                     Answer<pb::DecodeResponse> answer) {
  auto shared = std::make_shared<pb::DecodeRequest>(std::move(req));
  return OnPool<pb::DecodeResponse>(
      c,
      [c, shared]() -> StatusOr<pb::DecodeResponse> {
        FLOE_ASSIGN_OR_RETURN(std::vector<int32_t> ids, Ids(*shared));
        FLOE_ASSIGN_OR_RETURN(std::string text,
                              c->frontend->embedder().Decode(ids, shared->skip_special_tokens()));
        pb::DecodeResponse resp;
        resp.set_text(std::move(text));
        return resp;
      },
      std::move(answer));
}

}  // namespace

grpc::Status TeiStatus(const Status& s) {
  switch (s.code()) {
    case StatusCode::kOutOfRange:
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, s.message());
    case StatusCode::kInternal:
    case StatusCode::kDataLoss:
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, s.message());
    default: return ToGrpcStatus(s);
  }
}

Status ParseTei(const Raw& in, gp::Message* out) {
  const gp::Descriptor& pub = *out->GetDescriptor();
  std::unique_ptr<gp::Message> lenient = NewLenient(pub);
  FLOE_RETURN_IF_ERROR(grpc_util::ParseRequest(in, pub, lenient.get()));
  // Every string is UTF-8 now: the public message takes the same bytes.
  grpc::ByteBuffer copy(in);
  grpc::ProtoBufferReader reader(&copy);
  if (!reader.status().ok() || !out->ParseFromZeroCopyStream(&reader)) {
    out->Clear();
    return InvalidArgumentError("the request is not a valid " + pub.full_name() + " message");
  }
  return OkStatus();
}

uint32_t CharCount(std::string_view text) {
  uint32_t n = 0;
  for (unsigned char ch : text) n += (ch & 0xC0) != 0x80;
  return n;
}

void FillMetadata(const EmbedReply& r, uint32_t chars, Clock::time_point start,
                  pb::Metadata* out) {
  out->set_compute_chars(chars);
  out->set_compute_tokens(static_cast<uint32_t>(r.prompt_tokens));
  out->set_total_time_ns(static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count()));
  out->set_tokenization_time_ns(Nanos(r.tokenize_s));
  out->set_queue_time_ns(Nanos(r.queue_s));
  out->set_inference_time_ns(Nanos(r.inference_s));
}

Status SetTruncation(int direction, bool truncate, EmbedSpec* spec) {
  if (!pb::TruncationDirection_IsValid(direction)) {
    return InvalidArgumentError("unknown truncation_direction " + std::to_string(direction) +
                                " (TRUNCATION_DIRECTION_RIGHT = 0, _LEFT = 1)");
  }
  spec->params.truncate = truncate;
  spec->params.truncate_left = direction == pb::TRUNCATION_DIRECTION_LEFT;
  return OkStatus();
}

void CountCall(Frontend* frontend, const std::string& route, Clock::time_point start,
               const grpc::Status& status) {
  frontend->metrics().CountRequest(
      route, std::string(StatusCodeName(FromGrpcCode(status.error_code()))),
      std::chrono::duration<double>(Clock::now() - start).count());
}

Unary* InfoService::Info(Ctx* ctx, const pb::InfoRequest*, pb::InfoResponse* resp) {
  const auto start = Clock::now();
  const std::string route = "tei.v1.Info/Info";
  Frontend* fe = c_->frontend;
  if (Status s = grpc_util::CheckAuth(*fe, ctx); !s.ok()) {
    return grpc_util::FinishNow(fe, ctx, route, start, TeiStatus(s));
  }
  const ModelInfo& info = fe->model_info();
  const ServeOptions& opts = fe->options();
  resp->set_version(FLOE_VERSION);
  resp->set_model_id(fe->model_name());
  resp->set_model_dtype(info.dtype);
  // TEI: a classifier with one label is a reranker.
  resp->set_model_type(info.task != "classify" ? pb::MODEL_TYPE_EMBEDDING
                       : info.num_labels == 1  ? pb::MODEL_TYPE_RERANKER
                                               : pb::MODEL_TYPE_CLASSIFIER);
  resp->set_max_concurrent_requests(static_cast<uint32_t>(opts.max_concurrent_requests));
  resp->set_max_input_length(static_cast<uint32_t>(fe->max_input_tokens()));
  resp->set_max_batch_tokens(static_cast<uint32_t>(opts.engine.max_batch_tokens));
  resp->set_max_client_batch_size(static_cast<uint32_t>(opts.max_client_batch_size));
  resp->set_tokenization_workers(static_cast<uint32_t>(
      opts.tokenizer_threads > 0 ? opts.tokenizer_threads
                                 : static_cast<int>(std::thread::hardware_concurrency())));
  return grpc_util::FinishNow(fe, ctx, route, start, grpc::Status::OK);
}

Unary* EmbedService::Embed(Ctx* ctx, const Raw* in, Raw* out) {
  return RunUnary(c_->frontend, ctx, in, out, "tei.v1.Embed/Embed",
                  Bind<pb::EmbedRequest, pb::EmbedResponse>(c_, EmbedWork));
}
Bidi* EmbedService::EmbedStream(Ctx* ctx) {
  return RunStream(c_->frontend, ctx, "tei.v1.Embed/EmbedStream",
                   Bind<pb::EmbedRequest, pb::EmbedResponse>(c_, EmbedWork));
}
Unary* EmbedService::EmbedSparse(Ctx* ctx, const Raw* in, Raw* out) {
  return RunUnary(
      c_->frontend, ctx, in, out, "tei.v1.Embed/EmbedSparse",
      Bind<pb::EmbedSparseRequest, pb::EmbedSparseResponse>(
          c_, SparseWork<pb::EmbedSparseRequest, pb::EmbedSparseResponse>));
}
Bidi* EmbedService::EmbedSparseStream(Ctx* ctx) {
  return RunStream(c_->frontend, ctx, "tei.v1.Embed/EmbedSparseStream",
                   Bind<pb::EmbedSparseRequest, pb::EmbedSparseResponse>(
                       c_, SparseWork<pb::EmbedSparseRequest, pb::EmbedSparseResponse>));
}
Unary* EmbedService::EmbedAll(Ctx* ctx, const Raw* in, Raw* out) {
  return RunUnary(c_->frontend, ctx, in, out, "tei.v1.Embed/EmbedAll",
                  Bind<pb::EmbedAllRequest, pb::EmbedAllResponse>(c_, AllWork));
}
Bidi* EmbedService::EmbedAllStream(Ctx* ctx) {
  return RunStream(c_->frontend, ctx, "tei.v1.Embed/EmbedAllStream",
                   Bind<pb::EmbedAllRequest, pb::EmbedAllResponse>(c_, AllWork));
}

Unary* TokenizeService::Tokenize(Ctx* ctx, const Raw* in, Raw* out) {
  return RunUnary(c_->frontend, ctx, in, out, "tei.v1.Tokenize/Tokenize",
                  Bind<pb::EncodeRequest, pb::EncodeResponse>(c_, TokenizeWork));
}
Bidi* TokenizeService::TokenizeStream(Ctx* ctx) {
  return RunStream(c_->frontend, ctx, "tei.v1.Tokenize/TokenizeStream",
                   Bind<pb::EncodeRequest, pb::EncodeResponse>(c_, TokenizeWork));
}
Unary* TokenizeService::Decode(Ctx* ctx, const Raw* in, Raw* out) {
  return RunUnary(c_->frontend, ctx, in, out, "tei.v1.Tokenize/Decode",
                  Bind<pb::DecodeRequest, pb::DecodeResponse>(c_, DecodeWork));
}
Bidi* TokenizeService::DecodeStream(Ctx* ctx) {
  return RunStream(c_->frontend, ctx, "tei.v1.Tokenize/DecodeStream",
                   Bind<pb::DecodeRequest, pb::DecodeResponse>(c_, DecodeWork));
}

}  // namespace tei_grpc

TeiServices::TeiServices(Frontend* frontend) : context_{frontend} {}

void TeiServices::Register(grpc::ServerBuilder* builder) {
  builder->RegisterService(&info_);
  builder->RegisterService(&embed_);
  builder->RegisterService(&predict_);
  builder->RegisterService(&rerank_);
  builder->RegisterService(&tokenize_);
}

std::vector<std::string> TeiServices::Names(const ModelInfo& info, bool serving) {
  namespace pb = ::tei::v1;
  const bool classify = info.task == "classify";
  const std::pair<std::string, bool> all[] = {
      {pb::Info::service_full_name(), true},
      {pb::Tokenize::service_full_name(), true},
      {pb::Embed::service_full_name(), !classify},
      {pb::Predict::service_full_name(), classify},
      {pb::Rerank::service_full_name(), classify && info.num_labels == 1}};
  std::vector<std::string> names;
  for (const auto& [name, can] : all) {
    if (can == serving) names.push_back(name);
  }
  return names;
}

}  // namespace floe
