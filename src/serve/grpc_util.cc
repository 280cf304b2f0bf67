#include <grpcpp/support/proto_buffer_reader.h>
#include <grpcpp/support/proto_buffer_writer.h>

#include "google/rpc/status.pb.h"
#include "serve/errors.h"
#include "serve/grpc_services.h"
#include "text/utf8.h"

namespace floe::grpc_util {

namespace {
std::string CodeName(grpc::StatusCode c) {
  static const char* kNames[] = {"OK",
                                 "CANCELLED",
                                 "UNKNOWN",
                                 "INVALID_ARGUMENT",
                                 "DEADLINE_EXCEEDED",
                                 "NOT_FOUND",
                                 "ALREADY_EXISTS",
                                 "PERMISSION_DENIED",
                                 "RESOURCE_EXHAUSTED",
                                 "FAILED_PRECONDITION",
                                 "ABORTED",
                                 "OUT_OF_RANGE",
                                 "UNIMPLEMENTED",
                                 "INTERNAL",
                                 "UNAVAILABLE",
                                 "DATA_LOSS",
                                 "UNAUTHENTICATED"};
  int i = static_cast<int>(c);
  return i >= 0 && i <= 16 ? kNames[i] : std::to_string(i);
}
double Since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}
Status CheckUtf8(const std::string& s, const std::string& field) {
  const size_t bad = text::FindInvalidUtf8(s);
  if (bad == std::string_view::npos) return OkStatus();
  return InvalidArgumentError(field + " is not valid UTF-8 (byte " + std::to_string(bad) +
                              ")");
}
}  // namespace

Status ParseRequest(const grpc::ByteBuffer& in, const google::protobuf::Descriptor& pub,
                    google::protobuf::Message* lenient) {
  grpc::ByteBuffer copy(in);  // shares the slices; the reader consumes its buffer
  grpc::ProtoBufferReader reader(&copy);
  if (!reader.status().ok() || !lenient->ParseFromZeroCopyStream(&reader)) {
    lenient->Clear();  // nothing of it counts as parsed
    return InvalidArgumentError("the request is not a valid " + pub.full_name() +
                                " message");
  }
  const auto* reflection = lenient->GetReflection();
  const auto* desc = lenient->GetDescriptor();
  for (int i = 0; i < desc->field_count(); ++i) {
    const auto* field = desc->field(i);
    const auto* public_field = pub.FindFieldByNumber(field->number());
    if (!public_field ||
        public_field->type() != google::protobuf::FieldDescriptor::TYPE_STRING) {
      continue;
    }
    std::string scratch;
    if (!field->is_repeated()) {
      const std::string& v = reflection->GetStringReference(*lenient, field, &scratch);
      if (Status s = CheckUtf8(v, field->name()); !s.ok()) return s;
      continue;
    }
    const int n = reflection->FieldSize(*lenient, field);
    for (int j = 0; j < n; ++j) {
      const std::string& v =
          reflection->GetRepeatedStringReference(*lenient, field, j, &scratch);
      if (Status s = CheckUtf8(v, field->name() + "[" + std::to_string(j) + "]");
          !s.ok()) {
        return s;
      }
    }
  }
  return OkStatus();
}

grpc::Status Serialize(const google::protobuf::Message& msg, grpc::ByteBuffer* out) {
  bool own_buffer = false;
  return grpc::GenericSerialize<grpc::ProtoBufferWriter, google::protobuf::Message>(
      msg, out, &own_buffer);
}

grpc::Status WithDetails(const grpc::Status& status,
                         const google::protobuf::Message& detail) {
  if (status.ok()) return status;
  google::rpc::Status rich;
  rich.set_code(static_cast<int>(status.error_code()));
  rich.set_message(status.error_message());
  rich.add_details()->PackFrom(detail);
  if (rich.ByteSizeLong() > kMaxDetailsBytes) return status;
  return grpc::Status(status.error_code(), status.error_message(),
                      rich.SerializeAsString());
}

Status CheckAuth(const Frontend& frontend, const grpc::CallbackServerContext* ctx) {
  if (frontend.options().api_key.empty()) return OkStatus();
  const auto& md = ctx->client_metadata();
  auto it = md.find("authorization");
  std::string_view value;
  if (it != md.end()) value = std::string_view(it->second.data(), it->second.size());
  return frontend.CheckApiKey(value);
}

Clock::time_point SteadyDeadline(const grpc::CallbackServerContext* ctx) {
  const auto d = ctx->deadline();
  const auto now = std::chrono::system_clock::now();
  if (d >= now + std::chrono::hours(24 * 365)) return Clock::time_point::max();
  return Clock::now() + std::chrono::duration_cast<Clock::duration>(d - now);
}

void JobReactor::SetJob(std::shared_ptr<EmbedJob> job) {
  bool cancel_now;
  {
    std::lock_guard<std::mutex> lock(mu_);
    job_ = job;
    cancel_now = cancelled_;
  }
  if (cancel_now) frontend_->Cancel(job);
  Unref();
}

void JobReactor::OnCancel() {
  std::shared_ptr<EmbedJob> job;
  {
    std::lock_guard<std::mutex> lock(mu_);
    cancelled_ = true;
    job = job_;
  }
  if (job) frontend_->Cancel(job);
}

void JobReactor::Done(const std::string& route, Clock::time_point start,
                      const grpc::Status& status) {
  // Serializing fails only past protobuf's 2 GiB limit: INTERNAL then.
  const grpc::Status final_status = status.ok() ? Serialize(*resp_, out_) : status;
  frontend_->metrics().CountRequest(route, CodeName(final_status.error_code()),
                                    Since(start));
  {
    std::lock_guard<std::mutex> lock(mu_);
    job_.reset();
  }
  Finish(final_status);
}

grpc::ServerUnaryReactor* FinishNow(Frontend* frontend, grpc::CallbackServerContext* ctx,
                                    const std::string& route, Clock::time_point start,
                                    const grpc::Status& status) {
  frontend->metrics().CountRequest(route, CodeName(status.error_code()), Since(start));
  auto* reactor = ctx->DefaultReactor();
  reactor->Finish(status);
  return reactor;
}

}  // namespace floe::grpc_util
