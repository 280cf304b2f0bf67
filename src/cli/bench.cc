// floe bench: closed-loop load against one or more servers (ArcticInference's
// flags), reported as a table or JSON rows.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <sstream>

#include "cli/commands.h"
#include "client/bench.h"
#include "client/transport.h"

namespace floe::cli {
namespace {

std::vector<std::string> Split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

}  // namespace

int RunBench(int argc, char** argv) {
  CLI::App app{
      "Benchmark a running embedding server: for each batch size, --requests requests with"
      " --concurrency in flight; prints requests/s, embeddings/s, tokens/s and latency"
      " percentiles. Prompts are built with the server's own tokenizer so each input is"
      " exactly --prompt-length tokens ([CLS] and [SEP] included).",
      "floe bench"};
  client::BenchOptions b;
  client::ConnectOptions o;
  std::string servers = "127.0.0.1:50050", batch_sizes = "1,16,64";
  bool json = false, quiet = false;
  app.add_option("--server", servers, "host:port, several comma-separated (round-robin)")
      ->default_val("127.0.0.1:50050");
  app.add_option("--model", o.model,
                 "model name; checked against the server's and sent with requests");
  app.add_option("--batch-sizes", batch_sizes, "comma-separated inputs per request")
      ->default_val("1,16,64");
  app.add_option("--requests", b.requests, "requests per batch size")->default_val(1024);
  app.add_option("--concurrency", b.concurrency, "requests in flight")->default_val(64);
  app.add_option("--prompt-length", b.prompt_length, "tokens per input, [CLS]/[SEP] included")
      ->default_val(512);
  app.add_option("--distribution", b.distribution,
                 "fixed | uniform | normal (prompt lengths and batch sizes)")
      ->default_val("fixed");
  app.add_option("--min-prompt-length", b.min_prompt_length,
                 "uniform / normal: shortest input drawn, in tokens (lengths in [this,"
                 " --prompt-length])")
      ->default_val(2);
  app.add_flag("--fixed-batch-sizes", b.fixed_batch_sizes,
               "uniform / normal vary the input lengths only: every request has exactly"
               " its --batch-sizes entry of inputs");
  app.add_option("--warmup", b.warmup, "unmeasured requests first")->default_val(20);
  app.add_option("--protocol", o.protocol, "grpc (ArcticInference Encode) | http (OpenAI)")
      ->default_val("grpc");
  app.add_option("--http-path", o.http_path,
                 "http: the embeddings route, e.g. /embeddings for Infinity")
      ->default_val("/v1/embeddings");
  app.add_option("--api-key", o.api_key, "sent as authorization: Bearer KEY");
  app.add_option("--timeout", o.timeout_s, "seconds per request")->default_val(120);
  app.add_option("--seed", b.seed, "random seed for lengths and batch sizes")->default_val(0);
  app.add_option("--save-shapes", b.save_shapes,
                 "write each request's input lengths (JSON lines) to FILE, for"
                 " scripts/peer-shapes.sh to run the same shapes on ONNX Runtime");
  app.add_option("--save-texts", b.save_texts,
                 "write each request's texts (JSON lines) to FILE, for an in-process peer"
                 " to embed the same texts (scripts/peer-real-bench.sh)");
  app.add_flag("--json", json, "one JSON row per batch size instead of a table");
  app.add_flag("--quiet", quiet, "no progress line");
  CLI11_PARSE(app, argc, argv);

  b.batch_sizes.clear();
  for (const auto& s : Split(batch_sizes)) {
    try {
      b.batch_sizes.push_back(std::stoi(s));
    } catch (...) {
      std::fprintf(stderr, "floe bench: bad --batch-sizes entry '%s'\n", s.c_str());
      return 2;
    }
  }
  Status valid = client::ValidateBenchOptions(b);
  if (!valid.ok()) {
    std::fprintf(stderr, "floe bench: %s\n", valid.message().c_str());
    return 2;
  }
  std::vector<std::unique_ptr<client::Transport>> owned;
  std::vector<client::Transport*> transports;
  o.parallelism = b.concurrency;
  for (const auto& addr : Split(servers)) {
    o.address = addr;
    auto t = client::Connect(o);
    if (!t.ok()) {
      std::fprintf(stderr, "floe bench: %s\n", t.status().message().c_str());
      return 2;
    }
    auto info = (*t)->Info();
    if (!info.ok() && info.status().code() != StatusCode::kUnimplemented) {
      std::fprintf(stderr, "floe bench: %s: %s\n", addr.c_str(), info.status().ToString().c_str());
      return 1;
    }
    if (info.ok() && !o.model.empty() && !info->model.empty() && info->model != o.model) {
      std::fprintf(stderr, "floe bench: %s serves model '%s', not '%s'\n", addr.c_str(),
                   info->model.c_str(), o.model.c_str());
      return 1;
    }
    if (info.ok() && info->max_tokens > 0 && b.prompt_length > info->max_tokens) {
      std::fprintf(stderr, "floe bench: --prompt-length %d is over %s's maximum of %d tokens\n",
                   b.prompt_length, addr.c_str(), info->max_tokens);
      return 2;
    }
    transports.push_back(t->get());
    owned.push_back(std::move(t).value());
  }
  const bool tty = isatty(STDERR_FILENO) && !quiet;
  auto progress = [&](const std::string& line) {
    if (tty) std::fprintf(stderr, "\r\033[K%s", line.c_str());
  };
  if (!json) {
    std::fprintf(stderr, "floe bench: %s, %s, batch sizes %s, %d requests each, concurrency %d,"
                 " %d tokens per input (%s)\n",
                 servers.c_str(), o.protocol.c_str(), batch_sizes.c_str(), b.requests,
                 b.concurrency, b.prompt_length, b.distribution.c_str());
  }
  auto rows = client::RunBench(transports, b, progress);
  if (tty) std::fprintf(stderr, "\r\033[K");
  if (!rows.ok()) {
    std::fprintf(stderr, "floe bench: %s\n", rows.status().ToString().c_str());
    return 1;
  }
  if (json) {
    for (const auto& r : *rows) std::printf("%s\n", client::RowToJson(r).c_str());
  } else {
    std::printf("%s", client::RowsToTable(*rows).c_str());
  }
  std::fflush(stdout);
  for (const auto& r : *rows) {
    if (r.succeeded < r.requests) return 3;  // some requests failed
  }
  return 0;
}

}  // namespace floe::cli
