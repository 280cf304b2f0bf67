// floe._floe: floe's in-process engine (the public floe::Embedder) for Python.
// python/floe/__init__.py wraps it in sentence-transformers' `encode` signature.
// The engine runs with the GIL released; vectors land in one buffer that the
// returned numpy array owns (a capsule frees it), so nothing is copied again;
// one text's vector and per-token matrices are the engine's own vectors,
// moved under a capsule.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "floe/embedder.h"

namespace nb = nanobind;

namespace {

// INVALID_ARGUMENT / OUT_OF_RANGE are the caller's input: ValueError; the
// rest (missing files, engine failures) RuntimeError. floe's message is kept.
[[noreturn]] void Raise(const floe::Status& s) {
  const std::string msg = s.ToString();
  if (s.code() == floe::StatusCode::kInvalidArgument || s.code() == floe::StatusCode::kOutOfRange) {
    throw nb::value_error(msg.c_str());
  }
  throw std::runtime_error(msg);
}

template <typename T>
T Take(floe::StatusOr<T>&& r) {
  if (!r.ok()) Raise(r.status());
  return std::move(r).value();
}

using Matrix = nb::ndarray<nb::numpy, float, nb::ndim<2>, nb::c_contig>;
using Vector = nb::ndarray<nb::numpy, float, nb::ndim<1>, nb::c_contig>;

class PyEmbedder {
 public:
  PyEmbedder(const std::string& model, const std::string& device, const std::string& dtype,
             int threads) {
    if (threads < 0) throw nb::value_error("threads must be >= 0 (0 = all cores)");
    floe::EmbedderOptions options;
    options.device = device;
    options.dtype = dtype;
    options.num_threads = threads;
    floe::StatusOr<std::unique_ptr<floe::Embedder>> opened = [&] {
      nb::gil_scoped_release release;
      return floe::Embedder::Open(model, options);
    }();
    embedder_ = Take(std::move(opened));
  }

  const floe::ModelInfo& info() const { return embedder_->info(); }

  // Encode's options as EmbedParams (ValueError for a truncate_dim outside
  // 0..dimension). normalize: -1 = the folder's default, 0/1 = off/on.
  // truncate_dim 0 = full. With the default normalization the full vector is
  // normalized and then cut, as sentence-transformers does; with normalize=1
  // the cut vector is normalized (the engine cuts, then normalizes).
  floe::EmbedParams Params(const std::string& prompt_name, int normalize, int truncate_dim) const {
    const int full = info().hidden_size;
    if (truncate_dim < 0 || truncate_dim > full) {
      throw nb::value_error(("truncate_dim " + std::to_string(truncate_dim) +
                             " is not in 1.." + std::to_string(full) + " (the model's dimension)")
                                .c_str());
    }
    floe::EmbedParams params;
    params.prompt_name = prompt_name;
    params.normalize = normalize < 0 ? info().normalize : normalize == 1;
    if (normalize == 1) params.dimensions = truncate_dim;
    return params;
  }

  // Embeds texts in chunks of batch_size into one (n, dim) float32 array,
  // options as Params. progress(done) is called (with the GIL) after each
  // chunk.
  Matrix Encode(const std::vector<std::string>& texts, int batch_size,
                const std::string& prompt_name, int normalize, int truncate_dim,
                nb::object progress) {
    if (batch_size < 1) throw nb::value_error("batch_size must be >= 1");
    const floe::EmbedParams params = Params(prompt_name, normalize, truncate_dim);
    const size_t dim = truncate_dim > 0 ? truncate_dim : info().hidden_size;
    const size_t n = texts.size();
    std::unique_ptr<float[]> data(new float[std::max<size_t>(n * dim, 1)]);
    std::vector<floe::EmbedInput> chunk;
    for (size_t begin = 0; begin < n; begin += batch_size) {
      const size_t end = std::min(n, begin + static_cast<size_t>(batch_size));
      chunk.clear();
      for (size_t i = begin; i < end; ++i) chunk.push_back({texts[i], params});
      floe::Status failed;
      {
        nb::gil_scoped_release release;
        auto vectors = embedder_->Embed(chunk);
        if (!vectors.ok()) {
          failed = vectors.status();
        } else {
          for (size_t i = 0; i < vectors->size(); ++i) {
            const std::vector<float>& v = (*vectors)[i];
            if (v.size() < dim) {
              failed = floe::Status(floe::StatusCode::kInternal, "engine returned a short vector");
              break;
            }
            std::memcpy(data.get() + (begin + i) * dim, v.data(), dim * sizeof(float));
          }
        }
      }
      if (!failed.ok()) Raise(failed);
      if (!progress.is_none()) progress(end - begin);
    }
    float* raw = data.release();
    nb::capsule owner(raw, [](void* p) noexcept { delete[] static_cast<float*>(p); });
    return Matrix(raw, {n, dim}, owner);
  }

