// floe embed / floe tokenize: JSON lines in, JSON lines out, in order.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>

#include "cli/commands.h"
#include "cli/flags.h"
#include "cli/jsonl.h"
#include "core/log.h"
#include "floe/embedder.h"

namespace floe::cli {
namespace {

struct CommonFlags {
  std::string model;
  EmbedderOptions options;
  std::string log_level = "warn";
};

void AddCommonFlags(CLI::App& app, CommonFlags* f, bool engine_flags) {
  app.add_option("--model,-m", f->model,
                 "model folder, or a Hugging Face id (ORG/NAME[@REV]) in the local HF cache")
      ->required();
  if (engine_flags) {
    AddEngineFlags(app, &f->options, "encoder threads (0: all cores)");
  }
  AddLogLevelFlag(app, &f->log_level)->default_val("warn");
}

int Fail(const Status& s) {
  std::fprintf(stderr, "%s: %s\n", "floe", s.message().c_str());
  return 1;
}

// Reads and checks every line, then tokenizes every line (errors name the
// line) before anything is written.
StatusOr<std::vector<InputLine>> ReadAndCheck(const Embedder& e,
                                              std::vector<std::vector<int32_t>>* ids) {
  FLOE_ASSIGN_OR_RETURN(std::vector<InputLine> lines, ReadInputLines(std::cin));
  ids->resize(lines.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    const auto& in = lines[i].input;
    if (lines[i].has_pair) {
      return InvalidArgumentError("line " + std::to_string(lines[i].line) +
                                  ": \"text_pair\" is for floe tokenize only");
    }
    auto t = e.Tokenize(in.text, in.params);
    if (!t.ok()) return t.status().WithPrefix("line " + std::to_string(lines[i].line));
    (*ids)[i] = std::move(t).value();
    if (in.params.dimensions > e.info().hidden_size) {
      return InvalidArgumentError("line " + std::to_string(lines[i].line) + ": dimensions " +
                                  std::to_string(in.params.dimensions) +
                                  " is over the model's " +
                                  std::to_string(e.info().hidden_size));
    }
  }
  return lines;
}

StatusOr<std::unique_ptr<Embedder>> OpenEmbedder(const CommonFlags& f) {
  ApplyLogLevel(f.log_level);
  return Embedder::Open(f.model, f.options);
}

// {"<key>": [v...]} and a newline.
void AppendVectorLine(const char* key, const std::vector<float>& v, std::string* buf) {
  *buf += "{\"";
  *buf += key;
  *buf += "\": [";
  for (size_t k = 0; k < v.size(); ++k) {
    if (k) *buf += ", ";
    AppendFloat(v[k], buf);
  }
  *buf += "]}\n";
}

// floe embed on a classifier (a cross-encoder or a classifier folder): each
// line's "text" (with "text_pair", the pair template) to {"scores": [...]},
// the raw logits (num_labels per line; no sigmoid or softmax).
int RunClassifyLines(Embedder& e, size_t chunk) {
  auto lines = ReadInputLines(std::cin);
  if (!lines.ok()) return Fail(lines.status());
  std::vector<std::vector<int32_t>> ids(lines->size());
  std::vector<int32_t> type1_from(lines->size());
  for (size_t i = 0; i < lines->size(); ++i) {
    const InputLine& l = (*lines)[i];
    const std::string where = "line " + std::to_string(l.line);
    if (l.has_pair) {
      auto p = e.TokenizePair(l.input.text, l.text_pair, l.input.params);
      if (!p.ok()) return Fail(p.status().WithPrefix(where));
      ids[i] = std::move(p->ids);
      type1_from[i] = p->type1_from;
    } else {
      auto t = e.Tokenize(l.input.text, l.input.params);
      if (!t.ok()) return Fail(t.status().WithPrefix(where));
      ids[i] = std::move(t).value();
      type1_from[i] = static_cast<int32_t>(ids[i].size());
    }
  }
  std::string buf;
  for (size_t begin = 0; begin < ids.size(); begin += chunk) {
    const size_t end = std::min(ids.size(), begin + chunk);
    auto r = e.Classify({ids.begin() + begin, ids.begin() + end},
                        {type1_from.begin() + begin, type1_from.begin() + end});
    if (!r.ok()) {
      return Fail(r.status().WithPrefix("lines " + std::to_string((*lines)[begin].line) + ".."));
    }
    buf.clear();
    for (const auto& v : *r) AppendVectorLine("scores", v, &buf);
    std::fwrite(buf.data(), 1, buf.size(), stdout);
  }
  return std::fflush(stdout) == 0 ? 0 : 1;
}

}  // namespace

int RunTokenize(int argc, char** argv) {
  CLI::App app{"Tokenize JSON lines {\"text\", \"prompt_name\"?, \"text_pair\"?} from stdin; writes"
               " {\"ids\": [...]}"
               " per line, in order. Ids include [CLS]/[SEP] and are truncated to the model's"
               " maximum length ([SEP] kept last), as the model sees them; a line with"
               " \"truncate\": false over the limit is an error. Pairs also get \"type1_from\""
               " (the index of the first token of type 1).",
               "floe tokenize"};
  CommonFlags f;
  AddCommonFlags(app, &f, false);
  bool offsets = false;
  app.add_flag("--offsets", offsets,
               "also write \"offsets\": [[start, stop], ...] (bytes) and \"special\": [0|1, ...]"
               " per token (single texts only)");
  CLI11_PARSE(app, argc, argv);
  f.options.tokenizer_only = true;  // no encoder needed to tokenize
  auto e = OpenEmbedder(f);
  if (!e.ok()) return Fail(e.status());
  std::vector<InputLine> lines;
  {
    auto r = ReadInputLines(std::cin);
    if (!r.ok()) return Fail(r.status());
    lines = std::move(r).value();
  }
  std::vector<std::string> out(lines.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    const InputLine& in = lines[i];
    const std::string where = "line " + std::to_string(lines[i].line);
    std::string& s = out[i];
    if (offsets) {
      if (in.has_pair) return Fail(InvalidArgumentError(where + ": --offsets is for single texts"));
      auto spans = (*e)->TokenizeSpans(in.input.text, in.input.params);
      if (!spans.ok()) return Fail(spans.status().WithPrefix(where));
      std::string ids_s, off_s, special_s;
      for (size_t k = 0; k < spans->size(); ++k) {
        const TokenSpan& t = (*spans)[k];
        const char* sep = k ? ", " : "";
        ids_s += sep + std::to_string(t.id);
        off_s += sep + ("[" + std::to_string(t.start) + ", " + std::to_string(t.stop) + "]");
        special_s += sep + std::string(t.special ? "1" : "0");
      }
      s = "{\"ids\": [" + ids_s + "], \"offsets\": [" + off_s + "], \"special\": [" + special_s +
          "]}\n";
      continue;
    }
    int32_t type1_from = -1;
    StatusOr<std::vector<int32_t>> ids =
        in.has_pair ? [&]() -> StatusOr<std::vector<int32_t>> {
          FLOE_ASSIGN_OR_RETURN(PairIds p, (*e)->TokenizePair(in.input.text, in.text_pair,
                                                              in.input.params));
          type1_from = p.type1_from;
          return std::move(p.ids);
        }()
                    : (*e)->Tokenize(in.input.text, in.input.params);
    if (!ids.ok()) return Fail(ids.status().WithPrefix(where));
    s = "{\"ids\": [";
    for (size_t k = 0; k < ids->size(); ++k) {
      if (k) s += ", ";
      s += std::to_string((*ids)[k]);
    }
    s += "]";
    if (type1_from >= 0) s += ", \"type1_from\": " + std::to_string(type1_from);
    s += "}\n";
  }
  for (const auto& s : out) std::fwrite(s.data(), 1, s.size(), stdout);
  return std::fflush(stdout) == 0 ? 0 : 1;
}

int RunEmbed(int argc, char** argv) {
  CLI::App app{"Embed JSON lines {\"text\", \"prompt_name\"?, \"dimensions\"?, \"normalize\"?,"
               " \"truncate\"?} from stdin; writes {\"embedding\": [...]} per line, in order."
               " Every line is checked before anything is written. On a classifier"
               " (...ForSequenceClassification) folder: {\"text\", \"text_pair\"?} per line,"
               " {\"scores\": [...]} (raw logits) out.",
               "floe embed"};
  CommonFlags f;
  size_t chunk = 256;
  AddCommonFlags(app, &f, true);
  app.add_option("--chunk", chunk, "inputs embedded per call (output is streamed per chunk)")
      ->default_val(256)
      ->check(CLI::Range(1, 1 << 20));
  CLI11_PARSE(app, argc, argv);
  auto e = OpenEmbedder(f);
  if (!e.ok()) return Fail(e.status());
  if ((*e)->info().task == "classify") return RunClassifyLines(**e, chunk);
  std::vector<std::vector<int32_t>> ids;
  auto lines = ReadAndCheck(**e, &ids);
  if (!lines.ok()) return Fail(lines.status());
  std::string buf;
  for (size_t begin = 0; begin < lines->size(); begin += chunk) {
    size_t end = std::min(lines->size(), begin + chunk);
    // Group by params so each group is one engine call over pre-tokenized ids.
    std::vector<std::vector<float>> vecs(end - begin);
    for (size_t i = begin; i < end; ++i) {
      if (!vecs[i - begin].empty()) continue;
      const EmbedParams& p = (*lines)[i].input.params;
      std::vector<size_t> group;
      std::vector<std::vector<int32_t>> group_ids;
      std::vector<int32_t> group_skip;  // each line's prompt, when pooling leaves it out
      for (size_t k = i; k < end; ++k) {
        const EmbedParams& q = (*lines)[k].input.params;
        if (vecs[k - begin].empty() && q.dimensions == p.dimensions && q.normalize == p.normalize) {
          auto skip = (*e)->PromptTokensExcluded(q);
          if (!skip.ok()) {
            return Fail(skip.status().WithPrefix("line " + std::to_string((*lines)[k].line)));
          }
          group.push_back(k);
          group_ids.push_back(std::move(ids[k]));
          group_skip.push_back(*skip);
        }
      }
      auto r = (*e)->EmbedTokens(group_ids, p, group_skip);
      if (!r.ok()) return Fail(r.status().WithPrefix("lines " + std::to_string((*lines)[i].line) + ".."));
      for (size_t g = 0; g < group.size(); ++g) vecs[group[g] - begin] = std::move((*r)[g]);
    }
    buf.clear();
    for (const auto& v : vecs) AppendVectorLine("embedding", v, &buf);
    std::fwrite(buf.data(), 1, buf.size(), stdout);
  }
  return std::fflush(stdout) == 0 ? 0 : 1;
}

}  // namespace floe::cli
