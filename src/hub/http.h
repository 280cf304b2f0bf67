// A small blocking HTTP(S) client over libcurl, enough for the Hugging Face Hub:
// HEAD without following redirects (the hub's metadata lives on the redirect),
// GET into memory, and GET into a file from an offset (Range) for resumable
// downloads. Custom Authorization headers are not sent to another host on a
// redirect (libcurl's rule), so a token never reaches the CDN.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/status.h"

namespace floe::hub {

struct HttpRequest {
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  bool head = false;
  bool follow_redirects = true;
  long connect_timeout_s = 10;
  // Abort when fewer than 1 byte/s arrives for this long (a stalled peer).
  long stall_timeout_s = 30;
};

struct HttpResponse {
  long status = 0;
  std::map<std::string, std::string> headers;  // last response's, names lower-case
  std::string body;                            // FetchToFile: error bodies only
  std::string effective_url;
  std::string Header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? "" : it->second;
  }
};

// Called with (bytes of the file on disk, total or 0 when unknown).
using ProgressFn = std::function<void(uint64_t done, uint64_t total)>;

// Any HTTP status is a successful exchange (the caller judges it); UNAVAILABLE is a
// transport failure (refused, reset, timeout, short body), worth a retry.
StatusOr<HttpResponse> HttpFetch(const HttpRequest& request);

// GET streamed into `path`. If `path` holds N bytes, asks for "Range: bytes=N-" and
// appends on 206; a 200 answer (range ignored) truncates and starts over. A non-2xx
// status leaves the file as it was. Bytes written before a transport failure stay in
// the file, so the next call resumes after them.
StatusOr<HttpResponse> HttpFetchToFile(const HttpRequest& request,
                                       const std::string& path,
                                       const ProgressFn& progress);

}  // namespace floe::hub
