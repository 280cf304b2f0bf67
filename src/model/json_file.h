// Small helpers for the model folder's JSON files.
#pragma once

#include <string>

#include "core/status.h"

namespace floe {

// Reads a whole file of at most 64 MiB. NOT_FOUND when it does not exist.
StatusOr<std::string> ReadTextFile(const std::string& path);

bool PathIsFile(const std::string& path);
bool PathIsDirectory(const std::string& path);

}  // namespace floe
