#include "api/model_path.h"

#include <filesystem>

#include "hub/cache.h"
#include "hub/download.h"

namespace floe {
namespace fs = std::filesystem;

StatusOr<std::string> ResolveModelPath(const std::string& model) {
  std::error_code ec;
  if (model.empty()) return InvalidArgumentError("--model is empty");
  if (fs::is_directory(model, ec)) return model;
  auto ref = hub::ParseRepoRef(model);
  if (!ref.ok()) {
    return NotFoundError(
        "model '" + model +
        "' is not a folder and not a Hugging Face id (ORG/NAME[@REVISION])");
  }
  const hub::HubOptions options = hub::HubOptions::FromEnvironment();
  std::string looked_in;
  if (auto dir = hub::FindCachedSnapshot(options.cache_root, *ref, &looked_in))
    return *dir;
  if (options.offline) {
    return NotFoundError("model '" + model +
                         "' is not in the Hugging Face cache (looked in " + looked_in +
                         ") and HF_HUB_OFFLINE is set: download it first, unset "
                         "HF_HUB_OFFLINE, or pass a model folder");
  }
  auto dir = hub::DownloadSnapshot(*ref, options);
  if (!dir.ok()) {
    return dir.status().WithPrefix("model '" + model +
                                   "' is not a folder, not in the cache (" + looked_in +
                                   ") and could not be downloaded");
  }
  return dir;
}

}  // namespace floe
