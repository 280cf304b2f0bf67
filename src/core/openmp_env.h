// How long OpenMP's idle threads spin before they sleep: floe's default, set
// before the OpenMP runtime starts (docs/cpu-performance.md, "Under load").
//
// GNU libgomp (the runtime of Debian's oneDNN and of floe's kernels) reads
// GOMP_SPINCOUNT and OMP_WAIT_POLICY once, in its ELF constructor: when
// libgomp.so is loaded, i.e. before main() in a program linked with it and at
// import of the Python extension. With neither set, a thread waiting at a
// barrier or for the next parallel region spins 300,000 pause instructions
// (milliseconds on current x86 cores) before it sleeps. On a CPU shared with
// other processes that spinning costs the engine twice: the spinning thread
// burns its share of the CPU, and, never sleeping, it loses the wake-up
// preference of a sleeping one, so each of a forward pass's dozens of
// parallel regions can wait a scheduler time slice for a descheduled thread.
#pragma once

#include <string>

namespace floe {

// floe's GOMP_SPINCOUNT: about 60 us of spinning on a Sapphire Rapids-class
// Xeon (19 ns a pause iteration; the default 300,000 is 5-7 ms), so a thread
// left waiting (its partner descheduled, or the pass over) soon sleeps and
// gets the scheduler's wake-up preference back. Measured on MiniLM under load
// (docs/cpu-performance.md): 1,000-3,000 keep batch-1 latency near its quiet
// figure, 5,000-10,000 lose 2-10x of it at times, the default 50-200x;
// shorter than 3,000 costs quiet latency (1,000: +37%). python/floe/__init__.py
// repeats the value.
inline constexpr char kOpenMpSpinCount[] = "3000";

// Whether floe's default belongs in the environment `envp` (NAME=value
// entries, null-terminated): neither GOMP_SPINCOUNT nor OMP_WAIT_POLICY is
// set (the user's choice wins, whatever its value), nor FLOE_OPENMP_DEFAULTS=0.
bool WantsOpenMpDefaults(char** envp);

// Sets GOMP_SPINCOUNT=kOpenMpSpinCount where WantsOpenMpDefaults(environ).
// Returns whether it set it. Takes effect for libgomp only before libgomp is
// loaded (Python: before the extension is imported); processes started later
// inherit it. Calls setenv: run it before other threads exist.
bool ApplyOpenMpDefaults();

// From .preinit_array (FLOE_OPENMP_PREINIT): where WantsOpenMpDefaults(envp),
// executes /proc/self/exe again with argv and envp plus GOMP_SPINCOUNT, so
// that libgomp's constructor reads it. (A setenv that early is lost: libc
// resets its environment from envp after the preinit functions.) Returns,
// changing nothing, where the exec fails.
void ReexecWithOpenMpDefaults(int argc, char** argv, char** envp);

// Whether neither variable is set: libgomp then spins 300,000 pauses.
bool OpenMpSpinsLong();

// One line for the log: the process's wait settings and where they came from.
std::string OpenMpWaitSummary();

}  // namespace floe

// Put once in an executable's main file, at namespace scope: runs
// ReexecWithOpenMpDefaults from .preinit_array, which the dynamic loader runs
// before any shared library's constructor, so before libgomp's. Costs one
// exec of the binary at start (a few ms) where the user set neither variable.
// Not in a shared object: the linker refuses .preinit_array there.
#define FLOE_OPENMP_PREINIT()                                                        \
  [[gnu::used, gnu::section(".preinit_array")]] static void (*floe_openmp_preinit_)( \
      int, char**, char**) = ::floe::ReexecWithOpenMpDefaults
