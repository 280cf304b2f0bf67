// The Unigram model of Hugging Face `tokenizers` (SentencePiece's unigram
// language model): the segmentation of a pre-tokenized split that maximises
// the sum of piece scores (Viterbi over a byte trie of the vocabulary), with
// the crate's rules for what the vocabulary cannot cover: a code point with no
// single-character piece gets the unk id at score min_score - 10, consecutive
// unk pieces fuse into one, and with byte_fallback a fused unknown becomes
// its <0xXX> byte pieces. Ties go to the first candidate found (shorter
// pieces first, the unk candidate last), as in the crate. Immutable after
// Build; Encode is const and thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"
#include "text/vocab_map.h"

namespace floe::text {

class UnigramModel {
 public:
  // `vocab[i]` is (piece, score) of id i; unk_id < 0 means none (an input the
  // vocabulary cannot cover is then an error). A piece given twice maps to
  // its last id, as the crate's HashMap does.
  static StatusOr<UnigramModel> Build(std::vector<std::pair<std::string, double>> vocab,
                                      int32_t unk_id, bool byte_fallback);

  // Per-thread working memory for Encode.
  struct Scratch {
    struct Node {
      double score;
      int32_t start;  // -1: unreached
      int32_t id;
    };
    std::vector<Node> best;
    std::vector<std::pair<int32_t, int32_t>> path;  // (start, id), end to begin
  };

  // Appends the ids of `split` (valid UTF-8) to `out`.
  Status Encode(std::string_view split, Scratch& scratch, std::vector<int32_t>* out) const;

  // Encode, plus each id's byte range in `split` (one per id appended): the
  // crate's, where a fused unknown's ids (byte fallback) all get its range.
  Status EncodeSpans(std::string_view split, Scratch& scratch, std::vector<int32_t>* out,
                     std::vector<std::pair<uint32_t, uint32_t>>* spans) const;

  // Id of a piece, or -1.
  int32_t Find(std::string_view piece) const { return map_.Find(piece); }
  std::string_view Piece(int32_t id) const;
  double Score(int32_t id) const { return vocab_[id].second; }
  size_t size() const { return vocab_.size(); }
  int32_t unk_id() const { return unk_id_; }
  bool byte_fallback() const { return byte_fallback_; }
  // Byte `b` of a <0xXX> piece id, or -1 when `id` is not one.
  int ByteOfPiece(int32_t id) const;

 private:
  // Trie child of `node` for byte `b`, or -1.
  int32_t Child(int32_t node, unsigned char b) const {
    if (node == 0) return root_[b];
    const uint64_t key = (static_cast<uint64_t>(node) << 8) | b;
    size_t i = static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> shift_);
    while (true) {
      const Edge& e = edges_[i];
      if (e.child < 0) return -1;
      if (e.key == key) return e.child;
      i = (i + 1) & mask_;
    }
  }
  void BuildTrie();
  void AppendUnknown(std::string_view text, std::vector<int32_t>* out) const;

  struct Edge {
    uint64_t key = 0;
    int32_t child = -1;
  };
  std::vector<std::pair<std::string, double>> vocab_;
  VocabMap map_;
  int32_t unk_id_ = -1;
  bool byte_fallback_ = false;
  double unk_score_ = 0;
  int32_t byte_ids_[256];
  std::vector<int32_t> node_token_;  // per trie node: id ending there, or -1
  int32_t root_[256];
  std::vector<Edge> edges_;
  size_t mask_ = 0;
  int shift_ = 64;
};

}  // namespace floe::text
