#include "serve/metrics.h"

#include <cstdio>

namespace floe {

namespace {
std::string Num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.9g", v);
  return buf;
}
// The _bucket/_sum/_count lines of `name` with `labels` ("" or `k="v"`).
void RenderCounts(const std::string& name, const std::string& labels,
                  const std::vector<double>& bounds, const HistogramCounts& h,
                  std::string* out) {
  const std::string sep = labels.empty() ? "" : ",";
  uint64_t cum = 0;
  for (size_t i = 0; i <= bounds.size(); ++i) {
    cum += i < h.buckets.size() ? h.buckets[i] : 0;
    *out += name + "_bucket{" + labels + sep + "le=\"" +
            (i < bounds.size() ? Num(bounds[i]) : std::string("+Inf")) + "\"} " +
            std::to_string(cum) + "\n";
  }
  const std::string l = labels.empty() ? "" : "{" + labels + "}";
  *out += name + "_sum" + l + " " + Num(h.sum) + "\n";
  *out += name + "_count" + l + " " + std::to_string(h.count) + "\n";
}
}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::Observe(double v) {
  size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  std::lock_guard<std::mutex> lock(mu_);
  counts_[i]++;
  sum_ += v;
  count_++;
}

void Histogram::Render(const std::string& name, const std::string& labels,
                       std::string* out) const {
  HistogramCounts h;
  {
    std::lock_guard<std::mutex> lock(mu_);
    h.buckets = counts_;
    h.sum = sum_;
    h.count = count_;
  }
  RenderCounts(name, labels, bounds_, h, out);
}

Metrics::Metrics() : tokenize_seconds(SecondsBounds()), queue_wait_seconds(SecondsBounds()) {}

void Metrics::SetBatchStats(std::function<BatchStats()> fn) {
  std::lock_guard<std::mutex> lock(mu_);
  batch_stats_ = std::move(fn);
}

void Metrics::CountRequest(const std::string& route, const std::string& code, double seconds) {
  Histogram* h;
  {
    std::lock_guard<std::mutex> lock(mu_);
    requests_[{route, code}]++;
    auto& slot = latency_by_route_[route];
    if (!slot) {
      owned_.push_back(std::make_unique<Histogram>(SecondsBounds()));
      slot = owned_.back().get();
    }
    h = slot;
  }
  h->Observe(seconds);
}

void Metrics::AddGauge(std::string name, std::string help, std::function<double()> fn) {
  std::lock_guard<std::mutex> lock(mu_);
  gauges_.push_back({std::move(name), std::move(help), std::move(fn)});
}

std::string Metrics::Render() const {
  std::string out;
  out.reserve(8192);
  std::lock_guard<std::mutex> lock(mu_);
  out += "# HELP floe_requests_total Requests by route and response code.\n";
  out += "# TYPE floe_requests_total counter\n";
  for (const auto& [key, n] : requests_) {
    out += "floe_requests_total{route=\"" + key.first + "\",code=\"" + key.second + "\"} " +
           std::to_string(n) + "\n";
  }
  out += "# HELP floe_request_errors_total Failed requests by route and code.\n";
  out += "# TYPE floe_request_errors_total counter\n";
  for (const auto& [key, n] : requests_) {
    if (key.second == "200" || key.second == "OK") continue;
    out += "floe_request_errors_total{route=\"" + key.first + "\",code=\"" + key.second +
           "\"} " + std::to_string(n) + "\n";
  }
  auto counter = [&](const char* name, const char* help, uint64_t v) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " counter\n" +
           name + " " + std::to_string(v) + "\n";
  };
  counter("floe_input_tokens_total", "Tokens of accepted inputs.", input_tokens.load());
  counter("floe_embeddings_total", "Vectors returned.", embeddings.load());
  const BatchStats batches = batch_stats_ ? batch_stats_() : BatchStats();
  counter("floe_batches_total", "Forward passes run.", batches.tokens.count);
  out += "# HELP floe_requests_in_flight Requests admitted and not yet answered.\n"
         "# TYPE floe_requests_in_flight gauge\nfloe_requests_in_flight " +
         std::to_string(in_flight.load()) + "\n";
  for (const auto& g : gauges_) {
    out += "# HELP " + g.name + " " + g.help + "\n# TYPE " + g.name + " gauge\n" + g.name +
           " " + Num(g.fn()) + "\n";
  }
  auto header = [&](const char* name, const char* help) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " histogram\n";
  };
  header("floe_tokenize_seconds", "Tokenization time per request.");
  tokenize_seconds.Render("floe_tokenize_seconds", "", &out);
  header("floe_queue_wait_seconds", "Time from submission to first batch per request.");
  queue_wait_seconds.Render("floe_queue_wait_seconds", "", &out);
  // Summed over the replicas (workers report with their Health answers).
  header("floe_forward_seconds", "Time per forward pass.");
  RenderCounts("floe_forward_seconds", "", SecondsBounds(), batches.forward_s, &out);
  header("floe_batch_tokens", "Tokens per forward pass.");
  RenderCounts("floe_batch_tokens", "", BatchTokenBounds(), batches.tokens, &out);
  out += "# HELP floe_request_seconds Total request latency by route.\n"
         "# TYPE floe_request_seconds histogram\n";
  for (const auto& [route, h] : latency_by_route_) {
    h->Render("floe_request_seconds", "route=\"" + route + "\"", &out);
  }
  return out;
}

}  // namespace floe
