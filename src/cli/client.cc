// floe client: embed a few texts on a running server and show the result.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/jsonl.h"
#include "client/transport.h"

namespace floe::cli {
namespace {

// Text lines, or JSON lines with a "text" field (detected per line).
Status ReadInputFile(const std::string& path, std::vector<std::string>* texts) {
  std::ifstream in(path);
  if (!in) return NotFoundError("cannot open --input file '" + path + "'");
  std::string line;
  for (size_t n = 1; std::getline(in, line); ++n) {
    if (line.empty()) continue;
    if (line[0] == '{') {
      try {
        auto j = nlohmann::json::parse(line);
        texts->push_back(j.at("text").get<std::string>());
        continue;
      } catch (const std::exception& e) {
        return InvalidArgumentError(path + ": line " + std::to_string(n) + ": " + e.what());
      }
    }
    texts->push_back(line);
  }
  return OkStatus();
}

}  // namespace

int RunClient(int argc, char** argv) {
  CLI::App app{
      "Embed texts on a running floe (or ArcticInference / OpenAI-compatible) server and print"
      " each embedding's dimension and first values.\n"
      "There are no sampling options (temperature, top-p, top-k): they belong to text"
      " generation, not embeddings.",
      "floe client"};
  client::ConnectOptions o;
  std::vector<std::string> prompts;
  std::string input_file, output = "text", host = "127.0.0.1";
  int port = 0, show = 5;
  bool info = false;
  app.add_option("--prompt,-p", prompts, "text to embed (repeatable)");
  app.add_option("--input,-i", input_file, "file of texts: one per line, or JSON lines {\"text\"}");
  app.add_option("--host", host, "server host")->default_val("127.0.0.1");
  app.add_option("--port", port, "server port (default 50050 for grpc, 8080 for http)");
  app.add_option("--protocol", o.protocol, "grpc | http")->default_val("grpc");
  app.add_option("--model", o.model, "model name to send (empty = the served model)");
  app.add_option("--api-key", o.api_key, "sent as authorization: Bearer KEY");
  app.add_option("--timeout", o.timeout_s, "seconds per request")->default_val(30);
  app.add_option("--output", output, "text | json (one {\"embedding\"} line per input)")
      ->default_val("text");
  app.add_option("--show", show, "values printed per embedding (text output)")->default_val(5);
  app.add_flag("--info", info, "print the server's model and replicas");
  CLI11_PARSE(app, argc, argv);
  if (port == 0) port = o.protocol == "http" ? 8080 : 50050;
  o.address = host + ":" + std::to_string(port);
  if (output != "text" && output != "json") {
    std::fprintf(stderr, "floe client: --output must be text or json\n");
    return 2;
  }
  if (!input_file.empty()) {
    Status s = ReadInputFile(input_file, &prompts);
    if (!s.ok()) {
      std::fprintf(stderr, "floe client: %s\n", s.message().c_str());
      return 2;
    }
  }
  if (prompts.empty() && !info) {
    std::fprintf(stderr, "floe client: nothing to do: give --prompt, --input or --info\n");
    return 2;
  }
  auto t = client::Connect(o);
  if (!t.ok()) {
    std::fprintf(stderr, "floe client: %s\n", t.status().message().c_str());
    return 2;
  }
  if (info) {
    auto i = (*t)->Info();
    if (!i.ok()) {
      std::fprintf(stderr, "floe client: %s: %s\n", o.address.c_str(), i.status().ToString().c_str());
      return 1;
    }
    std::printf("%s\n", i->raw.c_str());
  }
  if (prompts.empty()) return 0;
  auto r = (*t)->Embed(prompts);
  if (!r.ok()) {
    std::fprintf(stderr, "floe client: %s: %s\n", o.address.c_str(), r.status().ToString().c_str());
    return 1;
  }
  std::string buf;
  for (size_t i = 0; i < r->embeddings.size(); ++i) {
    const auto& v = r->embeddings[i];
    buf.clear();
    if (output == "json") {
      buf += "{\"embedding\": [";
      for (size_t k = 0; k < v.size(); ++k) {
        if (k) buf += ", ";
        AppendFloat(v[k], &buf);
      }
      buf += "]}\n";
    } else {
      buf += "embedding " + std::to_string(i) + ": dimension " + std::to_string(v.size()) + ", [";
      for (size_t k = 0; k < v.size() && k < static_cast<size_t>(show); ++k) {
        if (k) buf += ", ";
        char tmp[32];
        std::snprintf(tmp, sizeof tmp, "%.6f", v[k]);
        buf += tmp;
      }
      buf += v.size() > static_cast<size_t>(show) ? ", ...]\n" : "]\n";
    }
    std::fwrite(buf.data(), 1, buf.size(), stdout);
  }
  return 0;
}

}  // namespace floe::cli
