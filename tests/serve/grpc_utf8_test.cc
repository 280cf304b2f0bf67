// Text that is not UTF-8 in a gRPC request: INVALID_ARGUMENT naming the field
// (protobuf alone would fail the parse and gRPC answer an empty UNIMPLEMENTED).
// The bad requests are built with the lenient mirrors (bytes where the public
// message has string: the same wire) and sent by method name.
#include <google/protobuf/descriptor.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "arctic_inference/inference.grpc.pb.h"
#include "floe/internal/lenient.pb.h"
#include "floe/v1/embed.grpc.pb.h"
#include "grpc_fixture.h"

namespace floe::test {
namespace {

namespace ai = arctic_inference;
namespace pb = floe::v1;
namespace lenient = floe::internal::lenient;
using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;

// "ok\xff!" is invalid at byte 2; "caf\xc3" (a cut sequence) at byte 3.
const std::string kBad = "ok\xff!";
const std::string kCut = "caf\xc3";

// Every field of the public message, with the same number, name, label and
// type in the mirror, except string, which is bytes there; and nothing more.
void ExpectMirror(const Descriptor& pub, const Descriptor& mirror) {
  EXPECT_EQ(pub.field_count(), mirror.field_count()) << mirror.full_name();
  for (int i = 0; i < pub.field_count(); ++i) {
    const FieldDescriptor* p = pub.field(i);
    const FieldDescriptor* m = mirror.FindFieldByNumber(p->number());
    ASSERT_NE(m, nullptr) << pub.full_name() << "." << p->name();
    EXPECT_EQ(m->name(), p->name());
    EXPECT_EQ(m->label(), p->label()) << p->full_name();
    EXPECT_EQ(m->has_presence(), p->has_presence()) << p->full_name();
    if (p->type() == FieldDescriptor::TYPE_STRING) {
      EXPECT_EQ(m->type(), FieldDescriptor::TYPE_BYTES) << p->full_name();
    } else {
      EXPECT_EQ(m->type(), p->type()) << p->full_name();
      EXPECT_EQ(m->message_type(), p->message_type()) << p->full_name();
      EXPECT_EQ(m->enum_type(), p->enum_type()) << p->full_name();
    }
  }
}

TEST(LenientMirrors, MatchThePublicRequestsFieldByField) {
  ExpectMirror(*ai::EncodeRequest::descriptor(), *lenient::EncodeRequest::descriptor());
  ExpectMirror(*pb::EmbedRequest::descriptor(), *lenient::EmbedRequest::descriptor());
  ExpectMirror(*pb::TokenizeRequest::descriptor(),
               *lenient::TokenizeRequest::descriptor());
  ExpectMirror(*pb::RerankRequest::descriptor(), *lenient::RerankRequest::descriptor());
  ExpectMirror(*pb::ClassifyRequest::descriptor(), *lenient::ClassifyRequest::descriptor());
}

class GrpcUtf8Test : public GrpcTest {
 protected:
  // After each bad request the server still embeds a good one.
  void TearDown() override {
    lenient::EncodeRequest req;
    req.set_n_prompts(1);
    req.add_prompts("still fine");
    ai::EncodeResponse resp;
    auto s = UnaryCall(channel_, "/arctic_inference.InferenceService/Encode", req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(resp.embedding_bytes_fp32_size(), 1);
    GrpcTest::TearDown();
  }

  static void ExpectInvalid(const grpc::Status& s, const std::string& message) {
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
    EXPECT_EQ(s.error_message(), message);
  }
};

TEST_F(GrpcUtf8Test, ArcticEncodeNamesThePrompt) {
  const std::string method = "/arctic_inference.InferenceService/Encode";
  lenient::EncodeRequest req;
  req.set_n_prompts(3);
  req.add_prompts("fine");
  req.add_prompts("also fine");
  req.add_prompts(kBad);
  ai::EncodeResponse resp;
  ExpectInvalid(UnaryCall(channel_, method, req, &resp),
                "prompts[2] is not valid UTF-8 (byte 2)");
  req.set_prompts(2, "fine");
  req.set_model_name(kCut);
  ExpectInvalid(UnaryCall(channel_, method, req, &resp),
                "model_name is not valid UTF-8 (byte 3)");
  req.clear_model_name();
  req.set_request_id("\xc0\x80");  // an overlong NUL is not UTF-8 either
  ExpectInvalid(UnaryCall(channel_, method, req, &resp),
                "request_id is not valid UTF-8 (byte 0)");
  // token_id_bytes_i32 is bytes in the public message: any bytes pass the
  // UTF-8 check (and then must be whole int32s).
  lenient::EncodeRequest ids;
  ids.set_n_prompts(1);
  ids.add_token_id_bytes_i32(
      std::string("\x65\x00\x00\x00\xff\x00\x00\x00\x66\x00\x00\x00", 12));
  auto s = UnaryCall(channel_, method, ids, &resp);
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.embedding_bytes_fp32_size(), 1);
  // Bytes that are no message at all: INVALID_ARGUMENT too, not UNIMPLEMENTED.
  grpc::Slice junk(std::string("\xff\xff\xff", 3));
  grpc::ByteBuffer raw(&junk, 1), out;
  ExpectInvalid(UnaryCall(channel_, method, raw, &out),
                "the request is not a valid arctic_inference.EncodeRequest message");
}

TEST_F(GrpcUtf8Test, FloeEmbedAndTokenizeNameTheText) {
  lenient::EmbedRequest embed;
  embed.add_texts(kCut);
  pb::EmbedResponse embed_resp;
  ExpectInvalid(
      UnaryCall(channel_, "/floe.v1.EmbeddingService/Embed", embed, &embed_resp),
      "texts[0] is not valid UTF-8 (byte 3)");
  embed.set_texts(0, "caf\xc3\xa9");  // whole: fine
  embed.set_prompt_name(kBad);
  ExpectInvalid(
      UnaryCall(channel_, "/floe.v1.EmbeddingService/Embed", embed, &embed_resp),
      "prompt_name is not valid UTF-8 (byte 2)");
  embed.clear_prompt_name();
  auto s = UnaryCall(channel_, "/floe.v1.EmbeddingService/Embed", embed, &embed_resp);
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(embed_resp.n(), 1);

  lenient::TokenizeRequest tok;
  tok.add_texts("a");
  tok.add_texts(kBad);
  pb::TokenizeResponse tok_resp;
  ExpectInvalid(UnaryCall(channel_, "/floe.v1.EmbeddingService/Tokenize", tok, &tok_resp),
                "texts[1] is not valid UTF-8 (byte 2)");
  tok.set_texts(1, "b");
  s = UnaryCall(channel_, "/floe.v1.EmbeddingService/Tokenize", tok, &tok_resp);
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(tok_resp.tokens_size(), 2);
}

// A stream message with bad text gets its own error response; the stream goes
// on. The generated C++ stub serializes the invalid string (protobuf only
// logs about it), which is what a careless client sends.
TEST_F(GrpcUtf8Test, FloeEmbedStreamAnswersTheBadMessageAndGoesOn) {
  auto stub = pb::EmbeddingService::NewStub(channel_);
  grpc::ClientContext ctx;
  auto stream = stub->EmbedStream(&ctx);
  for (int i = 0; i < 3; ++i) {
    pb::EmbedRequest req;
    req.set_request_id("u" + std::to_string(i));
    req.add_texts(i == 1 ? kBad : "fine");
    ASSERT_TRUE(stream->Write(req));
  }
  stream->WritesDone();
  pb::EmbedResponse resp;
  int ok = 0, bad = 0;
  while (stream->Read(&resp)) {
    if (resp.error().empty()) {
      ++ok;
      EXPECT_EQ(resp.n(), 1);
      continue;
    }
    ++bad;
    EXPECT_EQ(resp.request_id(), "u1");
    EXPECT_EQ(resp.error_code(), static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
    EXPECT_EQ(resp.error(), "texts[0] is not valid UTF-8 (byte 2)");
  }
  auto s = stream->Finish();
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(ok, 2);
  EXPECT_EQ(bad, 1);
}

}  // namespace
}  // namespace floe::test
