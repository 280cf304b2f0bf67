// The second product of attention, O = P V, in bfloat16 (float32
// accumulation) on oneDNN's AMX / AVX512_BF16 matmul, for the bfloat16 and
// int8 compute types. Q K^T stays float32: the softmax amplifies score
// errors, while P V's rounding is no larger than the one the next product
// (attention output, in bf16 or int8) applies to its input anyway.
#pragma once

#include <cstdint>
#include <map>
#include <utility>

#include "dnnl.hpp"

namespace floe::cpu {

class Bf16ValueProducts {
 public:
  explicit Bf16ValueProducts(dnnl::engine* eng) : eng_(eng) {}

  // Readies the product for sequences of `len` tokens (`head_size` columns,
  // output row stride `ldo`). Not thread-safe: call before Run's threads.
  // Throws dnnl::error.
  void Prepare(int64_t len, int64_t head_size, int64_t ldo);

  // o [len, head_size] (row stride ldo) = p [len, len] (bfloat16, row
  // stride len, rows summing to 1) x v [len, head_size] (float32, row stride
  // ldv), on the calling thread. v_bf16 is scratch of len * head_size
  // elements. Thread-safe for prepared shapes.
  void Run(const uint16_t* p, const float* v, int64_t ldv, int64_t len, int64_t head_size,
           float* o, int64_t ldo, uint16_t* v_bf16) const;

 private:
  using Key = std::pair<int64_t, int64_t>;  // (len, head_size)
  dnnl::engine* eng_;
  std::map<Key, dnnl::matmul> prims_;
  int64_t ldo_ = 0;
};

}  // namespace floe::cpu
