// secformer/io/bert_config.hpp: a Hugging Face BERT checkpoint's config.json as a typed, checked
// BertConfig, the tensor names and shapes Hugging Face's BertModel and
// BertForSequenceClassification save, and the check of a checkpoint's index against them.
//
//   BertConfig c = parse_bert_config(text, "config.json");   // pure (fuzzed)
//   BertConfig c = read_bert_config(dir / "config.json");
//   std::vector<ExpectedTensor> e = bert_tensors(c, BertHead::sequence_classification);
//   TensorMap m = match_bert_tensors(c, head, checkpoint.tensors(), "dir");
//   m.file_name("encoder.layer.0.attention.self.query.weight")  // the name in the file
//
// config.json (fields Hugging Face writes; other fields are ignored, wrong types are errors naming
// the field and the file):
//   model_type "bert"; architectures (optional) ["BertModel"] or ["BertForSequenceClassification"];
//   hidden_size, num_hidden_layers, num_attention_heads (dividing hidden_size), intermediate_size,
//   vocab_size, max_position_embeddings, type_vocab_size: positive integers up to 2^31 (layers up
//   to 4096; required);
//   hidden_act "gelu" (erf), "gelu_new" (tanh form) or "relu" (default gelu); layer_norm_eps > 0
//   (default 1e-12); pad_token_id an integer in [0, vocab_size) or null (default 0);
//   position_embedding_type "absolute" (the default; relative_key* refused);
//   id2label {"0": name, ...} (keys exactly 0..n-1), label2id {name: id} (its inverse when both
//   are given), num_labels (equal to the size of id2label when both are given; default 2);
//   problem_type single_label_classification, multi_label_classification, regression or
//   null/absent (then num_labels 1 means regression, more single-label classification).
//   "secformer": {"attention": "softmax" | "2quad", "quad_c": c > 0 (2quad only, default 5),
//                 "gelu": "secformer" | "quad"} (optional, ours: a SecFormer/MPCFormer student;
//   absent: softmax attention and hidden_act; unknown members of this block are errors).
//
// Tensor names (Hugging Face transformers' BertModel; linear weights stored (out, in)):
//   embeddings.{word_embeddings (vocab, d), position_embeddings (max_pos, d),
//               token_type_embeddings (type_vocab, d)}.weight, embeddings.LayerNorm.{weight,bias} (d)
//   encoder.layer.<i>.attention.self.{query,key,value}.{weight (d, d), bias (d)}
//   encoder.layer.<i>.attention.output.dense.{weight (d, d), bias}, attention.output.LayerNorm.*
//   encoder.layer.<i>.intermediate.dense.{weight (ffn, d), bias (ffn)}
//   encoder.layer.<i>.output.dense.{weight (d, ffn), bias (d)}, output.LayerNorm.{weight,bias}
//   pooler.dense.{weight (d, d), bias}
// BertForSequenceClassification: "bert." + each of those, then classifier.{weight (labels, d),
// bias (labels)}. The check accepts the base names with or without "bert." (all the same way),
// LayerNorm.gamma/beta for weight/bias (older checkpoints, as Hugging Face's loader does), and
// ignores the integer buffers embeddings.position_ids and embeddings.token_type_ids that older
// versions saved. Anything else missing, extra, misshaped or not F32/F16/BF16 is an error naming
// the tensor.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "../config.hpp"
#include "json.hpp"
#include "json_checks.hpp"
#include "safetensors.hpp"

namespace secformer::io {

enum class BertHead { model, sequence_classification };
enum class HiddenAct { gelu, gelu_new, relu };
enum class ProblemType { single_label_classification, multi_label_classification, regression };
enum class AttentionKind { softmax, quad2 };
enum class StudentGelu { secformer, quad };

/// The optional "secformer" block of a distilled student.
struct StudentConfig {
  AttentionKind attention = AttentionKind::softmax;
  double quad_c = 5.0;                 // 2Quad's shift: (x + c)^2
  std::optional<StudentGelu> gelu;     // absent: hidden_act
};

struct BertConfig {
  std::optional<BertHead> architecture;  // from "architectures" when present
  std::size_t hidden_size = 0;
  std::size_t num_hidden_layers = 0;
  std::size_t num_attention_heads = 0;
  std::size_t intermediate_size = 0;
  HiddenAct hidden_act = HiddenAct::gelu;
  double layer_norm_eps = 1e-12;
  std::size_t vocab_size = 0;
  std::size_t max_position_embeddings = 0;
  std::size_t type_vocab_size = 0;
  std::optional<std::size_t> pad_token_id = 0;
  std::size_t num_labels = 2;
  std::vector<std::string> id2label;    // empty when the file has none
  ProblemType problem_type = ProblemType::single_label_classification;  // resolved (see above)
  bool problem_type_given = false;
  std::optional<StudentConfig> secformer;

