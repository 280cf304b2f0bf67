// Fetches a model from the Hugging Face Hub into the hub's cache layout (cache.h):
// only the files floe reads, each checked against the size and hash the hub reports,
// resumable, and moved into place by rename so no half file is ever used.
//
// Protocol (what huggingface_hub does):
//   GET  {endpoint}/api/models/{id}/revision/{rev}  -> {"sha": commit, "siblings": [...]}
//   HEAD {endpoint}/{id}/resolve/{commit}/{file}    -> X-Repo-Commit, ETag (git sha1) or,
//        for LFS files, a redirect with X-Linked-Etag (sha256) and X-Linked-Size
//   GET  the same URL (redirects followed, "Range: bytes=N-" to resume)
#pragma once

#include <string>
#include <vector>

#include "core/status.h"
#include "hub/cache.h"

namespace floe::hub {

struct HubOptions {
  std::string endpoint = "https://huggingface.co";  // no trailing '/'
  std::string token;                                // sent as "Authorization: Bearer"
  std::string cache_root;                           // cache.h's <root>
  bool offline = false;                             // never touch the network
  bool progress = true;                             // progress lines on stderr
  int max_attempts = 5;                             // per request, transport errors/5xx
  int retry_delay_ms = 500;                         // doubled after each failed attempt

  // HF_ENDPOINT, HF_TOKEN (or HUGGING_FACE_HUB_TOKEN), the cache root of
  // DefaultCacheRoot(), HF_HUB_OFFLINE (1/true/yes/on), FLOE_NO_PROGRESS.
  static HubOptions FromEnvironment();
};

// The files of `siblings` (a repo's file list) that floe needs: config, weights
// (model.safetensors, or the index; shards come from the index once read), tokenizer
// and sentence-transformers files. FAILED_PRECONDITION names what is missing (no
// config.json, no safetensors weights, no tokenizer).
StatusOr<std::vector<std::string>> SelectModelFiles(
    const std::vector<std::string>& siblings);

// Whether options.endpoint answers at all: one HEAD of its root, no retries, giving up
// after `connect_timeout_s` when nothing accepts the connection (any HTTP status counts
// as an answer). UNAVAILABLE names the endpoint and the transport error.
Status ProbeHub(const HubOptions& options, long connect_timeout_s);

// Downloads what `ref` needs into options.cache_root and returns the snapshot folder.
// Blobs already in the cache are reused. Errors: NOT_FOUND (repo, revision or file
// not on the hub), UNAUTHENTICATED (401/403: private or gated, HF_TOKEN), UNAVAILABLE
// (network, after retries), DATA_LOSS (size or hash differs from the hub's; the
// partial file is deleted), FAILED_PRECONDITION (offline, or not a usable model).
// Safe to run from several processes at once (one lock file per blob).
StatusOr<std::string> DownloadSnapshot(const RepoRef& ref, const HubOptions& options);

}  // namespace floe::hub
