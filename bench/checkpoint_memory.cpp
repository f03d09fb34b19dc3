// The memory check of reading a Hugging Face checkpoint (bench/write_bert_checkpoint.py writes a
// random BERT-base or BERT-large one): every floating-point tensor of the checkpoint is read through
// io/safetensors.hpp's Checkpoint, one tensor at a time, into its place in one preallocated float
// buffer the size of the model (the "bundle"), and the process's peak resident set size
// (getrusage) is reported against the bundle's size. The reader streams each tensor from disk in
// 1 MiB chunks, so the peak should be the bundle plus the process's baseline and the index.
//
//   bench_checkpoint_memory DIR [--max-ratio R]
//     DIR: a checkpoint directory (model.safetensors or model.safetensors.index.json and shards)
//     --max-ratio R: exit 1 when peak RSS / bundle bytes exceeds R (default 1.3)
//
// Prints one line per figure: tensors, shards, bundle bytes, baseline and peak RSS, the ratio,
// the wall time of the reads (on a loaded machine only indicative), a checksum of the bundle.
#include <sys/resource.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <span>
#include <string>
#include <vector>

#include <secformer/io/safetensors.hpp>

namespace {

long peak_rss_kib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;  // KiB on Linux
}

int run(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s CHECKPOINT_DIR [--max-ratio R]\n", argv[0]);
    return 2;
  }
  double max_ratio = 1.3;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--max-ratio" && i + 1 < argc) max_ratio = std::stod(argv[++i]);
    else {
      std::fprintf(stderr, "unknown argument %s\n", argv[i]);
      return 2;
    }
  }
  namespace st = secformer::io::safetensors;
  const long baseline = peak_rss_kib();
  const auto c = st::Checkpoint::open(argv[1]);
  std::size_t elements = 0, readable = 0, skipped = 0;
  for (const auto& e : c.entries()) {
    if (e.info.readable()) elements += static_cast<std::size_t>(e.info.elements()), ++readable;
    else ++skipped;
  }
  const long after_index = peak_rss_kib();
  std::vector<float> bundle(elements);  // value-initialised: every page is touched before the reads
  const auto t0 = std::chrono::steady_clock::now();
  std::size_t at = 0;
  for (const auto& e : c.entries()) {
    if (!e.info.readable()) continue;
    const auto n = static_cast<std::size_t>(e.info.elements());
    c.shards()[e.shard].read(e.info, std::span<float>(bundle).subspan(at, n));
    at += n;
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const long peak = peak_rss_kib();
  double checksum = 0;
  for (float v : bundle) checksum += std::abs(static_cast<double>(v));

  const double bundle_bytes = 4.0 * static_cast<double>(elements);
  const double ratio = 1024.0 * static_cast<double>(peak) / bundle_bytes;
  std::printf("checkpoint: %s\n", argv[1]);
  std::printf("tensors: %zu read, %zu not floating point (skipped), %zu shards\n", readable, skipped, c.shards().size());
  std::printf("bundle: %zu floats, %.1f MiB\n", elements, bundle_bytes / 1048576.0);
  std::printf("rss: %.1f MiB at start, %.1f MiB after the index, peak %.1f MiB\n", baseline / 1024.0, after_index / 1024.0, peak / 1024.0);
  std::printf("peak rss / bundle: %.3f (limit %.2f)\n", ratio, max_ratio);
  std::printf("reads: %.2f s (%.0f MiB/s; wall time on a shared machine)\n", seconds, bundle_bytes / 1048576.0 / seconds);
  std::printf("checksum (sum of |w|): %.6e\n", checksum);
  if (ratio > max_ratio) {
    std::printf("FAIL: peak rss exceeds %.2fx the bundle\n", max_ratio);
    return 1;
  }
  std::printf("ok\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_checkpoint_memory: %s\n", e.what());
    return 1;
  }
}
