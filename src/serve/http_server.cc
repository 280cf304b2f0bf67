#include "serve/http_server.h"

#include <httplib.h>

#include <future>
#include <nlohmann/json.hpp>

#include "core/log.h"
#include "serve/codec.h"
#include "serve/errors.h"

namespace floe {

using json = nlohmann::json;

namespace {

thread_local Clock::time_point t_request_start;

double Since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

void SendError(httplib::Response& res, const Status& s) {
  res.status = ToHttpCode(s);
  res.set_content(OpenAIErrorBody(s), "application/json");
}

// Reads an optional field of `j` with a type check; errors name the field.
template <typename T>
Status Optional(const json& j, const char* name, T* out) {
  auto it = j.find(name);
  if (it == j.end() || it->is_null()) return OkStatus();
  if constexpr (std::is_same_v<T, bool>) {
    if (!it->is_boolean()) return InvalidArgumentError(std::string("'") + name + "' must be a boolean");
    *out = it->get<bool>();
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (!it->is_string()) return InvalidArgumentError(std::string("'") + name + "' must be a string");
    *out = it->get<std::string>();
  } else {
    if (!it->is_number_integer()) {
      return InvalidArgumentError(std::string("'") + name + "' must be an integer");
    }
    const int64_t v = it->get<int64_t>();
    if (v < INT32_MIN || v > INT32_MAX) {
      return InvalidArgumentError(std::string("'") + name + "' is out of range");
    }
    *out = static_cast<T>(v);
  }
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

// `input`: a string, an array of strings, an array of ints (one tokenized
// input), or an array of int arrays.
Status ParseInput(const json& in, EmbedSpec* spec) {
  if (in.is_string()) {
    spec->texts.push_back(in.get<std::string>());
    return OkStatus();
  }
  if (!in.is_array()) {
    return InvalidArgumentError(
        "'input' must be a string, an array of strings or an array of token-id arrays");
  }
  if (in.empty()) return InvalidArgumentError("'input' must not be empty");
  if (in[0].is_number_integer()) {
    spec->use_token_ids = true;
    spec->token_ids.emplace_back();
    return ParseTokenArray(in, 0, &spec->token_ids.back());
  }
  if (in[0].is_string()) {
    spec->texts.reserve(in.size());
    for (size_t i = 0; i < in.size(); ++i) {
      if (!in[i].is_string()) {
        return InvalidArgumentError("input[" + std::to_string(i) +
                                    "] must be a string like the other inputs");
      }
      spec->texts.push_back(in[i].get<std::string>());
    }
    return OkStatus();
  }
  if (in[0].is_array()) {
    spec->use_token_ids = true;
    spec->token_ids.resize(in.size());
    for (size_t i = 0; i < in.size(); ++i) {
      if (!in[i].is_array()) {
        return InvalidArgumentError("input[" + std::to_string(i) +
                                    "] must be an array of token ids like the other inputs");
      }
      FLOE_RETURN_IF_ERROR(ParseTokenArray(in[i], i, &spec->token_ids[i]));
    }
    return OkStatus();
  }
  return InvalidArgumentError(
      "'input' must be a string, an array of strings or an array of token-id arrays");
}

Status ParseJsonObject(const std::string& body, json* out) {
  *out = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (out->is_discarded()) return InvalidArgumentError("request body is not valid JSON");
  if (!out->is_object()) return InvalidArgumentError("request body must be a JSON object");
  return OkStatus();
}

std::string EmbeddingsResponse(const EmbedReply& r, bool base64, const std::string& model) {
  std::string out;
  const size_t per = base64 ? r.dimension * 4 * 4 / 3 + 64 : r.dimension * 12 + 64;
  out.reserve(r.vectors.size() * per + 256);
  out += "{\"object\":\"list\",\"data\":[";
  for (size_t i = 0; i < r.vectors.size(); ++i) {
    if (i) out += ',';
    out += "{\"object\":\"embedding\",\"index\":";
    out += std::to_string(i);
    out += ",\"embedding\":";
    const auto& v = r.vectors[i];
    if (base64) {
      out += '"';
      AppendBase64(std::string_view(reinterpret_cast<const char*>(v.data()), v.size() * 4), &out);
      out += '"';
    } else {
      AppendJsonFloats(v, &out);
    }
    out += '}';
  }
  out += "],\"model\":";
  out += json(model).dump();
  out += ",\"usage\":{\"prompt_tokens\":";
  out += std::to_string(r.prompt_tokens);
  out += ",\"total_tokens\":";
  out += std::to_string(r.prompt_tokens);
  out += "}}";
  return out;
}

}  // namespace

HttpServer::HttpServer(Frontend* frontend)
    : frontend_(frontend), server_(std::make_unique<httplib::Server>()) {}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Stop() {
  if (server_ && server_->is_running()) server_->stop();
  if (thread_.joinable()) thread_.join();
}

Status HttpServer::Start(const std::string& host, int port) {
  const ServeOptions& opt = frontend_->options();
  const size_t threads = opt.http_threads > 0 ? opt.http_threads : 128;
  server_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  server_->set_payload_max_length(opt.max_body_bytes);
  server_->set_keep_alive_max_count(100000);
  server_->set_keep_alive_timeout(std::max(1, opt.http_keep_alive_s));
  server_->set_read_timeout(60);
  server_->set_write_timeout(60);
  server_->set_tcp_nodelay(true);
  // Debian's libcpp-httplib 0.11 listens with a compiled-in backlog of 5: a
  // burst of connects then waits for SYN retries (1 s, 3 s...). Capture the
  // listening socket (these options replace httplib's default SO_REUSEADDR)
  // and listen() again on it with a real backlog once bound.
  int listen_fd = -1;
  server_->set_socket_options([&listen_fd](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    listen_fd = sock;
  });
  Routes();
  if (port == 0) {
    port_ = server_->bind_to_any_port(host);
    if (port_ <= 0) return UnavailableError("HTTP: cannot bind " + host + " on any port");
  } else {
    if (!server_->bind_to_port(host, port)) {
      return UnavailableError("HTTP: cannot bind " + host + ":" + std::to_string(port) +
                              " (in use? --http-port)");
    }
    port_ = port;
  }
  if (listen_fd >= 0) listen(listen_fd, 4096);
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  return OkStatus();
}

void HttpServer::Routes() {
  Frontend* fe = frontend_;
  auto& svr = *server_;
  const ServeOptions& opt = fe->options();

  // Every response goes through here: count it, and give bodiless errors
  // (404 no route, 413 too large, 400 bad request line) OpenAI's error body.
  svr.set_error_handler(httplib::Server::HandlerWithResponse(
      [&opt](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    std::string message;
    if (res.status == 413) {
      message = "request body is larger than " + std::to_string(opt.max_body_bytes) +
                " bytes (--max-body-bytes)";
    } else if (res.status == 404) {
      message = "no route " + req.method + " " + req.path;
    } else {
      message = "bad request";
    }
    res.set_content(OpenAIErrorBody(message, "invalid_request_error",
                                     res.status == 413 ? "payload_too_large" : "invalid_request"),
                    "application/json");
    return httplib::Server::HandlerResponse::Handled;
  }));
  svr.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "internal error";
        try {
          if (ep) std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          what = std::string("internal error: ") + e.what();
        } catch (...) {
        }
        FLOE_LOG(kError) << "HTTP handler: " << what;
        SendError(res, InternalError(what));
      });
  // A connection is handled on one thread, so a thread_local carries the
  // start time from routing to the logger.
  svr.set_pre_routing_handler([](const httplib::Request&, httplib::Response&) {
    t_request_start = Clock::now();
    return httplib::Server::HandlerResponse::Unhandled;
  });
  svr.set_post_routing_handler([fe](const httplib::Request&, httplib::Response& res) {
    // Draining: tell keep-alive clients to go, so SIGTERM is not held up.
    if (fe->draining()) res.set_header("Connection", "close");
  });
  svr.set_logger([fe](const httplib::Request& req, const httplib::Response& res) {
    // Counted here so every response, errors from httplib included, is seen.
    static const char* kRoutes[] = {"/v1/embeddings", "/health", "/metrics", "/info",
                                    "/tokenize", "/v1/models"};
    std::string route = "other";
    for (const char* r : kRoutes) if (req.path == r) route = r;
    fe->metrics().CountRequest(route, std::to_string(res.status),
                               t_request_start == Clock::time_point() ? 0 : Since(t_request_start));
  });

