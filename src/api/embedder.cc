// Embedder: model folder + tokenizer + engine behind the public API.
#include "floe/embedder.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <mutex>
#include <thread>

#include "api/model_path.h"
#include "api/shared_engine.h"
#include "api/truncation.h"
#include "core/log.h"
#include "core/thread_pool.h"
#include "engine/engine.h"
#include "engine/postprocess.h"
#include "model/config.h"
#include "text/tokenizer.h"

namespace floe {
namespace {

class EmbedderImpl final : public Embedder {
 public:
  Status Init(const std::string& model_arg, const EmbedderOptions& options) {
    FLOE_ASSIGN_OR_RETURN(std::string path, ResolveModelPath(model_arg));
    if (options.tokenizer_only && !HasModelFiles(path)) {
      Status s = InitTokenizerOnly(path);
      std::error_code ec;
      if (s.ok() || !std::filesystem::exists(std::filesystem::path(path) / "config.json", ec)) {
        return s;
      }
      // A config.json but no tokenizer: the model folder's own error (a broken
      // config.json, missing weights) says more than "no tokenizer".
      auto folder = ModelFolder::Open(path);
      return folder.ok() ? s : folder.status();
    }
    FLOE_ASSIGN_OR_RETURN(model_, ModelFolder::Open(path));
    FLOE_ASSIGN_OR_RETURN(tokenizer_, Tokenizer::FromFolder(path));
    single_ = ProbeSingleTemplate(*tokenizer_);
    if (!options.tokenizer_only) {  // the engine gets the RuntimeOptions as they are
      FLOE_ASSIGN_OR_RETURN(engine_.engine, Engine::Create(*model_, options));
    }
    // The engine holds its own prepared copy of every weight now (or none is
    // needed): the checkpoint's pages can go.
    model_->weights->DropResidentPages();
    const auto& st = model_->st;
    info_.path = path;
    info_.vocab_size = static_cast<int>(tokenizer_->vocab_size());
    info_.model_type = model_->config.model_type;
    info_.hidden_size = model_->config.hidden_size;
    info_.max_tokens = st.max_seq_length > 0
                           ? std::min(st.max_seq_length, model_->config.max_tokens())
                           : model_->config.max_tokens();
    if (model_->config.classifier()) {
      info_.task = "classify";
      info_.num_labels = model_->config.num_labels;
      info_.labels = model_->config.labels;
    }
    info_.pooling = std::string(PoolingModeName(st.pooling));
    info_.normalize = st.normalize;
    for (const auto& [name, text] : st.prompts) info_.prompt_names.push_back(name);
    info_.include_prompt = st.include_prompt;
    if (!st.include_prompt) {
      for (const auto& [name, text] : st.prompts) {
        FLOE_ASSIGN_OR_RETURN(prompt_tokens_[name], CountPromptTokens(text));
      }
    }
    info_.weights_dtype = std::string(DTypeName(model_->weights->dominant_dtype()));
    info_.dtype = engine_.engine ? engine_.engine->dtype() : options.dtype;
    info_.device = engine_.engine ? engine_.engine->device() : options.device;
    return OkStatus();
  }

  // A folder with a tokenizer but no config.json or no weights, opened only
  // to tokenize: the limit is tokenizer_config.json's model_max_length, else
  // none (kNoLimit).
  static bool HasModelFiles(const std::string& path) {
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::path dir(path);
    return fs::exists(dir / "config.json", ec) &&
           (fs::exists(dir / "model.safetensors", ec) ||
            fs::exists(dir / "model.safetensors.index.json", ec));
  }
  Status InitTokenizerOnly(const std::string& path) {
    static constexpr int kNoLimit = 1 << 30;
    FLOE_ASSIGN_OR_RETURN(tokenizer_, Tokenizer::FromFolder(path));
    single_ = ProbeSingleTemplate(*tokenizer_);
    model_ = std::make_unique<ModelFolder>();
    model_->path = path;
    model_->st.max_seq_length = kNoLimit;
    std::ifstream in(std::filesystem::path(path) / "tokenizer_config.json");
    if (in) {
      const nlohmann::json tc = nlohmann::json::parse(in, nullptr, false);
      if (tc.is_object() && tc.contains("model_max_length") && tc["model_max_length"].is_number()) {
        const double v = tc["model_max_length"].get<double>();
        if (v >= 1 && v < kNoLimit) model_->st.max_seq_length = static_cast<int>(v);
      }
    }
    info_.path = path;
    info_.vocab_size = static_cast<int>(tokenizer_->vocab_size());
    info_.max_tokens = model_->st.max_seq_length;
    return OkStatus();
  }

