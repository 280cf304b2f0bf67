#include "client/bench.h"

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <set>

namespace floe::client {
namespace {

using Clock = std::chrono::steady_clock;

double CpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
         (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
}

// Common words that are one WordPiece token each in BERT's uncased vocabulary.
const char* const kWords[] = {
    "the", "of", "and", "in", "to", "was", "he", "is", "for", "on", "as", "with", "by",
    "it", "his", "at", "from", "her", "an", "had", "are", "but", "be", "which", "were",
    "this", "they", "or", "first", "one", "new", "their", "after", "time", "two", "she",
    "also", "has", "would", "been", "city", "world", "year", "people", "over", "school",
    "state", "music", "water", "river", "house", "team", "game", "story", "model", "data",
    "search", "query", "document", "system", "light", "small", "large", "great", "long"};

struct Request {
  std::vector<std::string> texts;
  int64_t tokens = 0;
};

struct Outcome {
  double latency_ms = 0;
  bool ok = false;
  std::string error;
};

// Issues requests[i] on servers[i % n], at most `concurrency` in flight.
std::vector<Outcome> ClosedLoop(const std::vector<Transport*>& servers,
                                const std::vector<Request>& requests, int concurrency,
                                const std::function<void(size_t, size_t)>& tick) {
  std::vector<Outcome> out(requests.size());
  std::mutex mu;
  std::condition_variable cv;
  int in_flight = 0;
  size_t finished = 0, failed = 0;
  auto last_tick = Clock::now();
  for (size_t i = 0; i < requests.size(); ++i) {
    {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return in_flight < concurrency; });
      ++in_flight;
      if (tick && Clock::now() - last_tick > std::chrono::milliseconds(250)) {
        last_tick = Clock::now();
        tick(finished, failed);
      }
    }
    auto t0 = Clock::now();
    const size_t expect = requests[i].texts.size();
    servers[i % servers.size()]->EmbedAsync(
        &requests[i].texts, [&, i, t0, expect](StatusOr<EmbedResult> r) {
          Outcome& o = out[i];
          o.latency_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
          if (!r.ok()) {
            o.error = r.status().ToString();
          } else if (r->embeddings.size() != expect) {
            o.error = "expected " + std::to_string(expect) + " embeddings, got " +
                      std::to_string(r->embeddings.size());
          } else {
            o.ok = true;
          }
          std::lock_guard<std::mutex> lock(mu);
          --in_flight;
          ++finished;
          if (!o.ok) ++failed;
          cv.notify_all();
        });
  }
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return in_flight == 0; });
  return out;
}

}  // namespace

std::vector<int> DrawValues(int param, int lo, size_t count, const std::string& distribution,
                            uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<int> v(count, param);
  lo = std::min(lo, param);
  if (distribution == "uniform") {
    std::uniform_int_distribution<int> d(lo, param);
    for (auto& x : v) x = d(rng);
  } else if (distribution == "normal") {
    std::normal_distribution<double> d(param / 2.0, param / 4.0);
    for (auto& x : v) x = std::clamp(static_cast<int>(d(rng)), lo, param);
  }
  return v;
}

StatusOr<PromptBook> PromptBook::Build(Transport& server, const std::vector<int>& lengths,
                                       uint64_t seed) {
  PromptBook book;
  int max_len = *std::max_element(lengths.begin(), lengths.end());
  book.by_length_.assign(max_len + 1, "");
  std::set<int> wanted(lengths.begin(), lengths.end());
  std::mt19937_64 rng(seed ^ 0x9e3779b97f4a7c15ull);
  const size_t nwords = sizeof(kWords) / sizeof(kWords[0]);
  std::vector<int> todo(wanted.begin(), wanted.end());
  std::vector<std::vector<std::string>> words(max_len + 1);
  for (int len : todo) {
    for (int k = 0; k < len - 2; ++k) words[len].push_back(kWords[rng() % nwords]);
  }
  auto join = [](const std::vector<std::string>& w) {
    std::string s;
    for (const auto& x : w) (s.empty() ? s : s += " ") += x;
    return s;
  };
  book.exact_ = true;
  for (int round = 0; round < 6 && !todo.empty(); ++round) {
    std::vector<std::string> texts;
    for (int len : todo) texts.push_back(join(words[len]));
    auto ids = server.Tokenize(texts);
    if (!ids.ok()) {
      if (ids.status().code() != StatusCode::kUnimplemented) return ids.status();
      book.exact_ = false;  // no tokenizer: one word per token, as ArcticInference
      break;
    }
    std::vector<int> next;
    for (size_t k = 0; k < todo.size(); ++k) {
      int len = todo[k];
      int got = static_cast<int>((*ids)[k].size());
      if (got == len) {
        book.by_length_[len] = texts[k];
        continue;
      }
      auto& w = words[len];
      if (got > len) {
        for (int d = got - len; d > 0 && !w.empty(); --d) w.pop_back();
      } else {
        for (int d = len - got; d > 0; --d) w.push_back("the");
      }
      next.push_back(len);
    }
    todo = next;
  }
  for (int len : todo) book.by_length_[len] = join(words[len]);
  if (!todo.empty() && book.exact_) {
    return InternalError("could not build a prompt of exactly " + std::to_string(todo[0]) +
                         " tokens with the server's tokenizer");
  }
  return book;
}

const std::string& PromptBook::ForLength(int length) const { return by_length_.at(length); }