  auto authed = [fe](httplib::Server::Handler h) {
    return [fe, h = std::move(h)](const httplib::Request& req, httplib::Response& res) {
      if (Status s = fe->CheckApiKey(req.get_header_value("Authorization")); !s.ok()) {
        res.set_header("WWW-Authenticate", "Bearer");
        SendError(res, s);
        return;
      }
      h(req, res);
    };
  };

  svr.Get("/health", [fe](const httplib::Request&, httplib::Response& res) {
    if (fe->ready()) {
      res.set_content("{\"status\":\"ok\"}", "application/json");
    } else {
      res.status = 503;
      res.set_content(fe->draining() ? "{\"status\":\"shutting down\"}"
                                     : "{\"status\":\"no replica is ready\"}",
                      "application/json");
    }
  });

  svr.Get("/metrics", authed([fe](const httplib::Request&, httplib::Response& res) {
            res.set_content(fe->metrics().Render(), "text/plain; version=0.0.4");
          }));

  svr.Get("/info", authed([fe](const httplib::Request&, httplib::Response& res) {
            const ModelInfo& info = fe->model_info();
            json j;
            j["model"] = fe->model_name();
            j["model_path"] = info.path;
            j["model_type"] = info.model_type;
            j["dimension"] = info.hidden_size;
            j["max_tokens"] = fe->max_input_tokens();
            j["pooling"] = info.pooling;
            j["normalize"] = info.normalize;
            j["prompt_names"] = info.prompt_names;
            j["dtype"] = info.dtype;
            j["weights_dtype"] = info.weights_dtype;
            j["device"] = info.device;
            j["max_batch_tokens"] = fe->options().max_batch_tokens;
            j["max_client_batch_size"] = fe->options().max_client_batch_size;
            j["max_concurrent_requests"] = fe->options().max_concurrent_requests;
            json reps = json::array();
            for (const auto& st : fe->replicas().stats()) {
              reps.push_back({{"id", st.id},
                              {"state", ReplicaStateName(st.state)},
                              {"pid", st.pid},
                              {"device", st.device},
                              {"dtype", st.dtype},
                              {"queued_jobs", st.queued_jobs},
                              {"queued_tokens", st.queued_tokens},
                              {"requests_served", st.requests_served},
                              {"restarts", st.restarts}});
            }
            j["replicas"] = reps;
            res.set_content(j.dump(), "application/json");
          }));

