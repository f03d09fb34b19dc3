// secformer/io/glue.hpp: strict readers of the nine GLUE tasks' TSV files, as the GLUE
// distribution ships them, the tasks' descriptions (labels, metrics) and their evaluation
// (metrics.hpp). No dependency beyond the standard library.
//
//   glue::Dataset d = glue::read(glue::Task::rte, "RTE/dev.tsv");     // train, dev or test file
//   glue::Dataset d = glue::parse(glue::Task::rte, bytes, "dev.tsv"); // pure, over bytes
//   d.examples[i].text_a, .text_b (pair tasks), .label (class id) or .score (STS-B), .line
//   const glue::TaskInfo& t = glue::info(glue::Task::mrpc);           // name, labels, metrics
//   glue::Task k = glue::task_from_name("SST-2");                      // "sst2", "STS-B", "mnli", ...
//   std::vector<glue::Score> s = glue::evaluate(Task::mrpc, gold, predicted);  // accuracy, F1
//
// The layouts (columns counted from 0; a header is the first line):
//   CoLA   train/dev: no header, 4 columns: source, label, original-label mark, sentence;
//          test: header index sentence
//   SST-2  sentence label;                                      test: index sentence
//   MRPC   Quality #1 ID #2 ID #1 String #2 String (label = Quality); test: index #1 ID ...
//   QQP    id qid1 qid2 question1 question2 is_duplicate;       test: id question1 question2
//   STS-B  index genre filename year old_index source1 source2 sentence1 sentence2 score;
//          test: the same without score
//   MNLI   index promptID pairID genre sentence1_binary_parse sentence2_binary_parse
//          sentence1_parse sentence2_parse sentence1 sentence2, then label1 ... labelK and
//          gold_label (train K = 1, dev_matched / dev_mismatched K = 5); test: the first 10 only
//   QNLI   index question sentence label;                       test: index question sentence
//   RTE    index sentence1 sentence2 label;                     test: index sentence1 sentence2
//   WNLI   as RTE
// The header decides the split: the labelled header gives examples with labels, the test header
// examples without (label and score empty; Dataset::labeled false). A CoLA file whose first line
// is index<TAB>sentence is a test file, any other a train/dev file.
//
// Label ids (TaskInfo::label_names[id] is the text in the file): CoLA, SST-2, MRPC, QQP, WNLI
// "0" -> 0, "1" -> 1; MNLI entailment 0, neutral 1, contradiction 2 (the order of the GLUE
// loader of Hugging Face's datasets; a checkpoint's id2label may order them otherwise: remap with
// label_id()); QNLI and RTE entailment 0, not_entailment 1. STS-B is a regression
// (TaskInfo::regression, num_labels 1 as in Hugging Face's configs): score is the decimal in the
// file, which must lie in [0, 5].
//
// Reading: the files are split on '\n' and '\t' only. They are NOT RFC 4180 CSV: the GLUE files
// are written without quoting (Python's csv.QUOTE_NONE), so a quote character is text and is kept
// as it is (a sentence may start with '"' and end without one). One '\r' at the end of a line is
// dropped (CRLF files), a UTF-8 byte-order mark at the start of the file is skipped, empty lines
// at the end of the file are ignored. Fields are not trimmed; a text field may be empty. Errors
// (usage_error "secformer: glue: <file>:<line>: <reason>"): a file that cannot be read or exceeds
// Limits::max_file_bytes, invalid UTF-8, a header other than the task's (naming the expected
// columns), a row whose column count differs from the layout's, an empty line before the end, an
// unknown label (naming the column, the value and the accepted values), an STS-B score that is not
// a decimal in [0, 5], a file with no examples.
#pragma once

#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "../config.hpp"
#include "json_checks.hpp"
#include "metrics.hpp"

