// accuracy: the sentiment classifiers (classify.hpp) on held-out IMDB reviews (128 tokens), in
// doubles, in the fixed-point simulation (run_solo) and under secure inference (run_two_party: two
// parties and the dealer as threads of this process over the in-memory channel).
//
//   accuracy [--cache DIR] [--students DIR | --packed DIR] [--split FILE] [--reviews N]
//            [--which ROW,ROW,...] [--json OUT] [--txt OUT] [--progress K]
//     ROW = MODEL:MODE, MODEL = teacher | secformer | mpcformer, MODE = double | solo | secure,
//     or MODEL:packed (the packed student of --packed against its float32 export, both in doubles)
//     --reviews N    the first N reviews of the held-out split (default 2000); MODE may carry its
//                    own count: secformer:secure=300
//     --split FILE   int32 .npy of review indices (default examples/sentiment/weights/heldout.npy:
//                    the test order of examples/distill/distill.py, written by pack_student.py)
//     --students DIR float32 exports (default <cache>/students); --packed DIR packed students
//                    (default examples/sentiment/weights)
//     --from-packed  every row of a student uses its packed weights (what the demo ships; only the
//                    SecFormer student is committed) instead of the float32 export
//   accuracy --merge A.json B.json ... [--json OUT] [--txt OUT]   one table from several runs
//
// Per row: accuracy; agreement of the row's predictions with the same model in doubles; logit error
// |row - double| over both logits (mean, p99, max); for solo/secure rows the mean time per review
// (wall clock of party 0 from the client's shared embedding to the revealed logits; the dealer
// serves its material during that time, in-process), party 0's online rounds and bytes sent and
// the dealer's bytes to party 1 per review. The weights are shared once per session (not counted).
// "fails": reviews with a logit off by more than 1e3 (a failed local truncation, trunc.hpp);
// "forecast" (solo rows): the number of failed local truncations a two-party run of the same rows
// should expect (Context::truncation_risk), per cost tag in the JSON.
// Results are written after every --progress reviews (default 20), so a cut run keeps its rows.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <secformer/io/json.hpp>
#include <secformer/text/sentencepiece.hpp>
#include <secformer/run.hpp>

#include "classify.hpp"
#include "imdb.hpp"

using namespace sentiment;

