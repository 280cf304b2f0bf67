#include "model/json_file.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

namespace floe {

namespace fs = std::filesystem;

StatusOr<std::string> ReadTextFile(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return NotFoundError(path + ": does not exist");
  if (!fs::is_regular_file(path, ec))
    return InvalidArgumentError(path + ": not a regular file");
  auto size = fs::file_size(path, ec);
  if (ec) return FailedPreconditionError(path + ": cannot read: " + ec.message());
  if (size > (64u << 20))
    return InvalidArgumentError(path + ": file is implausibly large");
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    return FailedPreconditionError(path + ": cannot open: " + std::strerror(errno));
  }
  std::string text(size, '\0');
  size_t got = std::fread(text.data(), 1, size, f);
  std::fclose(f);
  text.resize(got);
  return text;
}

bool PathIsFile(const std::string& path) {
  std::error_code ec;
  return fs::is_regular_file(path, ec);
}

bool PathIsDirectory(const std::string& path) {
  std::error_code ec;
  return fs::is_directory(path, ec);
}

}  // namespace floe
