// HTTP transport: OpenAI's POST /v1/embeddings (base64 float32), so the same
// client measures any OpenAI-compatible server; floe's GET /info and
// POST /tokenize when present. Blocking httplib calls on a pool of threads,
// one keep-alive connection per thread.
#include <httplib.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>

#include "client/grpc_transport.h"
#include "core/thread_pool.h"

namespace floe::client {
namespace {

std::string DecodeBase64(std::string_view in) {
  static int8_t table[256];
  static bool init = [] {
    std::memset(table, -1, sizeof table);
    const char* a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (int i = 0; i < 64; ++i) table[static_cast<uint8_t>(a[i])] = static_cast<int8_t>(i);
    return true;
  }();
  (void)init;
  std::string out;
  out.reserve(in.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int8_t v = table[static_cast<uint8_t>(c)];
    if (v < 0) continue;  // '=' and whitespace
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return out;
}

Status HttpError(const httplib::Result& r, const std::string& address) {
  if (!r) {
    return UnavailableError(address + ": " + httplib::to_string(r.error()));
  }
  std::string msg = "HTTP " + std::to_string(r->status);
  try {
    auto j = nlohmann::json::parse(r->body);
    if (j.contains("error") && j["error"].contains("message")) {
      msg += ": " + j["error"]["message"].get<std::string>();
    }
  } catch (...) {
    msg += ": " + r->body.substr(0, 200);
  }
  StatusCode code = StatusCode::kInternal;
  if (r->status == 400 || r->status == 413 || r->status == 422) code = StatusCode::kInvalidArgument;
  if (r->status == 401) code = StatusCode::kUnauthenticated;
  if (r->status == 404) code = StatusCode::kUnimplemented;
  if (r->status == 429) code = StatusCode::kResourceExhausted;
  if (r->status == 503) code = StatusCode::kUnavailable;
  return Status(code, msg);
}

class HttpTransport final : public Transport {
 public:
  explicit HttpTransport(const ConnectOptions& o) : o_(o), pool_(static_cast<size_t>(std::max(1, o.parallelism))) {
    if (!o_.api_key.empty()) headers_.emplace("Authorization", "Bearer " + o_.api_key);
  }

  void EmbedAsync(const std::vector<std::string>* texts, EmbedDone done) override {
    pool_.Submit([this, texts, done = std::move(done)] { done(EmbedSync(*texts)); });
  }

  StatusOr<ServerInfo> Info() override {
    auto r = Client().Get("/info", headers_);
    if (!r || r->status != 200) return HttpError(r, o_.address);
    ServerInfo info;
    try {
      auto j = nlohmann::json::parse(r->body);
      info.model = j.value("model", "");
      info.dimension = j.value("dimension", 0);
      info.max_tokens = j.value("max_tokens", 0);
      info.device = j.value("device", "");
      info.dtype = j.value("dtype", "");
      if (j.contains("replicas") && j["replicas"].is_array()) {
        info.replicas = static_cast<int>(j["replicas"].size());
        for (const auto& rep : j["replicas"]) {
          info.healthy_replicas += rep.value("state", "") == "ready";
        }
      }
      info.raw = j.dump(2);
    } catch (const std::exception& e) {
      return InternalError(o_.address + ": /info is not JSON: " + e.what());
    }
    return info;
  }

  StatusOr<std::vector<std::vector<int32_t>>> Tokenize(
      const std::vector<std::string>& texts) override {
    nlohmann::json body = {{"input", texts}};
    if (!o_.model.empty()) body["model"] = o_.model;
    auto r = Client().Post("/tokenize", headers_, body.dump(), "application/json");
    if (!r || r->status != 200) return HttpError(r, o_.address);
    try {
      auto j = nlohmann::json::parse(r->body);
      std::vector<std::vector<int32_t>> out;
      for (const auto& t : j.at("tokens")) out.push_back(t.get<std::vector<int32_t>>());
      return out;
    } catch (const std::exception& e) {
      return InternalError(o_.address + ": unexpected /tokenize answer: " + e.what());
    }
  }

 private:
  httplib::Client& Client() {
    thread_local std::map<std::string, std::unique_ptr<httplib::Client>> clients;
    auto& c = clients[o_.address];
    if (!c) {
      c = std::make_unique<httplib::Client>("http://" + o_.address);
      c->set_keep_alive(true);
      c->set_tcp_nodelay(true);  // else Nagle + delayed ACK add ~40 ms per request
      auto secs = static_cast<time_t>(o_.timeout_s);
      c->set_read_timeout(secs, 0);
      c->set_write_timeout(secs, 0);
      c->set_connection_timeout(5, 0);
    }
    return *c;
  }

  StatusOr<EmbedResult> EmbedSync(const std::vector<std::string>& texts) {
    nlohmann::json body = {{"input", texts}, {"encoding_format", "base64"}};
    body["model"] = o_.model;
    auto r = Client().Post(o_.http_path, headers_, body.dump(), "application/json");
    if (!r || r->status != 200) return HttpError(r, o_.address);
    EmbedResult out;
    try {
      auto j = nlohmann::json::parse(r->body);
      const auto& data = j.at("data");
      out.embeddings.resize(data.size());
      for (const auto& d : data) {
        size_t idx = d.value("index", size_t{0});
        if (idx >= out.embeddings.size()) return InternalError("response index out of range");
        const auto& e = d.at("embedding");
        if (e.is_string()) {
          std::string raw = DecodeBase64(e.get<std::string>());
          std::vector<float> v(raw.size() / 4);
          std::memcpy(v.data(), raw.data(), v.size() * 4);
          out.embeddings[idx] = std::move(v);
        } else {
          out.embeddings[idx] = e.get<std::vector<float>>();
        }
      }
    } catch (const std::exception& e) {
      return InternalError(o_.address + ": unexpected " + o_.http_path + " answer: " + e.what());
    }
    return out;
  }

  ConnectOptions o_;
  httplib::Headers headers_;
  ThreadPool pool_;
};

}  // namespace

std::unique_ptr<Transport> MakeHttpTransport(const ConnectOptions& options) {
  return std::make_unique<HttpTransport>(options);
}

}  // namespace floe::client
