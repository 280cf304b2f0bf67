#include "text/unigram.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>

#include "text/utf8.h"

namespace floe::text {
namespace {

// The crate's penalty under the lowest piece score for an unknown code point.
constexpr double kUnkPenalty = 10.0;

size_t Utf8Len(unsigned char b) { return b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4; }

}  // namespace

StatusOr<UnigramModel> UnigramModel::Build(std::vector<std::pair<std::string, double>> vocab,
                                           int32_t unk_id, bool byte_fallback) {
  if (vocab.empty()) return InvalidArgumentError("Unigram: the vocabulary is empty");
  if (unk_id >= static_cast<int64_t>(vocab.size())) {
    return InvalidArgumentError("Unigram: unk_id " + std::to_string(unk_id) +
                                " is past the vocabulary (" + std::to_string(vocab.size()) +
                                " pieces)");
  }
  if (vocab.size() > static_cast<size_t>(std::numeric_limits<int32_t>::max() / 2)) {
    return InvalidArgumentError("Unigram: vocabulary too large");
  }
  UnigramModel m;
  m.vocab_ = std::move(vocab);
  m.unk_id_ = unk_id < 0 ? -1 : unk_id;
  m.byte_fallback_ = byte_fallback;
  double min_score = std::numeric_limits<double>::infinity();
  std::vector<std::pair<std::string, int32_t>> entries;
  entries.reserve(m.vocab_.size());
  for (size_t i = 0; i < m.vocab_.size(); ++i) {
    const auto& [piece, score] = m.vocab_[i];
    if (FindInvalidUtf8(piece) != std::string::npos) {
      return InvalidArgumentError("Unigram: piece " + std::to_string(i) + " is not valid UTF-8");
    }
    if (std::isnan(score)) {
      return InvalidArgumentError("Unigram: piece " + std::to_string(i) + " has a NaN score");
    }
    min_score = std::min(min_score, score);
    entries.emplace_back(piece, static_cast<int32_t>(i));
  }
  m.unk_score_ = min_score - kUnkPenalty;
  m.map_.Build(entries);
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    m.byte_ids_[b] = m.map_.Find(name);
  }
  m.BuildTrie();
  return m;
}

void UnigramModel::BuildTrie() {
  // Nodes are numbered as created; edges go into an open-addressing table
  // sized for the total number of piece bytes (an upper bound on nodes).
  size_t total = 1;
  for (const auto& [piece, score] : vocab_) total += piece.size();
  size_t cap = 16;
  shift_ = 60;
  while (cap < 2 * total) {
    cap <<= 1;
    --shift_;
  }
  edges_.assign(cap, Edge{});
  mask_ = cap - 1;
  for (int32_t& r : root_) r = -1;
  node_token_.assign(1, -1);
  for (size_t id = 0; id < vocab_.size(); ++id) {
    const std::string& piece = vocab_[id].first;
    if (piece.empty()) continue;  // the crate's search never yields an empty piece
    int32_t node = 0;
    for (unsigned char b : piece) {
      int32_t next = Child(node, b);
      if (next < 0) {
        next = static_cast<int32_t>(node_token_.size());
        node_token_.push_back(-1);
        if (node == 0) {
          root_[b] = next;
        } else {
          const uint64_t key = (static_cast<uint64_t>(node) << 8) | b;
          size_t i = static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> shift_);
          while (edges_[i].child >= 0) i = (i + 1) & mask_;
          edges_[i] = Edge{key, next};
        }
      }
      node = next;
    }
  }
  // A piece's node maps to the id its string looks up to (the last duplicate).
  for (size_t id = 0; id < vocab_.size(); ++id) {
    const std::string& piece = vocab_[id].first;
    if (piece.empty()) continue;
    int32_t node = 0;
    for (unsigned char b : piece) node = Child(node, b);
    node_token_[node] = map_.Find(piece);
  }
}

std::string_view UnigramModel::Piece(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= vocab_.size()) return {};
  return vocab_[id].first;
}

int UnigramModel::ByteOfPiece(int32_t id) const {
  const std::string_view p = Piece(id);
  if (p.size() != 6 || p.substr(0, 3) != "<0x" || p[5] != '>') return -1;
  const unsigned b = static_cast<unsigned>(std::strtoul(std::string(p.substr(3, 2)).c_str(),
                                                        nullptr, 16));
  return b < 256 && byte_ids_[b] == id ? static_cast<int>(b) : -1;
}

