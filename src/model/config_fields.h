// Reading config.json's fields with errors that name the file and the field:
// what every architecture's parser (model/<arch>_config.cc) needs.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace floe {

// Free-function readers (NomicBERT's and GTE's parsers). Each takes the
// object `j`, the field `key` and config.json's `path` for messages.
// INVALID_ARGUMENT "<path>: <what>".
Status ConfigError(const std::string& path, const std::string& what);
// An integer >= min_value (<= 1e9); absent or null keeps *out unless required.
Status ConfigInt(const nlohmann::json& j, const char* key, const std::string& path,
                 bool required, int min_value, int* out);
// A number / boolean / string; absent or null keeps *out.
Status ConfigNumber(const nlohmann::json& j, const char* key, const std::string& path,
                    double* out);
Status ConfigBool(const nlohmann::json& j, const char* key, const std::string& path, bool* out);
Status ConfigString(const nlohmann::json& j, const char* key, const std::string& path,
                    std::string* out);
// A boolean option floe runs only when false: UNIMPLEMENTED naming it when true.
Status ConfigMustBeFalse(const nlohmann::json& j, const char* key, const std::string& path);

// The same as a reader bound to one object and path.
class ConfigFields {
 public:
  // `j` and `path` outlive the reader.
  ConfigFields(const nlohmann::json& j, const std::string& path) : j_(j), path_(path) {}

  // INVALID_ARGUMENT "<path>: <what>".
  Status Bad(const std::string& what) const;
  // UNIMPLEMENTED "<path>: "<key>": <value> is not supported (<supported>)".
  Status Unsupported(const std::string& key, const std::string& value,
                     const std::string& supported) const;
  const nlohmann::json& object() const { return j_; }
  // The field, or nullptr when absent or null.
  const nlohmann::json* Get(const char* key) const;
  // The field as a string, or its JSON text when it is not one ("" when absent).
  std::string Text(const char* key) const;
  // An integer >= min_value; absent or null keeps *out unless required.
  Status Int(const char* key, bool required, int min_value, int* out) const;
  // A number; absent or null keeps *out.
  Status Real(const char* key, double* out) const;
  // A boolean; absent or null keeps *out.
  Status Flag(const char* key, bool* out) const;

 private:
  const nlohmann::json& j_;
  const std::string& path_;
};

}  // namespace floe