namespace {

struct Record {
  std::size_t index = 0;
  int label = 0, length = 0;
  double ref[2] = {0, 0}, out[2] = {0, 0};  // the model in doubles, the row
  double seconds = 0;
  std::uint64_t rounds = 0, bytes = 0, dealer = 0;
  double forecast = 0;  // solo rows: expected failed local truncations of a two-party run (Context::truncation_risk)
};

struct Row {
  std::string id, model, mode;
  std::size_t planned = 0;
  std::vector<Record> rec;
  std::map<std::string, double> forecast_by_tag;  // solo rows: the forecast summed over the reviews, per cost tag
};

/// A review with a logit off by more than this met a failed local truncation (trunc.hpp: the
/// truncated value is off by about 2^(64 - 2F) = 2^32; such reviews so far were off by 1e8 or
/// more), not an approximation error (below 1 on every review so far).
constexpr double failure_error = 1e3;

int argmax(const double* l) { return l[1] > l[0] ? 1 : 0; }

struct Summary {
  std::size_t n = 0;
  double acc = 0, acc_ref = 0, agree = 0, err_mean = 0, err_p99 = 0, err_max = 0, sec = 0, rounds = 0, bytes = 0, dealer = 0;
  double failures = -1, forecast = -1;  // reviews off by > failure_error; expected failures (solo rows); -1: unknown
};
Summary summarize(const Row& r) {
  Summary s;
  s.n = r.rec.size();
  if (!s.n) return s;
  s.failures = 0, s.forecast = 0;
  std::vector<double> err;
  for (const auto& x : r.rec) {
    s.acc += argmax(x.out) == x.label;
    s.acc_ref += argmax(x.ref) == x.label;
    s.agree += argmax(x.out) == argmax(x.ref);
    for (int k = 0; k < 2; ++k) err.push_back(std::abs(x.out[k] - x.ref[k]));
    s.failures += std::max(std::abs(x.out[0] - x.ref[0]), std::abs(x.out[1] - x.ref[1])) > failure_error;
    s.forecast += x.forecast;
    s.sec += x.seconds, s.rounds += static_cast<double>(x.rounds), s.bytes += static_cast<double>(x.bytes), s.dealer += static_cast<double>(x.dealer);
  }
  const double n = static_cast<double>(s.n);
  if (r.mode != "solo") s.forecast = -1;
  s.acc /= n, s.acc_ref /= n, s.agree /= n, s.sec /= n, s.rounds /= n, s.bytes /= n, s.dealer /= n;
  for (double e : err) s.err_mean += e, s.err_max = std::max(s.err_max, e);
  s.err_mean /= static_cast<double>(err.size());
  std::sort(err.begin(), err.end());
  s.err_p99 = err[std::min(err.size() - 1, static_cast<std::size_t>(std::ceil(0.99 * static_cast<double>(err.size()))) - 1)];
  return s;
}

std::string fmt(const char* f, double v) {
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

/// The per-tag forecast as a JSON field (absent when empty).
template <class Pairs, class Num>
std::string forecast_tags_field(const Pairs& tags, Num number) {
  if (tags.empty()) return "";
  std::string o = ", \"truncation_forecast_by_tag\": {";
  bool first = true;
  for (const auto& [tag, v] : tags) o += (first ? "\"" : ", \"") + tag + "\": " + fmt("%.4g", number(v)), first = false;
  return o + "}";
}

/// The JSON fields of the failure counts (absent where unknown).
std::string failure_fields(const Summary& s) {
  std::string o;
  if (s.failures >= 0) o += ", \"truncation_failures_observed\": " + fmt("%.0f", s.failures);
  if (s.forecast >= 0) o += ", \"truncation_failures_forecast\": " + fmt("%.4g", s.forecast);
  return o;
}

std::string row_json(const Row& r, bool with_records) {
  const Summary s = summarize(r);
  std::ostringstream o;
  o << "{\"id\": \"" << r.id << "\", \"model\": \"" << r.model << "\", \"mode\": \"" << r.mode << "\", \"planned\": " << r.planned << ", \"n\": " << s.n
    << ", \"accuracy\": " << fmt("%.6f", s.acc) << ", \"accuracy_double_same_reviews\": " << fmt("%.6f", s.acc_ref)
    << ", \"agreement_with_double\": " << fmt("%.6f", s.agree) << ", \"logit_err_mean\": " << fmt("%.4g", s.err_mean)
    << ", \"logit_err_p99\": " << fmt("%.4g", s.err_p99) << ", \"logit_err_max\": " << fmt("%.4g", s.err_max)
    << ", \"seconds_per_review\": " << fmt("%.4f", s.sec) << ", \"rounds_per_review\": " << fmt("%.1f", s.rounds)
    << ", \"online_bytes_sent_p0_per_review\": " << fmt("%.0f", s.bytes) << ", \"dealer_bytes_p1_per_review\": " << fmt("%.0f", s.dealer)
    << failure_fields(s) << forecast_tags_field(r.forecast_by_tag, [](double v) { return v; });
  if (with_records) {
    o << ", \"reviews\": [";
    for (std::size_t i = 0; i < r.rec.size(); ++i) {
      const auto& x = r.rec[i];
      o << (i ? ", " : "") << "[" << x.index << ", " << x.label << ", " << x.length << ", " << fmt("%.9g", x.ref[0]) << ", " << fmt("%.9g", x.ref[1])
        << ", " << fmt("%.9g", x.out[0]) << ", " << fmt("%.9g", x.out[1]) << ", " << fmt("%.4f", x.seconds) << ", " << x.rounds << ", " << x.bytes
        << ", " << x.dealer << ", " << fmt("%.4g", x.forecast) << "]";
    }
    o << "], \"review_fields\": [\"index\", \"label\", \"tokens\", \"double_logit0\", \"double_logit1\", \"logit0\", \"logit1\", \"seconds\", "
         "\"rounds\", \"bytes_sent_p0\", \"dealer_bytes_p1\", \"truncation_forecast\"]";
  }
  o << "}";
  return o.str();
}

const char* mode_text(const std::string& model, const std::string& mode) {
  if (mode == "double") return model == "teacher" ? "double, exact" : "double, as trained";
  if (mode == "packed") return "double, int8-delta packed vs float32";
  if (mode == "solo") return "fixed-point simulation";
  return "secure, 2 parties + dealer";
}
const char* suite_text(const std::string& model, const std::string& mode) {
  if (mode == "double" || mode == "packed") return "-";
  return model == "teacher" ? "CrypTenSuite (+ReLU)" : model == "secformer" ? "SecFormerSuite" : "MPCFormerSuite";
}

std::string table(const std::vector<std::string>& ids, const std::vector<Summary>& ss, const std::vector<std::size_t>& planned) {
  std::ostringstream o;
  char b[512];
  std::snprintf(b, sizeof b, "%-10s %-38s %-20s %6s %8s %8s %9s %9s %9s %9s %8s %10s %10s %6s %9s\n", "model", "mode", "suite", "n", "acc %",
                "acc(dbl)", "agree %", "err mean", "err p99", "err max", "s/review", "MB/review", "rounds", "fails", "forecast");
  o << b;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const auto c = ids[i].find(':');
    const std::string model = ids[i].substr(0, c), mode = ids[i].substr(c + 1);
    const auto& s = ss[i];
    const bool cost = mode == "solo" || mode == "secure";
    const bool self = mode == "double" && model != "packed";
    std::string n = std::to_string(s.n) + (s.n < planned[i] ? "*" : "");
    std::snprintf(b, sizeof b, "%-10s %-38s %-20s %6s %8.2f %8.2f %9s %9s %9s %9s %8s %10s %10s %6s %9s\n", model.c_str(), mode_text(model, mode),
                  suite_text(model, mode), n.c_str(), 100 * s.acc, 100 * s.acc_ref, self ? "-" : fmt("%.2f", 100 * s.agree).c_str(),
                  self ? "-" : fmt("%.2e", s.err_mean).c_str(), self ? "-" : fmt("%.2e", s.err_p99).c_str(), self ? "-" : fmt("%.2e", s.err_max).c_str(),
                  cost ? fmt("%.2f", s.sec).c_str() : "-", mode == "secure" ? fmt("%.1f", s.bytes / 1e6).c_str() : "-",
                  mode == "secure" ? fmt("%.0f", s.rounds).c_str() : "-", cost && s.failures >= 0 ? fmt("%.0f", s.failures).c_str() : "-",
                  s.forecast >= 0 ? fmt("%.2f", s.forecast).c_str() : "-");
    o << b;
  }
  return o.str();
}

std::vector<std::string> split(const std::string& s, char c) {
  std::vector<std::string> out;
  std::string cur;
  for (char ch : s) {
    if (ch == c) out.push_back(cur), cur.clear();
    else cur += ch;
  }
  out.push_back(cur);
  return out;
}

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

struct Data {
  std::vector<std::size_t> index;
  std::vector<int> label;
  std::vector<std::vector<std::int32_t>> ids;
};

/// Secure / simulated rows: one session, the model shared once, then the reviews one by one.
template <Kind K>
void run_secure(const Model& m, const Data& d, std::size_t n, bool solo, Row& row, const std::function<void()>& save, std::size_t every) {
  using Suite = typename Secure<K>::suite;
  auto program = [&](auto& ctx) {
    using Ctx = std::remove_cvref_t<decltype(ctx)>;
    constexpr bool client = Ctx::id == 1 || Ctx::is_solo;
    constexpr bool owner = Ctx::id == 0 || Ctx::is_solo;
    const SharedModel<K, Ctx> sm(owner ? &m : nullptr, m.cfg, ctx);
    for (std::size_t i = 0; i < n; ++i) {
      const auto& ids = d.ids[i];
      const nn::TokenIds t = client ? token_ids(ids) : nn::TokenIds{std::vector<std::size_t>(ids.size(), 0), {}};
      ctx.stats().reset();
      // The simulation's forecast so far (a two-party run has none: nothing to copy).
      const double risk0 = ctx.truncation_risk();
      const auto tags0 = Ctx::is_solo ? ctx.truncation_risk_by_tag() : std::map<std::string, double>{};
      const double t0 = now();
      const auto logits = sm.logits(client ? &m.w.emb : nullptr, t, ctx);
      const auto v = ctx.reveal(logits);
      const double t1 = now();
      const auto c = ctx.stats().total();
      if constexpr (Ctx::is_solo) {
        row.rec[i].forecast = ctx.truncation_risk() - risk0;
        for (const auto& [tag, x] : ctx.truncation_risk_by_tag()) {
          const auto before = tags0.find(tag);
          row.forecast_by_tag[tag] += x - (before == tags0.end() ? 0.0 : before->second);
        }
      }
      if constexpr (Ctx::id == 1 && !Ctx::is_solo) {
        row.rec[i].dealer = c.dealer_bytes;  // party 1 writes its field only (party 0 owns the rest)
      } else {
        auto& r = row.rec[i];
        r.out[0] = v(0, 0), r.out[1] = v(0, 1);
        r.seconds = t1 - t0, r.rounds = c.rounds, r.bytes = c.bytes_sent;
        if (Ctx::is_solo) r.dealer = 0;
      }
    }
  };
  (void)save, (void)every;
  if (solo) sf::run_solo<Suite>(sf::RunOptions{}, program);
  else sf::run_two_party<Suite>(sf::RunOptions{}, program);
}

}  // namespace

