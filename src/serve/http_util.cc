#include "serve/http_util.h"

#include "core/log.h"

namespace floe::http {

Status ParseJsonObject(const std::string& body, json* out) {
  *out = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (out->is_discarded()) return InvalidArgumentError("request body is not valid JSON");
  if (!out->is_object()) return InvalidArgumentError("request body must be a JSON object");
  return OkStatus();
}

Status ParseTokenArray(const json& a, size_t index, std::vector<int32_t>* out) {
  out->reserve(a.size());
  for (const auto& v : a) {
    if (!v.is_number_integer()) {
      return InvalidArgumentError("input[" + std::to_string(index) +
                                  "] must hold integer token ids");
    }
    const int64_t id = v.get<int64_t>();
    if (id < 0 || id > INT32_MAX) {
      return InvalidArgumentError("input[" + std::to_string(index) + "] has token id " +
                                  std::to_string(id) + " outside the vocabulary");
    }
    out->push_back(static_cast<int32_t>(id));
  }
  return OkStatus();
}

Status InternalFromException(std::exception_ptr ep) {
  std::string what = "internal error";
  try {
    std::rethrow_exception(ep);
  } catch (const std::exception& e) {
    what = std::string("internal error: ") + e.what();
  } catch (...) {
  }
  FLOE_LOG(kError) << "HTTP handler: " << what;
  return InternalError(what);
}

void AddTimingHeaders(const EmbedReply& r, Clock::time_point start, HttpResponse* out) {
  const auto ms = [](double s) { return std::to_string(static_cast<int64_t>(s * 1000.0)); };
  out->headers.push_back({"x-total-time",
                          ms(std::chrono::duration<double>(Clock::now() - start).count())});
  out->headers.push_back({"x-tokenization-time", ms(r.tokenize_s)});
  out->headers.push_back({"x-queue-time", ms(r.queue_s)});
  out->headers.push_back({"x-inference-time", ms(r.inference_s)});
}

}  // namespace floe::http
