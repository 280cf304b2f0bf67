#include "hub/cache.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace floe::hub {
namespace fs = std::filesystem;

StatusOr<RepoRef> ParseRepoRef(const std::string& s) {
  RepoRef ref;
  ref.id = s;
  if (auto at = s.find('@'); at != std::string::npos) {
    ref.id = s.substr(0, at);
    ref.revision = s.substr(at + 1);
  }
  const auto slash = ref.id.find('/');
  const bool id_ok = slash != std::string::npos && slash > 0 &&
                     slash + 1 < ref.id.size() &&
                     ref.id.find('/', slash + 1) == std::string::npos &&
                     ref.id[0] != '.' && ref.id.find("..") == std::string::npos &&
                     ref.id.find_first_of(" \t\n\\") == std::string::npos;
  const bool rev_ok = !ref.revision.empty() &&
                      ref.revision.find('/') == std::string::npos &&
                      ref.revision.find("..") == std::string::npos;
  if (!id_ok || !rev_ok) {
    return InvalidArgumentError("'" + s +
                                "' is not a Hugging Face id (ORG/NAME[@REVISION])");
  }
  return ref;
}

std::string DefaultCacheRoot() {
  if (const char* v = std::getenv("HF_HUB_CACHE"); v && *v) return v;
  if (const char* v = std::getenv("HF_HOME"); v && *v) return std::string(v) + "/hub";
  if (const char* v = std::getenv("HOME"); v && *v) {
    return std::string(v) + "/.cache/huggingface/hub";
  }
  return ".cache/huggingface/hub";
}

std::string FloeModelCacheRoot() {
  if (const char* v = std::getenv("XDG_CACHE_HOME"); v && *v) {
    return std::string(v) + "/floe/models";
  }
  if (const char* v = std::getenv("HOME"); v && *v) {
    return std::string(v) + "/.cache/floe/models";
  }
  return ".cache/floe/models";
}

std::string FloeModelFolder(const std::string& root, const std::string& id) {
  const auto slash = id.find('/');
  return (fs::path(root) / (id.substr(0, slash) + "--" + id.substr(slash + 1))).string();
}

std::string RepoFolder(const std::string& root, const std::string& id) {
  const auto slash = id.find('/');
  return (fs::path(root) /
          ("models--" + id.substr(0, slash) + "--" + id.substr(slash + 1)))
      .string();
}

bool IsCompleteModelFolder(const std::string& folder) {
  std::error_code ec;
  const fs::path d(folder);
  auto has = [&](const char* f) { return fs::exists(d / f, ec); };  // follows symlinks
  return has("config.json") &&
         (has("model.safetensors") || has("model.safetensors.index.json")) &&
         (has("tokenizer.json") || has("vocab.txt"));
}

std::optional<std::string> FindCachedSnapshot(const std::string& root, const RepoRef& ref,
                                              std::string* looked_in) {
  const fs::path base = RepoFolder(root, ref.id);
  std::string commit = ref.revision;
  if (std::ifstream in(base / "refs" / ref.revision); in) {
    std::getline(in, commit);
  }
  const fs::path dir = base / "snapshots" / commit;
  if (looked_in) *looked_in = dir.string();
  if (commit.empty() || !IsCompleteModelFolder(dir.string())) return std::nullopt;
  return dir.string();
}

Status WriteFileAtomically(const std::string& path, const std::string& contents) {
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << contents;
    if (!out.flush()) return InternalError("cannot write " + tmp);
  }
  fs::rename(tmp, path, ec);
  if (ec)
    return InternalError("cannot rename " + tmp + " to " + path + ": " + ec.message());
  return OkStatus();
}

Status LinkSnapshotFile(const std::string& repo_folder, const std::string& commit,
                        const std::string& file, const std::string& etag) {
  std::error_code ec;
  const fs::path link = fs::path(repo_folder) / "snapshots" / commit / file;
  const fs::path blob = fs::path(repo_folder) / "blobs" / etag;
  fs::create_directories(link.parent_path(), ec);
  if (ec)
    return InternalError("cannot create " + link.parent_path().string() + ": " +
                         ec.message());
  const fs::path target = fs::relative(blob, link.parent_path(), ec);
  const fs::path tmp = link.string() + ".tmp." + std::to_string(::getpid());
  fs::remove(tmp, ec);
  fs::create_symlink(target, tmp, ec);
  if (ec) {  // no symlinks here (some network filesystems): a copy does
    ec.clear();
    fs::copy_file(blob, tmp, fs::copy_options::overwrite_existing, ec);
    if (ec) return InternalError("cannot copy " + blob.string() + ": " + ec.message());
  }
  fs::rename(tmp, link, ec);
  if (ec)
    return InternalError("cannot rename into " + link.string() + ": " + ec.message());
  return OkStatus();
}

}  // namespace floe::hub
