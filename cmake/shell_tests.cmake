# ctest entries that are shell scripts. Exit code 77 = skipped (a prerequisite such
# as root or network namespaces is missing), reported as "Skipped", not failed.
add_test(NAME install_consumer
  COMMAND bash ${CMAKE_SOURCE_DIR}/tests/install/install_test.sh ${CMAKE_BINARY_DIR})
set_tests_properties(install_consumer PROPERTIES TIMEOUT 300 SKIP_RETURN_CODE 77)

if(EXISTS ${CMAKE_SOURCE_DIR}/tests/deploy/multihost_test.sh AND TARGET floe_serve)
  add_test(NAME deploy_multihost
    COMMAND bash ${CMAKE_SOURCE_DIR}/tests/deploy/multihost_test.sh $<TARGET_FILE:floe>)
  # Owns network namespaces and fixed addresses: never two at once.
  set_tests_properties(deploy_multihost PROPERTIES TIMEOUT 240 SKIP_RETURN_CODE 77
                       RUN_SERIAL TRUE)
endif()

# The Kubernetes manifests and Dockerfiles, offline (PyPI's kubernetes-validate, hadolint).
add_test(NAME deploy_manifests
  COMMAND bash ${CMAKE_SOURCE_DIR}/tests/deploy/manifests_test.sh)
set_tests_properties(deploy_manifests PROPERTIES TIMEOUT 300)
