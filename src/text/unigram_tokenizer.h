// A tokenizer.json with a Unigram model (SentencePiece models as converted by
// transformers: XLM-RoBERTa, bge-m3, multilingual-e5) or a BPE model
// (byte-level: Qwen3-Embedding, ModernBERT, GTE-multilingual; text/bpe.h):
// added tokens, then the normalizer chain, then the pre-tokenizers, then
// Viterbi or the merges, then the post-processor's template; ids identical
// to the Rust `tokenizers` crate, and EncodeWithOffsets its offsets (as the
// Python binding's encode(text).offsets, in bytes) through every supported
// normalizer and pre-tokenizer and ByteLevel's trim_offsets.
// Immutable after FromJson; Encode/EncodePair/Decode may run on any thread.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "core/status.h"
#include "text/tokenizer.h"

namespace floe::text {

// `j` is the parsed tokenizer.json (its model's type is "Unigram" or "BPE"); `name`
// prefixes error messages.
StatusOr<std::unique_ptr<Tokenizer>> UnigramTokenizerFromJson(const nlohmann::json& j,
                                                              const std::string& name);

}  // namespace floe::text
