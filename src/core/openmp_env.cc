#include "core/openmp_env.h"

#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

extern char** environ;

namespace floe {
namespace {

// The value of NAME in envp, or null where it is absent or empty.
const char* Find(char** envp, const char* name) {
  const size_t n = std::strlen(name);
  for (char** e = envp; e != nullptr && *e != nullptr; ++e) {
    if (std::strncmp(*e, name, n) == 0 && (*e)[n] == '=') {
      return (*e)[n + 1] != '\0' ? *e + n + 1 : nullptr;
    }
  }
  return nullptr;
}

}  // namespace

bool WantsOpenMpDefaults(char** envp) {
  if (Find(envp, "GOMP_SPINCOUNT") != nullptr || Find(envp, "OMP_WAIT_POLICY") != nullptr) {
    return false;
  }
  const char* off = Find(envp, "FLOE_OPENMP_DEFAULTS");
  return off == nullptr || std::strcmp(off, "0") != 0;
}

bool ApplyOpenMpDefaults() {
  if (!WantsOpenMpDefaults(environ)) return false;
  return setenv("GOMP_SPINCOUNT", kOpenMpSpinCount, /*overwrite=*/1) == 0;
}

void ReexecWithOpenMpDefaults(int /*argc*/, char** argv, char** envp) {
  if (!WantsOpenMpDefaults(envp)) return;
  // Before libstdc++'s constructors: C only.
  static char spin[sizeof("GOMP_SPINCOUNT=") + sizeof(kOpenMpSpinCount)] = "GOMP_SPINCOUNT=";
  std::strcat(spin, kOpenMpSpinCount);
  size_t n = 0;
  while (envp != nullptr && envp[n] != nullptr) ++n;
  char** env = static_cast<char**>(std::malloc((n + 2) * sizeof(char*)));
  if (env == nullptr) return;
  size_t k = 0;
  for (size_t i = 0; i < n; ++i) {
    // An empty GOMP_SPINCOUNT= counts as unset: replaced.
    if (std::strncmp(envp[i], "GOMP_SPINCOUNT=", 15) != 0) env[k++] = envp[i];
  }
  env[k++] = spin;
  env[k] = nullptr;
  execve("/proc/self/exe", argv, env);  // returns only on failure
  std::free(env);
}

bool OpenMpSpinsLong() {
  return Find(environ, "GOMP_SPINCOUNT") == nullptr && Find(environ, "OMP_WAIT_POLICY") == nullptr;
}

std::string OpenMpWaitSummary() {
  const char* spin = Find(environ, "GOMP_SPINCOUNT");
  const char* policy = Find(environ, "OMP_WAIT_POLICY");
  if (OpenMpSpinsLong()) {
    return std::string("openmp: libgomp's own wait policy (idle threads spin 300,000 "
                       "pauses before they sleep; GOMP_SPINCOUNT=") +
           kOpenMpSpinCount + " in the environment bounds it, docs/cpu-performance.md)";
  }
  std::string s = "openmp:";
  if (spin != nullptr) s += std::string(" GOMP_SPINCOUNT=") + spin;
  if (policy != nullptr) s += std::string(" OMP_WAIT_POLICY=") + policy;
  if (policy == nullptr && spin != nullptr && std::strcmp(spin, kOpenMpSpinCount) == 0) {
    return s + " (floe's default: idle threads sleep soon; GOMP_SPINCOUNT or "
               "OMP_WAIT_POLICY override it)";
  }
  return s + " (from the environment)";
}

}  // namespace floe
