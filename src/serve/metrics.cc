#include "serve/metrics.h"

#include <cstdio>

namespace floe {

namespace {
std::vector<double> LatencyBounds() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
          0.1,    0.25,    0.5,    1,     2.5,    5,     10,   30};
}
std::string Num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.9g", v);
  return buf;
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
  std::vector<uint64_t> counts;
  double sum;
  uint64_t count;
  {
    std::lock_guard<std::mutex> lock(mu_);
    counts = counts_;
    sum = sum_;
    count = count_;
  }
  const std::string sep = labels.empty() ? "" : ",";
  uint64_t cum = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    cum += counts[i];
    *out += name + "_bucket{" + labels + sep + "le=\"" +
            (i < bounds_.size() ? Num(bounds_[i]) : std::string("+Inf")) + "\"} " +
            std::to_string(cum) + "\n";
  }
  const std::string l = labels.empty() ? "" : "{" + labels + "}";
  *out += name + "_sum" + l + " " + Num(sum) + "\n";
  *out += name + "_count" + l + " " + std::to_string(count) + "\n";
}

Metrics::Metrics()
    : tokenize_seconds(LatencyBounds()),
      queue_wait_seconds(LatencyBounds()),
      forward_seconds(LatencyBounds()),
      batch_tokens({16, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536}) {}

void Metrics::CountRequest(const std::string& route, const std::string& code, double seconds) {
  Histogram* h;
  {
    std::lock_guard<std::mutex> lock(mu_);
    requests_[{route, code}]++;
    auto& slot = latency_by_route_[route];
    if (!slot) {
      owned_.push_back(std::make_unique<Histogram>(LatencyBounds()));
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
  counter("floe_batches_total", "Forward passes run.", batches.load());
  out += "# HELP floe_requests_in_flight Requests admitted and not yet answered.\n"
         "# TYPE floe_requests_in_flight gauge\nfloe_requests_in_flight " +
         std::to_string(in_flight.load()) + "\n";
  for (const auto& g : gauges_) {
    out += "# HELP " + g.name + " " + g.help + "\n# TYPE " + g.name + " gauge\n" + g.name +
           " " + Num(g.fn()) + "\n";
  }
  auto hist = [&](const char* name, const char* help, const Histogram& h) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " histogram\n";
    h.Render(name, "", &out);
  };
  hist("floe_tokenize_seconds", "Tokenization time per request.", tokenize_seconds);
  hist("floe_queue_wait_seconds", "Time from submission to first batch per request.",
       queue_wait_seconds);
  hist("floe_forward_seconds", "Time per forward pass.", forward_seconds);
  hist("floe_batch_tokens", "Tokens per forward pass.", batch_tokens);
  out += "# HELP floe_request_seconds Total request latency by route.\n"
         "# TYPE floe_request_seconds histogram\n";
  for (const auto& [route, h] : latency_by_route_) {
    h->Render("floe_request_seconds", "route=\"" + route + "\"", &out);
  }
  return out;
}

}  // namespace floe
