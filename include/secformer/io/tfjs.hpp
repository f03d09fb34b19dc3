// secformer/io/tfjs.hpp: reads a TensorFlow.js graph model (model.json + binary weight shards).
//
//   auto m = tfjs::Model::load(dir);        // dir/model.json and the shards it names
//   m.tensor<A>(name, {rows, cols})         // a float32/int32 weight as doubles in an array type A
//                                           // built from a shape (e.g. nn::Tensor); shape checked
//                                           // (size-1 axes are NOT squeezed: give them)
//   m.scalar(name), m.ints(name)            // a 0-d float constant, an int32 constant's values
//   m.nodes()                               // modelTopology.node (a json::Array), for inspection
//
// Format: model.json's "weightsManifest" is a list of groups {"paths": [shard files], "weights":
// [{"name", "shape", "dtype"}]}; each group's shards, concatenated, hold the weights' raw
// little-endian values back to back in manifest order (float32 and int32: 4 bytes each).
// Errors (usage_error, naming the file or tensor): missing model.json or shard ("run
// cmake/fetch_data.sh"), malformed JSON, a shard shorter or longer than its weights (truncated or
// corrupt download), a dtype other than float32/int32, quantized weights, a non-finite float,
// an unknown weight name, a shape other than the expected one.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "../config.hpp"
#include "json.hpp"

namespace secformer::io::tfjs {

struct Weight {
  std::string name;
  std::string dtype;  ///< "float32" or "int32"
  std::vector<std::size_t> shape;
  std::vector<float> f32;
  std::vector<std::int32_t> i32;
  std::size_t size() const noexcept {
    std::size_t n = 1;
    for (auto d : shape) n *= d;
    return n;
  }
};

namespace detail {
inline std::string dims(const std::vector<std::size_t>& d) {
  std::string s = "[";
  for (std::size_t i = 0; i < d.size(); ++i) s += (i ? ", " : "") + std::to_string(d[i]);
  return s + "]";
}
}  // namespace detail

class Model {
 public:
  static Model load(const std::filesystem::path& dir) {
    static_assert(std::endian::native == std::endian::little, "secformer: tfjs reader assumes a little-endian host");
    Model m;
    m.dir_ = dir;
    const auto file = dir / "model.json";
    m.doc_ = json::parse_file(file);
    const auto& manifest = m.doc_.at("weightsManifest").as_array();
    for (const auto& group : manifest) {
      std::string bytes;
      std::vector<std::string> names;
      for (const auto& p : group.at("paths").as_array()) {
        bytes += json::read_file(dir / p.as_string());
        names.push_back(p.as_string());
      }
      std::size_t off = 0;
      for (const auto& w : group.at("weights").as_array()) {
        Weight t;
        t.name = w.at("name").as_string();
        t.dtype = w.at("dtype").as_string();
        if (w.find("quantization")) throw usage_error("secformer: tfjs: " + file.string() + ": quantized weight '" + t.name + "' is not supported");
        for (const auto& d : w.at("shape").as_array()) {
          const auto v = d.as_int();
          if (v < 0 || v > (1LL << 31)) throw usage_error("secformer: tfjs: weight '" + t.name + "' has a bad dimension");
          t.shape.push_back(static_cast<std::size_t>(v));
        }
        if (t.dtype != "float32" && t.dtype != "int32")
          throw usage_error("secformer: tfjs: weight '" + t.name + "' has dtype '" + t.dtype + "' (only float32 and int32 are supported)");
        const std::size_t n = t.size(), nb = 4 * n;
        if (off + nb > bytes.size())
          throw usage_error("secformer: tfjs: the shards of " + file.string() + " (" + names.front() + "...) hold " +
                            std::to_string(bytes.size()) + " bytes, too few for weight '" + t.name + "' (truncated download? run cmake/fetch_data.sh)");
        if (t.dtype == "float32") {
          t.f32.resize(n);
          std::memcpy(t.f32.data(), bytes.data() + off, nb);
          for (float v : t.f32)
            if (!std::isfinite(v)) throw usage_error("secformer: tfjs: weight '" + t.name + "' holds a NaN or infinity (corrupt shard?)");
        } else {
          t.i32.resize(n);
          std::memcpy(t.i32.data(), bytes.data() + off, nb);
        }
        off += nb;
        if (!m.index_.emplace(t.name, m.weights_.size()).second) throw usage_error("secformer: tfjs: weight '" + t.name + "' listed twice");
        m.weights_.push_back(std::move(t));
      }
      if (off != bytes.size())
        throw usage_error("secformer: tfjs: the shards of " + file.string() + " hold " + std::to_string(bytes.size()) + " bytes, the manifest " +
                          std::to_string(off) + " (corrupt download? run cmake/fetch_data.sh)");
    }
    return m;
  }

  const Weight& weight(const std::string& name) const {
    const auto it = index_.find(name);
    if (it == index_.end()) throw usage_error("secformer: tfjs: no weight '" + name + "' in " + (dir_ / "model.json").string());
    return weights_[it->second];
  }
  bool has(const std::string& name) const { return index_.count(name) != 0; }

  /// A weight as doubles, its shape checked against `shape`, in an array type A constructible from
  /// the shape with contiguous row-major storage at out.data() (e.g. xt::xarray<double>).
  template <class A>
  A tensor(const std::string& name, const std::vector<std::size_t>& shape) const {
    const Weight& w = weight(name);
    if (w.shape != shape)
      throw usage_error("secformer: tfjs: weight '" + name + "' has shape " + detail::dims(w.shape) + ", expected " + detail::dims(shape));
    A out(shape);
    if (w.dtype == "float32") std::copy(w.f32.begin(), w.f32.end(), out.data());
    else std::copy(w.i32.begin(), w.i32.end(), out.data());
    return out;
  }
  /// A 0-d float32 constant.
  double scalar(const std::string& name) const {
    const Weight& w = weight(name);
    if (w.dtype != "float32" || !w.shape.empty()) throw usage_error("secformer: tfjs: '" + name + "' is not a float32 scalar");
    return w.f32[0];
  }
  /// An int32 constant's values.
  const std::vector<std::int32_t>& ints(const std::string& name) const {
    const Weight& w = weight(name);
    if (w.dtype != "int32") throw usage_error("secformer: tfjs: '" + name + "' is not int32");
    return w.i32;
  }

  const std::vector<Weight>& weights() const noexcept { return weights_; }
  const json::Array& nodes() const { return doc_.at("modelTopology").at("node").as_array(); }
  const json::Value& document() const noexcept { return doc_; }

 private:
  std::filesystem::path dir_;
  json::Value doc_;
  std::vector<Weight> weights_;
  std::unordered_map<std::string, std::size_t> index_;
};

}  // namespace secformer::io::tfjs
