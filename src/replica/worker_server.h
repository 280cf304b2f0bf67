// `floe worker`: one engine replica in its own process. Started by the
// replica manager (ProcessReplica), never by hand. It loads the model, pins
// itself to its cores, runs a LocalReplica (the dynamic batcher) and serves
// the internal floe.internal.Worker gRPC service on a Unix socket.
//
// Start-up handshake: the worker writes one line to `status_fd`, "READY" once
// it listens, or "ERROR <message>" when it cannot start (then exits 3), and
// closes it. It exits when its parent dies (PR_SET_PDEATHSIG, plus a
// parent-pid check that closes the race before prctl), and on SIGTERM/SIGINT
// after answering what is queued.
#pragma once

#include <cstddef>
#include <string>

#include "floe/runtime_options.h"

namespace floe {

struct WorkerOptions {
  int id = 0;
  std::string model;
  // Device, dtype, threads (0 = the pinned cores' count), tokens per forward
  // pass and GPU memory share, handed to Embedder::Open as they come.
  RuntimeOptions engine;
  std::string cores;             // CPU list to pin to ("0-1,4"); "" = not pinned
  std::string address;           // gRPC address: "unix:/path" or "unix-abstract:name"
  int parent_pid = 0;            // 0 = do not watch the parent
  int status_fd = -1;            // -1 = no handshake (write to stdout instead)
};

// Runs until SIGTERM/SIGINT or parent death; returns the exit code (0 after a
// clean drain, 3 when the model or transport could not start).
int RunWorkerProcess(const WorkerOptions& options);

}  // namespace floe