int main(int argc, char** argv) try {
  std::vector<std::string> args(argv + 1, argv + argc);
  fs::path cache = "cache", students, packed = fs::path(SENTIMENT_SOURCE_DIR) / "weights", split_file, json_out, txt_out;
  std::size_t reviews = 2000, every = 20;
  bool from_packed = false;
  std::string which = "teacher:double,secformer:double,secformer:solo,secformer:secure,mpcformer:double,mpcformer:solo,mpcformer:secure,teacher:secure";
  std::vector<std::string> merge;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string k = args[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= args.size()) throw sf::usage_error("accuracy: " + k + " needs a value");
      return args[++i];
    };
    if (k == "--cache") cache = val();
    else if (k == "--students") students = val();
    else if (k == "--packed") packed = val();
    else if (k == "--split") split_file = val();
    else if (k == "--reviews") reviews = std::stoul(val());
    else if (k == "--which") which = val();
    else if (k == "--json") json_out = val();
    else if (k == "--txt") txt_out = val();
    else if (k == "--progress") every = std::max<std::size_t>(1, std::stoul(val()));
    else if (k == "--from-packed") from_packed = true;
    else if (k == "--merge") {
      while (i + 1 < args.size() && args[i + 1].rfind("--", 0) != 0) merge.push_back(args[++i]);
    } else throw sf::usage_error("accuracy: unknown option " + k + " (see the comment at the top of accuracy.cpp)");
  }
  if (students.empty()) students = cache / "students";
  if (split_file.empty()) split_file = packed / "heldout.npy";

  auto write = [&](const std::vector<std::string>& row_jsons, const std::string& text) {
    if (!json_out.empty()) {
      std::ofstream o(json_out);
      o << "{\"rows\": [\n";
      for (std::size_t i = 0; i < row_jsons.size(); ++i) o << (i ? ",\n" : "") << row_jsons[i];
      o << "\n]}\n";
    }
    if (!txt_out.empty()) std::ofstream(txt_out) << text;
  };

  if (!merge.empty()) {  // one table from several runs' JSON (summaries only)
    std::vector<std::string> ids, js;
    std::vector<Summary> ss;
    std::vector<std::size_t> planned;
    for (const auto& f : merge) {
      const auto doc = sf::io::json::parse_file(f);
      for (const auto& r : doc.at("rows").as_array()) {
        Summary s;
        s.n = static_cast<std::size_t>(r.at("n").as_int());
        s.acc = r.at("accuracy").as_number(), s.acc_ref = r.at("accuracy_double_same_reviews").as_number();
        s.agree = r.at("agreement_with_double").as_number();
        s.err_mean = r.at("logit_err_mean").as_number(), s.err_p99 = r.at("logit_err_p99").as_number(), s.err_max = r.at("logit_err_max").as_number();
        s.sec = r.at("seconds_per_review").as_number(), s.rounds = r.at("rounds_per_review").as_number();
        s.bytes = r.at("online_bytes_sent_p0_per_review").as_number(), s.dealer = r.at("dealer_bytes_p1_per_review").as_number();
        if (const auto* v = r.find("truncation_failures_observed")) s.failures = v->as_number();
        if (const auto* v = r.find("truncation_failures_forecast")) s.forecast = v->as_number();
        ids.push_back(r.at("model").as_string() + ":" + r.at("mode").as_string());
        planned.push_back(static_cast<std::size_t>(r.at("planned").as_int()));
        ss.push_back(s);
        Row tmp;  // re-emit the summary (records stay in the input files)
        std::ostringstream o;
        o << "{\"id\": \"" << r.at("id").as_string() << "\", \"model\": \"" << r.at("model").as_string() << "\", \"mode\": \"" << r.at("mode").as_string()
          << "\", \"planned\": " << planned.back() << ", \"n\": " << s.n << ", \"accuracy\": " << fmt("%.6f", s.acc)
          << ", \"accuracy_double_same_reviews\": " << fmt("%.6f", s.acc_ref) << ", \"agreement_with_double\": " << fmt("%.6f", s.agree)
          << ", \"logit_err_mean\": " << fmt("%.4g", s.err_mean) << ", \"logit_err_p99\": " << fmt("%.4g", s.err_p99)
          << ", \"logit_err_max\": " << fmt("%.4g", s.err_max) << ", \"seconds_per_review\": " << fmt("%.4f", s.sec)
          << ", \"rounds_per_review\": " << fmt("%.1f", s.rounds) << ", \"online_bytes_sent_p0_per_review\": " << fmt("%.0f", s.bytes)
          << ", \"dealer_bytes_p1_per_review\": " << fmt("%.0f", s.dealer) << failure_fields(s);
        if (const auto* v = r.find("truncation_forecast_by_tag"))
          o << forecast_tags_field(v->as_object(), [](const sf::io::json::Value& x) { return x.as_number(); });
        o << "}";
        js.push_back(o.str());
      }
    }
    const std::string t = table(ids, ss, planned);
    std::cout << t;
    write(js, t);
    return 0;
  }

  // Data: the held-out split, tokenized by the client's tokenizer (as use_tokenize does).
  const auto split_raw = read_raw_npy(split_file);
  if (split_raw.descr != "<i4" || split_raw.shape.size() != 1) throw sf::usage_error(split_file.string() + ": expected int32 review indices");
  const auto split_idx = as_doubles(split_raw);
  std::vector<std::string> row_ids = split(which, ',');
  std::size_t need = 0;
  std::vector<std::size_t> counts;
  for (auto& r : row_ids) {
    std::size_t n = reviews;
    if (const auto e = r.find('='); e != std::string::npos) n = std::stoul(r.substr(e + 1)), r = r.substr(0, e);
    counts.push_back(n);
    need = std::max(need, n);
  }
  if (need > split_idx.size()) throw sf::usage_error("accuracy: only " + std::to_string(split_idx.size()) + " held-out reviews in " + split_file.string());
  const auto dist = cache / "use" / "package" / "dist";
  const auto tok = sf::text::SentencePiece::from_vocab_json(dist / "vocab.json");
  const auto all = imdb::load_reviews(cache / "imdb" / "package" / "reviews.json");
  Data d;
  for (std::size_t i = 0; i < need; ++i) {
    const auto r = static_cast<std::size_t>(split_idx[i]);
    if (r >= all.size()) throw sf::usage_error("accuracy: review index " + std::to_string(r) + " past the data");
    d.index.push_back(r);
    d.label.push_back(all[r].label);
    d.ids.push_back(tok.encode(imdb::clean(all[r].text), 128));
  }

  const Model teacher = load_teacher(cache, packed / "teacher" / "classifier.w.npy");
  std::map<std::string, Model> models;
  auto get = [&](const std::string& name) -> const Model& {
    if (name == "teacher") return teacher;
    auto it = models.find(name);
    if (it == models.end())
      it = models.emplace(name, from_packed ? unpack_student(kind_of(name), packed / name, teacher) : load_student_export(kind_of(name), students / name, teacher)).first;
    return it->second;
  };

  std::vector<Row> rows;
  std::vector<std::string> done_json;
  auto save = [&] {
    std::vector<std::string> js = done_json;
    std::vector<std::string> ids;
    std::vector<Summary> ss;
    std::vector<std::size_t> planned;
    for (const auto& r : rows) {
      js.push_back(row_json(r, true));
      ids.push_back(r.model + ":" + r.mode), ss.push_back(summarize(r)), planned.push_back(r.planned);
    }
    write(js, table(ids, ss, planned));
  };

  for (std::size_t ri = 0; ri < row_ids.size(); ++ri) {
    const auto parts = split(row_ids[ri], ':');
    if (parts.size() != 2) throw sf::usage_error("accuracy: row '" + row_ids[ri] + "' is not MODEL:MODE");
    const std::string model = parts[0], mode = parts[1];
    const Kind kind = kind_of(model);
    const Model& m = get(model);
    const std::size_t n = counts[ri];
    Row row{row_ids[ri], model, mode, n, {}, {}};
    std::fprintf(stderr, "%s: %zu reviews\n", row.id.c_str(), n);
    const double t0 = now();
    // The double reference of the same model on the row's reviews.
    row.rec.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
      auto& r = row.rec[i];
      r.index = d.index[i], r.label = d.label[i], r.length = static_cast<int>(d.ids[i].size());
      const auto l = plain_logits(m, d.ids[i]);
      r.ref[0] = l(0), r.ref[1] = l(1);
      r.out[0] = r.ref[0], r.out[1] = r.ref[1];
    }
    std::fprintf(stderr, "  doubles: %.1f s\n", now() - t0);
    if (mode == "packed") {
      if (kind == Kind::teacher) throw sf::usage_error("accuracy: the teacher is not packed");
      const Model p = unpack_student(kind, packed / model, teacher);
      for (std::size_t i = 0; i < n; ++i) {
        const auto l = plain_logits(p, d.ids[i]);
        row.rec[i].out[0] = l(0), row.rec[i].out[1] = l(1);
      }
    } else if (mode == "solo" || mode == "secure") {
      // Sessions of `every` reviews each, results saved after each one.
      Row chunk{row.id, model, mode, 0, {}, {}};
      for (std::size_t s = 0; s < n; s += every) {
        const std::size_t k = std::min(every, n - s);
        Data sub;
        for (std::size_t i = s; i < s + k; ++i) sub.index.push_back(d.index[i]), sub.label.push_back(d.label[i]), sub.ids.push_back(d.ids[i]);
        chunk.rec.assign(row.rec.begin() + static_cast<std::ptrdiff_t>(s), row.rec.begin() + static_cast<std::ptrdiff_t>(s + k));
        const bool solo = mode == "solo";
        std::function<void()> nothing = [] {};
        if (kind == Kind::teacher) run_secure<Kind::teacher>(m, sub, k, solo, chunk, nothing, every);
        else if (kind == Kind::secformer) run_secure<Kind::secformer>(m, sub, k, solo, chunk, nothing, every);
        else run_secure<Kind::mpcformer>(m, sub, k, solo, chunk, nothing, every);
        std::copy(chunk.rec.begin(), chunk.rec.end(), row.rec.begin() + static_cast<std::ptrdiff_t>(s));
        row.forecast_by_tag = chunk.forecast_by_tag;
        Row partial{row.id, model, mode, n, std::vector<Record>(row.rec.begin(), row.rec.begin() + static_cast<std::ptrdiff_t>(s + k)),
                    row.forecast_by_tag};
        rows.push_back(partial);
        save();
        rows.pop_back();
        const Summary sm = summarize(partial);
        std::fprintf(stderr, "  %zu/%zu: acc %.4f, agreement %.4f, max logit err %.3g, %.2f s/review\n", s + k, n, sm.acc, sm.agree, sm.err_max, sm.sec);
      }
    } else if (mode != "double") {
      throw sf::usage_error("accuracy: unknown mode '" + mode + "' (double, solo, secure, packed)");
    }
    for (const auto& [tag, v] : row.forecast_by_tag) std::fprintf(stderr, "  forecast failures under '%s': %.4g\n", tag.c_str(), v);
    std::fprintf(stderr, "  row done in %.1f s\n", now() - t0);
    rows.push_back(std::move(row));
    save();
  }
  std::vector<std::string> ids;
  std::vector<Summary> ss;
  std::vector<std::size_t> planned;
  for (const auto& r : rows) ids.push_back(r.model + ":" + r.mode), ss.push_back(summarize(r)), planned.push_back(r.planned);
  std::cout << table(ids, ss, planned);
  return 0;
} catch (const std::exception& e) {
  std::cerr << "accuracy: " << e.what() << '\n';
  return 1;
}