  const ModelInfo& info() const override { return info_; }

  StatusOr<PairIds> TokenizePair(std::string_view a, std::string_view b,
                                 const EmbedParams& params) const override {
    const size_t max_tokens = Limit(params);
    PairIds out;
    size_t type1 = 0;
    if (!params.truncate) {
      FLOE_ASSIGN_OR_RETURN(out.ids, tokenizer_->EncodePair(a, b, 0, &type1));
      if (out.ids.size() > max_tokens) {
        return InvalidArgumentError("pair has " + std::to_string(out.ids.size()) +
                                    " tokens, over the model's maximum of " +
                                    std::to_string(max_tokens) +
                                    " (truncate is false; set it true to cut the input)");
      }
    } else if (params.truncate_left) {
      return EncodePairKeepTail(*tokenizer_, single_, a, b, max_tokens);
    } else {
      FLOE_ASSIGN_OR_RETURN(out.ids, tokenizer_->EncodePair(a, b, max_tokens, &type1));
    }
    out.type1_from = static_cast<int32_t>(type1);
    return out;
  }

  StatusOr<std::vector<TokenSpan>> TokenizeSpans(std::string_view text,
                                                 const EmbedParams& params) const override {
    const size_t max_tokens = Limit(params);
    FLOE_ASSIGN_OR_RETURN(std::vector<TokenOffset> toks,
                          tokenizer_->EncodeWithOffsets(text, params.truncate ? max_tokens : 0));
    if (toks.size() > max_tokens) {
      return InvalidArgumentError("input has " + std::to_string(toks.size()) +
                                  " tokens, over the model's maximum of " +
                                  std::to_string(max_tokens) +
                                  " (truncate is false; set it true to cut the input)");
    }
    std::vector<TokenSpan> spans(toks.size());
    for (size_t i = 0; i < toks.size(); ++i) {
      spans[i].id = toks[i].id;
      spans[i].text = std::string(tokenizer_->IdToToken(toks[i].id));
      spans[i].special = toks[i].special;
      spans[i].start = toks[i].start;
      spans[i].stop = toks[i].stop;
    }
    return spans;
  }

  StatusOr<std::string> Decode(const std::vector<int32_t>& ids, bool skip_special) const override {
    for (size_t i = 0; i < ids.size(); ++i) {
      if (ids[i] < 0 || static_cast<size_t>(ids[i]) >= tokenizer_->vocab_size()) {
        return InvalidArgumentError("id " + std::to_string(ids[i]) + " at index " +
                                    std::to_string(i) + " is outside the vocabulary of " +
                                    std::to_string(tokenizer_->vocab_size()));
      }
    }
    return tokenizer_->Decode(ids, skip_special);
  }

  StatusOr<std::vector<std::vector<float>>> Classify(
      const std::vector<std::vector<int32_t>>& ids,
      const std::vector<int32_t>& type1_from) override {
    if (info_.task != "classify") {
      return FailedPreconditionError("the model at " + info_.path +
                                     " is an embedding model, not a classifier");
    }
    if (!type1_from.empty() && type1_from.size() != ids.size()) {
      return InvalidArgumentError("type1_from has " + std::to_string(type1_from.size()) +
                                  " entries for " + std::to_string(ids.size()) + " inputs");
    }
    if (!engine_.engine) {
      return FailedPreconditionError("this Embedder was opened with tokenizer_only: no encoder");
    }
    // Over-long inputs are cut as EmbedTokens cuts them (keeping the last
    // id, </s> or [SEP]); a type1_from past the cut means none.
    const std::vector<std::vector<int32_t>>* run = &ids;
    std::vector<std::vector<int32_t>> cut;
    CutToMaxTokens(ids, &cut, &run);
    const size_t labels = static_cast<size_t>(info_.num_labels);
    std::vector<float> logits(ids.size() * labels);
    if (!ids.empty()) {
      std::lock_guard<std::mutex> lock(engine_.mu);
      FLOE_RETURN_IF_ERROR(engine_.engine->Classify(*run, logits.data(), type1_from));
    }
    std::vector<std::vector<float>> out(ids.size());
    for (size_t i = 0; i < ids.size(); ++i) {
      out[i].assign(logits.begin() + i * labels, logits.begin() + (i + 1) * labels);
    }
    return out;
  }

