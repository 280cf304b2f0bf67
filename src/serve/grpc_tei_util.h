// What the tei.v1 services share (grpc_tei.cc, grpc_tei_rank.cc): TEI's error
// codes, parsing raw requests, and the reactors every unary and bidirectional
// method runs on. Internal to src/serve.
#pragma once

#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "serve/errors.h"
#include "serve/grpc_services.h"
#include "serve/grpc_tei.h"

namespace floe::tei_grpc {

// floe's status in TEI's gRPC codes (router/src/grpc/server.rs, From<ErrorResponse>):
// validation -> INVALID_ARGUMENT, overloaded -> RESOURCE_EXHAUSTED, backend
// (floe's INTERNAL, DATA_LOSS) -> FAILED_PRECONDITION, unhealthy ->
// UNAVAILABLE; the rest (NOT_FOUND, UNAUTHENTICATED, DEADLINE_EXCEEDED,
// CANCELLED, FAILED_PRECONDITION, UNIMPLEMENTED) as floe.v1 answers them.
grpc::Status TeiStatus(const Status& s);

// Parses a raw request into `out`. The bytes go first into a copy of out's
// message type whose `string` fields are `bytes` (built once per type), so
// that text which is not UTF-8 is INVALID_ARGUMENT naming the field
// ("inputs is not valid UTF-8 (byte 3)") and protobuf logs nothing.
Status ParseTei(const Raw& in, google::protobuf::Message* out);

// Unicode scalar values in UTF-8 text (TEI's compute_chars).
uint32_t CharCount(std::string_view text);
// TEI's Metadata of one answered request.
void FillMetadata(const EmbedReply& r, uint32_t chars, Clock::time_point start,
                  pb::Metadata* out);
// TEI's truncation_direction; INVALID_ARGUMENT for a value it does not have.
Status SetTruncation(int direction, bool truncate, EmbedSpec* spec);

// How a method's work answers: once, with OK and the response, or an error.
template <class Resp>
using Answer = std::function<void(grpc::Status, Resp)>;
// One request's work. Calls `answer` exactly once (maybe before it returns)
// and returns the job to cancel when the client goes away (or null).
template <class Req, class Resp>
using Work = std::function<std::shared_ptr<EmbedJob>(Req req, Clock::time_point deadline,
                                                     Answer<Resp> answer)>;

// `fn(c, req, deadline, answer)` as a Work.
template <class Req, class Resp, class Fn>
Work<Req, Resp> Bind(Context* c, Fn fn) {
  return [c, fn](Req req, Clock::time_point deadline, Answer<Resp> answer) {
    return fn(c, std::move(req), deadline, std::move(answer));
  };
}

template <class Req, class Resp>
Unary* RunUnary(Frontend* frontend, Ctx* ctx, const Raw* in, Raw* out,
                const std::string& route, const Work<Req, Resp>& work) {
  const auto start = Clock::now();
  auto* reactor = new grpc_util::RawReactor<Req, Resp>(frontend, out);
  Status s = grpc_util::CheckAuth(*frontend, ctx);
  if (s.ok()) s = ParseTei(*in, &reactor->req);
  if (!s.ok()) {
    reactor->Fail(route, start, TeiStatus(s));
    return reactor;
  }
  auto job = work(std::move(reactor->req), grpc_util::SteadyDeadline(ctx),
                  [reactor, route, start](grpc::Status status, Resp resp) {
                    if (status.ok()) reactor->resp = std::move(resp);
                    reactor->Done(route, start, status);
                  });
  reactor->SetJob(std::move(job));
  return reactor;
}

// Counts a finished call on `route` (floe_requests_total and its latency).
void CountCall(Frontend* frontend, const std::string& route, Clock::time_point start,
               const grpc::Status& status);

// A bidirectional stream of requests, each answered by `work`. Up to kWindow
// requests are in flight; answers are written in request order. The first
// failed request (in order) ends the stream with its status after the
// answers before it, and cancels the requests after it.
template <class Req, class Resp>
class OrderedStream final : public Bidi {
 public:
  static constexpr size_t kWindow = 64;

  OrderedStream(Frontend* frontend, Ctx* ctx, std::string route, Work<Req, Resp> work)
      : frontend_(frontend), route_(std::move(route)), work_(std::move(work)),
        start_(Clock::now()) {
    if (Status s = grpc_util::CheckAuth(*frontend_, ctx); !s.ok()) {
      std::unique_lock<std::mutex> lock(mu_);
      failed_ = true;
      final_ = TeiStatus(s);
      Step(lock);
      return;
    }
    deadline_ = grpc_util::SteadyDeadline(ctx);
    reading_ = true;
    StartRead(&in_);
  }

  void OnReadDone(bool ok) override {
    std::unique_lock<std::mutex> lock(mu_);
    reading_ = false;
    if (!ok || failed_ || cancelled_ || finished_) {
      if (!ok) reads_done_ = true;
      Step(lock);
      return;
    }
    const uint64_t seq = next_seq_++;
    ++refs_;  // held by the request's answer
    ++pending_;
    Raw bytes;
    bytes.Swap(&in_);  // in_ may take the next read while this one is parsed
    lock.unlock();
    Req req;
    std::shared_ptr<EmbedJob> job;
    if (Status s = ParseTei(bytes, &req); !s.ok()) {
      OnAnswer(seq, TeiStatus(s), nullptr);
    } else {
      job = work_(std::move(req), deadline_, [this, seq](grpc::Status status, Resp resp) {
        OnAnswer(seq, std::move(status), &resp);
      });
    }
    lock.lock();
    if (job && seq >= write_seq_ && !answers_.count(seq)) {
      if (failed_ || cancelled_) {
        lock.unlock();
        frontend_->Cancel(job);
        lock.lock();
      } else {
        jobs_[seq] = std::move(job);
      }
    }
    Step(lock);
  }

