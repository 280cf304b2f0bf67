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

void JobToRequest(const EmbedJob& job, internal::WorkerEmbedRequest* out) {
  out->set_request_id(job.request_id);
  for (const auto& ids : job.inputs) out->add_token_ids_i32(IdsToBytes(ids));
  out->set_dimensions(job.params.dimensions);
  out->set_normalize(job.params.normalize);
  out->set_priority(job.priority);
  out->set_pool_skip(job.params.pool_skip);
  out->set_per_token(job.params.per_token);
  out->mutable_type1_from()->Add(job.type1_from.begin(), job.type1_from.end());
}

Status RequestToJob(const internal::WorkerEmbedRequest& req, EmbedJob* job) {
  job->request_id = req.request_id();
  job->params.dimensions = req.dimensions();
  job->params.normalize = req.normalize();
  job->priority = req.priority();
  job->params.pool_skip = req.pool_skip();
  job->params.per_token = req.per_token();
  job->type1_from.assign(req.type1_from().begin(), req.type1_from().end());
  job->inputs.resize(req.token_ids_i32_size());
  for (int i = 0; i < req.token_ids_i32_size(); ++i) {
    if (Status s = BytesToIds(req.token_ids_i32(i), &job->inputs[i]); !s.ok()) {
      return s.WithPrefix("input " + std::to_string(i));
    }
  }
  return OkStatus();
}

Status OutputToResponse(const EmbedOutput& out, internal::WorkerEmbedResponse* resp) {
  const int dim = out.dimension;
  resp->set_dimension(dim);
  resp->set_queue_wait_s(out.queue_wait_s);
  resp->set_forward_s(out.forward_s);
  resp->set_per_token(out.per_token);
  size_t floats = 0;
  for (const auto& v : out.vectors) {
    const bool fits = out.per_token ? dim > 0 && v.size() % static_cast<size_t>(dim) == 0
                                    : static_cast<int>(v.size()) == dim;
    if (!fits) return InternalError("ragged vectors");
    if (out.per_token) resp->add_tokens(static_cast<uint32_t>(v.size() / static_cast<size_t>(dim)));
    floats += v.size();
  }
  std::string* bytes = resp->mutable_vectors_f32();
  bytes->resize(floats * sizeof(float));
  char* p = bytes->data();
  for (const auto& v : out.vectors) {
    if (!v.empty()) std::memcpy(p, v.data(), v.size() * sizeof(float));
    p += v.size() * sizeof(float);
  }
  return OkStatus();
}

StatusOr<EmbedOutput> OutputFromResponse(const internal::WorkerEmbedResponse& resp,
                                         size_t n, const std::string& who) {
  const int dim = resp.dimension();
  const std::string& bytes = resp.vectors_f32();
  // Rows per input: 1, or a per-token answer's token counts.
  const bool per_token = resp.per_token();
  if (per_token && static_cast<size_t>(resp.tokens_size()) != n) {
    return InternalError(who + " sent " + std::to_string(resp.tokens_size()) +
                         " token counts for " + std::to_string(n) + " inputs");
  }
  size_t rows = per_token ? 0 : n;
  for (uint32_t t : resp.tokens()) rows += t;
  if (dim <= 0 || bytes.size() != rows * static_cast<size_t>(dim) * sizeof(float)) {
    return InternalError(who + " sent " + std::to_string(bytes.size()) + " bytes for " +
                         std::to_string(rows) + " vectors of dimension " + std::to_string(dim));
  }
  EmbedOutput out;
  out.dimension = dim;
  out.per_token = per_token;
  out.queue_wait_s = resp.queue_wait_s();
  out.forward_s = resp.forward_s();
  out.vectors.resize(n);
  const char* p = bytes.data();
  for (size_t i = 0; i < n; ++i) {
    auto& v = out.vectors[i];
    v.resize(static_cast<size_t>(dim) * (per_token ? resp.tokens(static_cast<int>(i)) : 1));
    if (!v.empty()) std::memcpy(v.data(), p, v.size() * sizeof(float));
    p += v.size() * sizeof(float);
  }
  return out;
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
    if (j > i) {
      out += '-';
      out += std::to_string(cores[j]);
    }
    i = j + 1;
  }
  return out;
}

}  // namespace floe::worker
