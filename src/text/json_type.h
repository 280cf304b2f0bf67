// The "type" of a tokenizer.json component, for dispatch and messages.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace floe::text {

// j["type"] when j is an object with a string "type", else "(no type)".
inline std::string JsonTypeName(const nlohmann::json& j) {
  return j.is_object() && j.contains("type") && j["type"].is_string()
             ? j["type"].get<std::string>()
             : std::string("(no type)");
}

}  // namespace floe::text
