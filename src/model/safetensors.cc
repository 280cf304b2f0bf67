// Safetensors layout: u64 little-endian header length N, N bytes of JSON
// ({"name": {"dtype", "shape", "data_offsets": [begin, end)}, "__metadata__"}),
// then the data area; offsets are relative to its start.
#include "model/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "core/log.h"
#include "model/json_file.h"

namespace floe {
namespace {

using json = nlohmann::json;

// The reference implementation refuses headers over 100 MB; so do we.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;
// A valid header nests three deep (root, tensor, shape); anything deeper is
// hostile, and refusing it bounds the parser's and destructor's recursion.
constexpr int kMaxJsonDepth = 16;

// Deepest nesting of [ and { outside strings.
int JsonDepth(std::string_view text) {
  int depth = 0, max_depth = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      max_depth = std::max(max_depth, ++depth);
      if (max_depth > kMaxJsonDepth) return max_depth;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return max_depth;
}

bool ParseDType(std::string_view s, DType* out) {
  if (s == "F32")
    *out = DType::kF32;
  else if (s == "F16")
    *out = DType::kF16;
  else if (s == "BF16")
    *out = DType::kBF16;
  else
    return false;
  return true;
}

// Bytes per element of a dtype floe does not compute with but can step over:
// checkpoints carry such tensors beside the weights (BERT's I64
// `embeddings.position_ids` buffer). 0: not a whole-byte dtype.
size_t UnreadDTypeSize(std::string_view s) {
  static const std::pair<const char*, size_t> kKnown[] = {
      {"F64", 8}, {"I64", 8}, {"U64", 8}, {"C64", 8},     {"I32", 4},     {"U32", 4},
      {"I16", 2}, {"U16", 2}, {"I8", 1},  {"U8", 1},      {"BOOL", 1},    {"F8_E4M3", 1},
      {"F8_E5M2", 1}, {"F8_E8M0", 1}};
  for (const auto& [name, size] : kKnown) {
    if (s == name) return size;
  }
  return 0;
}

bool IsKnownUnsupportedDType(std::string_view s) {
  return UnreadDTypeSize(s) != 0 || s == "F6_E2M3" || s == "F6_E3M2" || s == "F4";
}

// A non-negative JSON integer that fits int64.
bool AsCount(const json& v, uint64_t* out) {
  if (v.is_number_unsigned()) {
    uint64_t u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return false;
    *out = u;
    return true;
  }
  if (v.is_number_integer()) {
    int64_t i = v.get<int64_t>();
    if (i < 0) return false;
    *out = static_cast<uint64_t>(i);
    return true;
  }
  return false;
}

std::string Describe(const json& v) {
  std::string s = v.dump(-1, ' ', true, json::error_handler_t::replace);
  if (s.size() > 40) s = s.substr(0, 40) + "...";
  return s;
}

}  // namespace

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;  // checked not to overflow at parse time
  return n;
}

SafetensorsFile::~SafetensorsFile() {
  if (map_ != nullptr) munmap(map_, map_size_);
}

