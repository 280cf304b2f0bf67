// Turns the --model argument into a model folder: an existing directory, or a
// Hugging Face id (ORG/NAME[@REVISION]) from the local Hugging Face cache, downloaded
// from the hub (src/hub) when it is not there and the network is allowed.
#pragma once

#include <string>

#include "core/status.h"

namespace floe {

// Cache root: $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub.
// Snapshot: REVISION if given (a commit hash or a ref under refs/), else refs/main.
// A complete cached snapshot is used without touching the network. Otherwise the
// model is fetched from $HF_ENDPOINT (default https://huggingface.co) with $HF_TOKEN,
// progress on stderr. HF_HUB_OFFLINE=1: cache only, NOT_FOUND naming the folder
// looked in. Download errors keep their code (NOT_FOUND, UNAUTHENTICATED,
// UNAVAILABLE, DATA_LOSS) and name the model.
StatusOr<std::string> ResolveModelPath(const std::string& model);

}  // namespace floe