  std::size_t head_dim() const noexcept { return hidden_size / num_attention_heads; }
};

namespace detail {

inline std::size_t positive(const json::Fields& f, std::string_view key, std::int64_t limit = std::int64_t{1} << 31) {
  const std::int64_t v = f.integer(key);
  if (v <= 0) f.fail(key, "must be a positive integer, found " + std::to_string(v));
  if (v > limit) f.fail(key, std::to_string(v) + " exceeds the limit of " + std::to_string(limit));
  return static_cast<std::size_t>(v);
}

inline StudentConfig parse_student(const json::Value& v, const std::string& source) {
  const json::Fields f(v, source, "secformer");
  for (const auto& [k, m] : v.as_object())
    if (k != "attention" && k != "quad_c" && k != "gelu") f.fail(k, "is not a member of the secformer block (attention, quad_c, gelu)");
  StudentConfig s;
  if (const auto a = f.optional_string("attention")) {
    if (*a == "softmax") s.attention = AttentionKind::softmax;
    else if (*a == "2quad") s.attention = AttentionKind::quad2;
    else f.fail("attention", "must be \"softmax\" or \"2quad\", found \"" + *a + "\"");
  }
  if (const auto c = f.optional_number("quad_c")) {
    if (s.attention != AttentionKind::quad2) f.fail("quad_c", "is given but attention is not \"2quad\"");
    if (!(*c > 0)) f.fail("quad_c", "must be positive");
    s.quad_c = *c;
  }
  if (const auto g = f.optional_string("gelu")) {
    if (*g == "secformer") s.gelu = StudentGelu::secformer;
    else if (*g == "quad") s.gelu = StudentGelu::quad;
    else f.fail("gelu", "must be \"secformer\" or \"quad\", found \"" + *g + "\"");
  }
  return s;
}

inline bool decimal_index(std::string_view s, std::size_t& out) {
  if (s.empty() || s.size() > 9 || (s.size() > 1 && s[0] == '0')) return false;
  std::size_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<std::size_t>(c - '0');
  }
  out = v;
  return true;
}

}  // namespace detail

