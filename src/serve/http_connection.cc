// One HTTP connection on Beast (http_connection.h): read a request, route it
// (http_routes.h), write its response, repeat; keep-alive, pipelining, limits,
// timeouts, and cancelling the work of a client that disconnects.
#include "serve/http_connection.h"

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <optional>

#include "serve/http_routes.h"

namespace floe {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

namespace {

constexpr uint32_t kHeaderLimit = 64 << 10;  // request line and headers
constexpr auto kRequestTimeout = 60s;    // a started request's rest; writing a response
constexpr size_t kWatchLimit = 1 << 20;  // pipelined bytes read while a request waits
constexpr size_t kDiscardChunk = 64 << 10;

std::string_view Sv(beast::string_view s) { return {s.data(), s.size()}; }

double Since(Clock::time_point t) {
  return t == Clock::time_point()
             ? 0
             : std::chrono::duration<double>(Clock::now() - t).count();
}

}  // namespace

// One connection: read a request, route it, write its response, repeat.
// Everything runs on the connection's io thread.
class HttpConnection : public std::enable_shared_from_this<HttpConnection> {
 public:
  HttpConnection(tcp::socket socket, std::shared_ptr<HttpServer::Core> core)
      : socket_(std::move(socket)),
        timer_(socket_.get_executor()),
        core_(std::move(core)),
        idle_(std::max(1, core_->opt.http_keep_alive_s)) {}
  ~HttpConnection() { core_->Unregister(this); }

  void Start() {
    core_->Register(this, weak_from_this());
    beast::error_code ignored;
    socket_.set_option(tcp::no_delay(true), ignored);
    net::dispatch(socket_.get_executor(), [self = shared_from_this()] {
      self->Arm(Clock::now() + self->idle_);
      self->ReadRequest();
    });
  }

  // Stop(): closes the connection unless a request is being answered.
  void CloseIfIdle() {
    net::post(socket_.get_executor(), [self = shared_from_this()] {
      const State s = self->state_;
      if (s == kReading || s == kWritten || s == kLingering) self->Close();
    });
  }

 private:
  enum State { kReading, kWaiting, kWriting, kWritten, kLingering, kClosed };

  // Timeouts: one timer a connection, not cancelled on the way of a request.
  // It wakes at least every --http-keep-alive seconds and closes the
  // connection once deadline_ has passed, unless a request waits for its
  // result (that has no time limit here).
  void SetDeadline(Clock::duration d) {
    deadline_ = Clock::now() + d;
    if (deadline_ < armed_) Arm(deadline_);
  }

