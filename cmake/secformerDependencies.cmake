# Finds secformer's dependencies (Debian 12: xtensor-dev xtl-dev libxsimd-dev libboost-dev
# libasio-dev libssl-dev). Used by the build and, through secformerConfig.cmake, by consumers.
include(CMakeFindDependencyMacro)
set(XTENSOR_USE_XSIMD ON)
find_dependency(Threads)
find_dependency(xtl)      # before xsimd/xtensor, or -lxtl fails to link
find_dependency(xsimd)
find_dependency(xtensor)
find_dependency(Boost 1.74)
find_dependency(OpenSSL)

if(NOT TARGET secformer_asio)
  find_path(SECFORMER_ASIO_INCLUDE_DIR asio.hpp)
  if(NOT SECFORMER_ASIO_INCLUDE_DIR)
    message(FATAL_ERROR "secformer: standalone Asio (asio.hpp) not found; install libasio-dev")
  endif()
  add_library(secformer_asio INTERFACE IMPORTED)
  set_target_properties(secformer_asio PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${SECFORMER_ASIO_INCLUDE_DIR}"
    INTERFACE_COMPILE_DEFINITIONS "ASIO_STANDALONE"
    INTERFACE_LINK_LIBRARIES "Threads::Threads")
endif()