StatusOr<std::unique_ptr<SafetensorsFile>> SafetensorsFile::Parse(
    std::string name, std::string_view bytes) {
  auto fail = [&name](const std::string& msg) {
    return DataLossError(name + ": " + msg);
  };
  if (bytes.size() < 8) {
    return fail("file is " + std::to_string(bytes.size()) +
                " bytes, too short for the 8-byte header length (truncated?)");
  }
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) {
    header_len = (header_len << 8) | static_cast<uint8_t>(bytes[i]);
  }
  if (header_len > kMaxHeaderBytes) {
    return fail("header length " + std::to_string(header_len) + " exceeds the limit of " +
                std::to_string(kMaxHeaderBytes) + " bytes");
  }
  if (header_len > bytes.size() - 8) {
    return fail("header length " + std::to_string(header_len) + " exceeds the " +
                std::to_string(bytes.size() - 8) + " bytes after it (truncated file?)");
  }
  if (header_len < 2) {
    return fail("header length " + std::to_string(header_len) +
                " is too small for a JSON object");
  }
  std::string_view header = bytes.substr(8, header_len);
  std::string_view data = bytes.substr(8 + header_len);
  const uint64_t data_size = data.size();

  if (JsonDepth(header) > kMaxJsonDepth) {
    return fail("header JSON nests deeper than " + std::to_string(kMaxJsonDepth) +
                " levels");
  }
  json root;
  try {
    root = json::parse(header.begin(), header.end());
  } catch (const json::exception& e) {
    return fail(std::string("header is not valid JSON: ") + e.what());
  }
  if (!root.is_object()) return fail("header is not a JSON object");

  std::unique_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->path_ = name;

  struct Span {
    uint64_t begin, end;
    const std::string* name;
  };
  std::vector<Span> spans;
  try {
    for (auto it = root.begin(); it != root.end(); ++it) {
      const std::string& key = it.key();
      const json& v = it.value();
      if (key == "__metadata__") {
        if (!v.is_object() && !v.is_null()) return fail("__metadata__ is not an object");
        continue;
      }
      const std::string t = "tensor '" + key + "'";
      if (!v.is_object()) return fail(t + ": entry is not an object");

      auto dt = v.find("dtype");
      if (dt == v.end() || !dt->is_string())
        return fail(t + ": missing or non-string dtype");
      const std::string& dts = dt->get_ref<const std::string&>();
      TensorInfo info;
      info.name = key;
      size_t elem_size = 0;
      if (ParseDType(dts, &info.dtype)) {
        elem_size = DTypeSize(info.dtype);
      } else if ((elem_size = UnreadDTypeSize(dts)) != 0) {
        // Checked like any tensor below, then set aside (see unread()).
      } else {
        if (IsKnownUnsupportedDType(dts)) {
          return UnimplementedError(
              name + ": " + t + " has dtype " + dts +
              ", which floe does not read (supported: F32, F16, BF16)");
        }
        return fail(t + ": unknown dtype '" + dts.substr(0, 40) + "'");
      }

      auto sh = v.find("shape");
      if (sh == v.end() || !sh->is_array())
        return fail(t + ": missing or non-array shape");
      uint64_t numel = 1;
      for (const json& d : *sh) {
        uint64_t dim;
        if (!AsCount(d, &dim)) {
          return fail(t + ": shape dimension " + Describe(d) +
                      " is not a non-negative 64-bit integer");
        }
        info.shape.push_back(static_cast<int64_t>(dim));
        if (__builtin_mul_overflow(numel, dim, &numel) ||
            numel > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
          return fail(t + ": shape " + Describe(*sh) + " has too many elements");
        }
      }
      uint64_t nbytes;
      if (__builtin_mul_overflow(numel, static_cast<uint64_t>(elem_size),
                                 &nbytes)) {
        return fail(t + ": shape " + Describe(*sh) + " is too large");
      }

      auto off = v.find("data_offsets");
      if (off == v.end() || !off->is_array() || off->size() != 2) {
        return fail(t + ": data_offsets is not an array of two integers");
      }
      uint64_t begin, end;
      if (!AsCount((*off)[0], &begin) || !AsCount((*off)[1], &end)) {
        return fail(t + ": data_offsets " + Describe(*off) +
                    " are not non-negative 64-bit integers");
      }
      const std::string range =
          "[" + std::to_string(begin) + "," + std::to_string(end) + ")";
      if (begin > end) return fail(t + ": data offsets " + range + " are reversed");
      if (end > data_size) {
        return fail(t + " data offsets " + range + " exceed data size " +
                    std::to_string(data_size));
      }
      if (end - begin != nbytes) {
        return fail(t + ": shape " + ShapeString(info.shape) + " of " + dts + " needs " +
                    std::to_string(nbytes) + " bytes but data offsets " + range +
                    " hold " + std::to_string(end - begin));
      }
      info.data = reinterpret_cast<const uint8_t*>(data.data()) + begin;
      info.nbytes = static_cast<size_t>(nbytes);
      if (!ParseDType(dts, &info.dtype)) {
        auto [pos, inserted] = file->unread_.emplace(key, dts);
        if (inserted) spans.push_back({begin, end, &pos->first});
        continue;
      }
      auto [pos, inserted] = file->tensors_.emplace(key, std::move(info));
      if (inserted) spans.push_back({begin, end, &pos->first});
    }
  } catch (const json::exception& e) {
    // Every access above is type-checked; this is a safety net.
    return fail(std::string("malformed header: ") + e.what());
  }

  // No two tensors may share bytes (empty tensors share nothing).
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  const Span* prev = nullptr;
  for (const Span& s : spans) {
    if (s.begin == s.end) continue;
    if (prev != nullptr && s.begin < prev->end) {
      return fail("tensors '" + *prev->name + "' [" + std::to_string(prev->begin) + "," +
                  std::to_string(prev->end) + ") and '" + *s.name + "' [" +
                  std::to_string(s.begin) + "," + std::to_string(s.end) + ") overlap");
    }
    prev = &s;
  }
  return file;
}

