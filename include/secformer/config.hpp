// secformer/config.hpp: version, assertions, error types and feature switches.
// The top layer: includes only the standard library.
#pragma once

#include <stdexcept>
#include <string>

#define SECFORMER_VERSION_MAJOR 0
#define SECFORMER_VERSION_MINOR 1
#define SECFORMER_VERSION_PATCH 0
#define SECFORMER_VERSION_STRING "0.1.0"

// Range checks of approximations (values outside a protocol's documented input range) run in the
// plaintext fixed-point simulation (run_solo), in every build type, and throw range_error. The two
// parties of a secure run cannot see the values they compute on, so a secure run has no check: run
// the simulation on representative inputs first (tests/nn_models.cpp "[range]").

namespace secformer {

/// Base of every error the library throws. Messages never contain secret values.
struct error : std::runtime_error {
  using std::runtime_error::runtime_error;
};
/// A precondition on public data failed (shapes, parties, encodings, ranges).
struct usage_error : error {
  using error::error;
};
/// The peer or the dealer disconnected, timed out or sent a malformed message.
struct channel_error : error {
  using error::error;
};
/// The peer or the dealer closed the connection: usually the consequence of an error on its side,
/// so run_two_party and run_loopback report another role's error in its place when there is one.
struct disconnected_error : channel_error {
  using channel_error::channel_error;
};
/// A value lies outside the documented input range of an approximation (debug and simulation only).
struct range_error : error {
  using error::error;
};

namespace detail {
[[noreturn]] inline void assertion_failed(const char* expr, const char* file, int line, const std::string& msg) {
  throw usage_error(std::string("secformer: ") + msg + " (" + expr + ") at " + file + ":" + std::to_string(line));
}
}  // namespace detail

}  // namespace secformer

/// Checks a precondition on public data; throws secformer::usage_error with a message when it fails.
#define SECFORMER_ASSERT(cond, msg)                                                                   \
  do {                                                                                                \
    if (!(cond)) ::secformer::detail::assertion_failed(#cond, __FILE__, __LINE__, (msg));             \
  } while (false)
