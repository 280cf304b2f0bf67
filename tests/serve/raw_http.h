// HTTP/1.1 over a raw loopback socket, for what a library client cannot do:
// pipelining, closing mid-request, malformed requests, reading how a
// connection ends.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string>

namespace floe::test {

class RawConn {
 public:
  explicit RawConn(int port, int timeout_s = 20) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    timeval tv{timeout_s, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<uint16_t>(port));
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  }
  ~RawConn() { Close(); }
  RawConn(const RawConn&) = delete;
  RawConn& operator=(const RawConn&) = delete;

  bool connected() const { return connected_; }
  void Close() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

  bool Send(const std::string& data) {
    size_t done = 0;
    while (done < data.size()) {
      ssize_t n = send(fd_, data.data() + done, data.size() - done, MSG_NOSIGNAL);
      if (n <= 0) return false;
      done += static_cast<size_t>(n);
    }
    return true;
  }

  struct Response {
    int status = 0;       // 0: no complete response
    std::string headers;  // lower-cased, "\r\n"-separated
    std::string body;
    bool has(const std::string& lower_header_line) const {
      return headers.find(lower_header_line) != std::string::npos;
    }
  };

  // Reads one response (Content-Length bodies only).
  Response Read() {
    Response r;
    size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill()) return r;
    }
    std::string head = buf_.substr(0, end);
    for (auto& c : head)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    size_t length = 0;
    if (auto p = head.find("content-length:"); p != std::string::npos) {
      length = std::strtoul(head.c_str() + p + 15, nullptr, 10);
    }
    while (buf_.size() < end + 4 + length) {
      if (!Fill()) return r;
    }
    r.status = head.size() > 12 ? std::atoi(head.c_str() + 9) : 0;
    r.headers = head;
    r.body = buf_.substr(end + 4, length);
    buf_.erase(0, end + 4 + length);
    return r;
  }

  // After the server is done with the connection: 0 = it closed cleanly
  // (FIN), else the errno of the failed read (ECONNRESET, EAGAIN on timeout).
  // Bytes read meanwhile count as an error (-1).
  int WaitClosed() {
    char c[4096];
    ssize_t n = recv(fd_, c, sizeof(c), 0);
    if (n == 0) return 0;
    return n < 0 ? errno : -1;
  }

 private:
  bool Fill() {
    char chunk[65536];
    ssize_t n = recv(fd_, chunk, sizeof(chunk), 0);
    if (n <= 0) return false;
    buf_.append(chunk, static_cast<size_t>(n));
    return true;
  }

  int fd_ = -1;
  bool connected_ = false;
  std::string buf_;
};

// A POST /v1/embeddings request with `body`.
inline std::string EmbeddingsRequest(const std::string& body, bool close = false) {
  return "POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
         std::string(close ? "Connection: close\r\n" : "") +
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

}  // namespace floe::test