// A fused run of unknown pieces: its own id when the vocabulary has the
// string, else its bytes' <0xXX> pieces (all present), else unk.
void UnigramModel::AppendUnknown(std::string_view text, std::vector<int32_t>* out) const {
  const int32_t id = map_.Find(text);
  if (id >= 0) {
    out->push_back(id);
    return;
  }
  if (byte_fallback_) {
    bool all = true;
    for (unsigned char b : text) all = all && byte_ids_[b] >= 0;
    if (all) {
      for (unsigned char b : text) out->push_back(byte_ids_[b]);
      return;
    }
  }
  out->push_back(unk_id_);
}

Status UnigramModel::Encode(std::string_view split, Scratch& scratch,
                            std::vector<int32_t>* out) const {
  const size_t n = split.size();
  if (n == 0) return OkStatus();
  const auto* s = reinterpret_cast<const unsigned char*>(split.data());
  auto& best = scratch.best;
  best.assign(n + 1, Scratch::Node{0.0, -1, -1});
  best[0].start = 0;
  for (size_t start = 0; start < n; start += Utf8Len(s[start])) {
    const double base = best[start].score;
    const size_t char_len = Utf8Len(s[start]);
    bool has_single = false;
    int32_t node = 0;
    for (size_t end = start; end < n;) {
      node = Child(node, s[end]);
      if (node < 0) break;
      ++end;
      const int32_t id = node_token_[node];
      if (id < 0) continue;
      const double cand = base + vocab_[id].second;
      Scratch::Node& t = best[end];
      if (t.start < 0 || cand > t.score) {
        t.score = cand;
        t.start = static_cast<int32_t>(start);
        t.id = id;
      }
      if (end - start == char_len) has_single = true;
    }
    if (!has_single) {
      if (unk_id_ < 0) {
        return InvalidArgumentError("the Unigram vocabulary has no piece for '" +
                                    std::string(split.substr(start, char_len)) +
                                    "' and the model has no unk_id");
      }
      const double cand = base + unk_score_;
      Scratch::Node& t = best[start + char_len];
      if (t.start < 0 || cand > t.score) {
        t.score = cand;
        t.start = static_cast<int32_t>(start);
        t.id = unk_id_;
      }
    }
  }
  auto& path = scratch.path;
  path.clear();
  for (size_t end = n; end > 0;) {
    const Scratch::Node& t = best[end];
    path.emplace_back(t.start, t.id);
    end = static_cast<size_t>(t.start);
  }
  // path holds (start, id) from the end; emit in order, fusing unk runs.
  size_t i = path.size();
  while (i > 0) {
    --i;
    const auto [start, id] = path[i];
    if (id != unk_id_) {
      out->push_back(id);
      continue;
    }
    size_t j = i;
    while (j > 0 && path[j - 1].second == unk_id_) --j;
    const size_t stop = j > 0 ? static_cast<size_t>(path[j - 1].first) : n;
    AppendUnknown(split.substr(start, stop - start), out);
    i = j;
  }
  return OkStatus();
}

Status UnigramModel::EncodeSpans(std::string_view split, Scratch& scratch,
                                 std::vector<int32_t>* out,
                                 std::vector<std::pair<uint32_t, uint32_t>>* spans) const {
  const size_t before = out->size();
  FLOE_RETURN_IF_ERROR(Encode(split, scratch, out));
  // Encode left the Viterbi path (start, id), end to begin, in scratch.
  const auto& path = scratch.path;
  size_t emitted = before;
  size_t i = path.size();
  while (i > 0) {
    --i;
    const auto [start, id] = path[i];
    size_t j = i;
    if (id == unk_id_) {
      while (j > 0 && path[j - 1].second == unk_id_) --j;
    }
    const size_t stop = j > 0 ? static_cast<size_t>(path[j - 1].first) : split.size();
    // One id, or the ids AppendUnknown gave the fused run (the same count
    // Encode emitted: the rest of the path accounts for the others).
    size_t count = 1;
    if (id == unk_id_) {
      std::vector<int32_t> tmp;
      AppendUnknown(split.substr(start, stop - start), &tmp);
      count = tmp.size();
    }
    for (size_t k = 0; k < count; ++k) {
      spans->emplace_back(static_cast<uint32_t>(start), static_cast<uint32_t>(stop));
    }
    emitted += count;
    i = j;
  }
  if (emitted != out->size()) return InternalError("Unigram spans do not match the ids");
  return OkStatus();
}

}  // namespace floe::text