  // One text (encode(str)): a 1-D (dim,) float32 array that wraps the
  // engine's own vector (moved under a capsule, not copied), with Encode's
  // options and checks. The batch-1 path: no chunk loop, no second buffer.
  Vector EncodeOne(std::string text, const std::string& prompt_name, int normalize,
                   int truncate_dim) {
    floe::EmbedParams params = Params(prompt_name, normalize, truncate_dim);
    const size_t dim = truncate_dim > 0 ? truncate_dim : info().hidden_size;
    std::vector<floe::EmbedInput> one(1);
    one[0].text = std::move(text);
    one[0].params = std::move(params);
    floe::StatusOr<std::vector<std::vector<float>>> vectors = [&] {
      nb::gil_scoped_release release;
      return embedder_->Embed(one);
    }();
    if (!vectors.ok()) Raise(vectors.status());
    if (vectors->size() != 1 || (*vectors)[0].size() < dim) {
      Raise(floe::Status(floe::StatusCode::kInternal, "engine returned no vector or a short one"));
    }
    auto* owned = new std::vector<float>(std::move((*vectors)[0]));
    nb::capsule owner(owned, [](void* p) noexcept { delete static_cast<std::vector<float>*>(p); });
    return Vector(owned->data(), {dim}, owner);
  }

  // Per-token vectors (sentence-transformers' output_value="token_embeddings"):
  // for each text one (tokens, dim) float32 array of the encoder's last hidden
  // state, every token of Tokenize(text) (specials and the prompt included).
  // Texts go to EmbedAll in chunks of batch_size; each array wraps the engine's
  // own vector (moved, not copied), which its capsule frees.
  nb::list EncodeTokens(const std::vector<std::string>& texts, int batch_size,
                        const std::string& prompt_name, nb::object progress) {
    if (batch_size < 1) throw nb::value_error("batch_size must be >= 1");
    floe::EmbedParams params;
    params.prompt_name = prompt_name;
    const size_t n = texts.size();
    nb::list out;
    std::vector<floe::EmbedInput> chunk;
    for (size_t begin = 0; begin < n; begin += batch_size) {
      const size_t end = std::min(n, begin + static_cast<size_t>(batch_size));
      chunk.clear();
      for (size_t i = begin; i < end; ++i) chunk.push_back({texts[i], params});
      floe::StatusOr<std::vector<floe::TokenVectors>> all = [&] {
        nb::gil_scoped_release release;
        return embedder_->EmbedAll(chunk);
      }();
      if (!all.ok()) Raise(all.status());
      if (all->size() != end - begin) {
        Raise(floe::Status(floe::StatusCode::kInternal, "engine returned " +
                                                            std::to_string(all->size()) +
                                                            " token matrices for " +
                                                            std::to_string(end - begin) + " texts"));
      }
      for (floe::TokenVectors& tv : *all) {
        const size_t tokens = static_cast<size_t>(tv.tokens);
        const size_t dim = static_cast<size_t>(tv.dimension);
        if (tv.values.size() != tokens * dim) {
          Raise(floe::Status(floe::StatusCode::kInternal, "engine returned a token matrix of " +
                                                              std::to_string(tv.values.size()) +
                                                              " values, not tokens x dimension"));
        }
        auto* owned = new std::vector<float>(std::move(tv.values));
        nb::capsule owner(owned, [](void* p) noexcept { delete static_cast<std::vector<float>*>(p); });
        out.append(nb::cast(Matrix(owned->data(), {tokens, dim}, owner), nb::rv_policy::reference));
      }
      if (!progress.is_none()) progress(end - begin);
    }
    return out;
  }

  std::vector<std::vector<int32_t>> Tokenize(const std::vector<std::string>& texts,
                                             const std::string& prompt_name) const {
    floe::EmbedParams params;
    params.prompt_name = prompt_name;
    std::vector<std::vector<int32_t>> out;
    out.reserve(texts.size());
    floe::Status failed;
    {
      nb::gil_scoped_release release;
      for (const std::string& t : texts) {
        auto ids = embedder_->Tokenize(t, params);
        if (!ids.ok()) {
          failed = ids.status();
          break;
        }
        out.push_back(std::move(ids).value());
      }
    }
    if (!failed.ok()) Raise(failed);
    return out;
  }

