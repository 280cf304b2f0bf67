// `floe worker` (internal): one engine replica in its own process, started by
// `floe serve --num-replicas N`. See src/replica/worker_server.h.
#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "cli/flags.h"
#include "replica/worker_server.h"

namespace floe::cli {

int RunWorker(int argc, char** argv) {
  WorkerOptions o;
  CLI::App app{"(internal) One engine replica serving floe.internal.Worker on a Unix socket; "
               "started by `floe serve`.",
               "floe worker"};
  app.add_option("--model,-m", o.model, "model folder or Hugging Face id")->required();
  app.add_option("--address", o.address, "unix:/path or unix-abstract:name")->required();
  app.add_option("--id", o.id, "replica number (for logs)");
  AddEngineFlags(app, &o.engine, "encoder threads (0: the pinned cores)");
  app.add_option("--cores", o.cores, "CPU list to pin to, e.g. 0-3 (empty: not pinned)");
  app.add_option("--gpu-memory-fraction", o.engine.gpu_memory_fraction,
                 "share of the GPU's memory this engine may hold (0: no limit)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--parent-pid", o.parent_pid, "exit when this parent dies");
  app.add_option("--status-fd", o.status_fd, "write READY / ERROR <message> here");
  std::string log_level;
  AddLogLevelFlag(app, &log_level);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  ApplyLogLevel(log_level);
  return RunWorkerProcess(o);
}

}  // namespace floe::cli
