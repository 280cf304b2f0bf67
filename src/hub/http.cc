#include "hub/http.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <mutex>

#ifndef FLOE_VERSION
#define FLOE_VERSION "0.1.0"
#endif

namespace floe::hub {
namespace {

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct Exchange {
  HttpResponse* response = nullptr;
  std::FILE* file = nullptr;  // body sink when streaming to a file
  std::string path;
  uint64_t offset = 0;   // bytes already in the file
  uint64_t written = 0;  // bytes of this response's body written
  bool body_started = false;
  bool write_failed = false;
  CURL* curl = nullptr;
  const ProgressFn* progress = nullptr;
};

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* ex = static_cast<Exchange*>(user);
  std::string line(data, size * n);
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.pop_back();
  if (line.rfind("HTTP/", 0) == 0) {  // a new response (after a redirect): start over
    ex->response->headers.clear();
    return size * n;
  }
  auto colon = line.find(':');
  if (colon == std::string::npos) return size * n;
  std::string name = line.substr(0, colon);
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  size_t v = colon + 1;
  while (v < line.size() && (line[v] == ' ' || line[v] == '\t')) ++v;
  ex->response->headers[name] = line.substr(v);
  return size * n;
}

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  auto* ex = static_cast<Exchange*>(user);
  const size_t bytes = size * n;
  long status = 0;
  curl_easy_getinfo(ex->curl, CURLINFO_RESPONSE_CODE, &status);
  if (!ex->file || status < 200 || status >= 300) {
    if (ex->response->body.size() < 64 * 1024) ex->response->body.append(data, bytes);
    return bytes;
  }
  if (!ex->body_started) {
    ex->body_started = true;
    if (status != 206 && ex->offset > 0) {  // the server sent the whole file
      std::fflush(ex->file);
      std::error_code ec;
      std::filesystem::resize_file(ex->path, 0, ec);
      std::fseek(ex->file, 0, SEEK_SET);
      ex->offset = 0;
    }
  }
  if (std::fwrite(data, 1, bytes, ex->file) != bytes) {
    ex->write_failed = true;
    return 0;  // aborts the transfer
  }
  ex->written += bytes;
  if (ex->progress && *ex->progress) {
    curl_off_t cl = -1;
    curl_easy_getinfo(ex->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
    (*ex->progress)(ex->offset + ex->written, cl > 0 ? ex->offset + cl : 0);
  }
  return bytes;
}

StatusOr<HttpResponse> Perform(const HttpRequest& request, Exchange& ex) {
  GlobalInit();
  CURL* curl = curl_easy_init();
  if (!curl) return InternalError("curl_easy_init failed");
  ex.curl = curl;
  curl_slist* headers = nullptr;
  for (const auto& h : request.headers) headers = curl_slist_append(headers, h.c_str());
  // Sizes the hub reports are of the stored bytes, not of a compressed transfer.
  headers = curl_slist_append(headers, "Accept-Encoding: identity");
  char error[CURL_ERROR_SIZE] = {0};
  const std::string range = ex.offset > 0 ? std::to_string(ex.offset) + "-" : "";
  curl_easy_setopt(curl, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "floe/" FLOE_VERSION);
  curl_easy_setopt(curl, CURLOPT_NOBODY, request.head ? 1L : 0L);
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, request.follow_redirects ? 1L : 0L);
  curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, request.connect_timeout_s);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, request.stall_timeout_s);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &ex);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &ex);
  if (!range.empty()) curl_easy_setopt(curl, CURLOPT_RANGE, range.c_str());
  const CURLcode rc = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &ex.response->status);
  char* effective = nullptr;
  curl_easy_getinfo(curl, CURLINFO_EFFECTIVE_URL, &effective);
  if (effective) ex.response->effective_url = effective;
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  if (ex.write_failed) return InternalError("cannot write " + ex.path + " (disk full?)");
  if (rc != CURLE_OK) {
    return UnavailableError(request.url + ": " +
                            (error[0] ? std::string(error) : curl_easy_strerror(rc)));
  }
  return std::move(*ex.response);
}

}  // namespace

StatusOr<HttpResponse> HttpFetch(const HttpRequest& request) {
  HttpResponse response;
  Exchange ex;
  ex.response = &response;
  return Perform(request, ex);
}

StatusOr<HttpResponse> HttpFetchToFile(const HttpRequest& request,
                                       const std::string& path,
                                       const ProgressFn& progress) {
  std::error_code ec;
  const uint64_t have =
      std::filesystem::exists(path, ec) ? std::filesystem::file_size(path, ec) : 0;
  std::FILE* f = std::fopen(path.c_str(), have > 0 ? "r+b" : "wb");
  if (!f) return InternalError("cannot open " + path + " for writing");
  std::fseek(f, 0, SEEK_END);
  HttpResponse response;
  Exchange ex;
  ex.response = &response;
  ex.file = f;
  ex.path = path;
  ex.offset = have;
  ex.progress = &progress;
  auto result = Perform(request, ex);
  const bool close_failed = std::fclose(f) != 0;
  if (result.ok() && close_failed) return InternalError("cannot write " + path);
  return result;
}

}  // namespace floe::hub
