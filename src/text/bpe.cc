#include "text/bpe.h"

#include <algorithm>
#include <cstdio>

#include "text/utf8.h"

namespace floe::text {

StatusOr<BpeModel> BpeModel::Build(BpeOptions options) {
  BpeModel m;
  m.opt_ = std::move(options);
  if (m.opt_.vocab.empty()) return InvalidArgumentError("the BPE vocabulary is empty");
  int32_t max_id = -1;
  for (const auto& [tok, id] : m.opt_.vocab) {
    if (id < 0) return InvalidArgumentError("negative id for BPE token '" + tok + "'");
    max_id = std::max(max_id, id);
  }
  m.map_.Build(m.opt_.vocab);
  m.id_to_token_.assign(static_cast<size_t>(max_id) + 1, std::string());
  for (const auto& [tok, id] : m.opt_.vocab) m.id_to_token_[id] = tok;
  if (!m.opt_.unk_token.empty()) m.unk_id_ = m.map_.Find(m.opt_.unk_token);
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    m.byte_ids_[b] = m.map_.Find(name);
  }
  const size_t prefix = m.opt_.continuing_subword_prefix.size();
  m.merges_.reserve(m.opt_.merges.size() * 2);
  for (size_t r = 0; r < m.opt_.merges.size(); ++r) {
    const auto& [a, b] = m.opt_.merges[r];
    const int32_t ia = m.map_.Find(a), ib = m.map_.Find(b);
    const std::string joined =
        a + (b.size() >= prefix && b.compare(0, prefix, m.opt_.continuing_subword_prefix) == 0
                 ? b.substr(prefix)
                 : b);
    const int32_t ij = m.map_.Find(joined);
    if (ia < 0 || ib < 0 || ij < 0) {
      return InvalidArgumentError("BPE merge " + std::to_string(r) + " '" + a + " " + b +
                                  "' uses a token not in the vocabulary");
    }
    const uint64_t key = (static_cast<uint64_t>(static_cast<uint32_t>(ia)) << 32) |
                         static_cast<uint32_t>(ib);
    m.merges_.emplace(key, Merge{static_cast<int32_t>(r), ij});  // first rank wins
  }
  return m;
}

int32_t BpeModel::CharId(std::string_view ch, bool first, bool last,
                         std::string* scratch) const {
  if ((first || opt_.continuing_subword_prefix.empty()) &&
      (!last || opt_.end_of_word_suffix.empty())) {
    return map_.Find(ch);
  }
  scratch->clear();
  if (!first) scratch->append(opt_.continuing_subword_prefix);
  scratch->append(ch);
  if (last) scratch->append(opt_.end_of_word_suffix);
  return map_.Find(*scratch);
}

void BpeModel::EncodeSpans(std::string_view split, std::vector<int32_t>* out,
                           std::vector<std::pair<uint32_t, uint32_t>>* spans) const {
  std::vector<uint32_t> lens;
  EncodeImpl(split, out, &lens);
  uint32_t pos = 0;
  for (uint32_t len : lens) {
    spans->emplace_back(pos, pos + len);
    pos += len;
  }
}

void BpeModel::EncodeImpl(std::string_view split, std::vector<int32_t>* out,
                          std::vector<uint32_t>* lens) const {
  if (split.empty()) return;
  if (opt_.ignore_merges) {
    const int32_t id = map_.Find(split);
    if (id >= 0) {
      out->push_back(id);
      if (lens) lens->push_back(static_cast<uint32_t>(split.size()));
      return;
    }
  }
  std::vector<int32_t> sym;
  std::vector<uint32_t> len_of;  // with `lens` only: each symbol's bytes
  sym.reserve(split.size());
  std::string scratch;
  bool pending_unk = false;
  uint32_t unk_len = 0;
  auto push = [&](int32_t id, uint32_t n) {
    sym.push_back(id);
    if (lens) len_of.push_back(n);
  };
  const auto* p = reinterpret_cast<const unsigned char*>(split.data());
  for (size_t i = 0; i < split.size();) {
    uint32_t cp;
    const size_t len = static_cast<size_t>(DecodeUtf8(p + i, &cp));
    const int32_t id = CharId(split.substr(i, len), i == 0, i + len == split.size(), &scratch);
    if (id >= 0) {
      if (pending_unk) push(unk_id_, unk_len);
      pending_unk = false;
      push(id, static_cast<uint32_t>(len));
    } else {
      bool bytes = opt_.byte_fallback;
      for (size_t k = 0; k < len && bytes; ++k) bytes = byte_ids_[p[i + k]] >= 0;
      if (bytes) {
        if (pending_unk) push(unk_id_, unk_len);
        pending_unk = false;
        for (size_t k = 0; k < len; ++k) push(byte_ids_[p[i + k]], 1);
      } else if (unk_id_ >= 0) {
        if (pending_unk && !opt_.fuse_unk) {
          push(unk_id_, unk_len);
          unk_len = 0;
        }
        if (!pending_unk) unk_len = 0;
        pending_unk = true;
        unk_len += static_cast<uint32_t>(len);
      }
    }
    i += len;
  }
  if (pending_unk) push(unk_id_, unk_len);
  // Merges, lowest rank first, leftmost among equal ranks.
  std::vector<int32_t> rank(sym.size(), -1), next_id(sym.size(), -1);
  auto score = [&](size_t k) {
    const uint64_t key = (static_cast<uint64_t>(static_cast<uint32_t>(sym[k])) << 32) |
                         static_cast<uint32_t>(sym[k + 1]);
    auto it = merges_.find(key);
    rank[k] = it == merges_.end() ? -1 : it->second.rank;
    next_id[k] = it == merges_.end() ? -1 : it->second.id;
  };
  for (size_t k = 0; k + 1 < sym.size(); ++k) score(k);
  while (sym.size() > 1) {
    size_t best = sym.size();
    for (size_t k = 0; k + 1 < sym.size(); ++k) {
      if (rank[k] >= 0 && (best == sym.size() || rank[k] < rank[best])) best = k;
    }
    if (best == sym.size()) break;
    sym[best] = next_id[best];
    sym.erase(sym.begin() + static_cast<std::ptrdiff_t>(best) + 1);
    if (lens) {
      len_of[best] += len_of[best + 1];
      len_of.erase(len_of.begin() + static_cast<std::ptrdiff_t>(best) + 1);
    }
    rank.erase(rank.begin() + static_cast<std::ptrdiff_t>(best) + 1);
    next_id.erase(next_id.begin() + static_cast<std::ptrdiff_t>(best) + 1);
    if (best + 1 < sym.size()) score(best);
    else { rank[best] = -1; }
    if (best > 0) score(best - 1);
  }
  out->insert(out->end(), sym.begin(), sym.end());
  if (lens) lens->insert(lens->end(), len_of.begin(), len_of.end());
}

}  // namespace floe::text
