// A tensor view: a pointer with its element type, device and shape, as the
// Backend ops take their activations (CTranslate2's StorageView is the model,
// without ownership: the memory belongs to a DeviceBuffer or to the caller).
// An op checks each view it is given (CheckTensor) before any work, so a
// float16 buffer read as float32, host memory handed to the GPU, or a shape
// that does not match the batch is a Status, not garbage or a crash.
//
// Plain C++17 and only core/dtype.h (core/status.h outside nvcc, for
// CheckTensor), so that nvcc can include it.
#pragma once

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <type_traits>

#include "core/dtype.h"

#ifndef __CUDACC__
#include <string_view>

#include "core/status.h"
#endif

namespace floe {

enum class DeviceKind : uint8_t { kCpu, kCuda };

// Where a view's memory lies: the host (the CPU backend's memory) or GPU
// `index`.
struct Device {
  DeviceKind kind = DeviceKind::kCpu;
  int index = 0;

  static constexpr Device Cpu() { return Device{}; }
  static constexpr Device Cuda(int i) { return Device{DeviceKind::kCuda, i}; }
  friend constexpr bool operator==(Device a, Device b) {
    return a.kind == b.kind && a.index == b.index;
  }
  friend constexpr bool operator!=(Device a, Device b) { return !(a == b); }
};

// "cpu", "cuda:N" (as Backend::device()).
inline std::string DeviceName(Device d) {
  return d.kind == DeviceKind::kCpu ? std::string("cpu")
                                    : "cuda:" + std::to_string(d.index);
}

constexpr int kMaxTensorRank = 4;

// The element type a C++ type reads: float, int32_t, int8_t; uint16_t reads
// either 16-bit float.
template <typename T>
constexpr bool ReadsDType(DType t) {
  if constexpr (std::is_floating_point_v<T>) {
    return t == DType::kF32;
  } else if constexpr (sizeof(T) == 4) {
    return t == DType::kI32;
  } else if constexpr (sizeof(T) == 2) {
    return t == DType::kF16 || t == DType::kBF16;
  } else {
    return t == DType::kI8;
  }
}

// Row-major, dense. Rank 0 to 4; dims beyond the rank read as 1.
struct TensorView {
  void* data = nullptr;
  DType dtype = DType::kF32;
  Device device;
  int rank = 0;
  int64_t shape[kMaxTensorRank] = {0, 0, 0, 0};
  // Bytes usable from data (the buffer's room, which may exceed bytes():
  // padding rows, a scratch sized for the largest pass); 0 = unknown, then
  // only bytes() is assumed.
  size_t capacity = 0;

  TensorView() = default;
  TensorView(const void* p, DType dt, Device dev, std::initializer_list<int64_t> dims,
             size_t room = 0)
      : data(const_cast<void*>(p)), dtype(dt), device(dev), capacity(room) {
    assert(dims.size() <= kMaxTensorRank);
    for (int64_t d : dims) {
      if (rank < kMaxTensorRank) shape[rank++] = d;
    }
  }

  int64_t dim(int i) const { return i < rank ? shape[i] : 1; }
  // The first dim, and the product of the others (a [T, N, H] view is T rows
  // of N * H; a rank-1 view is its length in rows of one element).
  int64_t rows() const { return rank > 0 ? shape[0] : 1; }
  int64_t cols() const {
    int64_t n = 1;
    for (int i = 1; i < rank; ++i) n *= shape[i];
    return n;
  }
  int64_t numel() const { return rows() * cols(); }
  size_t bytes() const { return static_cast<size_t>(numel()) * DTypeSize(dtype); }
  // Bytes the memory is known to hold from data.
  size_t room() const { return capacity > bytes() ? capacity : bytes(); }

  // The data as T; the dtype must be T's (checked in debug builds: ops check
  // views with CheckTensor first).
  template <typename T>
  T* as() const {
    assert(ReadsDType<T>(dtype));
    return static_cast<T*>(data);
  }
  float* f32() const { return as<float>(); }
  int32_t* i32() const { return as<int32_t>(); }

  // Rows [first, first + count) of the first dim, the same type and device.
  TensorView Rows(int64_t first, int64_t count) const {
    TensorView v = *this;
    const size_t offset = static_cast<size_t>(first * cols()) * DTypeSize(dtype);
    v.data = static_cast<char*>(data) + offset;
    v.shape[0] = count;
    v.capacity = capacity > offset ? capacity - offset : 0;
    if (v.rank == 0) v.rank = 1;
    return v;
  }
};

// A float32 view of host memory (the CPU backend's, or a caller's).
inline TensorView HostF32(const float* p, std::initializer_list<int64_t> dims,
                          size_t room = 0) {
  return TensorView(p, DType::kF32, Device::Cpu(), dims, room);
}

#ifndef __CUDACC__  // .cu files see the view only (no Status there)
// OK when `v` has element type `dtype`, lies on `device` and has the shape
// `dims` (rank and every dim; a dim of -1 matches any size), its data not
// null unless it is empty. Otherwise INVALID_ARGUMENT naming `op`, `arg`, and
// what was given and expected ("linear encoder.layer.0.output.dense: y is
// float32 [7, 384] on cpu, expected float32 [7, 768] on cpu"), except a wrong
// element type on the right device, which is FAILED_PRECONDITION (the memory
// holds other values than the op would read). backend/ops.cc.
Status CheckTensor(const TensorView& v, std::string_view op, const char* arg, DType dtype,
                   Device device, std::initializer_list<int64_t> dims);
#endif

// "float16 [7, 384] on cuda:0".
std::string DescribeTensor(const TensorView& v);

}  // namespace floe