namespace secformer::io::glue {

enum class Task { cola, sst2, mrpc, qqp, stsb, mnli, qnli, rte, wnli };
enum class Metric { accuracy, f1, matthews, pearson, spearman };

inline constexpr std::array<Task, 9> all_tasks = {Task::cola, Task::sst2, Task::mrpc, Task::qqp, Task::stsb,
                                                   Task::mnli, Task::qnli, Task::rte,  Task::wnli};

/// A task's description.
struct TaskInfo {
  Task task;
  std::string_view name;                      // as GLUE spells it: "CoLA", "SST-2", "STS-B", ...
  bool pair;                                  // two sentences per example (text_b)
  bool regression;                            // STS-B: a score, no label
  std::size_t num_labels;                     // classes; 1 for the regression (Hugging Face's convention)
  std::span<const std::string_view> label_names;  // label_names[id]: the label's text in the file
  std::span<const Metric> metrics;            // what GLUE reports for the task
};

/// One example: the sentence(s) and, in train/dev files, the label id or the STS-B score.
struct Example {
  std::string text_a;
  std::optional<std::string> text_b;
  std::optional<std::size_t> label;
  std::optional<double> score;
  std::size_t line = 0;  // 1-based line in the file
};

struct Dataset {
  Task task = Task::cola;
  std::string source;
  bool labeled = false;  // a train/dev file (labels or scores), not a test file
  std::vector<Example> examples;