StatusOr<std::unique_ptr<SafetensorsFile>> SafetensorsFile::Open(
    const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    std::string msg = path + ": cannot open: " + std::strerror(err);
    return err == ENOENT ? NotFoundError(msg) : FailedPreconditionError(msg);
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return FailedPreconditionError(path + ": cannot stat: " + std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return InvalidArgumentError(path + ": not a regular file");
  }
  size_t size = static_cast<size_t>(st.st_size);
  if (size == 0) {
    ::close(fd);
    return DataLossError(path + ": file is empty");
  }
  void* map = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  int err = errno;
  ::close(fd);
  if (map == MAP_FAILED) {
    return ResourceExhaustedError(path + ": cannot map " + std::to_string(size) +
                                  " bytes: " + std::strerror(err));
  }
  auto parsed = Parse(path, std::string_view(static_cast<const char*>(map), size));
  if (!parsed.ok()) {
    munmap(map, size);
    return parsed.status();
  }
  std::unique_ptr<SafetensorsFile> file = std::move(parsed).value();
  file->map_ = map;
  file->map_size_ = size;
  return file;
}

const TensorInfo* SafetensorsFile::Find(std::string_view name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

// ---------------------------------------------------------------------------
// WeightStore

namespace {

namespace fs = std::filesystem;

// Base-model prefixes of task checkpoints (BertForSequenceClassification's
// bert., the RoBERTa family's roberta.), stripped to the bare name.
constexpr std::string_view kPrefixes[] = {"bert.", "roberta."};

// The prefix `name` starts with, or "".
std::string_view PrefixOf(std::string_view name) {
  for (std::string_view p : kPrefixes) {
    if (name.substr(0, p.size()) == p) return p;
  }
  return {};
}

bool FileExists(const std::string& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

// "x.LayerNorm.gamma" -> "x.LayerNorm.weight", "...beta" -> "...bias"; else "".
std::string LegacyLayerNormAlias(std::string_view name) {
  auto ends_with = [&](std::string_view s) {
    return name.size() >= s.size() && name.substr(name.size() - s.size()) == s;
  };
  if (ends_with("LayerNorm.gamma")) {
    return std::string(name.substr(0, name.size() - 5)) + "weight";
  }
  if (ends_with("LayerNorm.beta")) {
    return std::string(name.substr(0, name.size() - 4)) + "bias";
  }
  return "";
}

}  // namespace

StatusOr<std::unique_ptr<WeightStore>> WeightStore::Open(const std::string& folder) {
  auto store = std::make_unique<WeightStore>();
  store->folder_ = folder;
  const std::string single = (fs::path(folder) / "model.safetensors").string();
  const std::string index_path =
      (fs::path(folder) / "model.safetensors.index.json").string();

  // tensor name -> shard file, from the index (checked after loading).
  std::vector<std::pair<std::string, std::string>> expected;
  if (FileExists(single)) {
    FLOE_ASSIGN_OR_RETURN(auto file, SafetensorsFile::Open(single));
    store->files_.push_back(std::move(file));
  } else if (FileExists(index_path)) {
    FLOE_ASSIGN_OR_RETURN(std::string text, ReadTextFile(index_path));
    json index;
    try {
      index = json::parse(text);
    } catch (const json::exception& e) {
      return DataLossError(index_path + ": not valid JSON: " + e.what());
    }
    if (!index.is_object() || !index.contains("weight_map") ||
        !index["weight_map"].is_object()) {
      return DataLossError(index_path + ": no \"weight_map\" object");
    }
    std::map<std::string, size_t> shard_of;  // shard file -> index in files_
    for (auto it = index["weight_map"].begin(); it != index["weight_map"].end(); ++it) {
      if (!it.value().is_string()) {
        return DataLossError(index_path + ": weight_map entry '" + it.key() +
                             "' is not a file name");
      }
      const std::string& shard = it.value().get_ref<const std::string&>();
      fs::path sp(shard);
      bool plain = !shard.empty() && sp.is_relative();
      for (const auto& part : sp) {
        if (part == "..") plain = false;
      }
      if (!plain) {
        return DataLossError(index_path + ": shard file name '" + shard +
                             "' must be a relative path inside the folder");
      }
      if (!shard_of.count(shard)) {
        const std::string shard_path = (fs::path(folder) / sp).string();
        if (!FileExists(shard_path)) {
          return NotFoundError(index_path + ": shard '" + shard + "' (holding '" +
                               it.key() + "') does not exist");
        }
        FLOE_ASSIGN_OR_RETURN(auto file, SafetensorsFile::Open(shard_path));
        shard_of[shard] = store->files_.size();
        store->files_.push_back(std::move(file));
      }
      expected.emplace_back(it.key(), shard);
    }
    if (store->files_.empty()) return DataLossError(index_path + ": weight_map is empty");
    for (const auto& [tensor, shard] : expected) {
      if (store->files_[shard_of[shard]]->Find(tensor) == nullptr) {
        return DataLossError(index_path + ": tensor '" + tensor + "' should be in '" +
                             shard + "' but is not");
      }
    }
  } else if (FileExists((fs::path(folder) / "pytorch_model.bin").string())) {
    return NotFoundError(
        folder +
        ": has only pytorch_model.bin; floe reads safetensors only (it never unpickles). "
        "Convert it once, e.g. python -c \"from transformers import AutoModel; "
        "AutoModel.from_pretrained('" +
        folder + "').save_pretrained('" + folder + "', safe_serialization=True)\"");
  } else {
    return NotFoundError(folder +
                         ": no model.safetensors or model.safetensors.index.json");
  }

  // Index bare names. Exact unprefixed names win over prefixed ones,
  // and both over legacy gamma/beta aliases; a name in two shards is an error.
  std::map<std::string, std::string, std::less<>> owner;  // full name -> file
  for (const auto& f : store->files_) {
    for (const auto& [name, info] : f->tensors()) {
      auto [it, inserted] = owner.emplace(name, f->path());
      if (!inserted) {
        return DataLossError(folder + ": tensor '" + name + "' is in both " + it->second +
                             " and " + f->path());
      }
    }
  }
  for (int pass = 0; pass < 3; ++pass) {
    for (const auto& f : store->files_) {
      for (const auto& [name, info] : f->tensors()) {
        std::string_view bare = name;
        const size_t plen = PrefixOf(bare).size();
        const bool prefixed = plen > 0;
        bare.remove_prefix(plen);
        if (pass == 0 && !prefixed) store->index_.emplace(std::string(bare), &info);
        if (pass == 1 && prefixed) store->index_.emplace(std::string(bare), &info);
        if (pass == 2) {
          std::string alias = LegacyLayerNormAlias(bare);
          if (!alias.empty()) store->index_.emplace(alias, &info);
        }
      }
    }
  }
  return store;
}

const TensorInfo* WeightStore::Find(std::string_view name) const {
  auto it = index_.find(name);
  if (it != index_.end()) return it->second;
  if (const size_t plen = PrefixOf(name).size(); plen > 0) {
    it = index_.find(name.substr(plen));
    if (it != index_.end()) return it->second;
  }
  return nullptr;
}

StatusOr<std::vector<float>> WeightStore::LoadFloat(
    std::string_view name, const std::vector<int64_t>& expected_shape) const {
  const TensorInfo* t = Find(name);
  if (t == nullptr) {
    for (const auto& f : files_) {
      std::vector<std::string> names = {std::string(name)};
      for (std::string_view p : kPrefixes) names.push_back(std::string(p) + std::string(name));
      for (const std::string& n : names) {
        auto u = f->unread().find(n);
        if (u != f->unread().end()) {
          return UnimplementedError(f->path() + ": tensor '" + u->first + "' has dtype " +
                                    u->second +
                                    ", which floe does not read (supported: F32, F16, BF16)");
        }
      }
    }
    return NotFoundError(folder_ + ": tensor '" + std::string(name) + "' not found");
  }
  if (t->shape != expected_shape) {
    return InvalidArgumentError(folder_ + ": tensor '" + t->name + "' has shape " +
                                ShapeString(t->shape) + ", expected " +
                                ShapeString(expected_shape));
  }
  std::vector<float> out(static_cast<size_t>(t->numel()));
  ConvertToFloat(t->dtype, t->data, out.size(), out.data());
  return out;
}

DType WeightStore::dominant_dtype() const {
  size_t bytes[3] = {0, 0, 0};
  for (const auto& f : files_) {
    for (const auto& [name, info] : f->tensors())
      bytes[static_cast<int>(info.dtype)] += info.nbytes;
  }
  int best = 0;
  for (int i = 1; i < 3; ++i) {
    if (bytes[i] > bytes[best]) best = i;
  }
  return static_cast<DType>(best);
}

size_t WeightStore::total_bytes() const {
  size_t n = 0;
  for (const auto& f : files_) {
    for (const auto& [name, info] : f->tensors()) n += info.nbytes;
  }
  return n;
}

void SafetensorsFile::DropResidentPages() const {
  if (map_ != nullptr) madvise(map_, map_size_, MADV_DONTNEED);
}

void WeightStore::DropResidentPages() const {
  for (const auto& f : files_) f->DropResidentPages();
}

std::string ShapeString(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

Status CheckTensors(const WeightStore& weights, const std::vector<TensorSpec>& specs,
                    std::string_view architecture) {
  std::string first_missing;
  int missing = 0;
  for (const TensorSpec& spec : specs) {
    const TensorInfo* t = weights.Find(spec.name);
    if (t == nullptr) {
      if (missing++ == 0) first_missing = spec.name;
      continue;
    }
    if (t->shape != spec.shape) {
      return InvalidArgumentError(weights.folder() + ": tensor '" + t->name + "' has shape " +
                                  ShapeString(t->shape) + " but config.json (" +
                                  std::string(architecture) + ") implies " +
                                  ShapeString(spec.shape));
    }
  }
  if (missing == 0) return OkStatus();
  std::string msg = weights.folder() + ": tensor '" + first_missing + "' (" +
                    std::string(architecture) + ") not found in the weights";
  if (missing > 1) msg += ", nor " + std::to_string(missing - 1) + " more the encoder needs";
  return NotFoundError(msg);
}

}  // namespace floe
