// floe's in-process C++ API: open a Hugging Face model folder, tokenize, embed.
// The same object `floe embed` and the server's workers use.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "floe/export.h"
#include "floe/runtime_options.h"
#include "floe/status.h"

namespace floe {

// The engine's RuntimeOptions (device, dtype, num_threads, max_batch_tokens,
// gpu_memory_fraction: floe/runtime_options.h), handed to the engine as they
// are, and what only the facade needs.
struct EmbedderOptions : RuntimeOptions {
  EmbedderOptions() = default;
  // From a RuntimeOptions as it is (tokenizer_only false), so that one can be
  // passed to Embedder::Open.
  EmbedderOptions(const RuntimeOptions& runtime) : RuntimeOptions(runtime) {}  // NOLINT

  // Load the tokenizer and the model's description but no encoder: Tokenize
  // and info() work, Embed/EmbedTokens are FAILED_PRECONDITION. For front
  // ends whose vectors come from elsewhere (worker processes, `floe tokenize`).
  bool tokenizer_only = false;

  bool operator==(const EmbedderOptions&) const = default;
};

// Options of one input.
struct EmbedParams {
  std::string prompt_name;  // "" = the model's default prompt (often none)
  int dimensions = 0;       // 0 = full; else keep the first N, then normalize
  bool normalize = true;    // L2-normalize (always done when dimensions is set
                            // and normalize is true)
  bool truncate = true;     // false: over-long input is INVALID_ARGUMENT
  // Where an over-long input is cut (TEI's truncation_direction): false
  // keeps its first tokens, true its last ones (the template's specials stay
  // at both ends). With a prompt, the prompt and text are cut as one text,
  // as the tokenizers crate (and TEI) do: the prompt goes first.
  bool truncate_left = false;
  // > 0: cut to this many tokens when it is below the model's maximum (a
  // server's --max-input-tokens); texts and pairs only.
  int max_tokens = 0;
};

struct EmbedInput {
  std::string text;
  EmbedParams params;
};

// A text pair's ids and where its second segment starts.
struct PairIds {
  std::vector<int32_t> ids;
  // Tokens at index >= type1_from have token type 1 (BERT's pair template:
  // B and its [SEP]); ids.size() when the template gives every token type 0
  // (XLM-R's <s> A </s></s> B </s>).
  int32_t type1_from = 0;
};

// One token of a text, as TEI's /tokenize reports it.
struct TokenSpan {
  int32_t id = 0;
  std::string text;      // the token's piece ("##ing", "\u2581the"); the special's text
  bool special = false;  // added by the template ([CLS], </s>); a [SEP] typed in the text is not
  size_t start = 0;      // byte offsets into the input text; 0, 0 for template specials
  size_t stop = 0;
};

// One input's per-token vectors (TEI's /embed_all): the encoder's last
// hidden state for each of its tokens in order, the template's specials and a
// prompt's tokens included; not pooled, not normalized.
struct TokenVectors {
  int tokens = 0;
  int dimension = 0;          // ModelInfo::hidden_size
  std::vector<float> values;  // tokens x dimension, token by token
};

struct ModelInfo {
  std::string path;
  std::string model_type;   // config.json's: "bert", "xlm-roberta", ...
  // "embed": pooled vectors (Embed, EmbedTokens). "classify": the folder is a
  // ...ForSequenceClassification cross-encoder or classifier: Classify gives
  // num_labels logits per input, Embed/EmbedTokens are FAILED_PRECONDITION.
  std::string task = "embed";
  int num_labels = 0;               // classify: logits per input
  std::vector<std::string> labels;  // classify: config.json's id2label, by id
  int hidden_size = 0;      // full embedding dimension
  int max_tokens = 0;       // per input, specials included
  // The tokenizer's vocabulary: token ids given as input must be in [0,
  // vocab_size) (Decode refuses others; servers check token-id inputs with it).
  int vocab_size = 0;
  std::string pooling;      // cls | mean | max | lasttoken
  bool normalize = true;    // model folder's Normalize module
  std::vector<std::string> prompt_names;
  bool include_prompt = true;  // false: pooling leaves a prompt's tokens out
  std::string weights_dtype;  // of the stored tensors
  std::string dtype;          // compute dtype
  std::string device;
};

class FLOE_EXPORT Embedder {
 public:
  // Loads model, tokenizer and backend. Errors name the file/option at fault.
  static StatusOr<std::unique_ptr<Embedder>> Open(const std::string& model_path,
                                                  const EmbedderOptions& options = {});
  virtual ~Embedder() = default;