  // Cross-encoder scores: each (a, b) pair through TokenizePair (the model's
  // pair template, truncated to max_seq_length) and Classify in chunks of
  // batch_size; one (n, num_labels) float32 array of raw logits.
  Matrix ClassifyPairs(const std::vector<std::pair<std::string, std::string>>& pairs,
                       int batch_size) {
    if (batch_size < 1) throw nb::value_error("batch_size must be >= 1");
    const size_t labels = std::max(info().num_labels, 1);
    const size_t n = pairs.size();
    std::unique_ptr<float[]> data(new float[std::max<size_t>(n * labels, 1)]);
    floe::Status failed;
    {
      nb::gil_scoped_release release;
      std::vector<std::vector<int32_t>> ids;
      std::vector<int32_t> type1_from;
      for (size_t begin = 0; begin < n && failed.ok(); begin += batch_size) {
        const size_t end = std::min(n, begin + static_cast<size_t>(batch_size));
        ids.clear();
        type1_from.clear();
        for (size_t i = begin; i < end && failed.ok(); ++i) {
          auto pair = embedder_->TokenizePair(pairs[i].first, pairs[i].second);
          if (!pair.ok()) {
            failed = pair.status();
            break;
          }
          ids.push_back(std::move(pair->ids));
          type1_from.push_back(pair->type1_from);
        }
        if (!failed.ok()) break;
        auto logits = embedder_->Classify(ids, type1_from);
        if (!logits.ok()) {
          failed = logits.status();
          break;
        }
        for (size_t i = 0; i < logits->size(); ++i) {
          if ((*logits)[i].size() != labels) {
            failed = floe::Status(floe::StatusCode::kInternal,
                                  "engine returned " + std::to_string((*logits)[i].size()) +
                                      " logits, the model has " + std::to_string(labels));
            break;
          }
          std::memcpy(data.get() + (begin + i) * labels, (*logits)[i].data(),
                      labels * sizeof(float));
        }
      }
    }
    if (!failed.ok()) Raise(failed);
    float* raw = data.release();
    nb::capsule owner(raw, [](void* p) noexcept { delete[] static_cast<float*>(p); });
    return Matrix(raw, {n, labels}, owner);
  }

 private:
  std::unique_ptr<floe::Embedder> embedder_;
};

}  // namespace

NB_MODULE(_floe, m) {
  m.doc() = "floe's in-process embedding engine (use floe.Embedder)";
  nb::class_<PyEmbedder>(m, "Engine")
      .def(nb::init<const std::string&, const std::string&, const std::string&, int>(),
           nb::arg("model"), nb::arg("device") = "cpu", nb::arg("dtype") = "float32",
           nb::arg("threads") = 0)
      .def("encode", &PyEmbedder::Encode, nb::arg("texts"), nb::arg("batch_size"),
           nb::arg("prompt_name"), nb::arg("normalize"), nb::arg("truncate_dim"),
           nb::arg("progress").none())
      .def("encode_one", &PyEmbedder::EncodeOne, nb::arg("text"), nb::arg("prompt_name"),
           nb::arg("normalize"), nb::arg("truncate_dim"))
      .def("encode_tokens", &PyEmbedder::EncodeTokens, nb::arg("texts"), nb::arg("batch_size"),
           nb::arg("prompt_name"), nb::arg("progress").none())
      .def("tokenize", &PyEmbedder::Tokenize, nb::arg("texts"), nb::arg("prompt_name") = "")
      .def("classify_pairs", &PyEmbedder::ClassifyPairs, nb::arg("pairs"), nb::arg("batch_size"))
      .def_prop_ro("task", [](const PyEmbedder& e) { return e.info().task; })
      .def_prop_ro("num_labels", [](const PyEmbedder& e) { return e.info().num_labels; })
      .def_prop_ro("labels", [](const PyEmbedder& e) { return e.info().labels; })
      .def_prop_ro("dimension", [](const PyEmbedder& e) { return e.info().hidden_size; })
      .def_prop_ro("max_seq_length", [](const PyEmbedder& e) { return e.info().max_tokens; })
      .def_prop_ro("normalize", [](const PyEmbedder& e) { return e.info().normalize; })
      .def_prop_ro("pooling", [](const PyEmbedder& e) { return e.info().pooling; })
      .def_prop_ro("prompt_names", [](const PyEmbedder& e) { return e.info().prompt_names; })
      .def_prop_ro("device", [](const PyEmbedder& e) { return e.info().device; })
      .def_prop_ro("dtype", [](const PyEmbedder& e) { return e.info().dtype; })
      .def_prop_ro("path", [](const PyEmbedder& e) { return e.info().path; });
}
