// CUDA graphs of a region of ops (Backend::RunGraph): the rules of when to
// capture, replay, recapture and forget live in host/graph_book.h (plain
// C++, tested on the CPU); this file does what they decide with the CUDA
// runtime.
//
// Capture runs `body` with the backend's stream in thread-local capture
// mode: its kernels and products are recorded, not run. Anything a capture
// cannot hold (a copy from pageable host memory, an allocation, a wait)
// fails it; then the key is refused for good and body runs again, eagerly
// (nothing ran the first time). A stale graph (memory freed since it was
// captured) is recaptured and updated in place (cudaGraphExecUpdate) when
// its topology is unchanged, else instantiated anew.
#include <string>

#include "backend/cuda/cuda_backend_impl.h"
#include "backend/cuda/cuda_status.h"
#include "core/log.h"

namespace floe::cuda {

Status CudaBackend::RunGraph(const GraphKey& key, const std::function<Status()>& body) {
  if (!sw_.graphs) return body();
  const std::string op = "cuda graph";
  FLOE_RETURN_IF_ERROR(Enter(op));
  // A deferred residual of earlier ops is applied before, not inside.
  FLOE_RETURN_IF_ERROR(Flush());
  const uint64_t generation = allocs_->frees();
  switch (graphs_.Next(key, generation)) {
    case host::GraphStep::kEager:
      return body();
    case host::GraphStep::kReplay:
      return CudaStatus(cudaGraphLaunch(graphs_.Find(key)->get(), stream_), op + ": replay");
    case host::GraphStep::kCapture:
      break;
  }
  cudaError_t e = cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal);
  Status s = CudaStatus(e, op + ": cudaStreamBeginCapture");
  cudaGraph_t graph = nullptr;
  if (s.ok()) {
    s = body();
    // Inside the capture too: the region leaves no residual deferred.
    if (s.ok()) s = Flush();
    e = cudaStreamEndCapture(stream_, &graph);
    if (s.ok()) s = CudaStatus(e, op + ": cudaStreamEndCapture");
  }
  if (s.ok() && generation != allocs_->frees()) {
    s = InternalError(op + ": memory was freed while capturing");
  }
  cudaGraphExec_t exec = nullptr;
  bool updated = false;
  if (s.ok()) {
    if (GraphExec* old = graphs_.Find(key)) {
      cudaGraphExecUpdateResultInfo info{};
      updated = cudaGraphExecUpdate(old->get(), graph, &info) == cudaSuccess;
      if (!updated) cudaGetLastError();  // clear: instantiate anew below
    }
    if (!updated) {
      s = CudaStatus(cudaGraphInstantiate(&exec, graph, 0), op + ": cudaGraphInstantiate");
    }
  }
  if (graph != nullptr) cudaGraphDestroy(graph);
  if (!s.ok()) {
    // Nothing body enqueued ran; what it deferred is void.
    cudaGetLastError();
    deferred_.active = false;
    graphs_.Refuse(key);
    LogOnce(LogLevel::kInfo, "cuda-graph-refused-" + device(),
            device() + ": a region runs without a CUDA graph (" + s.message() + ")");
    return body();
  }
  if (updated) {
    graphs_.Restamp(key, generation);
  } else {
    graphs_.Store(key, generation, GraphExec(exec));
  }
  return CudaStatus(cudaGraphLaunch(graphs_.Find(key)->get(), stream_), op + ": launch");
}

}  // namespace floe::cuda
