// Turns the --model argument into a model folder: an existing directory, or a
// Hugging Face id (ORG/NAME[@REVISION]) found in the local Hugging Face cache.
#pragma once

#include <string>

#include "core/status.h"

namespace floe {

// Cache root: $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub.
// Snapshot: REVISION if given (a commit hash or a ref under refs/), else refs/main.
// NOT_FOUND names the places looked in.
StatusOr<std::string> ResolveModelPath(const std::string& model);

}  // namespace floe