  StatusOr<std::vector<int32_t>> Tokenize(std::string_view text,
                                          const EmbedParams& params) const override {
    FLOE_ASSIGN_OR_RETURN(const std::string* prompt, FindPrompt(params.prompt_name));
    std::string full;
    if (prompt && !prompt->empty()) {
      full.reserve(prompt->size() + text.size());
      full.append(*prompt).append(text);
      text = full;
    }
    const size_t max_tokens = Limit(params);
    if (!params.truncate) {
      FLOE_ASSIGN_OR_RETURN(size_t n, tokenizer_->CountTokens(text));
      if (n > max_tokens) {
        return InvalidArgumentError("input has " + std::to_string(n) +
                                    " tokens, over the model's maximum of " +
                                    std::to_string(max_tokens) +
                                    " (truncate is false; set it true to cut the input)");
      }
    } else if (params.truncate_left) {
      FLOE_ASSIGN_OR_RETURN(std::vector<int32_t> ids, tokenizer_->Encode(text, 0));
      FLOE_RETURN_IF_ERROR(KeepTail(single_, max_tokens, &ids));
      return ids;
    }
    return tokenizer_->Encode(text, max_tokens);
  }

  StatusOr<std::vector<std::vector<float>>> Embed(
      const std::vector<EmbedInput>& inputs) override {
    std::vector<std::vector<int32_t>> ids;
    FLOE_RETURN_IF_ERROR(TokenizeInputs(inputs, &ids));
    std::vector<int32_t> skip;
    if (!info_.include_prompt) {
      skip.resize(inputs.size());
      for (size_t i = 0; i < inputs.size(); ++i) {
        FLOE_ASSIGN_OR_RETURN(skip[i], PromptTokensExcluded(inputs[i].params));
      }
    }
    std::vector<float> pooled;
    FLOE_RETURN_IF_ERROR(RunEngine(ids, skip, &pooled));
    std::vector<std::vector<float>> out(inputs.size());
    for (size_t i = 0; i < inputs.size(); ++i) {
      FLOE_RETURN_IF_ERROR(Finish(pooled, i, inputs[i].params, &out[i]));
    }
    return out;
  }

  StatusOr<std::vector<TokenVectors>> EmbedAll(const std::vector<EmbedInput>& inputs) override {
    std::vector<std::vector<int32_t>> ids;
    FLOE_RETURN_IF_ERROR(TokenizeInputs(inputs, &ids));
    return RunHidden(ids);
  }

  StatusOr<std::vector<TokenVectors>> EmbedAllTokens(const std::vector<std::vector<int32_t>>& ids,
                                                     const EmbedParams& params) override {
    FLOE_RETURN_IF_ERROR(CheckTokenInputs(ids, params));
    const std::vector<std::vector<int32_t>>* run = &ids;
    std::vector<std::vector<int32_t>> cut;
    CutToMaxTokens(ids, &cut, &run, params.truncate_left);
    return RunHidden(*run);
  }

  StatusOr<int32_t> PromptTokensExcluded(const EmbedParams& params) const override {
    if (info_.include_prompt) return 0;
    const auto& st = model_->st;
    const std::string& use = params.prompt_name.empty() ? st.default_prompt_name
                                                        : params.prompt_name;
    FLOE_RETURN_IF_ERROR(FindPrompt(use).status());
    auto it = prompt_tokens_.find(use);
    return it == prompt_tokens_.end() ? 0 : it->second;
  }

  StatusOr<std::vector<std::vector<float>>> EmbedTokens(
      const std::vector<std::vector<int32_t>>& ids, const EmbedParams& params,
      const std::vector<int32_t>& pool_skip) override {
    FLOE_RETURN_IF_ERROR(CheckTokenInputs(ids, params));
    if (!pool_skip.empty() && pool_skip.size() != ids.size()) {
      return InvalidArgumentError("pool_skip has " + std::to_string(pool_skip.size()) +
                                  " entries for " + std::to_string(ids.size()) + " inputs");
    }
    const std::vector<std::vector<int32_t>>* run = &ids;
    std::vector<std::vector<int32_t>> cut;
    CutToMaxTokens(ids, &cut, &run, params.truncate_left);
    std::vector<float> pooled;
    FLOE_RETURN_IF_ERROR(RunEngine(*run, pool_skip, &pooled));
    std::vector<std::vector<float>> out(ids.size());
    for (size_t i = 0; i < ids.size(); ++i) {
      FLOE_RETURN_IF_ERROR(Finish(pooled, i, params, &out[i]));
    }
    return out;
  }

