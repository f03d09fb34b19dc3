// secformer/channel/memory.hpp: an in-memory channel pair for parties that run as threads of one
// process. Messages are copied into a queue; send never blocks; recv waits (with a timeout) and fails
// with channel_error when the peer closed its end (for example because it threw).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "channel.hpp"

namespace secformer {

class MemoryChannel {
  struct Pipe {
    std::mutex m;
    std::condition_variable cv;
    std::deque<std::vector<std::byte>> queue[2];  // queue[i]: messages waiting for end i
    bool closed[2] = {false, false};
  };

 public:
  /// Two connected ends.
  static std::pair<MemoryChannel, MemoryChannel> make_pair(std::chrono::milliseconds timeout = default_channel_timeout) {
    auto p = std::make_shared<Pipe>();
    return {MemoryChannel(p, 0, timeout), MemoryChannel(p, 1, timeout)};
  }

  MemoryChannel(MemoryChannel&&) noexcept = default;
  MemoryChannel& operator=(MemoryChannel&&) noexcept = default;
  MemoryChannel(const MemoryChannel&) = delete;
  MemoryChannel& operator=(const MemoryChannel&) = delete;
  ~MemoryChannel() { close(); }

  void send(std::span<const std::byte> msg) { send(std::vector<std::byte>(msg.begin(), msg.end())); }
  /// Takes the buffer over (no copy): see send_owned.
  void send(std::vector<std::byte>&& msg) {
    std::lock_guard lock(pipe_->m);
    if (pipe_->closed[end_]) throw channel_error("secformer: send on a closed channel");
    if (pipe_->closed[1 - end_]) throw disconnected_error("secformer: the peer closed the channel");
    pipe_->queue[1 - end_].push_back(std::move(msg));
    pipe_->cv.notify_all();
  }

  void recv(std::span<std::byte> out) {
    auto msg = recv_message(out.size());
    if (msg.size() != out.size())
      throw channel_error("secformer: expected a message of " + std::to_string(out.size()) + " bytes, got " +
                          std::to_string(msg.size()));
    if (!msg.empty()) std::memcpy(out.data(), msg.data(), msg.size());
  }

  std::vector<std::byte> recv_message(std::size_t max_bytes) {
    std::unique_lock lock(pipe_->m);
    auto& q = pipe_->queue[end_];
    const bool ready = pipe_->cv.wait_for(lock, timeout_, [&] { return !q.empty() || pipe_->closed[1 - end_] || pipe_->closed[end_]; });
    if (q.empty()) {
      if (!ready) throw channel_error("secformer: timed out after " + std::to_string(timeout_.count()) + " ms waiting for the peer");
      throw disconnected_error("secformer: the peer closed the channel");
    }
    auto msg = std::move(q.front());
    q.pop_front();
    if (msg.size() > max_bytes)
      throw channel_error("secformer: message of " + std::to_string(msg.size()) + " bytes exceeds the limit of " +
                          std::to_string(max_bytes));
    return msg;
  }

  void exchange(std::span<const std::byte> out, std::span<std::byte> in) {
    send(out);
    recv(in);
  }

  void close() noexcept {
    if (!pipe_) return;
    std::lock_guard lock(pipe_->m);
    pipe_->closed[end_] = true;
    pipe_->cv.notify_all();
  }

  void set_timeout(std::chrono::milliseconds t) noexcept { timeout_ = t; }

 private:
  MemoryChannel(std::shared_ptr<Pipe> p, int end, std::chrono::milliseconds t) : pipe_(std::move(p)), end_(end), timeout_(t) {}
  std::shared_ptr<Pipe> pipe_;
  int end_ = 0;
  std::chrono::milliseconds timeout_;
};

static_assert(byte_channel<MemoryChannel>);

}  // namespace secformer
