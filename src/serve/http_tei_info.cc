// TEI's GET /info fields (http_tei.h), beside floe's own (http_routes.cc).
#include "serve/http_tei.h"

#ifndef FLOE_VERSION
#define FLOE_VERSION "0.0.0"
#endif

namespace floe {

using json = nlohmann::json;

void AddTeiInfo(Frontend* fe, json* j) {
  const ModelInfo& info = fe->model_info();
  const ServeOptions& opt = fe->options();
  (*j)["model_id"] = fe->model_name();
  (*j)["model_sha"] = nullptr;
  (*j)["model_dtype"] = info.dtype;
  (*j)["served_model_name"] = fe->model_name();
  if (info.task == "classify") {
    json id2label = json::object(), label2id = json::object();
    for (int i = 0; i < info.num_labels; ++i) {
      const std::string label = static_cast<size_t>(i) < info.labels.size()
                                    ? info.labels[i]
                                    : "LABEL_" + std::to_string(i);
      id2label[std::to_string(i)] = label;
      label2id[label] = i;
    }
    (*j)["model_type"] = {{info.num_labels == 1 ? "reranker" : "classifier",
                           {{"id2label", id2label}, {"label2id", label2id}}}};
  } else {
    (*j)["model_type"] = {{"embedding", {{"pooling", info.pooling}}}};
  }
  (*j)["max_concurrent_requests"] = opt.max_concurrent_requests;
  (*j)["max_input_length"] = fe->max_input_tokens();
  (*j)["max_batch_tokens"] = opt.engine.max_batch_tokens;
  (*j)["max_batch_requests"] = nullptr;
  (*j)["max_client_batch_size"] = opt.max_client_batch_size;
  (*j)["auto_truncate"] = true;
  (*j)["tokenization_workers"] = fe->tokenizer_threads();
  (*j)["version"] = FLOE_VERSION;
  (*j)["sha"] = nullptr;
  (*j)["docker_label"] = nullptr;
}

}  // namespace floe
