// libFuzzer target: any byte string must parse or fail with a Status, never
// crash or read outside the input. Every accepted tensor must lie inside it.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "model/dtype.h"
#include "model/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto r = floe::SafetensorsFile::Parse("fuzz.safetensors", bytes);
  if (!r.ok()) {
    if (r.status().message().rfind("fuzz.safetensors: ", 0) != 0) std::abort();
    return 0;
  }
  for (const auto& [name, t] : (*r)->tensors()) {
    if (t.data < data || t.data + t.nbytes > data + size) std::abort();
    if (static_cast<uint64_t>(t.numel()) * floe::DTypeSize(t.dtype) != t.nbytes)
      std::abort();
    // Touch the bytes (ASan checks the reads) through the real conversion.
    float buf[64];
    size_t n = std::min<size_t>(static_cast<size_t>(t.numel()), 64);
    floe::ConvertToFloat(t.dtype, t.data, n, buf);
  }
  return 0;
}
