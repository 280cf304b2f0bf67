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

grpc::Status ToGrpc(const Status& s) { return ToGrpcStatus(s); }

Status FromGrpc(const grpc::Status& s) { return FromGrpcStatus(s); }

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
