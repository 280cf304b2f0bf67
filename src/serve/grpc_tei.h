// TEI's gRPC API (proto/tei/tei.proto, package tei.v1: services Info, Embed,
// Predict, Rerank, Tokenize) on the Frontend, on the port of floe's other
// gRPC services. Requests and answers are TEI's, one input per request as TEI
// has it; errors take TEI's codes (src/serve/grpc_tei.cc: TeiStatus).
//
// Every method is raw (grpc_tei_util.h: ParseTei), so text that is not UTF-8
// gets INVALID_ARGUMENT naming the field, as on floe.v1. Streams answer in
// request order; the first failed message ends the stream with its status,
// after the answers before it (TEI's tonic streams do the same).
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "serve/frontend.h"
#include "tei/tei.grpc.pb.h"

namespace floe {

namespace tei_grpc {
namespace pb = ::tei::v1;
using Raw = grpc::ByteBuffer;
using Ctx = grpc::CallbackServerContext;
using Unary = grpc::ServerUnaryReactor;
using Bidi = grpc::ServerBidiReactor<Raw, Raw>;

// What the services share.
struct Context {
  Frontend* frontend;
};

class InfoService final : public pb::Info::WithCallbackMethod_Info<pb::Info::Service> {
 public:
  explicit InfoService(Context* c) : c_(c) {}
  Unary* Info(Ctx* ctx, const pb::InfoRequest* req, pb::InfoResponse* resp) override;

 private:
  Context* c_;
};

using EmbedBase = pb::Embed::WithRawCallbackMethod_Embed<
    pb::Embed::WithRawCallbackMethod_EmbedStream<pb::Embed::WithRawCallbackMethod_EmbedSparse<
        pb::Embed::WithRawCallbackMethod_EmbedSparseStream<
            pb::Embed::WithRawCallbackMethod_EmbedAll<
                pb::Embed::WithRawCallbackMethod_EmbedAllStream<pb::Embed::Service>>>>>>;
class EmbedService final : public EmbedBase {
 public:
  explicit EmbedService(Context* c) : c_(c) {}
  Unary* Embed(Ctx* ctx, const Raw* in, Raw* out) override;
  Bidi* EmbedStream(Ctx* ctx) override;
  Unary* EmbedSparse(Ctx* ctx, const Raw* in, Raw* out) override;
  Bidi* EmbedSparseStream(Ctx* ctx) override;
  Unary* EmbedAll(Ctx* ctx, const Raw* in, Raw* out) override;
  Bidi* EmbedAllStream(Ctx* ctx) override;

 private:
  Context* c_;
};

using PredictBase = pb::Predict::WithRawCallbackMethod_Predict<
    pb::Predict::WithRawCallbackMethod_PredictPair<pb::Predict::WithRawCallbackMethod_PredictStream<
        pb::Predict::WithRawCallbackMethod_PredictPairStream<pb::Predict::Service>>>>;
class PredictService final : public PredictBase {
 public:
  explicit PredictService(Context* c) : c_(c) {}
  Unary* Predict(Ctx* ctx, const Raw* in, Raw* out) override;
  Unary* PredictPair(Ctx* ctx, const Raw* in, Raw* out) override;
  Bidi* PredictStream(Ctx* ctx) override;
  Bidi* PredictPairStream(Ctx* ctx) override;

 private:
  Context* c_;
};

using RerankBase = pb::Rerank::WithRawCallbackMethod_Rerank<
    pb::Rerank::WithRawCallbackMethod_RerankStream<pb::Rerank::Service>>;
class RerankService final : public RerankBase {
 public:
  explicit RerankService(Context* c) : c_(c) {}
  Unary* Rerank(Ctx* ctx, const Raw* in, Raw* out) override;
  grpc::ServerReadReactor<Raw>* RerankStream(Ctx* ctx, Raw* out) override;

 private:
  Context* c_;
};

using TokenizeBase = pb::Tokenize::WithRawCallbackMethod_Tokenize<
    pb::Tokenize::WithRawCallbackMethod_TokenizeStream<pb::Tokenize::WithRawCallbackMethod_Decode<
        pb::Tokenize::WithRawCallbackMethod_DecodeStream<pb::Tokenize::Service>>>>;
class TokenizeService final : public TokenizeBase {
 public:
  explicit TokenizeService(Context* c) : c_(c) {}
  Unary* Tokenize(Ctx* ctx, const Raw* in, Raw* out) override;
  Bidi* TokenizeStream(Ctx* ctx) override;
  Unary* Decode(Ctx* ctx, const Raw* in, Raw* out) override;
  Bidi* DecodeStream(Ctx* ctx) override;

 private:
  Context* c_;
};
}  // namespace tei_grpc

// All five tei.v1 services. Lives as long as the grpc::Server they are
// registered with.
class TeiServices {
 public:
  explicit TeiServices(Frontend* frontend);
  void Register(grpc::ServerBuilder* builder);
  // Full names, for the health service ("tei.v1.Embed", ...): those that
  // can answer for a model like `info` (serving = true: Info and Tokenize
  // always, Embed for an embedding model, Predict for a classifier, Rerank
  // too for a reranker), or the others (false: NOT_SERVING for good, as TEI
  // reports them).
  static std::vector<std::string> Names(const ModelInfo& info, bool serving = true);

 private:
  tei_grpc::Context context_;
  tei_grpc::InfoService info_{&context_};
  tei_grpc::EmbedService embed_{&context_};
  tei_grpc::PredictService predict_{&context_};
  tei_grpc::RerankService rerank_{&context_};
  tei_grpc::TokenizeService tokenize_{&context_};
};

}  // namespace floe
