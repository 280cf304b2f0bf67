// FLOE_EXPORT marks what libfloe.so exports. Everything else in the library is
// built with hidden visibility (-fvisibility=hidden, CMakeLists.txt), so a
// program that links floe::floe sees the public API of include/floe/ and
// nothing of floe's internals.
#pragma once

#if defined(_WIN32)
#define FLOE_EXPORT
#else
#define FLOE_EXPORT [[gnu::visibility("default")]]
#endif
