#include "model/config_fields.h"

#include <cmath>

namespace floe {

Status ConfigError(const std::string& path, const std::string& what) {
  return InvalidArgumentError(path + ": " + what);
}

Status ConfigInt(const nlohmann::json& j, const char* key, const std::string& path,
                 bool required, int min_value, int* out) {
  return ConfigFields(j, path).Int(key, required, min_value, out);
}

Status ConfigNumber(const nlohmann::json& j, const char* key, const std::string& path,
                    double* out) {
  return ConfigFields(j, path).Real(key, out);
}

Status ConfigBool(const nlohmann::json& j, const char* key, const std::string& path, bool* out) {
  return ConfigFields(j, path).Flag(key, out);
}

Status ConfigString(const nlohmann::json& j, const char* key, const std::string& path,
                    std::string* out) {
  const nlohmann::json* v = ConfigFields(j, path).Get(key);
  if (v == nullptr) return OkStatus();
  if (!v->is_string()) return ConfigError(path, std::string("\"") + key + "\" is not a string");
  *out = v->get<std::string>();
  return OkStatus();
}

Status ConfigMustBeFalse(const nlohmann::json& j, const char* key, const std::string& path) {
  bool v = false;
  FLOE_RETURN_IF_ERROR(ConfigBool(j, key, path, &v));
  if (v) return UnimplementedError(path + ": \"" + key + "\": true is not supported");
  return OkStatus();
}

Status ConfigFields::Bad(const std::string& what) const { return ConfigError(path_, what); }

Status ConfigFields::Unsupported(const std::string& key, const std::string& value,
                                 const std::string& supported) const {
  return UnimplementedError(path_ + ": \"" + key + "\": " + value + " is not supported" +
                            (supported.empty() ? "" : " (" + supported + ")"));
}

const nlohmann::json* ConfigFields::Get(const char* key) const {
  auto it = j_.find(key);
  return it == j_.end() || it->is_null() ? nullptr : &*it;
}

std::string ConfigFields::Text(const char* key) const {
  const nlohmann::json* v = Get(key);
  if (v == nullptr) return "";
  return v->is_string() ? v->get<std::string>() : v->dump();
}

Status ConfigFields::Int(const char* key, bool required, int min_value, int* out) const {
  const nlohmann::json* v = Get(key);
  if (v == nullptr) return required ? Bad(std::string("missing \"") + key + "\"") : OkStatus();
  if (!v->is_number() || v->get<double>() != std::floor(v->get<double>()) ||
      v->get<double>() < min_value || v->get<double>() > 1e9) {
    return Bad(std::string("\"") + key + "\" is not an integer >= " + std::to_string(min_value));
  }
  *out = static_cast<int>(v->get<double>());
  return OkStatus();
}

Status ConfigFields::Real(const char* key, double* out) const {
  const nlohmann::json* v = Get(key);
  if (v == nullptr) return OkStatus();
  if (!v->is_number()) return Bad(std::string("\"") + key + "\" is not a number");
  *out = v->get<double>();
  return OkStatus();
}

Status ConfigFields::Flag(const char* key, bool* out) const {
  const nlohmann::json* v = Get(key);
  if (v == nullptr) return OkStatus();
  if (!v->is_boolean()) return Bad(std::string("\"") + key + "\" is not a boolean");
  *out = v->get<bool>();
  return OkStatus();
}

}  // namespace floe