/// Parses and checks the text of a config.json (source names it in errors).
inline BertConfig parse_bert_config(std::string_view text, const std::string& source = "config.json") {
  json::check_utf8(text, source);
  const json::Value doc = json::parse(text, source);
  json::refuse_duplicate_keys(doc, source);
  const json::Fields f(doc, source);
  BertConfig c;
  if (const std::string& mt = f.string("model_type"); mt != "bert") f.fail("model_type", "must be \"bert\", found \"" + mt + "\"");
  if (const json::Value* av = f.get("architectures"); av && !av->is_null()) {
    const json::Array& a = f.array("architectures");
    if (a.size() != 1) f.fail("architectures", "must name one architecture, found " + std::to_string(a.size()));
    if (!a[0].is_string()) f.fail("architectures", std::string("must hold a string, found ") + a[0].kind());
    const std::string& arch = a[0].as_string();
    if (arch == "BertModel") c.architecture = BertHead::model;
    else if (arch == "BertForSequenceClassification") c.architecture = BertHead::sequence_classification;
    else f.fail("architectures", "\"" + arch + "\" is not supported (BertModel, BertForSequenceClassification)");
  }
  c.hidden_size = detail::positive(f, "hidden_size");
  c.num_hidden_layers = detail::positive(f, "num_hidden_layers", 4096);
  c.num_attention_heads = detail::positive(f, "num_attention_heads");
  if (c.hidden_size % c.num_attention_heads != 0)
    f.fail("num_attention_heads", std::to_string(c.num_attention_heads) + " does not divide hidden_size " + std::to_string(c.hidden_size));
  c.intermediate_size = detail::positive(f, "intermediate_size");
  c.vocab_size = detail::positive(f, "vocab_size");
  c.max_position_embeddings = detail::positive(f, "max_position_embeddings");
  c.type_vocab_size = detail::positive(f, "type_vocab_size");
  if (const auto act = f.optional_string("hidden_act")) {
    if (*act == "gelu") c.hidden_act = HiddenAct::gelu;
    else if (*act == "gelu_new") c.hidden_act = HiddenAct::gelu_new;
    else if (*act == "relu") c.hidden_act = HiddenAct::relu;
    else f.fail("hidden_act", "\"" + *act + "\" is not supported (gelu, gelu_new, relu)");
  }
  if (const auto eps = f.optional_number("layer_norm_eps")) {
    if (!(*eps > 0)) f.fail("layer_norm_eps", "must be positive");
    c.layer_norm_eps = *eps;
  }
  if (const json::Value* p = f.get("pad_token_id"); p && p->is_null()) {
    c.pad_token_id.reset();
  } else if (const auto pad = f.optional_integer("pad_token_id")) {
    if (*pad < 0 || static_cast<std::uint64_t>(*pad) >= c.vocab_size)
      f.fail("pad_token_id", std::to_string(*pad) + " is outside the vocabulary [0, " + std::to_string(c.vocab_size) + ")");
    c.pad_token_id = static_cast<std::size_t>(*pad);
  }
  if (const auto pe = f.optional_string("position_embedding_type"); pe && *pe != "absolute")
    f.fail("position_embedding_type", "\"" + *pe + "\" is not supported (absolute only)");

  // Labels: id2label, label2id, num_labels.
  if (f.get("id2label")) {
    const json::Value& m = f.object("id2label");
    c.id2label.assign(m.as_object().size(), std::string());
    std::vector<bool> seen(c.id2label.size(), false);
    for (const auto& [k, v] : m.as_object()) {
      std::size_t i = 0;
      if (!detail::decimal_index(k, i) || i >= c.id2label.size() || seen[i])
        f.fail("id2label", "keys must be the integers 0.." + std::to_string(c.id2label.size() - 1) + ", found \"" + k + "\"");
      if (!v.is_string()) f.fail("id2label", "[\"" + k + "\"] must be a string, found " + std::string(v.kind()));
      seen[i] = true;
      c.id2label[i] = v.as_string();
    }
    if (c.id2label.empty()) f.fail("id2label", "must name at least one label");
    c.num_labels = c.id2label.size();
  }
  if (f.get("label2id")) {
    const json::Value& m = f.object("label2id");
    const json::Fields l(m, source, "label2id");
    for (const auto& [k, v] : m.as_object()) {
      const std::int64_t id = l.integer(k);
      if (!c.id2label.empty() && (id < 0 || static_cast<std::uint64_t>(id) >= c.id2label.size() || c.id2label[static_cast<std::size_t>(id)] != k))
        l.fail(k, "= " + std::to_string(id) + " is not the inverse of id2label");
    }
    if (!c.id2label.empty() && m.as_object().size() != c.id2label.size())
      f.fail("label2id", "has " + std::to_string(m.as_object().size()) + " labels, id2label " + std::to_string(c.id2label.size()));
  }
  if (const auto n = f.optional_integer("num_labels")) {
    if (*n <= 0) f.fail("num_labels", "must be positive");
    if (!c.id2label.empty() && static_cast<std::size_t>(*n) != c.id2label.size())
      f.fail("num_labels", std::to_string(*n) + " disagrees with the " + std::to_string(c.id2label.size()) + " labels of id2label");
    c.num_labels = static_cast<std::size_t>(*n);
  }
  if (const json::Value* p = f.get("problem_type"); p && !p->is_null()) {
    const std::string& pt = f.string("problem_type");
    c.problem_type_given = true;
    if (pt == "single_label_classification") c.problem_type = ProblemType::single_label_classification;
    else if (pt == "multi_label_classification") c.problem_type = ProblemType::multi_label_classification;
    else if (pt == "regression") c.problem_type = ProblemType::regression;
    else f.fail("problem_type", "\"" + pt + "\" is not one of single_label_classification, multi_label_classification, regression");
    if (c.problem_type == ProblemType::single_label_classification && c.num_labels < 2)
      f.fail("problem_type", "single_label_classification needs at least 2 labels, found " + std::to_string(c.num_labels));
  } else {
    c.problem_type = c.num_labels == 1 ? ProblemType::regression : ProblemType::single_label_classification;
  }
  if (const json::Value* s = f.get("secformer")) c.secformer = detail::parse_student(*s, source);
  return c;
}

inline BertConfig read_bert_config(const std::filesystem::path& file) { return parse_bert_config(json::read_file(file), file.string()); }

// ---- tensor names

struct ExpectedTensor {
  std::string name;                   // Hugging Face's, without the "bert." prefix for the base model
  std::vector<std::uint64_t> shape;
  bool base = true;                   // part of BertModel (may carry "bert."); false: classifier.*
};

