#include "api/model_path.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace floe {
namespace fs = std::filesystem;

namespace {

std::string HubCacheRoot() {
  if (const char* v = std::getenv("HF_HUB_CACHE"); v && *v) return v;
  if (const char* v = std::getenv("HF_HOME"); v && *v) return std::string(v) + "/hub";
  if (const char* v = std::getenv("HOME"); v && *v) {
    return std::string(v) + "/.cache/huggingface/hub";
  }
  return ".cache/huggingface/hub";
}

bool LooksLikeHubId(const std::string& s) {
  auto slash = s.find('/');
  return slash != std::string::npos && slash > 0 && s.find('/', slash + 1) == std::string::npos &&
         s[0] != '.' && s.find("..") == std::string::npos;
}

}  // namespace

StatusOr<std::string> ResolveModelPath(const std::string& model) {
  std::error_code ec;
  if (model.empty()) return InvalidArgumentError("--model is empty");
  if (fs::is_directory(model, ec)) return model;
  std::string id = model, revision = "main";
  if (auto at = id.find('@'); at != std::string::npos) {
    revision = id.substr(at + 1);
    id = id.substr(0, at);
  }
  if (!LooksLikeHubId(id) || revision.empty() || revision.find('/') != std::string::npos) {
    return NotFoundError("model '" + model +
                         "' is not a folder and not a Hugging Face id (ORG/NAME[@REVISION])");
  }
  std::string repo = "models--" + id.substr(0, id.find('/')) + "--" + id.substr(id.find('/') + 1);
  fs::path base = fs::path(HubCacheRoot()) / repo;
  std::string snapshot = revision;
  if (std::ifstream ref(base / "refs" / revision); ref) {
    std::getline(ref, snapshot);
  }
  fs::path dir = base / "snapshots" / snapshot;
  if (fs::is_directory(dir, ec) && fs::exists(dir / "config.json", ec)) return dir.string();
  return NotFoundError("model '" + model + "' is not a folder and was not found in the Hugging Face cache (looked in " +
                       dir.string() + "); download it first or pass a model folder");
}

}  // namespace floe