  svr.Get("/v1/models", authed([fe](const httplib::Request&, httplib::Response& res) {
            json m = {{"id", fe->model_name()}, {"object", "model"}, {"owned_by", "floe"}};
            res.set_content(json{{"object", "list"}, {"data", json::array({m})}}.dump(),
                            "application/json");
          }));

  svr.Post("/tokenize", authed([fe](const httplib::Request& req, httplib::Response& res) {
             json body;
             if (Status s = ParseJsonObject(req.body, &body); !s.ok()) return SendError(res, s);
             std::vector<std::string> texts;
             auto it = body.find("input");
             if (it == body.end()) it = body.find("text");
             if (it != body.end() && it->is_string()) {
               texts.push_back(it->get<std::string>());
             } else if (it != body.end() && it->is_array()) {
               for (const auto& t : *it) {
                 if (!t.is_string()) {
                   return SendError(res, InvalidArgumentError("'input' must hold strings"));
                 }
                 texts.push_back(t.get<std::string>());
               }
             } else {
               return SendError(res, InvalidArgumentError(
                                         "'input' (a string or an array of strings) is required"));
             }
             EmbedParams params;
             std::string model;
             for (Status s : {Optional(body, "model", &model),
                              Optional(body, "prompt_name", &params.prompt_name),
                              Optional(body, "truncate", &params.truncate)}) {
               if (!s.ok()) return SendError(res, s);
             }
             std::promise<StatusOr<std::vector<std::vector<int32_t>>>> p;
             auto f = p.get_future();
             fe->Tokenize(std::move(texts), params, model,
                          [&p](StatusOr<std::vector<std::vector<int32_t>>> r) {
                            p.set_value(std::move(r));
                          });
             auto r = f.get();
             if (!r.ok()) return SendError(res, r.status());
             json out = {{"tokens", *r}};
             res.set_content(out.dump(), "application/json");
           }));

  svr.Post("/v1/embeddings", authed([fe](const httplib::Request& req, httplib::Response& res) {
             json body;
             if (Status s = ParseJsonObject(req.body, &body); !s.ok()) return SendError(res, s);
             EmbedSpec spec;
             auto in = body.find("input");
             if (in == body.end() || in->is_null()) {
               return SendError(res, InvalidArgumentError("'input' is required"));
             }
             if (Status s = ParseInput(*in, &spec); !s.ok()) return SendError(res, s);
             std::string encoding = "float";
             int dimensions = 0;
             bool has_dimensions = body.contains("dimensions") && !body["dimensions"].is_null();
             for (Status s : {Optional(body, "model", &spec.model),
                              Optional(body, "encoding_format", &encoding),
                              Optional(body, "dimensions", &dimensions),
                              Optional(body, "prompt_name", &spec.params.prompt_name),
                              Optional(body, "normalize", &spec.params.normalize),
                              Optional(body, "truncate", &spec.params.truncate),
                              Optional(body, "priority", &spec.priority)}) {
               if (!s.ok()) return SendError(res, s);
             }
             if (encoding != "float" && encoding != "base64") {
               return SendError(res, InvalidArgumentError("unknown encoding_format '" + encoding +
                                                          "': use 'float' or 'base64'"));
             }
             if (has_dimensions && dimensions <= 0) {
               return SendError(res, InvalidArgumentError("dimensions must be positive, got " +
                                                          std::to_string(dimensions)));
             }
             spec.params.dimensions = dimensions;
             if (auto rid = req.get_header_value("X-Request-Id"); !rid.empty()) {
               spec.request_id = rid;
             }
             const bool base64 = encoding == "base64";
             std::promise<StatusOr<EmbedReply>> p;
             auto f = p.get_future();
             fe->Embed(std::move(spec), [&p](StatusOr<EmbedReply> r) { p.set_value(std::move(r)); });
             auto r = f.get();
             if (!r.ok()) return SendError(res, r.status());
             res.set_content(EmbeddingsResponse(*r, base64, fe->model_name()), "application/json");
           }));
}

}  // namespace floe
