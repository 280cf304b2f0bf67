# `cmake --install BUILD [--prefix P]`: the floe binary, the public headers, libfloe
# (the in-process Embedder, one shared library) and a CMake package, so another
# project can write
#   find_package(floe 0.1 REQUIRED)
#   target_link_libraries(app PRIVATE floe::floe)
# Included at the end of the top-level CMakeLists.txt.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

# libfloe.so: every object of floe_api (the Embedder) plus what it pulls in from the
# layers below. The layers are static and position-independent; their own
# dependencies (oneDNN, utf8proc, libcurl, OpenSSL, OpenMP) stay shared libraries
# that libfloe.so names, so a consumer links floe::floe alone.
file(WRITE ${CMAKE_BINARY_DIR}/floe_shared_stub.cc "// libfloe: objects come from floe_api\n")
add_library(floe_shared SHARED ${CMAKE_BINARY_DIR}/floe_shared_stub.cc)
target_link_libraries(floe_shared PRIVATE "$<LINK_LIBRARY:WHOLE_ARCHIVE,floe_api>")
set_target_properties(floe_shared PROPERTIES
  OUTPUT_NAME floe
  EXPORT_NAME floe
  VERSION ${PROJECT_VERSION}
  SOVERSION ${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR})
# <floe/embedder.h> and the <floe/runtime_options.h>, <floe/status.h> and <floe/export.h> it
# includes.
target_include_directories(floe_shared INTERFACE $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
target_compile_features(floe_shared INTERFACE cxx_std_20)

install(TARGETS floe RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS floe_shared EXPORT floeTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
file(GLOB floe_public_headers ${CMAKE_SOURCE_DIR}/include/floe/*.h)
install(FILES ${floe_public_headers} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/floe)

set(FLOE_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/floe)
install(EXPORT floeTargets NAMESPACE floe:: DESTINATION ${FLOE_CMAKE_DIR})
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/floeConfig.cmake.in
  ${CMAKE_BINARY_DIR}/floeConfig.cmake INSTALL_DESTINATION ${FLOE_CMAKE_DIR})
# 0.x: a minor version may break the API, so only the same minor is compatible.
write_basic_package_version_file(${CMAKE_BINARY_DIR}/floeConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/floeConfig.cmake ${CMAKE_BINARY_DIR}/floeConfigVersion.cmake
  DESTINATION ${FLOE_CMAKE_DIR})

# Tests run by ctest that are shell scripts (install, multi-host deployment).
if(FLOE_BUILD_TESTS)
  include(${CMAKE_CURRENT_LIST_DIR}/shell_tests.cmake)
endif()
