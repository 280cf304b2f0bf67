#include "replica/worker_codec.h"

#include <algorithm>
#include <charconv>

namespace floe::worker {

namespace {
// Empty (no pass yet) or one count per bucket of `bounds`, +Inf included.
bool Fits(const google::protobuf::RepeatedField<uint64_t>& buckets,
          const std::vector<double>& bounds) {
  return buckets.empty() || static_cast<size_t>(buckets.size()) == bounds.size() + 1;
}
HistogramCounts Counts(const google::protobuf::RepeatedField<uint64_t>& buckets,
                       double sum) {
  HistogramCounts h;
  h.buckets.assign(buckets.begin(), buckets.end());
  h.sum = sum;
  for (uint64_t n : h.buckets) h.count += n;
  return h;
}
}  // namespace

void BatchStatsToProto(const BatchStats& stats, internal::WorkerBatchStats* out) {
  out->mutable_token_buckets()->Add(stats.tokens.buckets.begin(),
                                    stats.tokens.buckets.end());
  out->set_token_sum(stats.tokens.sum);
  out->mutable_forward_buckets()->Add(stats.forward_s.buckets.begin(),
                                      stats.forward_s.buckets.end());
  out->set_forward_sum(stats.forward_s.sum);
}

StatusOr<BatchStats> BatchStatsFromProto(const internal::WorkerBatchStats& in) {
  if (!Fits(in.token_buckets(), BatchTokenBounds()) ||
      !Fits(in.forward_buckets(), SecondsBounds())) {
    return InvalidArgumentError("batch histograms of " +
                                std::to_string(in.token_buckets_size()) + " and " +
                                std::to_string(in.forward_buckets_size()) +
                                " buckets do not match this build's bounds");
  }
  BatchStats stats;
  stats.tokens = Counts(in.token_buckets(), in.token_sum());
  stats.forward_s = Counts(in.forward_buckets(), in.forward_sum());
  return stats;
}

grpc::Status ToGrpc(const Status& s) {
  using G = grpc::StatusCode;
  G code = G::UNKNOWN;
  switch (s.code()) {
    case StatusCode::kOk: return grpc::Status::OK;
    case StatusCode::kCancelled: code = G::CANCELLED; break;
    case StatusCode::kInvalidArgument: code = G::INVALID_ARGUMENT; break;
    case StatusCode::kDeadlineExceeded: code = G::DEADLINE_EXCEEDED; break;
    case StatusCode::kNotFound: code = G::NOT_FOUND; break;
    case StatusCode::kAlreadyExists: code = G::ALREADY_EXISTS; break;
    case StatusCode::kResourceExhausted: code = G::RESOURCE_EXHAUSTED; break;
    case StatusCode::kFailedPrecondition: code = G::FAILED_PRECONDITION; break;
    case StatusCode::kOutOfRange: code = G::OUT_OF_RANGE; break;
    case StatusCode::kUnimplemented: code = G::UNIMPLEMENTED; break;
    case StatusCode::kInternal: code = G::INTERNAL; break;
    case StatusCode::kUnavailable: code = G::UNAVAILABLE; break;
    case StatusCode::kDataLoss: code = G::DATA_LOSS; break;
    case StatusCode::kUnauthenticated: code = G::UNAUTHENTICATED; break;
  }
  return grpc::Status(code, s.message());
}

Status FromGrpc(const grpc::Status& s) {
  using G = grpc::StatusCode;
  StatusCode code = StatusCode::kInternal;
  switch (s.error_code()) {
    case G::OK: return OkStatus();
    case G::CANCELLED: code = StatusCode::kCancelled; break;
    case G::INVALID_ARGUMENT: code = StatusCode::kInvalidArgument; break;
    case G::DEADLINE_EXCEEDED: code = StatusCode::kDeadlineExceeded; break;
    case G::NOT_FOUND: code = StatusCode::kNotFound; break;
    case G::ALREADY_EXISTS: code = StatusCode::kAlreadyExists; break;
    case G::RESOURCE_EXHAUSTED: code = StatusCode::kResourceExhausted; break;
    case G::FAILED_PRECONDITION: code = StatusCode::kFailedPrecondition; break;
    case G::OUT_OF_RANGE: code = StatusCode::kOutOfRange; break;
    case G::UNIMPLEMENTED: code = StatusCode::kUnimplemented; break;
    case G::UNAVAILABLE: code = StatusCode::kUnavailable; break;
    case G::DATA_LOSS: code = StatusCode::kDataLoss; break;
    case G::UNAUTHENTICATED: code = StatusCode::kUnauthenticated; break;
    default: code = StatusCode::kInternal; break;
  }
  return Status(code, s.error_message());
}

Status BytesToIds(const std::string& bytes, std::vector<int32_t>* ids) {
  if (bytes.size() % sizeof(int32_t) != 0) {
    return InvalidArgumentError("token id bytes: " + std::to_string(bytes.size()) +
                                " is not a multiple of 4");
  }
  ids->resize(bytes.size() / sizeof(int32_t));
  if (!bytes.empty()) std::memcpy(ids->data(), bytes.data(), bytes.size());
  return OkStatus();
}

bool ParseCpuList(const std::string& list, std::vector<int>* cores) {
  cores->clear();
  size_t pos = 0;
  while (pos < list.size()) {
    size_t end = list.find(',', pos);
    if (end == std::string::npos) end = list.size();
    std::string part = list.substr(pos, end - pos);
    pos = end + 1;
    if (part.empty()) return false;
    size_t dash = part.find('-');
    int a = 0, b = 0;
    auto num = [](const std::string& s, int* v) {
      auto r = std::from_chars(s.data(), s.data() + s.size(), *v);
      return r.ec == std::errc() && r.ptr == s.data() + s.size() && *v >= 0;
    };
    if (dash == std::string::npos) {
      if (!num(part, &a)) return false;
      b = a;
    } else if (!num(part.substr(0, dash), &a) || !num(part.substr(dash + 1), &b) || b < a) {
      return false;
    }
    for (int c = a; c <= b; ++c) cores->push_back(c);
  }
  return !cores->empty();
}

std::string FormatCpuList(const std::vector<int>& in) {
  std::vector<int> cores = in;
  std::sort(cores.begin(), cores.end());
  std::string out;
  for (size_t i = 0; i < cores.size();) {
    size_t j = i;
    while (j + 1 < cores.size() && cores[j + 1] == cores[j] + 1) ++j;
    if (!out.empty()) out += ',';
    out += std::to_string(cores[i]);
    if (j > i) out += "-" + std::to_string(cores[j]);
    i = j + 1;
  }
  return out;
}

}  // namespace floe::worker
