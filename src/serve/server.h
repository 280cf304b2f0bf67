// `floe serve`: loads the model, starts the replica(s), the gRPC and HTTP
// frontends, and runs until SIGTERM/SIGINT, then drains and returns.
#pragma once

#include "serve/options.h"

namespace floe {

// Returns the process exit code: 0 after a clean drain, 1 when startup failed
// (the reason is logged).
int RunServer(const ServeOptions& options);

}  // namespace floe
