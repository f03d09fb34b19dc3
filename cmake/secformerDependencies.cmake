# Finds secformer's dependencies (Debian 12: xtensor-dev xtl-dev libxsimd-dev libboost-dev
# libasio-dev libssl-dev libutf8proc-dev). Used by the build and, through secformerConfig.cmake, by consumers.
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

# utf8proc (a compiled C library): Unicode normalization and character categories for the
# tokenizers in <secformer/text/> (target secformer::text).
if(NOT TARGET secformer_utf8proc)
  find_path(SECFORMER_UTF8PROC_INCLUDE_DIR utf8proc.h)
  find_library(SECFORMER_UTF8PROC_LIBRARY NAMES utf8proc)
  if(NOT SECFORMER_UTF8PROC_INCLUDE_DIR OR NOT SECFORMER_UTF8PROC_LIBRARY)
    message(FATAL_ERROR "secformer: utf8proc (utf8proc.h, libutf8proc) not found; install libutf8proc-dev")
  endif()
  add_library(secformer_utf8proc UNKNOWN IMPORTED)
  set_target_properties(secformer_utf8proc PROPERTIES
    IMPORTED_LOCATION "${SECFORMER_UTF8PROC_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${SECFORMER_UTF8PROC_INCLUDE_DIR}")
endif()
