// How `floe client` and `floe bench` talk to a server: one interface, gRPC
// (ArcticInference's Encode + floe.v1's Info/Tokenize) or HTTP (OpenAI's
// /v1/embeddings, so the same tool measures any OpenAI-compatible server).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"

namespace floe::client {

struct ConnectOptions {
  std::string address;       // host:port
  std::string protocol = "grpc";  // grpc | http
  std::string api_key;       // sent as authorization: Bearer KEY
  std::string model;         // model name sent with requests ("" = served model)
  std::string http_path = "/v1/embeddings";  // HTTP: the embeddings route (Infinity: /embeddings)
  double timeout_s = 60;     // per request
  // Requests in flight at most (HTTP: one keep-alive connection each).
  int parallelism = 64;
};

struct ServerInfo {
  std::string model;
  int dimension = 0;
  int max_tokens = 0;
  std::string device, dtype;
  int replicas = 0;
  int healthy_replicas = 0;
  std::string raw;  // the server's own description (JSON or text), for --info
};

// One embedding call's result: embeddings[i] for texts[i].
struct EmbedResult {
  std::vector<std::vector<float>> embeddings;
};

using EmbedDone = std::function<void(StatusOr<EmbedResult>)>;

class Transport {
 public:
  virtual ~Transport() = default;
  // Starts one request; `done` runs exactly once on some client thread.
  // `texts` must stay alive until `done` runs. Thread-safe.
  virtual void EmbedAsync(const std::vector<std::string>* texts, EmbedDone done) = 0;
  // Blocking helpers.
  StatusOr<EmbedResult> Embed(const std::vector<std::string>& texts);
  virtual StatusOr<ServerInfo> Info() = 0;
  // Token ids exactly as the server's tokenizer gives them; UNIMPLEMENTED when
  // the server has no tokenize endpoint.
  virtual StatusOr<std::vector<std::vector<int32_t>>> Tokenize(
      const std::vector<std::string>& texts) = 0;
};

StatusOr<std::unique_ptr<Transport>> Connect(const ConnectOptions& options);

}  // namespace floe::client