/// The tensors Hugging Face's BertModel (head model) or BertForSequenceClassification saves for `c`,
/// base names without the "bert." prefix.
inline std::vector<ExpectedTensor> bert_tensors(const BertConfig& c, BertHead head) {
  using V = std::vector<std::uint64_t>;
  const std::uint64_t d = c.hidden_size, ffn = c.intermediate_size;
  std::vector<ExpectedTensor> e;
  auto add = [&](std::string name, V shape, bool base = true) { e.push_back({std::move(name), std::move(shape), base}); };
  auto linear = [&](const std::string& p, std::uint64_t out, std::uint64_t in, bool base = true) {
    add(p + ".weight", {out, in}, base);
    add(p + ".bias", {out}, base);
  };
  auto norm = [&](const std::string& p) {
    add(p + ".weight", {d});
    add(p + ".bias", {d});
  };
  add("embeddings.word_embeddings.weight", {c.vocab_size, d});
  add("embeddings.position_embeddings.weight", {c.max_position_embeddings, d});
  add("embeddings.token_type_embeddings.weight", {c.type_vocab_size, d});
  norm("embeddings.LayerNorm");
  for (std::size_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string l = "encoder.layer." + std::to_string(i) + ".";
    linear(l + "attention.self.query", d, d);
    linear(l + "attention.self.key", d, d);
    linear(l + "attention.self.value", d, d);
    linear(l + "attention.output.dense", d, d);
    norm(l + "attention.output.LayerNorm");
    linear(l + "intermediate.dense", ffn, d);
    linear(l + "output.dense", d, ffn);
    norm(l + "output.LayerNorm");
  }
  linear("pooler.dense", d, d);
  if (head == BertHead::sequence_classification) linear("classifier", c.num_labels, d, false);
  return e;
}

/// The expected tensors matched with a checkpoint's: canonical name -> the name in the file.
struct TensorMap {
  std::map<std::string, std::string, std::less<>> file_names;
  bool prefixed = false;  // the base tensors carry "bert."

  const std::string& file_name(std::string_view canonical) const {
    const auto it = file_names.find(canonical);
    if (it == file_names.end()) throw usage_error("secformer: no tensor \"" + std::string(canonical) + "\" in the BERT tensor map");
    return it->second;
  }
};

namespace detail {
inline std::string shape_string(const std::vector<std::uint64_t>& s) {
  std::string r = "(";
  for (std::size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + ")";
}
/// Hugging Face's legacy LayerNorm names: ".gamma" -> ".weight", ".beta" -> ".bias" (last part only).
inline std::string canonical_layernorm(std::string_view n) {
  const auto ends = [&](std::string_view suf) { return n.size() >= suf.size() && n.substr(n.size() - suf.size()) == suf; };
  if (ends("LayerNorm.gamma")) return std::string(n.substr(0, n.size() - 5)) + "weight";
  if (ends("LayerNorm.beta")) return std::string(n.substr(0, n.size() - 4)) + "bias";
  return std::string(n);
}
}  // namespace detail

/// Checks a checkpoint's tensors against bert_tensors(c, head): every expected tensor present once
/// (with its shape, as F32, F16 or BF16), nothing else but the harmless integer buffers. Errors
/// name the tensor and `source`.
inline TensorMap match_bert_tensors(const BertConfig& c, BertHead head, std::span<const safetensors::TensorInfo> have,
                                    const std::string& source) {
  const auto fail = [&](const std::string& what) { throw usage_error("secformer: " + source + ": " + what); };
  TensorMap m;
  for (const auto& t : have)
    if (t.name.starts_with("bert.")) m.prefixed = true;
  const std::vector<ExpectedTensor> want = bert_tensors(c, head);
  std::map<std::string, const ExpectedTensor*, std::less<>> by_name;
  for (const auto& e : want) by_name.emplace((e.base && m.prefixed ? "bert." : "") + e.name, &e);
  for (const auto& t : have) {
    const std::string key = detail::canonical_layernorm(t.name);
    const std::string_view bare = m.prefixed && std::string_view(key).starts_with("bert.") ? std::string_view(key).substr(5) : std::string_view(key);
    const auto it = by_name.find(key);
    if (it == by_name.end()) {
      if (bare == "embeddings.position_ids" || bare == "embeddings.token_type_ids") continue;
      if (m.prefixed && !std::string_view(key).starts_with("bert.") && by_name.count("bert." + key))
        fail("tensor \"" + t.name + "\" lacks the \"bert.\" prefix the other tensors carry");
      fail("unexpected tensor \"" + t.name + "\" (not part of a " +
           std::string(head == BertHead::model ? "BertModel" : "BertForSequenceClassification") + " with this config)");
    }
    const ExpectedTensor& e = *it->second;
    if (m.file_names.count(e.name)) fail("tensor \"" + t.name + "\" appears twice (as \"" + m.file_names[e.name] + "\" too)");
    if (t.shape != e.shape) fail("tensor \"" + t.name + "\" has shape " + detail::shape_string(t.shape) + ", expected " + detail::shape_string(e.shape));
    if (!t.readable()) fail("tensor \"" + t.name + "\" has dtype " + t.dtype + " (F32, F16 or BF16 expected)");
    m.file_names.emplace(e.name, t.name);
  }
  for (const auto& e : want)
    if (!m.file_names.count(e.name)) fail("missing tensor \"" + std::string(e.base && m.prefixed ? "bert." : "") + e.name + "\"");
  return m;
}

}  // namespace secformer::io
