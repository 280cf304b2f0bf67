#include "cli/jsonl.h"

#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>

namespace floe::cli {
namespace {

Status ParseLine(const std::string& line, InputLine* in) {
  EmbedInput* out = &in->input;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(line);  // throws on invalid JSON and invalid UTF-8
  } catch (const nlohmann::json::exception& e) {
    return InvalidArgumentError(std::string("invalid JSON: ") + e.what());
  }
  if (!j.is_object()) return InvalidArgumentError("expected a JSON object");
  bool have_text = false;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& key = it.key();
    const auto& v = it.value();
    if (key == "text") {
      if (!v.is_string()) return InvalidArgumentError("\"text\" must be a string");
      out->text = v.get<std::string>();
      have_text = true;
    } else if (key == "prompt_name") {
      if (v.is_null()) continue;
      if (!v.is_string()) return InvalidArgumentError("\"prompt_name\" must be a string");
      out->params.prompt_name = v.get<std::string>();
    } else if (key == "dimensions") {
      if (v.is_null()) continue;
      if (!v.is_number_integer() || v.get<int64_t>() < 1 || v.get<int64_t>() > 1 << 20) {
        return InvalidArgumentError("\"dimensions\" must be a positive integer");
      }
      out->params.dimensions = static_cast<int>(v.get<int64_t>());
    } else if (key == "normalize") {
      if (!v.is_boolean()) return InvalidArgumentError("\"normalize\" must be true or false");
      out->params.normalize = v.get<bool>();
    } else if (key == "truncate") {
      if (!v.is_boolean()) return InvalidArgumentError("\"truncate\" must be true or false");
      out->params.truncate = v.get<bool>();
    } else if (key == "text_pair") {
      if (!v.is_string()) return InvalidArgumentError("\"text_pair\" must be a string");
      in->has_pair = true;
      in->text_pair = v.get<std::string>();
    } else {
      return InvalidArgumentError("unknown field \"" + key +
                                  "\" (known: text, prompt_name, dimensions, normalize, truncate,"
                                  " text_pair)");
    }
  }
  if (!have_text) return InvalidArgumentError("missing \"text\"");
  return OkStatus();
}

}  // namespace

StatusOr<std::vector<InputLine>> ReadInputLines(std::istream& in) {
  std::vector<InputLine> inputs;
  std::string line;
  for (size_t n = 1; std::getline(in, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    InputLine input;
    input.line = n;
    Status s = ParseLine(line, &input);
    if (!s.ok()) return s.WithPrefix("line " + std::to_string(n));
    inputs.push_back(std::move(input));
  }
  return inputs;
}

void AppendFloat(float v, std::string* out) {
  if (!std::isfinite(v)) {  // JSON has no NaN/Inf
    out->append("null");
    return;
  }
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out->append(buf, end);
}

}  // namespace floe::cli