  virtual const ModelInfo& info() const = 0;

  // Thread-safe. Prompt text (by name) is prepended before tokenizing.
  virtual StatusOr<std::vector<int32_t>> Tokenize(std::string_view text,
                                                  const EmbedParams& params = {}) const = 0;

  // Thread-safe. Tokenize's ids with each token's piece, byte offsets and
  // special flag (TEI's /tokenize). No prompt is added.
  virtual StatusOr<std::vector<TokenSpan>> TokenizeSpans(std::string_view text,
                                                         const EmbedParams& params = {}) const = 0;

  // Thread-safe. Text of ids through the tokenizer's decoder (TEI's /decode);
  // skip_special drops special tokens. INVALID_ARGUMENT for an id outside
  // the vocabulary.
  virtual StatusOr<std::string> Decode(const std::vector<int32_t>& ids,
                                       bool skip_special = true) const = 0;

  // Thread-safe. Ids of a text pair (cross-encoder input: query, document)
  // with the tokenizer's pair template, both truncated longest-first to the
  // model's maximum (params.truncate false: over-long is INVALID_ARGUMENT;
  // params.truncate_left: each text keeps its tail). No prompt.
  // UNIMPLEMENTED for tokenizers without pairs.
  virtual StatusOr<PairIds> TokenizePair(std::string_view a, std::string_view b,
                                         const EmbedParams& params = {}) const = 0;

  // Embeds texts; result i belongs to input i. Batches are packed internally
  // (no padding) up to max_batch_tokens. Thread-safe; calls are serialized
  // on the engine.
  virtual StatusOr<std::vector<std::vector<float>>> Embed(
      const std::vector<EmbedInput>& inputs) = 0;

  // Embeds already-tokenized inputs (ids include [CLS]/[SEP]); one params for
  // all. Every token is pooled (params.prompt_name only has to exist).
  StatusOr<std::vector<std::vector<float>>> EmbedTokens(
      const std::vector<std::vector<int32_t>>& ids, const EmbedParams& params = {}) {
    return EmbedTokens(ids, params, {});
  }

  // The same, where pooling leaves out the first pool_skip[i] tokens of input
  // i (pool_skip: empty, or one entry per input, each >= 0; else
  // INVALID_ARGUMENT). For ids that Tokenize made with a prompt, pass
  // PromptTokensExcluded of the params they were made with.
  virtual StatusOr<std::vector<std::vector<float>>> EmbedTokens(
      const std::vector<std::vector<int32_t>>& ids, const EmbedParams& params,
      const std::vector<int32_t>& pool_skip) = 0;

  // Per-token vectors of texts (TEI's /embed_all): result i holds every
  // token of Tokenize(inputs[i].text, inputs[i].params). dimensions and
  // normalize do not apply. Thread-safe; FAILED_PRECONDITION on a classifier.
  virtual StatusOr<std::vector<TokenVectors>> EmbedAll(const std::vector<EmbedInput>& inputs) = 0;
  // The same for already-tokenized inputs (cut as EmbedTokens cuts them;
  // params.truncate_left keeps their tails).
  virtual StatusOr<std::vector<TokenVectors>> EmbedAllTokens(
      const std::vector<std::vector<int32_t>>& ids, const EmbedParams& params = {}) = 0;

  // Classifier models (info().task == "classify"): the raw logits, num_labels
  // per input, of already-tokenized inputs (from Tokenize or TokenizePair).
  // type1_from is empty (every token type 0) or one entry per input
  // (PairIds::type1_from; >= the input's length means none). No sigmoid or
  // softmax: callers apply what their API asks. Checks as EmbedTokens;
  // FAILED_PRECONDITION on an embedding model. Thread-safe, serialized on the
  // engine.
  virtual StatusOr<std::vector<std::vector<float>>> Classify(
      const std::vector<std::vector<int32_t>>& ids, const std::vector<int32_t>& type1_from = {}) = 0;

  // How many leading tokens of Tokenize(text, params) pooling leaves out: 0,
  // unless the folder's pooling has include_prompt false and params name (or
  // the model defaults to) a prompt; then the prompt's tokens as
  // sentence-transformers counts them: the prompt tokenized alone, less a
  // trailing special token ([CLS] and the prompt's own tokens, for BERT).
  // INVALID_ARGUMENT for an unknown prompt_name. Thread-safe.
  virtual StatusOr<int32_t> PromptTokensExcluded(const EmbedParams& params) const = 0;
};

}  // namespace floe