  void OnWriteDone(bool ok) override {
    std::unique_lock<std::mutex> lock(mu_);
    writing_ = false;
    answers_.erase(write_seq_++);
    if (!ok) cancelled_ = true;
    Step(lock);
  }

  void OnCancel() override {
    std::unique_lock<std::mutex> lock(mu_);
    cancelled_ = true;
    Step(lock);
  }

  void OnDone() override { Unref(); }

 private:
  struct Slot {
    grpc::Status status;
    Raw bytes;
  };

  void OnAnswer(uint64_t seq, grpc::Status status, const Resp* resp) {
    Slot slot;
    slot.status = std::move(status);
    if (slot.status.ok()) slot.status = grpc_util::Serialize(*resp, &slot.bytes);
    {
      std::unique_lock<std::mutex> lock(mu_);
      --pending_;
      jobs_.erase(seq);
      if (!failed_ && !cancelled_) answers_.emplace(seq, std::move(slot));
      Step(lock);
    }
    Unref();
  }

  // Writes the next answer, reads on, or finishes. Takes mu_ held.
  void Step(std::unique_lock<std::mutex>& lock) {
    if (finished_) return;
    if (!failed_ && !cancelled_ && !writing_) {
      auto it = answers_.find(write_seq_);
      if (it != answers_.end() && it->second.status.ok()) {
        writing_ = true;
        const Raw* next = &it->second.bytes;  // a map node: stable until erased
        lock.unlock();
        StartWrite(next);
        return;
      }
      if (it != answers_.end()) {
        failed_ = true;
        final_ = it->second.status;
      }
    }
    if (failed_ || cancelled_) {
      // Drops the unwritten answers; the one being written stays until its write is done.
      for (auto it = answers_.begin(); it != answers_.end();) {
        it = writing_ && it->first == write_seq_ ? std::next(it) : answers_.erase(it);
      }
      std::map<uint64_t, std::shared_ptr<EmbedJob>> jobs;
      jobs.swap(jobs_);
      if (!jobs.empty()) {
        lock.unlock();
        for (auto& [seq, job] : jobs) frontend_->Cancel(job);
        lock.lock();
        if (finished_) return;
      }
    } else if (!reading_ && !reads_done_ && pending_ + answers_.size() < kWindow) {
      reading_ = true;
      lock.unlock();
      StartRead(&in_);
      return;
    }
    const bool all_answered = reads_done_ && pending_ == 0 && answers_.empty();
    if (writing_ || !(failed_ || cancelled_ || all_answered)) return;
    // A read may still be outstanding: gRPC ends it (ok false) after Finish.
    // Requests still in flight hold refs_, so this outlives their answers.
    finished_ = true;
    const grpc::Status status = failed_      ? final_
                                : cancelled_ ? grpc::Status::CANCELLED
                                             : grpc::Status::OK;
    lock.unlock();
    CountCall(frontend_, route_, start_, status);
    Finish(status);
    lock.lock();
  }

  void Unref() {
    bool last;
    {
      std::lock_guard<std::mutex> lock(mu_);
      last = --refs_ == 0;
    }
    if (last) delete this;
  }

  Frontend* frontend_;
  const std::string route_;
  const Work<Req, Resp> work_;
  const Clock::time_point start_;
  Clock::time_point deadline_ = Clock::time_point::max();
  Raw in_;  // GUARDED_BY(mu_) once its read is done
  std::mutex mu_;
  int refs_ = 1;                                        // GUARDED_BY(mu_); gRPC's OnDone
  size_t pending_ = 0;                                  // GUARDED_BY(mu_)
  uint64_t next_seq_ = 0;                               // GUARDED_BY(mu_)
  uint64_t write_seq_ = 0;                              // GUARDED_BY(mu_)
  bool reading_ = false;                                // GUARDED_BY(mu_)
  bool reads_done_ = false;                             // GUARDED_BY(mu_)
  bool writing_ = false;                                // GUARDED_BY(mu_)
  bool failed_ = false;                                 // GUARDED_BY(mu_)
  bool cancelled_ = false;                              // GUARDED_BY(mu_)
  bool finished_ = false;                               // GUARDED_BY(mu_)
  grpc::Status final_;                                  // GUARDED_BY(mu_)
  std::map<uint64_t, Slot> answers_;                    // GUARDED_BY(mu_)
  std::map<uint64_t, std::shared_ptr<EmbedJob>> jobs_;  // GUARDED_BY(mu_)
};

template <class Req, class Resp>
Bidi* RunStream(Frontend* frontend, Ctx* ctx, std::string route, Work<Req, Resp> work) {
  return new OrderedStream<Req, Resp>(frontend, ctx, std::move(route), std::move(work));
}

}  // namespace floe::tei_grpc
