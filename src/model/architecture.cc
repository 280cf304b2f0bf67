#include "model/architecture.h"

#include <nlohmann/json.hpp>

#include "model/gte_config.h"
#include "model/modernbert_config.h"
#include "model/nomic_config.h"
#include "model/qwen3_config.h"

namespace floe {

namespace {

constexpr ArchitectureSpec kArchitectures[] = {
    {"nomic_bert", &NomicBertCommonConfig, &CheckNomicBertWeights},
    {"new", &GteCommonConfig, &CheckGteWeights},
    {"modernbert", &ModernBertCommonConfig, &CheckModernBertWeights},
    {"qwen3", &Qwen3CommonConfig, &CheckQwen3Weights},
};

}  // namespace

const ArchitectureSpec* FindArchitecture(std::string_view model_type) {
  for (const ArchitectureSpec& a : kArchitectures) {
    if (a.model_type == model_type) return &a;
  }
  return nullptr;
}

std::string SupportedModelTypes() {
  std::string s = "bert, xlm-roberta, roberta, camembert";
  for (const ArchitectureSpec& a : kArchitectures) s += ", " + std::string(a.model_type);
  return s;
}

std::string ModelTypeOf(std::string_view json_text) {
  const auto j = nlohmann::json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return "";
  auto it = j.find("model_type");
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

}  // namespace floe
