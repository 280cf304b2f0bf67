// What both ends of the worker transport agree on: status codes mapped
// between floe and gRPC, token ids and vectors as little-endian bytes.
#pragma once


#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "core/grpc_status.h"
#include "core/status.h"
#include "floe/internal/worker.pb.h"
#include "replica/batch_stats.h"
#include "replica/replica.h"

namespace floe::worker {

// The codes by core/grpc_status.h's table.
grpc::Status ToGrpc(const Status& s);
Status FromGrpc(const grpc::Status& s);

// Token ids <-> little-endian int32 bytes (this is x86/arm little-endian only).
inline std::string IdsToBytes(const std::vector<int32_t>& ids) {
  return std::string(reinterpret_cast<const char*>(ids.data()), ids.size() * sizeof(int32_t));
}
// INVALID_ARGUMENT when the size is not a multiple of 4.
Status BytesToIds(const std::string& bytes, std::vector<int32_t>* ids);

// A job <-> the Embed request: ids, params, priority and type1_from (not the
// deadline, which travels as the call's). ToJob: INVALID_ARGUMENT for bytes
// that are not int32 ids, naming the input.
void JobToRequest(const EmbedJob& job, internal::WorkerEmbedRequest* out);
Status RequestToJob(const internal::WorkerEmbedRequest& req, EmbedJob* job);

// A replica's answer <-> the Embed response (vectors input-major; a
// per-token answer's token matrices back to back, with their token counts).
// OutputToResponse: INTERNAL for ragged vectors. OutputFromResponse: INTERNAL
// naming `who` when the bytes do not hold n_inputs vectors (or matrices).
Status OutputToResponse(const EmbedOutput& out, internal::WorkerEmbedResponse* resp);
StatusOr<EmbedOutput> OutputFromResponse(const internal::WorkerEmbedResponse& resp,
                                         size_t n_inputs, const std::string& who);

// Batch histograms <-> the Health answer. FromProto: INVALID_ARGUMENT when
// the bucket counts do not match this build's bounds (nothing to add then).
void BatchStatsToProto(const BatchStats& stats, internal::WorkerBatchStats* out);
StatusOr<BatchStats> BatchStatsFromProto(const internal::WorkerBatchStats& in);

// Parses a CPU list ("0-3,6") into core numbers; false when malformed.
bool ParseCpuList(const std::string& list, std::vector<int>* cores);
// The inverse, compressed to ranges: {0,1,2,5} -> "0-2,5".
std::string FormatCpuList(const std::vector<int>& cores);

}  // namespace floe::worker