Status ValidateBenchOptions(const BenchOptions& o) {
  if (o.batch_sizes.empty()) return InvalidArgumentError("--batch-sizes is empty");
  for (int b : o.batch_sizes) {
    if (b < 1) return InvalidArgumentError("--batch-sizes must be positive");
  }
  if (o.requests < 1) return InvalidArgumentError("--requests must be at least 1");
  if (o.concurrency < 1) return InvalidArgumentError("--concurrency must be at least 1");
  if (o.prompt_length < 2) {
    return InvalidArgumentError("--prompt-length counts [CLS] and [SEP]: at least 2");
  }
  if (o.min_prompt_length < 2 || o.min_prompt_length > o.prompt_length) {
    return InvalidArgumentError("--min-prompt-length must be in [2, --prompt-length]");
  }
  if (o.distribution != "fixed" && o.distribution != "uniform" && o.distribution != "normal") {
    return InvalidArgumentError("--distribution must be fixed, uniform or normal, got '" +
                                o.distribution + "'");
  }
  return OkStatus();
}

StatusOr<std::vector<BenchRow>> RunBench(const std::vector<Transport*>& servers,
                                         const BenchOptions& o,
                                         const std::function<void(const std::string&)>& on_progress) {
  FLOE_RETURN_IF_ERROR(ValidateBenchOptions(o));
  if (servers.empty()) return InvalidArgumentError("no --server given");
  // Every length any request may use.
  std::vector<int> lengths;
  for (int len = (o.distribution == "fixed" ? o.prompt_length : o.min_prompt_length);
       len <= o.prompt_length; ++len) {
    lengths.push_back(len);
  }
  FLOE_ASSIGN_OR_RETURN(PromptBook book, PromptBook::Build(*servers[0], lengths, o.seed));
  if (!book.exact() && on_progress) {
    on_progress("server has no tokenize endpoint: prompt lengths are estimated (one word per token)");
  }
  if (o.warmup > 0) {
    std::vector<Request> warm(o.warmup);
    for (auto& r : warm) r.texts = {book.ForLength(o.prompt_length)};
    auto res = ClosedLoop(servers, warm, std::min(o.concurrency, 4), nullptr);
    for (const auto& r : res) {
      if (!r.ok) return UnavailableError("warmup request failed: " + r.error);
    }
  }
  using File = std::unique_ptr<std::FILE, int (*)(std::FILE*)>;
  auto open = [](const std::string& path, const char* flag, File* f) {
    if (path.empty()) return OkStatus();
    f->reset(std::fopen(path.c_str(), "w"));
    if (!*f) return InvalidArgumentError(std::string("cannot write ") + flag + " file " + path);
    return OkStatus();
  };
  File shapes(nullptr, &std::fclose), texts(nullptr, &std::fclose);
  FLOE_RETURN_IF_ERROR(open(o.save_shapes, "--save-shapes", &shapes));
  FLOE_RETURN_IF_ERROR(open(o.save_texts, "--save-texts", &texts));
  std::vector<BenchRow> rows;
  uint64_t seed = o.seed;
  for (int batch : o.batch_sizes) {
    std::vector<int> sizes = DrawValues(batch, 1, o.requests,
                                        o.fixed_batch_sizes ? "fixed" : o.distribution, ++seed);
    size_t total_inputs = 0;
    for (int s : sizes) total_inputs += s;
    std::vector<int> lens = DrawValues(o.prompt_length, o.min_prompt_length, total_inputs,
                                       o.distribution, ++seed);
    std::vector<Request> reqs(o.requests);
    size_t k = 0;
    for (int i = 0; i < o.requests; ++i) {
      for (int j = 0; j < sizes[i]; ++j, ++k) {
        reqs[i].texts.push_back(book.ForLength(lens[k]));
        reqs[i].tokens += lens[k];
      }
      if (shapes) {
        std::string line = "{\"batch_size\":" + std::to_string(batch) + ",\"lengths\":[";
        for (int j = 0; j < sizes[i]; ++j) {
          if (j) line += ',';
          line += std::to_string(lens[k - sizes[i] + j]);
        }
        std::fprintf(shapes.get(), "%s]}\n", line.c_str());
      }
      if (texts) {
        nlohmann::json j = {{"batch_size", batch}, {"texts", reqs[i].texts}};
        std::fprintf(texts.get(), "%s\n", j.dump().c_str());
      }
    }
    auto tick = [&](size_t done, size_t failed) {
      if (on_progress) {
        on_progress("batch " + std::to_string(batch) + ": " + std::to_string(done) + "/" +
                    std::to_string(o.requests) + " requests, " + std::to_string(failed) +
                    " failed");
      }
    };
    double cpu0 = CpuSeconds();
    auto t0 = Clock::now();
    auto outcomes = ClosedLoop(servers, reqs, o.concurrency, tick);
    double wall = std::chrono::duration<double>(Clock::now() - t0).count();
    double cpu = CpuSeconds() - cpu0;
    BenchRow row;
    row.batch_size = batch;
    row.prompt_length = o.prompt_length;
    row.requests = o.requests;
    row.duration_s = wall;
    int64_t tokens = 0, embeddings = 0;
    std::vector<double> lat;
    for (size_t i = 0; i < outcomes.size(); ++i) {
      if (outcomes[i].ok) {
        ++row.succeeded;
        tokens += reqs[i].tokens;
        embeddings += reqs[i].texts.size();
        lat.push_back(outcomes[i].latency_ms);
      } else {
        row.errors[outcomes[i].error]++;
      }
    }
    row.success_rate = static_cast<double>(row.succeeded) / o.requests;
    row.tokens_per_s = tokens / wall;
    row.embeddings_per_s = embeddings / wall;
    row.requests_per_s = row.succeeded / wall;
    row.client_cpu_percent = cpu / wall * 100;
    FillLatencies(std::move(lat), &row);
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace floe::client