 private:
  friend std::shared_ptr<SharedEngine> floe::EngineOf(const std::shared_ptr<Embedder>&);

  // Each input tokenized with its params, on the pool; the first failure
  // names its input.
  Status TokenizeInputs(const std::vector<EmbedInput>& inputs,
                        std::vector<std::vector<int32_t>>* ids) {
    for (const auto& in : inputs) FLOE_RETURN_IF_ERROR(CheckParams(in.params));
    if (inputs.size() == 1) {  // one text (batch 1): on this thread, no pool, no staging
      StatusOr<std::vector<int32_t>> one = Tokenize(inputs[0].text, inputs[0].params);
      if (!one.ok()) return one.status().WithPrefix("input 0");
      ids->clear();
      ids->push_back(std::move(one).value());
      return OkStatus();
    }
    std::vector<StatusOr<std::vector<int32_t>>> tokenized(inputs.size(),
                                                         Status(StatusCode::kInternal, "not run"));
    Pool().ParallelFor(inputs.size(), [&](size_t i) {
      tokenized[i] = Tokenize(inputs[i].text, inputs[i].params);
    });
    ids->assign(inputs.size(), {});
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (!tokenized[i].ok()) {
        return tokenized[i].status().WithPrefix("input " + std::to_string(i));
      }
      (*ids)[i] = std::move(tokenized[i]).value();
    }
    return OkStatus();
  }

  Status CheckTokenInputs(const std::vector<std::vector<int32_t>>& ids,
                          const EmbedParams& params) const {
    FLOE_RETURN_IF_ERROR(CheckParams(params));
    for (size_t i = 0; i < ids.size(); ++i) {
      if (static_cast<int>(ids[i].size()) > info_.max_tokens && !params.truncate) {
        return InvalidArgumentError("input " + std::to_string(i) + " has " +
                                    std::to_string(ids[i].size()) +
                                    " tokens, over the model's maximum of " +
                                    std::to_string(info_.max_tokens));
      }
    }
    return OkStatus();
  }

  size_t Limit(const EmbedParams& p) const {
    const int max = p.max_tokens > 0 ? std::min(p.max_tokens, info_.max_tokens) : info_.max_tokens;
    return static_cast<size_t>(max);
  }

  StatusOr<const std::string*> FindPrompt(const std::string& name) const {
    const auto& st = model_->st;
    const std::string& use = name.empty() ? st.default_prompt_name : name;
    if (use.empty()) return static_cast<const std::string*>(nullptr);
    auto it = st.prompts.find(use);
    if (it == st.prompts.end()) {
      std::string known;
      for (const auto& [n, t] : st.prompts) known += (known.empty() ? "" : ", ") + n;
      return InvalidArgumentError("unknown prompt_name " + Quoted(use) + " (the model has: " +
                                  (known.empty() ? std::string("none") : known) + ")");
    }
    return &it->second;
  }

  Status CheckParams(const EmbedParams& p) const {
    if (p.dimensions < 0 || p.dimensions > info_.hidden_size) {
      return InvalidArgumentError("dimensions must be between 1 and " +
                                  std::to_string(info_.hidden_size) + ", got " +
                                  std::to_string(p.dimensions));
    }
    return FindPrompt(p.prompt_name).status();
  }

  // The prompt's length as sentence-transformers measures it for
  // include_prompt false: tokenized alone, less a trailing special token.
  StatusOr<int32_t> CountPromptTokens(const std::string& prompt) const {
    if (prompt.empty()) return 0;
    FLOE_ASSIGN_OR_RETURN(std::vector<int32_t> ids,
                          tokenizer_->Encode(prompt, static_cast<size_t>(info_.max_tokens)));
    if (ids.empty()) return 0;
    const int32_t last = ids.back();
    const bool special = last == tokenizer_->sep_id() || last == tokenizer_->cls_id() ||
                         last == tokenizer_->pad_id() || last == tokenizer_->unk_id();
    return static_cast<int32_t>(ids.size()) - (special ? 1 : 0);
  }

  // Token inputs over the limit are truncated keeping the last id ([SEP]),
  // and with `left` the first one ([CLS]) and the tail: *run points at ids,
  // or at *cut when one was cut.
  void CutToMaxTokens(const std::vector<std::vector<int32_t>>& ids,
                      std::vector<std::vector<int32_t>>* cut,
                      const std::vector<std::vector<int32_t>>** run, bool left = false) const {
    const size_t max = static_cast<size_t>(info_.max_tokens);
    for (size_t i = 0; i < ids.size(); ++i) {
      if (ids[i].size() > max) {
        if (cut->empty()) *cut = ids;
        std::vector<int32_t>& c = (*cut)[i];
        if (left && max > 1) {
          c.erase(c.begin() + 1, c.end() - static_cast<ptrdiff_t>(max - 1));
        } else {
          c.resize(max);
          c.back() = ids[i].back();
        }
        *run = cut;
      }
    }
  }