  void Arm(Clock::time_point at) {
    armed_ = at;
    timer_.expires_at(at);  // a pending wait completes with operation_aborted
    timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec) self->OnTimer();
    });
  }

  void OnTimer() {
    if (state_ == kClosed) return;
    const auto now = Clock::now();
    if (state_ != kWaiting && now >= deadline_) return Close();
    Arm(state_ == kWaiting ? now + idle_ : std::min(deadline_, now + idle_));
  }

  void ReadRequest() {
    if (core_->stopping) return Close();
    state_ = kReading;
    start_ = {};
    parser_.emplace();
    parser_->header_limit(kHeaderLimit);
    parser_->body_limit(core_->opt.max_body_bytes);
    // Nothing of the next request yet: the connection is idle (keep-alive).
    SetDeadline(buffer_.size() ? Clock::duration(kRequestTimeout)
                               : Clock::duration(idle_));
    http::async_read_header(socket_, buffer_, *parser_,
                            [self = shared_from_this()](beast::error_code ec, size_t) {
                              self->OnHeader(ec);
                            });
  }

  void OnHeader(beast::error_code ec) {
    if (ec) return OnReadError(ec);
    start_ = Clock::now();
    SetDeadline(kRequestTimeout);
    const auto& req = parser_->get();
    if (!beast::iequals(req[http::field::expect], "100-continue")) return ReadBody();
    // The client waits for this before it sends the body.
    auto cont = std::make_shared<http::response<http::empty_body>>(
        http::status::continue_, req.version());
    http::async_write(socket_, *cont,
                      [self = shared_from_this(), cont](beast::error_code ec, size_t) {
                        if (ec) return self->Close();
                        self->ReadBody();
                      });
  }

  // The body in pieces: the time limit is for the next piece, so a large
  // body on a slow link is not cut off while it keeps coming.
  void ReadBody() {
    if (parser_->is_done()) return Route();
    http::async_read_some(socket_, buffer_, *parser_,
                          [self = shared_from_this()](beast::error_code ec, size_t) {
                            if (ec) return self->OnReadError(ec);
                            self->SetDeadline(kRequestTimeout);
                            self->ReadBody();
                          });
  }

  void OnReadError(beast::error_code ec) {
    if (state_ != kReading) return Close();
    if (ec == http::error::body_limit) return Refuse(413, "");
    const bool malformed =
        ec.category() == http::make_error_code(http::error::bad_target).category() &&
        ec != http::error::end_of_stream && ec != http::error::partial_message;
    if (malformed) return Refuse(400, ec.message());
    Close();  // the client went away
  }

  // A request the parser refused: answer, then close.
  void Refuse(int status, const std::string& detail) {
    if (start_ == Clock::time_point()) start_ = Clock::now();
    const std::string_view target = Sv(parser_->get().target());
    const std::string_view path = target.substr(0, target.find('?'));
    route_ = HttpRouteLabel(path);
    version_ = 11;
    keep_alive_ = head_ = false;
    OnResponse(HttpTransportError(core_->opt, status, detail, path));
  }

  void Route() {
    auto& m = parser_->get();
    HttpRequest req;
    req.method = std::string(Sv(m.method_string()));
    const std::string_view target = Sv(m.target());
    req.path = std::string(target.substr(0, target.find('?')));
    req.body = std::move(m.body());
    req.authorization = std::string(Sv(m[http::field::authorization]));
    req.request_id = std::string(Sv(m["X-Request-Id"]));
    route_ = HttpRouteLabel(req.path);
    keep_alive_ = m.keep_alive();
    version_ = m.version();
    head_ = m.method() == http::verb::head;
    parser_.reset();
    state_ = kWaiting;
    // The answer comes inline (dispatch runs it at once on this thread) or
    // from another thread (dispatch posts it here).
    auto job = HandleHttp(
        core_->fe, std::move(req),
        [self = shared_from_this(), ex = socket_.get_executor()](HttpResponse r) {
          net::dispatch(
              ex, [self, r = std::move(r)]() mutable { self->OnResponse(std::move(r)); });
        });
    if (state_ != kWaiting) return;  // answered inline
    job_ = std::move(job);
    Watch();
  }

  // While a request waits for its result, keep reading: EOF or an error
  // means the client is gone, and its queued work is dropped. Bytes of
  // pipelined requests stay in buffer_ for later. The read stays pending
  // after the response: it is how the next request starts.
  void Watch() {
    if (buffer_.size() >= kWatchLimit) return;
    watching_ = true;
    socket_.async_read_some(buffer_.prepare(4096),
                            [self = shared_from_this()](beast::error_code ec, size_t n) {
                              self->OnWatch(ec, n);
                            });
  }

  void OnWatch(beast::error_code ec, size_t n) {
    watching_ = false;
    if (!ec) buffer_.commit(n);
    switch (state_) {
      case kWaiting:
        if (!ec) return Watch();
        gone_ = true;
        core_->fe->Cancel(job_);
        return Close();
      case kWritten:  // the next request has begun (or was in buffer_: OnWrite)
        return ec && ec != net::error::operation_aborted ? Close() : ReadRequest();
      case kLingering:
        return ec ? Close() : Discard();
      default:  // kWriting: the write's end goes on; kClosed
        return;
    }
  }

  void OnResponse(HttpResponse r) {
    core_->fe->metrics().CountRequest(route_, std::to_string(r.status), Since(start_));
    job_.reset();
    if (gone_ || state_ == kClosed) return;
    state_ = kWriting;
    SetDeadline(kRequestTimeout);
    keep_alive_ = keep_alive_ && !core_->fe->draining() && !core_->stopping;
    res_ = {};
    res_.version(version_);
    res_.result(static_cast<unsigned>(r.status));
    if (res_.result() == http::status::unknown) {
      res_.reason(r.status == 499 ? "Client Closed Request" : "Error");
    }
    res_.set(http::field::content_type, r.content_type);
    if (r.www_authenticate) res_.set(http::field::www_authenticate, "Bearer");
    for (const auto& [name, value] : r.headers) res_.set(name, value);
    res_.keep_alive(keep_alive_);
    res_.body() = std::move(r.body);
    res_.prepare_payload();
    if (head_) {
      const size_t size = res_.body().size();
      res_.body().clear();
      res_.content_length(size);
    }
    serializer_.emplace(res_);
    WriteSome();
  }

  // Like the body, the response goes out in pieces, each with its time limit.
  void WriteSome() {
    http::async_write_some(socket_, *serializer_,
                           [self = shared_from_this()](beast::error_code ec, size_t) {
                             if (ec || self->serializer_->is_done())
                               return self->OnWrite(ec);
                             self->SetDeadline(kRequestTimeout);
                             self->WriteSome();
                           });
  }

  void OnWrite(beast::error_code ec) {
    serializer_.reset();
    res_ = {};
    if (ec) return Close();
    if (!keep_alive_) return Linger();
    state_ = kWritten;
    SetDeadline(buffer_.size() ? Clock::duration(kRequestTimeout)
                               : Clock::duration(idle_));
    if (!watching_) return ReadRequest();
    // A pipelined request is already here: stop watching, then read it.
    beast::error_code ignored;
    if (buffer_.size()) socket_.cancel(ignored);
  }

  // After a response with Connection: close, stop sending, then read and drop
  // what the client still sends (the rest of a refused body) until it closes:
  // closing with unread bytes would reset the connection before the client
  // has read the response.
  void Linger() {
    state_ = kLingering;
    beast::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_send, ignored);
    SetDeadline(core_->stopping ? 1s : 10s);
    if (!watching_) Discard();
  }

  void Discard() {
    discard_.resize(kDiscardChunk);
    socket_.async_read_some(net::buffer(discard_),
                            [self = shared_from_this()](beast::error_code ec, size_t) {
                              if (ec || self->state_ != kLingering) return self->Close();
                              self->Discard();
                            });
  }

  void Close() {
    state_ = kClosed;
    beast::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
    timer_.cancel();
  }

  tcp::socket socket_;
  net::steady_timer timer_;
  std::shared_ptr<HttpServer::Core> core_;
  const std::chrono::seconds idle_;  // --http-keep-alive
  Clock::time_point deadline_, armed_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> res_;
  std::optional<http::response_serializer<http::string_body>> serializer_;  // of res_
  std::vector<char> discard_;
  std::shared_ptr<EmbedJob> job_;  // the request waiting for its result
  std::string route_;
  Clock::time_point start_;
  State state_ = kReading;
  unsigned version_ = 11;
  bool keep_alive_ = true;
  bool head_ = false;
  bool watching_ = false;
  bool gone_ = false;  // the client disconnected while its request waited
};

void ServeHttpConnection(tcp::socket socket, std::shared_ptr<HttpServer::Core> core) {
  std::make_shared<HttpConnection>(std::move(socket), std::move(core))->Start();
}

void CloseIfIdle(const std::shared_ptr<HttpConnection>& connection) {
  connection->CloseIfIdle();
}

}  // namespace floe
