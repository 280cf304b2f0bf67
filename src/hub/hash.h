// Content hashes the Hugging Face Hub reports for a file, computed locally so a
// download can be checked before it is used: sha256 for LFS files (X-Linked-Etag)
// and git's blob sha1 ("blob <size>\0" + bytes) for regular files (ETag).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"

namespace floe::hub {

enum class HashKind { kSha256, kGitBlobSha1 };

// Streaming hasher (OpenSSL EVP). Not thread-safe; not copyable.
class Hasher {
 public:
  // kGitBlobSha1 needs the total size up front (it is part of git's header).
  Hasher(HashKind kind, uint64_t total_size);
  ~Hasher();
  Hasher(const Hasher&) = delete;
  Hasher& operator=(const Hasher&) = delete;

  void Update(const void* data, size_t size);
  // Lower-case hex digest. The hasher must not be used afterwards.
  std::string FinalHex();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Hex digest of a whole file; INTERNAL / NOT_FOUND when it cannot be read.
StatusOr<std::string> HashFile(const std::string& path, HashKind kind);

// Hex digest of bytes in memory (tests, small files).
std::string HashBytes(std::string_view bytes, HashKind kind);

// Which hash an etag names: 64 hex digits = sha256, 40 = git blob sha1, other = none.
bool EtagHashKind(std::string_view etag, HashKind* kind);

}  // namespace floe::hub