  StatusOr<std::vector<TokenVectors>> RunHidden(const std::vector<std::vector<int32_t>>& ids) {
    FLOE_RETURN_IF_ERROR(CheckCanEmbed());
    std::vector<std::vector<float>> rows;
    if (!ids.empty()) {
      std::lock_guard<std::mutex> lock(engine_.mu);
      FLOE_RETURN_IF_ERROR(engine_.engine->EmbedHidden(ids, &rows));
    }
    std::vector<TokenVectors> out(ids.size());
    for (size_t i = 0; i < ids.size(); ++i) {
      out[i].tokens = static_cast<int>(ids[i].size());
      out[i].dimension = info_.hidden_size;
      out[i].values = std::move(rows[i]);
    }
    return out;
  }

  Status CheckCanEmbed() const {
    if (info_.task == "classify") {
      return FailedPreconditionError(
          "the model at " + info_.path + " is a classifier (" + info_.model_type + ", " +
          std::to_string(info_.num_labels) +
          " labels): it scores inputs (Classify, /rerank, /predict) and has no embeddings");
    }
    if (!engine_.engine) {
      return FailedPreconditionError("this Embedder was opened with tokenizer_only: no encoder");
    }
    return OkStatus();
  }

  Status RunEngine(const std::vector<std::vector<int32_t>>& ids,
                   const std::vector<int32_t>& pool_skip, std::vector<float>* pooled) {
    FLOE_RETURN_IF_ERROR(CheckCanEmbed());
    pooled->assign(ids.size() * static_cast<size_t>(info_.hidden_size), 0.0f);
    if (ids.empty()) return OkStatus();
    std::lock_guard<std::mutex> lock(engine_.mu);
    return engine_.engine->EmbedPooled(ids, pooled->data(), pool_skip);
  }

  Status Finish(const std::vector<float>& pooled, size_t i, const EmbedParams& p,
                std::vector<float>* out) const {
    const size_t h = static_cast<size_t>(info_.hidden_size);
    return PostprocessEmbedding(std::span<const float>(pooled.data() + i * h, h), p.dimensions,
                                p.normalize, out);
  }

  ThreadPool& Pool() {
    std::call_once(pool_once_, [this] { pool_ = std::make_unique<ThreadPool>(); });
    return *pool_;
  }

  std::unique_ptr<ModelFolder> model_;
  std::unique_ptr<Tokenizer> tokenizer_;
  SharedEngine engine_;  // its lock: the engine runs one forward at a time
  std::once_flag pool_once_;
  std::unique_ptr<ThreadPool> pool_;
  ModelInfo info_;
  std::map<std::string, int32_t> prompt_tokens_;  // include_prompt false: per prompt name
  SingleTemplate single_;  // where the template's specials are (left truncation)
};

}  // namespace

std::shared_ptr<SharedEngine> EngineOf(const std::shared_ptr<Embedder>& embedder) {
  auto* impl = dynamic_cast<EmbedderImpl*>(embedder.get());
  if (impl == nullptr) return std::make_shared<SharedEngine>();  // no engine
  return std::shared_ptr<SharedEngine>(embedder, &impl->engine_);
}

StatusOr<std::unique_ptr<Embedder>> Embedder::Open(const std::string& model_path,
                                                   const EmbedderOptions& options) {
  auto e = std::make_unique<EmbedderImpl>();
  // Loaded on a short-lived thread: the OpenMP threads that packing the
  // weights starts exit with it, so whichever thread runs forwards later
  // owns the process's only OpenMP team. With two teams there are more
  // OpenMP threads than cores, and libgomp then throttles its spin-waits and
  // puts threads to sleep at every barrier (one 50-token text: 50 ms served
  // against 41 ms bare, on 2 cores).
  Status loaded;
  std::thread([&] { loaded = e->Init(model_path, options); }).join();
  FLOE_RETURN_IF_ERROR(loaded.WithPrefix("opening model '" + model_path + "'"));
  return std::unique_ptr<Embedder>(std::move(e));
}

}  // namespace floe
