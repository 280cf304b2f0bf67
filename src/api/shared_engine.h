// The engine behind an opened Embedder, for the one other caller inside floe
// that runs it: an in-process LocalReplica (src/replica), which batches token
// ids from many requests and postprocesses each vector itself, straight into
// its answer, instead of going through the facade's EmbedTokens.
#pragma once

#include <memory>
#include <mutex>

#include "engine/engine.h"
#include "floe/embedder.h"

namespace floe {

// An engine and the lock that runs it one forward at a time (Engine is not
// thread-safe). The Embedder's own Embed/EmbedTokens/Classify/EmbedAll take
// the same lock, so the facade and a replica may share one engine.
struct SharedEngine {
  std::unique_ptr<Engine> engine;  // null: opened with tokenizer_only
  std::mutex mu;
};

// The engine of an Embedder that Embedder::Open made, kept alive with the
// Embedder itself (the returned pointer shares its ownership). Never null;
// its `engine` is null for a tokenizer_only Embedder.
std::shared_ptr<SharedEngine> EngineOf(const std::shared_ptr<Embedder>& embedder);

}  // namespace floe
