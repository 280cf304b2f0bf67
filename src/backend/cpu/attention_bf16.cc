#include "backend/cpu/attention_bf16.h"

#include "backend/cpu/kernels.h"

namespace floe::cpu {
namespace {

using dnnl::memory;

memory::desc Strided(int64_t rows, int64_t cols, memory::data_type dt, int64_t ld) {
  return memory::desc({rows, cols}, dt, memory::dims{ld, 1});
}

}  // namespace

void Bf16ValueProducts::Prepare(int64_t len, int64_t head_size, int64_t ldo) {
  if (ldo_ != ldo) {
    prims_.clear();
    ldo_ = ldo;
  }
  const Key key{len, head_size};
  if (prims_.count(key)) return;
  const memory::desc p({len, len}, memory::data_type::bf16, memory::format_tag::ab);
  const memory::desc v({len, head_size}, memory::data_type::bf16, memory::format_tag::ab);
  const memory::desc o = Strided(len, head_size, memory::data_type::f32, ldo);
  dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(p, v, o), *eng_);
  prims_.emplace(key, dnnl::matmul(pd));
}

void Bf16ValueProducts::Run(const uint16_t* p, const float* v, int64_t ldv, int64_t len,
                            int64_t head_size, float* o, int64_t ldo, uint16_t* v_bf16) const {
  for (int64_t r = 0; r < len; ++r) FloatToBf16Row(v + r * ldv, head_size, v_bf16 + r * head_size);
  const dnnl::matmul& prim = prims_.at({len, head_size});
  memory pm({{len, len}, memory::data_type::bf16, memory::format_tag::ab}, *eng_,
            const_cast<uint16_t*>(p));
  memory vm({{len, head_size}, memory::data_type::bf16, memory::format_tag::ab}, *eng_, v_bf16);
  memory om(Strided(len, head_size, memory::data_type::f32, ldo), *eng_, o);
  dnnl::stream stream(*eng_);
  prim.execute(stream, {{DNNL_ARG_SRC, pm}, {DNNL_ARG_WEIGHTS, vm}, {DNNL_ARG_DST, om}});
}

}  // namespace floe::cpu
