#include "hub/hash.h"

#include <openssl/evp.h>

#include <cstdio>

namespace floe::hub {

struct Hasher::Impl {
  EVP_MD_CTX* ctx = nullptr;
};

Hasher::Hasher(HashKind kind, uint64_t total_size) : impl_(std::make_unique<Impl>()) {
  impl_->ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(impl_->ctx, kind == HashKind::kSha256 ? EVP_sha256() : EVP_sha1(),
                    nullptr);
  if (kind == HashKind::kGitBlobSha1) {
    const std::string header = "blob " + std::to_string(total_size);
    EVP_DigestUpdate(impl_->ctx, header.data(), header.size() + 1);  // with the NUL
  }
}

Hasher::~Hasher() { EVP_MD_CTX_free(impl_->ctx); }

void Hasher::Update(const void* data, size_t size) {
  EVP_DigestUpdate(impl_->ctx, data, size);
}

std::string Hasher::FinalHex() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_DigestFinal_ex(impl_->ctx, digest, &n);
  static const char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(2 * n);
  for (unsigned int i = 0; i < n; ++i) {
    hex += kHex[digest[i] >> 4];
    hex += kHex[digest[i] & 15];
  }
  return hex;
}

StatusOr<std::string> HashFile(const std::string& path, HashKind kind) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return NotFoundError("cannot open " + path);
  std::fseek(f, 0, SEEK_END);
  const long size = std::ftell(f);
  std::fseek(f, 0, SEEK_SET);
  Hasher h(kind, size < 0 ? 0 : static_cast<uint64_t>(size));
  std::string buf(1 << 20, '\0');
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), f)) > 0) h.Update(buf.data(), n);
  const bool failed = std::ferror(f);
  std::fclose(f);
  if (failed) return InternalError("read error on " + path);
  return h.FinalHex();
}

std::string HashBytes(std::string_view bytes, HashKind kind) {
  Hasher h(kind, bytes.size());
  h.Update(bytes.data(), bytes.size());
  return h.FinalHex();
}

bool EtagHashKind(std::string_view etag, HashKind* kind) {
  for (char c : etag) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  if (etag.size() == 64) {
    *kind = HashKind::kSha256;
    return true;
  }
  if (etag.size() == 40) {
    *kind = HashKind::kGitBlobSha1;
    return true;
  }
  return false;
}

}  // namespace floe::hub
