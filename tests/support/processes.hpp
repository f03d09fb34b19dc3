// Test support: roles as forked processes (p0, p1, dealer over loopback TCP).
#pragma once

#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <sys/wait.h>
#include <unistd.h>

#include <secformer/channel/tcp.hpp>

namespace secformer::test {

/// A port that was free a moment ago (the kernel's choice for an ephemeral listener).
inline std::uint16_t free_port() {
  TcpListener l(0);
  return l.port();
}

/// Forks a child that runs f and exits 0 on success, 1 on an error (message to stderr).
template <class F>
pid_t spawn(F&& f) {
  const pid_t pid = fork();
  if (pid == 0) {
    int code = 0;
    try {
      f();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "child error: %s\n", e.what());
      code = 1;
    }
    std::fflush(nullptr);
    _exit(code);
  }
  return pid;
}

/// The child's exit code, 128 + signal if a signal ended it, or -1 (and the child is killed) if it
/// did not stop within `limit`.
inline int wait_exit(pid_t pid, std::chrono::seconds limit) {
  const auto end = std::chrono::steady_clock::now() + limit;
  int status = 0;
  while (std::chrono::steady_clock::now() < end) {
    if (waitpid(pid, &status, WNOHANG) == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    usleep(10000);
  }
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  return -1;
}

}  // namespace secformer::test