  /// The label ids in order (usage_error for a test file or STS-B).
  std::vector<std::size_t> labels() const;
  /// The STS-B scores in order (usage_error for a test file or another task).
  std::vector<double> scores() const;
};

struct Limits {
  std::uint64_t max_file_bytes = std::uint64_t(1) << 31;  // MNLI's train.tsv, the largest, has about 330 MB
};

namespace detail {

inline constexpr std::string_view binary_labels[] = {"0", "1"};
inline constexpr std::string_view nli3_labels[] = {"entailment", "neutral", "contradiction"};
inline constexpr std::string_view nli2_labels[] = {"entailment", "not_entailment"};
inline constexpr std::string_view no_labels[] = {"score"};
inline constexpr Metric acc[] = {Metric::accuracy};
inline constexpr Metric acc_f1[] = {Metric::accuracy, Metric::f1};
inline constexpr Metric mcc[] = {Metric::matthews};
inline constexpr Metric corr[] = {Metric::pearson, Metric::spearman};

inline constexpr TaskInfo infos[] = {
    {Task::cola, "CoLA", false, false, 2, binary_labels, mcc},
    {Task::sst2, "SST-2", false, false, 2, binary_labels, acc},
    {Task::mrpc, "MRPC", true, false, 2, binary_labels, acc_f1},
    {Task::qqp, "QQP", true, false, 2, binary_labels, acc_f1},
    {Task::stsb, "STS-B", true, true, 1, no_labels, corr},
    {Task::mnli, "MNLI", true, false, 3, nli3_labels, acc},
    {Task::qnli, "QNLI", true, false, 2, nli2_labels, acc},
    {Task::rte, "RTE", true, false, 2, nli2_labels, acc},
    {Task::wnli, "WNLI", true, false, 2, binary_labels, acc},
};

inline constexpr std::size_t none = static_cast<std::size_t>(-1);

/// Where a file's fields are: the column count and the columns of text_a, text_b, the label.
struct Layout {
  std::size_t columns = 0, a = none, b = none, label = none;
};

[[noreturn]] inline void fail(const std::string& source, std::size_t line, const std::string& what) {
  throw usage_error("secformer: glue: " + source + ":" + std::to_string(line) + ": " + what);
}

inline std::vector<std::string_view> split_tabs(std::string_view line) {
  std::vector<std::string_view> f;
  for (std::size_t at = 0;;) {
    const std::size_t tab = line.find('\t', at);
    if (tab == std::string_view::npos) {
      f.push_back(line.substr(at));
      return f;
    }
    f.push_back(line.substr(at, tab - at));
    at = tab + 1;
  }
}

inline std::string show(std::span<const std::string_view> names) {
  std::string s;
  for (std::size_t i = 0; i < names.size(); ++i) s += (i ? "<TAB>" : "") + std::string(names[i]);
  return "\"" + s + "\"";
}

inline bool equal(std::span<const std::string_view> got, std::span<const std::string_view> want) {
  if (got.size() != want.size()) return false;
  for (std::size_t i = 0; i < got.size(); ++i)
    if (got[i] != want[i]) return false;
  return true;
}

struct HeaderPair {
  std::span<const std::string_view> labeled, test;
  Layout labeled_layout, test_layout;
};

inline constexpr std::string_view sst2_h[] = {"sentence", "label"};
inline constexpr std::string_view index_sentence_h[] = {"index", "sentence"};
inline constexpr std::string_view mrpc_h[] = {"Quality", "#1 ID", "#2 ID", "#1 String", "#2 String"};
inline constexpr std::string_view mrpc_test_h[] = {"index", "#1 ID", "#2 ID", "#1 String", "#2 String"};
inline constexpr std::string_view qqp_h[] = {"id", "qid1", "qid2", "question1", "question2", "is_duplicate"};
inline constexpr std::string_view qqp_test_h[] = {"id", "question1", "question2"};
inline constexpr std::string_view stsb_h[] = {"index",   "genre",   "filename",  "year",      "old_index",
                                               "source1", "source2", "sentence1", "sentence2", "score"};
inline constexpr std::string_view mnli_test_h[] = {"index",           "promptID",        "pairID",    "genre",    "sentence1_binary_parse",
                                                    "sentence2_binary_parse", "sentence1_parse", "sentence2_parse", "sentence1", "sentence2"};
inline constexpr std::string_view qnli_h[] = {"index", "question", "sentence", "label"};
inline constexpr std::string_view rte_h[] = {"index", "sentence1", "sentence2", "label"};

/// The fixed headers of every task but MNLI (whose labelled header varies) and CoLA (no header).
inline HeaderPair headers(Task t) {
  switch (t) {
    case Task::sst2: return {sst2_h, index_sentence_h, {2, 0, none, 1}, {2, 1, none, none}};
    case Task::mrpc: return {mrpc_h, mrpc_test_h, {5, 3, 4, 0}, {5, 3, 4, none}};
    case Task::qqp: return {qqp_h, qqp_test_h, {6, 3, 4, 5}, {3, 1, 2, none}};
    case Task::stsb: return {stsb_h, std::span<const std::string_view>(stsb_h).first(9), {10, 7, 8, 9}, {9, 7, 8, none}};
    case Task::qnli: return {qnli_h, std::span<const std::string_view>(qnli_h).first(3), {4, 1, 2, 3}, {3, 1, 2, none}};
    case Task::rte:
    case Task::wnli: return {rte_h, std::span<const std::string_view>(rte_h).first(3), {4, 1, 2, 3}, {3, 1, 2, none}};
    default: return {};
  }
}

/// MNLI's labelled header: the 10 test columns, label1 ... labelK (K >= 1), gold_label.
inline bool mnli_labeled(std::span<const std::string_view> f) {
  if (f.size() < 12 || !equal(f.first(10), mnli_test_h) || f.back() != "gold_label") return false;
  for (std::size_t k = 10; k + 1 < f.size(); ++k)
    if (f[k] != "label" + std::to_string(k - 9)) return false;
  return true;
}

inline std::size_t parse_label(const TaskInfo& t, std::string_view v, std::string_view column, const std::string& source, std::size_t line) {
  for (std::size_t i = 0; i < t.label_names.size(); ++i)
    if (v == t.label_names[i]) return i;
  std::string accepted;
  for (std::size_t i = 0; i < t.label_names.size(); ++i) accepted += (i ? ", " : "") + std::string(t.label_names[i]);
  fail(source, line, std::string(t.name) + " " + std::string(column) + " \"" + std::string(v) + "\" is not a label (accepted: " + accepted + ")");
}

inline double parse_score(std::string_view v, const std::string& source, std::size_t line) {
  double d = 0;
  const char* end = v.data() + v.size();
  const auto [p, ec] = std::from_chars(v.data(), end, d, std::chars_format::fixed);
  if (v.empty() || ec != std::errc() || p != end || !std::isfinite(d) || d < 0.0 || d > 5.0)
    fail(source, line, "STS-B score \"" + std::string(v) + "\" is not a decimal in [0, 5]");
  return d;
}

}  // namespace detail

inline const TaskInfo& info(Task t) {
  for (const auto& i : detail::infos)
    if (i.task == t) return i;
  throw usage_error("secformer: glue: unknown task id " + std::to_string(static_cast<int>(t)));
}

/// The task of a name, ignoring case and '-' / '_': cola, sst2 (SST-2), mrpc, qqp, stsb (STS-B),
/// mnli (also mnli-m, mnli-mm: the dev files' layout is the same), qnli, rte, wnli.
inline Task task_from_name(std::string_view name) {
  std::string n;
  for (char c : name)
    if (c != '-' && c != '_') n += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (n == "mnlim" || n == "mnlimm" || n == "mnlimatched" || n == "mnlimismatched") n = "mnli";
  for (const auto& i : detail::infos) {
    std::string m;
    for (char c : i.name)
      if (c != '-') m += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (m == n) return i.task;
  }
  throw usage_error("secformer: glue: unknown task \"" + std::string(name) + "\" (CoLA, SST-2, MRPC, QQP, STS-B, MNLI, QNLI, RTE, WNLI)");
}

inline std::string_view metric_name(Metric m) {
  switch (m) {
    case Metric::accuracy: return "accuracy";
    case Metric::f1: return "f1";
    case Metric::matthews: return "matthews";
    case Metric::pearson: return "pearson";
    case Metric::spearman: return "spearman";
  }
  return "?";
}

/// The id of a label's text for a classification task (e.g. "neutral" -> 1 for MNLI).
inline std::size_t label_id(Task t, std::string_view label) {
  const TaskInfo& i = info(t);
  if (i.regression) throw usage_error("secformer: glue: " + std::string(i.name) + " is a regression: it has no labels");
  for (std::size_t k = 0; k < i.label_names.size(); ++k)
    if (i.label_names[k] == label) return k;
  throw usage_error("secformer: glue: " + std::string(i.name) + " has no label \"" + std::string(label) + "\"");
}

/// Parses the bytes of one GLUE TSV file of task `t` (source names it in errors).
inline Dataset parse(Task t, std::string_view text, const std::string& source = "<memory>") {
  const TaskInfo& ti = info(t);
  Dataset d;
  d.task = t;
  d.source = source;
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  // The lines, without '\n' and one trailing '\r'; trailing empty lines dropped.
  std::vector<std::string_view> lines;
  for (std::size_t at = 0; at < text.size();) {
    std::size_t nl = text.find('\n', at);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view l = text.substr(at, nl - at);
    if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
    lines.push_back(l);
    at = nl + 1;
  }
  while (!lines.empty() && lines.back().empty()) lines.pop_back();
  if (lines.empty()) detail::fail(source, 1, "the file is empty (expected a " + std::string(ti.name) + " TSV file)");

  detail::Layout layout;
  std::size_t first = 1;  // the index of the first data line
  const std::vector<std::string_view> head = detail::split_tabs(lines[0]);
  json::check_utf8(lines[0], "glue: " + source + ":1");
  if (t == Task::cola) {
    if (detail::equal(head, detail::index_sentence_h)) {
      layout = {2, 1, detail::none, detail::none};
    } else if (!head.empty() && head[0] == "index") {
      detail::fail(source, 1, "not a CoLA header: found " + detail::show(head) + ", expected " + detail::show(detail::index_sentence_h) +
                                  " (test) or no header (train/dev)");
    } else {
      layout = {4, 3, detail::none, 1};
      first = 0;
    }
  } else if (t == Task::mnli) {
    if (detail::mnli_labeled(head)) layout = {head.size(), 8, 9, head.size() - 1};
    else if (detail::equal(head, detail::mnli_test_h)) layout = {10, 8, 9, detail::none};
    else
      detail::fail(source, 1, "not an MNLI header: found " + detail::show(head) + ", expected " + detail::show(detail::mnli_test_h) +
                                  " followed by label1 ... labelK and gold_label (train/dev), or alone (test)");
  } else {
    const detail::HeaderPair h = detail::headers(t);
    if (detail::equal(head, h.labeled)) layout = h.labeled_layout;
    else if (detail::equal(head, h.test)) layout = h.test_layout;
    else
      detail::fail(source, 1, "not a " + std::string(ti.name) + " header: found " + detail::show(head) + ", expected " + detail::show(h.labeled) +
                                  " (train/dev) or " + detail::show(h.test) + " (test)");
  }
  d.labeled = layout.label != detail::none;
  if (first >= lines.size()) detail::fail(source, 1, "no examples after the header");
  d.examples.reserve(lines.size() - first);
  const std::string_view label_column = first == 0 ? std::string_view("label") : head[layout.label == detail::none ? 0 : layout.label];
  for (std::size_t i = first; i < lines.size(); ++i) {
    const std::size_t line = i + 1;
    if (lines[i].empty()) detail::fail(source, line, "an empty line before the end of the file");
    json::check_utf8(lines[i], "glue: " + source + ":" + std::to_string(line));
    const std::vector<std::string_view> f = detail::split_tabs(lines[i]);
    if (f.size() != layout.columns)
      detail::fail(source, line,
                   std::to_string(f.size()) + " columns, the " + std::string(ti.name) + (first == 0 ? " train/dev layout has " : " header has ") +
                       std::to_string(layout.columns) + " (the files are tab-separated without quoting)");
    Example e;
    e.line = line;
    e.text_a = std::string(f[layout.a]);
    if (layout.b != detail::none) e.text_b = std::string(f[layout.b]);
    if (layout.label != detail::none) {
      if (ti.regression) e.score = detail::parse_score(f[layout.label], source, line);
      else e.label = detail::parse_label(ti, f[layout.label], label_column, source, line);
    }
    d.examples.push_back(std::move(e));
  }
  return d;
}

/// Reads and parses one GLUE TSV file of task `t`.
inline Dataset read(Task t, const std::filesystem::path& file, const Limits& lim = {}) {
  const std::string src = file.string();
  std::error_code ec;
  const auto size = std::filesystem::file_size(file, ec);
  if (ec) throw usage_error("secformer: glue: cannot read " + src + ": " + ec.message());
  if (size > lim.max_file_bytes)
    throw usage_error("secformer: glue: " + src + " has " + std::to_string(size) + " bytes, more than the limit of " + std::to_string(lim.max_file_bytes));
  std::ifstream in(file, std::ios::binary);
  if (!in) throw usage_error("secformer: glue: cannot open " + src);
  std::string text(static_cast<std::size_t>(size), '\0');
  if (!in.read(text.data(), static_cast<std::streamsize>(size))) throw usage_error("secformer: glue: error reading " + src);
  return parse(t, text, src);
}

inline std::vector<std::size_t> Dataset::labels() const {
  if (!labeled || info(task).regression)
    throw usage_error("secformer: glue: " + source + (labeled ? " is STS-B: scores, no labels" : " is a test file: it has no labels"));
  std::vector<std::size_t> v;
  v.reserve(examples.size());
  for (const auto& e : examples) v.push_back(*e.label);
  return v;
}

inline std::vector<double> Dataset::scores() const {
  if (!labeled || !info(task).regression)
    throw usage_error("secformer: glue: " + source + (labeled ? " is a classification: labels, no scores" : " is a test file: it has no scores"));
  std::vector<double> v;
  v.reserve(examples.size());
  for (const auto& e : examples) v.push_back(*e.score);
  return v;
}

/// One metric's value.
struct Score {
  Metric metric;
  double value;
};

/// The task's metrics (TaskInfo::metrics, in that order) of predicted label ids against the gold
/// ones; every id must be below num_labels. usage_error for STS-B (use the overload on doubles).
inline std::vector<Score> evaluate(Task t, std::span<const std::size_t> gold, std::span<const std::size_t> predicted) {
  const TaskInfo& ti = info(t);
  if (ti.regression) throw usage_error("secformer: glue: " + std::string(ti.name) + " is a regression: evaluate scores, not label ids");
  for (std::size_t i = 0; i < gold.size(); ++i)
    if (gold[i] >= ti.num_labels)
      throw usage_error("secformer: glue: " + std::string(ti.name) + ": gold label " + std::to_string(i) + " is " + std::to_string(gold[i]) + ", past its " +
                        std::to_string(ti.num_labels) + " labels");
  for (std::size_t i = 0; i < predicted.size(); ++i)
    if (predicted[i] >= ti.num_labels)
      throw usage_error("secformer: glue: " + std::string(ti.name) + ": prediction " + std::to_string(i) + " is " + std::to_string(predicted[i]) +
                        ", past its " + std::to_string(ti.num_labels) + " labels");
  std::vector<Score> out;
  for (Metric m : ti.metrics) {
    switch (m) {
      case Metric::accuracy: out.push_back({m, metrics::accuracy(gold, predicted)}); break;
      case Metric::f1: out.push_back({m, metrics::f1(gold, predicted)}); break;
      case Metric::matthews: out.push_back({m, metrics::matthews(gold, predicted)}); break;
      default: break;
    }
  }
  return out;
}

/// STS-B's metrics (Pearson, Spearman) of predicted scores against the gold ones.
inline std::vector<Score> evaluate(Task t, std::span<const double> gold, std::span<const double> predicted) {
  const TaskInfo& ti = info(t);
  if (!ti.regression) throw usage_error("secformer: glue: " + std::string(ti.name) + " is a classification: evaluate label ids, not scores");
  return {{Metric::pearson, metrics::pearson(gold, predicted)}, {Metric::spearman, metrics::spearman(gold, predicted)}};
}

}  // namespace secformer::io::glue
