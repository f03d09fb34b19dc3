# Install and export rules: find_package(secformer) after `cmake --install`.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(DIRECTORY "${PROJECT_SOURCE_DIR}/include/secformer" DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}")
install(TARGETS secformer secformer_net secformer_text EXPORT secformerTargets)
install(EXPORT secformerTargets NAMESPACE secformer:: DESTINATION "${CMAKE_INSTALL_LIBDIR}/cmake/secformer")
configure_package_config_file("${PROJECT_SOURCE_DIR}/cmake/secformerConfig.cmake.in"
  "${PROJECT_BINARY_DIR}/secformerConfig.cmake"
  INSTALL_DESTINATION "${CMAKE_INSTALL_LIBDIR}/cmake/secformer")
write_basic_package_version_file("${PROJECT_BINARY_DIR}/secformerConfigVersion.cmake"
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion ARCH_INDEPENDENT)
install(FILES "${PROJECT_BINARY_DIR}/secformerConfig.cmake" "${PROJECT_BINARY_DIR}/secformerConfigVersion.cmake"
  "${PROJECT_SOURCE_DIR}/cmake/secformerDependencies.cmake"
  DESTINATION "${CMAKE_INSTALL_LIBDIR}/cmake/secformer")
