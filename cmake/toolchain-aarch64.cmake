# Cross build for aarch64 (ARM64) Linux from an x86-64 Debian 12: Debian's cross
# compiler (g++-aarch64-linux-gnu) against an arm64 Debian root holding floe's
# libraries (oneDNN, utf8proc, nlohmann json, cpp-httplib, libcurl, OpenSSL, GoogleTest),
# and qemu-user running the test binaries, so that ctest works as on an Arm machine.
# scripts/arm64-test.sh makes the root and configures with this file (`make arm64`):
#   cmake -S . -B build-arm64 -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-aarch64.cmake \
#         -DFLOE_ARM64_SYSROOT=/path/to/arm64-root
# FLOE_ARM64_SYSROOT may also come from the environment.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

if(NOT FLOE_ARM64_SYSROOT)
  set(FLOE_ARM64_SYSROOT "$ENV{FLOE_ARM64_SYSROOT}")
endif()
if(NOT FLOE_ARM64_SYSROOT OR NOT EXISTS "${FLOE_ARM64_SYSROOT}/usr/lib/aarch64-linux-gnu")
  message(FATAL_ERROR "toolchain-aarch64: FLOE_ARM64_SYSROOT='${FLOE_ARM64_SYSROOT}' is not "
                      "an arm64 Debian root (scripts/arm64-test.sh makes one)")
endif()
# try_compile projects read this file again: pass the root on to them.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES FLOE_ARM64_SYSROOT)

set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_SYSROOT "${FLOE_ARM64_SYSROOT}")
# Debian's cross compiler looks for the C++ headers at its own place under the
# sysroot (usr/aarch64-linux-gnu/include/c++); the arm64 root has them where a
# native arm64 g++ looks (libstdc++-12-dev:arm64), so name those.
file(GLOB _floe_cxx_dirs "${FLOE_ARM64_SYSROOT}/usr/include/c++/[0-9]*")
if(_floe_cxx_dirs)
  list(GET _floe_cxx_dirs -1 _floe_cxx)
  get_filename_component(_floe_cxx_ver "${_floe_cxx}" NAME)
  set(CMAKE_CXX_STANDARD_INCLUDE_DIRECTORIES
      "${_floe_cxx}"
      "${FLOE_ARM64_SYSROOT}/usr/include/aarch64-linux-gnu/c++/${_floe_cxx_ver}"
      "${_floe_cxx}/backward")
endif()

set(CMAKE_FIND_ROOT_PATH "${FLOE_ARM64_SYSROOT}")
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
# pkg-config (utf8proc, cpp-httplib) reads the root's .pc files, paths prefixed by it.
set(ENV{PKG_CONFIG_LIBDIR}
    "${FLOE_ARM64_SYSROOT}/usr/lib/aarch64-linux-gnu/pkgconfig:${FLOE_ARM64_SYSROOT}/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_SYSROOT_DIR} "${FLOE_ARM64_SYSROOT}")
set(ENV{PKG_CONFIG_PATH} "")

# ctest (and gtest_discover_tests at build time) runs the binaries under qemu-user,
# with the root's dynamic loader and libraries.
find_program(FLOE_QEMU_AARCH64 qemu-aarch64 qemu-aarch64-static)
if(NOT FLOE_QEMU_AARCH64)
  message(FATAL_ERROR "toolchain-aarch64: qemu-aarch64 not found (apt-get install qemu-user)")
endif()
set(CMAKE_CROSSCOMPILING_EMULATOR "${FLOE_QEMU_AARCH64};-L;${FLOE_ARM64_SYSROOT}")
