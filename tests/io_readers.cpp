// The readers of other tools' model files (include/secformer/io/): safetensors files and shard
// indices, Hugging Face's BERT config.json and tensor names. "[hf]" (hidden; ctest io.hf_checkpoint)
// reads back what Hugging Face's own writers produced (tests/support/write_hf_checkpoint.py).
#include <unistd.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <secformer/io/bert_config.hpp>
#include <secformer/io/safetensors.hpp>

namespace {

namespace st = secformer::io::safetensors;
namespace fs = std::filesystem;
using Catch::Contains;
using Bytes = std::vector<std::byte>;

/// A safetensors file: 8-byte little-endian length, the header (padded with spaces to 8), the data.
Bytes make_file(const std::string& header, const Bytes& data, bool pad = true) {
  std::string h = header;
  if (pad)
    while (h.size() % 8) h += ' ';
  Bytes out(8);
  std::uint64_t n = h.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<std::byte>((n >> (8 * i)) & 0xFF);
  for (char c : h) out.push_back(static_cast<std::byte>(c));
  out.insert(out.end(), data.begin(), data.end());
  return out;
}
Bytes le_f32(std::initializer_list<float> v) {
  Bytes b;
  for (float f : v) {
    const auto u = std::bit_cast<std::uint32_t>(f);
    for (int i = 0; i < 4; ++i) b.push_back(static_cast<std::byte>((u >> (8 * i)) & 0xFF));
  }
  return b;
}
Bytes le_u16(std::initializer_list<std::uint16_t> v) {
  Bytes b;
  for (auto u : v) b.push_back(static_cast<std::byte>(u & 0xFF)), b.push_back(static_cast<std::byte>(u >> 8));
  return b;
}
Bytes zeros(std::size_t n) { return Bytes(n, std::byte{0}); }
Bytes cat(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}
std::span<const std::byte> header_span(const std::string& s) { return {reinterpret_cast<const std::byte*>(s.data()), s.size()}; }

struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& name) : path(fs::temp_directory_path() / ("secformer_io_" + name + "_" + std::to_string(::getpid()))) {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  fs::path write(const std::string& name, const Bytes& b) const {
    std::ofstream(path / name, std::ios::binary).write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
    return path / name;
  }
  fs::path write(const std::string& name, const std::string& s) const {
    std::ofstream(path / name, std::ios::binary) << s;
    return path / name;
  }
};

/// Parses a header text alone and returns the error message ("" if it parsed).
std::string header_error(const std::string& h) {
  try {
    (void)st::parse_header(header_span(h), "t.safetensors");
  } catch (const secformer::usage_error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("safetensors: a valid file, its index and its tensors", "[io][safetensors]") {
  // Keys out of offset order, a scalar, an empty tensor, metadata, padding.
  const std::string header =
      R"({"b": {"dtype": "F16", "shape": [2], "data_offsets": [24, 28]},)"
      R"( "__metadata__": {"format": "pt"},)"
      R"( "a": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},)"
      R"( "empty": {"dtype": "F32", "shape": [0, 3], "data_offsets": [28, 28]},)"
      R"( "s": {"dtype": "BF16", "shape": [], "data_offsets": [28, 30]},)"
      R"( "ids": {"dtype": "I64", "shape": [1, 2], "data_offsets": [30, 46]}})";
  const Bytes data = cat(cat(cat(le_f32({1.5f, -2.0f, 0.25f, 3.0f, -0.125f, 1e-3f}), le_u16({0x3C00, 0xC100})), le_u16({0x4049})), zeros(16));
  const Bytes file = make_file(header, data);
  const st::Header h = st::parse(file, "mem");
  REQUIRE(h.tensors.size() == 5);
  CHECK(h.tensors[0].name == "a");  // in buffer order
  CHECK(h.tensors[1].name == "b");
  CHECK(h.data_bytes == 46);
  CHECK(h.data_start == file.size() - 46);
  REQUIRE(h.metadata.size() == 1);
  CHECK(h.metadata[0] == std::pair<std::string, std::string>("format", "pt"));
  CHECK(h.at("a").shape == std::vector<std::uint64_t>{2, 3});
  CHECK(h.at("s").elements() == 1);
  CHECK(h.at("empty").elements() == 0);
  CHECK_FALSE(h.at("ids").readable());
  CHECK(h.find("nope") == nullptr);
  CHECK_THROWS_WITH(h.at("nope"), Contains("\"nope\""));

  std::vector<float> a(6);
  st::read_tensor(file, h, "a", std::span<float>(a));
  CHECK(a == std::vector<float>{1.5f, -2.0f, 0.25f, 3.0f, -0.125f, 1e-3f});

  TempDir dir("valid");
  const st::File f(dir.write("m.safetensors", file));
  CHECK(f.header().tensors.size() == 5);
  CHECK(f.read<float>("a") == a);
  CHECK(f.read<double>("a")[5] == static_cast<double>(1e-3f));
  CHECK(f.read<float>("b") == std::vector<float>{1.0f, -2.5f});
  CHECK(f.read<double>("s") == std::vector<double>{3.140625});
  CHECK(f.read<float>("empty").empty());
  CHECK_THROWS_WITH(f.read<float>("ids"), Contains("\"ids\"") && Contains("I64"));
  std::vector<float> small(5);
  CHECK_THROWS_WITH(f.read("a", std::span<float>(small)), Contains("\"a\"") && Contains("5 elements"));
  const st::Checkpoint c = st::Checkpoint::open(dir.path / "m.safetensors");
  CHECK(c.entries().size() == 5);
  CHECK(c.read<float>("b") == std::vector<float>{1.0f, -2.5f});

  // A tensor larger than one read chunk (1 MiB) comes back whole.
  const std::size_t big = 300000;
  Bytes bigdata;
  std::vector<float> want(big);
  for (std::size_t i = 0; i < big; ++i) want[i] = static_cast<float>(i) * 0.5f - 7.0f;
  for (float v : want) bigdata = cat(std::move(bigdata), le_f32({v}));
  const auto bigfile = dir.write("big.safetensors",
                                 make_file(R"({"w":{"dtype":"F32","shape":[300000],"data_offsets":[0,1200000]}})", bigdata));
  CHECK(st::File(bigfile).read<float>("w") == want);
}

TEST_CASE("safetensors: each header rule fails naming the tensor", "[io][safetensors]") {
  const auto entry = [](const std::string& body) { return R"({"ok": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "w": )" + body + "}"; };
  struct Case {
    std::string header, message;
  };
  const std::vector<Case> cases = {
      {entry(R"({"shape": [1], "data_offsets": [4, 8]})"), R"(tensor "w": "dtype" is missing)"},
      {entry(R"({"dtype": "F32", "data_offsets": [4, 8]})"), R"(tensor "w": "shape" is missing)"},
      {entry(R"({"dtype": "F32", "shape": [1]})"), R"(tensor "w": "data_offsets" is missing)"},
      {entry(R"({"dtype": 3, "shape": [1], "data_offsets": [4, 8]})"), R"(tensor "w": "dtype" must be a string)"},
      {entry(R"({"dtype": "F33", "shape": [1], "data_offsets": [4, 8]})"), R"(tensor "w": unknown dtype "F33")"},
      {entry(R"({"dtype": "F32", "shape": 1, "data_offsets": [4, 8]})"), R"(tensor "w": "shape" must be an array)"},
      {entry(R"({"dtype": "F32", "shape": [-1], "data_offsets": [4, 8]})"), R"(tensor "w": each dimension must be a non-negative integer)"},
      {entry(R"({"dtype": "F32", "shape": [1.5], "data_offsets": [4, 8]})"), R"(tensor "w": each dimension must be a non-negative integer)"},
      {entry(R"({"dtype": "F32", "shape": ["1"], "data_offsets": [4, 8]})"), R"(tensor "w": each dimension must be an integer)"},
      {entry(R"({"dtype": "F32", "shape": [1], "data_offsets": [4]})"), R"(tensor "w": "data_offsets" must be an array [begin, end])"},
      {entry(R"({"dtype": "F32", "shape": [1], "data_offsets": [4, 8, 12]})"), R"(tensor "w": "data_offsets" must be an array)"},
      {entry(R"({"dtype": "F32", "shape": [1], "data_offsets": [8, 4]})"), R"(tensor "w": data_offsets end 4 before begin 8)"},
      {entry(R"({"dtype": "F32", "shape": [2], "data_offsets": [4, 8]})"), R"(tensor "w": 2 elements of F32 take 8 bytes, data_offsets span 4)"},
      {entry(R"({"dtype": "F16", "shape": [3], "data_offsets": [4, 8]})"), R"(tensor "w": 3 elements of F16 take 6 bytes)"},
      {entry(R"({"dtype": "F32", "shape": [4294967296, 4294967296, 2], "data_offsets": [4, 8]})"), R"(tensor "w": the element count overflows)"},
      {entry(R"({"dtype": "F64", "shape": [4294967296, 1073741824], "data_offsets": [4, 8]})"), R"(tensor "w": the byte count overflows)"},
      {entry(R"({"dtype": "F4", "shape": [3], "data_offsets": [4, 5]})"), R"(tensor "w": the element count times the dtype's bits)"},
      {entry(R"({"dtype": "F32", "shape": [1], "data_offsets": [8, 12]})"), R"(tensor "w": a gap of 4 bytes)"},
      {entry(R"({"dtype": "F32", "shape": [1], "data_offsets": [2, 6]})"), R"(tensor "w": its bytes [2, 6) overlap tensor "ok")"},
      {entry(R"({"dtype": "F32", "shape": [1], "data_offsets": [0, 4]})"), R"(overlap tensor)"},
      {entry(R"({"dtype": "F32", "shape": [1], "data_offsets": [4, 8], "extra": 1})"), R"(tensor "w": unknown member "extra")"},
      {entry(R"({"dtype": "F32", "dtype": "F16", "shape": [1], "data_offsets": [4, 8]})"), R"(duplicate key "dtype" in w)"},
      {entry(R"("F32")"), R"(tensor "w": the entry must be an object)"},
      {R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})", R"(tensor "w": a gap of 4 bytes before it)"},
      {R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})",
       R"(duplicate key "w")"},
      {R"({"__metadata__": {"format": 1}})", R"("__metadata__" value of "format" must be a string)"},
      {R"({"__metadata__": ["pt"]})", R"("__metadata__" must be an object)"},
      {R"({"": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})", "empty name"},
      {R"( {})", "must start with '{'"},
      {R"([])", "must start with '{'"},
      {R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},})", "t.safetensors:1:"},
      {"{\"w\xff\": 1}", "invalid UTF-8 at byte 3"},
      {"{\"\xed\xa0\x80\": 1}", "invalid UTF-8"},  // an encoded surrogate
      {"", "must start with '{'"},
  };
  for (const auto& c : cases) {
    INFO(c.header);
    const std::string e = header_error(c.header);
    CHECK_THAT(e, Contains(c.message));
    CHECK_THAT(e, Contains("t.safetensors"));
  }
  CHECK(header_error(entry(R"({"dtype": "F32", "shape": [1], "data_offsets": [4, 8]})")).empty());
  CHECK(header_error(entry(R"({"dtype": "F4", "shape": [4], "data_offsets": [4, 6]})")).empty());  // sub-byte dtypes in bits
}

TEST_CASE("safetensors: file framing and values", "[io][safetensors]") {
  const std::string h = R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})";
  const Bytes good = make_file(h, le_f32({1.0f, 2.0f}));
  CHECK_NOTHROW(st::parse(good, "f"));
  CHECK_THROWS_WITH(st::parse(Bytes(good.begin(), good.begin() + 7), "f"), Contains("f: shorter than the 8-byte header length"));
  CHECK_THROWS_WITH(st::parse(cat(good, zeros(1)), "f"), Contains("f: 1 trailing bytes"));
  CHECK_THROWS_WITH(st::parse(Bytes(good.begin(), good.end() - 1), "f"), Contains("f: truncated"));
  Bytes huge = good;
  huge[7] = std::byte{0x01};  // N = 2^56 + ...: refused before any allocation
  CHECK_THROWS_WITH(st::parse(huge, "f"), Contains("exceeds the limit of 100000000 bytes"));
  st::Limits lim;
  lim.max_header_bytes = 16;
  CHECK_THROWS_WITH(st::parse(good, "f", lim), Contains("exceeds the limit of 16 bytes"));
  Bytes past = good;
  past[0] = std::byte{0xF0}, past[1] = std::byte{0x01};  // 496 bytes: inside the limit, past the end
  CHECK_THROWS_WITH(st::parse(past, "f"), Contains("runs past the end of the file"));

  TempDir dir("framing");
  CHECK_THROWS_WITH(st::File(dir.write("trail.safetensors", cat(good, zeros(3)))), Contains("trail.safetensors: 3 trailing bytes"));
  CHECK_THROWS_WITH(st::File(dir.write("huge.safetensors", huge)), Contains("huge.safetensors: header length"));
  CHECK_THROWS_WITH(st::File(dir.write("short.safetensors", zeros(4))), Contains("shorter than the 8-byte"));
  CHECK_THROWS_WITH(st::File(dir.path / "missing.safetensors"), Contains("missing.safetensors: cannot open"));

  // NaN and infinities are refused with the tensor's name and the element.
  const auto value_error = [&](const std::string& dtype, const Bytes& data) {
    const std::size_t n = data.size() / (dtype == "F32" ? 4 : 2);
    const Bytes f = make_file(R"({"x": {"dtype": ")" + dtype + R"(", "shape": [)" + std::to_string(n) + R"(], "data_offsets": [0, )" +
                                  std::to_string(data.size()) + "]}}",
                              data);
    const st::File file(dir.write("v.safetensors", f));
    std::vector<double> out(n);
    try {
      file.read("x", std::span<double>(out));
    } catch (const secformer::usage_error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  CHECK_THAT(value_error("F32", le_f32({1.0f, std::nanf("")})), Contains("tensor \"x\": NaN at element 1") && Contains("v.safetensors"));
  CHECK_THAT(value_error("F32", le_f32({-INFINITY})), Contains("tensor \"x\": infinity at element 0"));
  CHECK_THAT(value_error("F16", le_u16({0x3C00, 0x3C00, 0x7C00})), Contains("tensor \"x\": infinity at element 2"));
  CHECK_THAT(value_error("F16", le_u16({0xFE00})), Contains("NaN at element 0"));
  CHECK_THAT(value_error("BF16", le_u16({0x7FC0})), Contains("NaN at element 0"));
  CHECK_THAT(value_error("BF16", le_u16({0x0000, 0xFF80})), Contains("infinity at element 1"));
  CHECK(value_error("BF16", le_u16({0x7F7F})).empty());  // the largest finite bfloat16
}

TEST_CASE("safetensors: F16 and BF16 convert exactly", "[io][safetensors]") {
  const std::vector<std::uint16_t> f16 = {0x0000, 0x8000, 0x0001, 0x8001, 0x03FF, 0x0400, 0x3C00, 0xC000, 0x7BFF, 0xFBFF, 0x3555, 0x0200, 0x4248};
  const std::vector<double> f16_want = {0.0, -0.0, 0x1p-24, -0x1p-24, 1023 * 0x1p-24, 0x1p-14, 1.0, -2.0, 65504.0, -65504.0,
                                        0.333251953125, 0x1p-15, 3.140625};
  const std::vector<std::uint16_t> bf16 = {0x0000, 0x8000, 0x0001, 0x007F, 0x0080, 0x3F80, 0xBF80, 0x7F7F, 0xFF7F, 0x3EAB, 0x4049};
  const std::vector<double> bf16_want = {0.0, -0.0, 0x1p-133, 127 * 0x1p-133, 0x1p-126, 1.0, -1.0, 0x1.FEp127, -0x1.FEp127, 0.333984375, 3.140625};
  Bytes data;
  for (auto u : f16) data = cat(std::move(data), le_u16({u}));
  for (auto u : bf16) data = cat(std::move(data), le_u16({u}));
  data = cat(std::move(data), Bytes{std::byte{0x00}, std::byte{0x00}, std::byte{0x80}, std::byte{0x3F}});  // F32 1.0, little-endian
  const std::string h = R"({"h": {"dtype": "F16", "shape": [13], "data_offsets": [0, 26]},)"
                        R"( "b": {"dtype": "BF16", "shape": [11], "data_offsets": [26, 48]},)"
                        R"( "f": {"dtype": "F32", "shape": [1], "data_offsets": [48, 52]}})";
  const Bytes file = make_file(h, data);
  const st::Header hd = st::parse(file, "half");
  std::vector<double> got(13);
  st::read_tensor(file, hd, "h", std::span<double>(got));
  for (std::size_t i = 0; i < f16.size(); ++i) {
    INFO("f16 bits " << f16[i]);
    CHECK(got[i] == f16_want[i]);
    CHECK(std::signbit(got[i]) == std::signbit(f16_want[i]));
  }
  got.assign(11, 0);
  st::read_tensor(file, hd, "b", std::span<double>(got));
  for (std::size_t i = 0; i < bf16.size(); ++i) {
    INFO("bf16 bits " << bf16[i]);
    CHECK(got[i] == bf16_want[i]);
    CHECK(std::signbit(got[i]) == std::signbit(bf16_want[i]));
  }
  std::vector<float> one(1);
  st::read_tensor(file, hd, "f", std::span<float>(one));
  CHECK(one[0] == 1.0f);
  // Every finite half converts to the value its fields define.
  for (std::uint32_t u = 0; u < 0x10000; ++u) {
    const std::uint32_t e = (u >> 10) & 0x1F, m = u & 0x3FF;
    if (e == 31) continue;
    const double mag = e == 0 ? std::ldexp(static_cast<double>(m), -24) : std::ldexp(1.0 + m / 1024.0, static_cast<int>(e) - 15);
    const double want = (u & 0x8000) ? -mag : mag;
    const float f = std::bit_cast<float>(st::detail::f16_to_f32_bits(static_cast<std::uint16_t>(u)));
    if (static_cast<double>(f) != want || std::signbit(f) != std::signbit(want)) FAIL("f16 bits " << u);
  }
}

TEST_CASE("safetensors: shards and model.safetensors.index.json", "[io][safetensors]") {
  TempDir dir("shards");
  dir.write("s1.safetensors", make_file(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "b": {"dtype": "F16", "shape": [1], "data_offsets": [8, 10]}})",
                                        cat(le_f32({1.0f, 2.0f}), le_u16({0x4000}))));
  dir.write("s2.safetensors", make_file(R"({"c": {"dtype": "BF16", "shape": [1, 1], "data_offsets": [0, 2]}})", le_u16({0xC040})));
  const auto index = [&](const std::string& map, const std::string& total = "12") {
    return dir.write("model.safetensors.index.json", R"({"metadata": {"total_size": )" + total + R"(}, "weight_map": {)" + map + "}}");
  };
  const std::string ok_map = R"("a": "s1.safetensors", "b": "s1.safetensors", "c": "s2.safetensors")";
  index(ok_map);
  const st::Checkpoint c = st::Checkpoint::open(dir.path);
  REQUIRE(c.entries().size() == 3);
  CHECK(c.shards().size() == 2);
  CHECK(c.read<float>("a") == std::vector<float>{1.0f, 2.0f});
  CHECK(c.read<float>("b") == std::vector<float>{2.0f});
  CHECK(c.read<double>("c") == std::vector<double>{-3.0});
  CHECK(c.at("c").shard == 1);
  CHECK(c.at("c").info.shape == std::vector<std::uint64_t>{1, 1});
  CHECK_THROWS_WITH(c.at("d"), Contains("no tensor \"d\""));
  CHECK(st::Checkpoint::open(dir.path / "model.safetensors.index.json").entries().size() == 3);

  const auto open_error = [&]() {
    try {
      (void)st::Checkpoint::open(dir.path);
    } catch (const secformer::usage_error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  index(ok_map + R"(, "d": "s3.safetensors")");
  CHECK_THAT(open_error(), Contains("shard \"s3.safetensors\" (of tensor \"d\") does not exist") && Contains("model.safetensors.index.json"));
  index(ok_map + R"(, "d": "s2.safetensors")");
  CHECK_THAT(open_error(), Contains("tensor \"d\" is not in its shard") && Contains("s2.safetensors"));
  index(R"("a": "s1.safetensors", "c": "s2.safetensors")", "10");
  CHECK_THAT(open_error(), Contains("tensor \"b\" of shard") && Contains("is not in the weight map"));
  index(R"("a": "s1.safetensors", "b": "s2.safetensors", "c": "s2.safetensors")");
  CHECK_THAT(open_error(), Contains("tensor \"b\" is not in its shard"));
  index(ok_map, "13");
  CHECK_THAT(open_error(), Contains("metadata.total_size is 13, the tensors take 12 bytes"));
  index(ok_map, "\"12\"");
  CHECK_THAT(open_error(), Contains("\"metadata.total_size\" must be an integer"));
  index(ok_map + R"(, "a": "s1.safetensors")");
  CHECK_THAT(open_error(), Contains("duplicate key \"a\" in weight_map"));
  index(R"("a": "../s1.safetensors")");
  CHECK_THAT(open_error(), Contains("is not a plain file name"));
  index(R"("a": 1)");
  CHECK_THAT(open_error(), Contains("weight_map[\"a\"] must be a file name"));
  dir.write("model.safetensors.index.json", R"({"metadata": {}})");
  CHECK_THAT(open_error(), Contains("\"weight_map\" is missing"));
  // A tensor in two shards.
  dir.write("s2.safetensors", make_file(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "c": {"dtype": "BF16", "shape": [1, 1], "data_offsets": [8, 10]}})",
                                        cat(le_f32({1.0f, 2.0f}), le_u16({0xC040}))));
  index(ok_map, "12");
  CHECK_THAT(open_error(), Contains("tensor \"a\" of shard") && Contains("is mapped to another shard"));
  dir.write("model.safetensors", make_file("{}", {}));
  CHECK_THAT(open_error(), Contains("holds both model.safetensors and model.safetensors.index.json"));
  CHECK(st::Checkpoint::open(dir.path / "model.safetensors").entries().empty());
  fs::remove(dir.path / "model.safetensors");
  fs::remove(dir.path / "model.safetensors.index.json");
  CHECK_THAT(open_error(), Contains("holds neither model.safetensors nor model.safetensors.index.json"));
}

namespace {

const char* const minilm_config = R"({
  "_name_or_path": "nreimers/MiniLM-L6-H384-uncased", "architectures": ["BertModel"],
  "attention_probs_dropout_prob": 0.1, "gradient_checkpointing": false, "hidden_act": "gelu",
  "hidden_dropout_prob": 0.1, "hidden_size": 384, "initializer_range": 0.02, "intermediate_size": 1536,
  "layer_norm_eps": 1e-12, "max_position_embeddings": 512, "model_type": "bert", "num_attention_heads": 12,
  "num_hidden_layers": 6, "pad_token_id": 0, "position_embedding_type": "absolute", "transformers_version": "4.8.2",
  "type_vocab_size": 2, "use_cache": true, "vocab_size": 30522})";

/// minilm_config with `field` replaced by `json` (or removed when json is empty, added when new).
std::string with(const std::string& field, const std::string& json) {
  std::string s = minilm_config;
  const std::string key = "\"" + field + "\": ";
  const auto at = s.find(key);
  if (at == std::string::npos) return json.empty() ? s : s.substr(0, s.size() - 1) + ", " + key + json + "}";
  auto end = at + key.size();
  int depth = 0;
  for (; end < s.size(); ++end) {
    const char ch = s[end];
    if (ch == '[' || ch == '{') ++depth;
    else if ((ch == ']' || ch == '}') && depth > 0) --depth;
    else if ((ch == ',' || ch == '}') && depth == 0) break;
  }
  if (json.empty()) {
    if (s[end] == ',') return s.substr(0, at) + s.substr(end + 1);
    return s.substr(0, s.rfind(',', at)) + s.substr(end);  // the last member
  }
  return s.substr(0, at + key.size()) + json + s.substr(end);
}

std::string config_error(const std::string& text) {
  try {
    (void)secformer::io::parse_bert_config(text, "cfg.json");
  } catch (const secformer::usage_error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("bert config: config.json fields are read and checked", "[io][bert]") {
  using namespace secformer::io;
  const BertConfig c = parse_bert_config(minilm_config, "cfg.json");
  CHECK(c.architecture == BertHead::model);
  CHECK(c.hidden_size == 384);
  CHECK(c.num_hidden_layers == 6);
  CHECK(c.num_attention_heads == 12);
  CHECK(c.head_dim() == 32);
  CHECK(c.intermediate_size == 1536);
  CHECK(c.hidden_act == HiddenAct::gelu);
  CHECK(c.layer_norm_eps == 1e-12);
  CHECK(c.vocab_size == 30522);
  CHECK(c.max_position_embeddings == 512);
  CHECK(c.type_vocab_size == 2);
  CHECK(c.pad_token_id == std::optional<std::size_t>(0));
  CHECK(c.num_labels == 2);
  CHECK(c.id2label.empty());
  CHECK(c.problem_type == ProblemType::single_label_classification);
  CHECK_FALSE(c.problem_type_given);
  CHECK_FALSE(c.secformer);

  // Labels, problem types, the student block.
  const BertConfig l = parse_bert_config(with("architectures", R"(["BertForSequenceClassification"])")
                                             .insert(1, R"("id2label": {"1": "pos", "0": "neg"}, "label2id": {"neg": 0, "pos": 1}, )"));
  CHECK(l.architecture == BertHead::sequence_classification);
  CHECK(l.id2label == std::vector<std::string>{"neg", "pos"});
  CHECK(l.num_labels == 2);
  CHECK(parse_bert_config(with("num_labels", "1")).problem_type == ProblemType::regression);
  CHECK(parse_bert_config(with("num_labels", "3")).problem_type == ProblemType::single_label_classification);
  const BertConfig ml = parse_bert_config(with("problem_type", R"("multi_label_classification")"));
  CHECK(ml.problem_type == ProblemType::multi_label_classification);
  CHECK(ml.problem_type_given);
  CHECK(parse_bert_config(with("problem_type", "null")).problem_type == ProblemType::single_label_classification);
  CHECK(parse_bert_config(with("hidden_act", R"("gelu_new")")).hidden_act == HiddenAct::gelu_new);
  CHECK(parse_bert_config(with("hidden_act", R"("relu")")).hidden_act == HiddenAct::relu);
  CHECK(parse_bert_config(with("hidden_act", "")).hidden_act == HiddenAct::gelu);
  CHECK_FALSE(parse_bert_config(with("pad_token_id", "null")).pad_token_id);
  CHECK_FALSE(parse_bert_config(with("architectures", "")).architecture);
  const BertConfig s = parse_bert_config(with("secformer", R"({"attention": "2quad", "quad_c": 4.5, "gelu": "quad"})"));
  REQUIRE(s.secformer);
  CHECK(s.secformer->attention == AttentionKind::quad2);
  CHECK(s.secformer->quad_c == 4.5);
  CHECK(s.secformer->gelu == StudentGelu::quad);
  const BertConfig s2 = parse_bert_config(with("secformer", R"({"gelu": "secformer"})"));
  CHECK(s2.secformer->attention == AttentionKind::softmax);
  CHECK(s2.secformer->gelu == StudentGelu::secformer);
  CHECK(parse_bert_config(with("anything_else", R"({"x": [1, 2]})")).hidden_size == 384);  // unknown fields are fine

  struct Case {
    std::string text, message;
  };
  const std::vector<Case> cases = {
      {with("model_type", R"("roberta")"), R"("model_type" must be "bert", found "roberta")"},
      {with("model_type", ""), R"("model_type" is missing)"},
      {with("architectures", R"(["BertForMaskedLM"])"), R"("architectures" "BertForMaskedLM" is not supported)"},
      {with("architectures", R"("BertModel")"), R"("architectures" must be an array)"},
      {with("hidden_size", R"("384")"), R"("hidden_size" must be an integer, found string)"},
      {with("hidden_size", "384.5"), R"("hidden_size" must be an integer)"},
      {with("hidden_size", "0"), R"("hidden_size" must be a positive integer)"},
      {with("hidden_size", ""), R"("hidden_size" is missing)"},
      {with("num_hidden_layers", "-2"), R"("num_hidden_layers" must be a positive integer)"},
      {with("num_hidden_layers", "5000"), R"("num_hidden_layers" 5000 exceeds the limit of 4096)"},
      {with("vocab_size", "1e12"), R"("vocab_size" 1000000000000 exceeds the limit)"},
      {with("num_attention_heads", "7"), R"("num_attention_heads" 7 does not divide hidden_size 384)"},
      {with("intermediate_size", "null"), R"("intermediate_size" must be an integer, found null)"},
      {with("vocab_size", "[30522]"), R"("vocab_size" must be an integer)"},
      {with("max_position_embeddings", ""), R"("max_position_embeddings" is missing)"},
      {with("type_vocab_size", "0"), R"("type_vocab_size" must be a positive integer)"},
      {with("hidden_act", R"("swish")"), R"("hidden_act" "swish" is not supported)"},
      {with("hidden_act", "1"), R"("hidden_act" must be a string)"},
      {with("layer_norm_eps", "0"), R"("layer_norm_eps" must be positive)"},
      {with("layer_norm_eps", R"("1e-12")"), R"("layer_norm_eps" must be a number)"},
      {with("pad_token_id", "30522"), R"("pad_token_id" 30522 is outside the vocabulary)"},
      {with("position_embedding_type", R"("relative_key")"), R"("position_embedding_type" "relative_key" is not supported)"},
      {with("id2label", R"({"0": "a", "2": "b"})"), R"("id2label" keys must be the integers 0..1, found "2")"},
      {with("id2label", R"({"0": "a", "00": "b"})"), R"("id2label" keys must be the integers)"},
      {with("id2label", R"({"0": 1})"), R"("id2label" ["0"] must be a string)"},
      {with("id2label", "{}"), R"("id2label" must name at least one label)"},
      {with("id2label", R"(["a"])"), R"("id2label" must be an object)"},
      {with("id2label", R"({"0": "a", "1": "b"})").insert(1, R"("num_labels": 3, )"), R"("num_labels" 3 disagrees with the 2 labels)"},
      {with("id2label", R"({"0": "a", "1": "b"})").insert(1, R"("label2id": {"a": 1, "b": 0}, )"), R"("label2id.a" = 1 is not the inverse)"},
      {with("id2label", R"({"0": "a", "1": "b"})").insert(1, R"("label2id": {"a": 0}, )"), R"("label2id" has 1 labels, id2label 2)"},
      {with("label2id", R"({"a": "0"})"), R"("label2id.a" must be an integer)"},
      {with("num_labels", "0"), R"("num_labels" must be positive)"},
      {with("problem_type", R"("ranking")"), R"("problem_type" "ranking" is not one of)"},
      {with("problem_type", R"("single_label_classification")").insert(1, R"("num_labels": 1, )"), R"(needs at least 2 labels)"},
      {with("secformer", R"({"attention": "relu"})"), R"("secformer.attention" must be "softmax" or "2quad", found "relu")"},
      {with("secformer", R"({"attention": "softmax", "quad_c": 5})"), R"("secformer.quad_c" is given but attention is not "2quad")"},
      {with("secformer", R"({"attention": "2quad", "quad_c": -1})"), R"("secformer.quad_c" must be positive)"},
      {with("secformer", R"({"gelu": "erf"})"), R"("secformer.gelu" must be "secformer" or "quad", found "erf")"},
      {with("secformer", R"({"softmax": "2quad"})"), R"("secformer.softmax" is not a member of the secformer block)"},
      {with("secformer", R"("2quad")"), R"(secformer must be a JSON object)"},
      {with("hidden_size", "384").insert(1, R"("hidden_size": 768, )"), R"(duplicate key "hidden_size")"},
      {"[1]", "the document must be a JSON object"},
      {"{\"model_type\": \"bert\",}", "cfg.json:1:"},
  };
  for (const auto& k : cases) {
    INFO(k.text);
    const std::string e = config_error(k.text);
    CHECK_THAT(e, Contains(k.message));
    CHECK_THAT(e, Contains("cfg.json"));
  }
  TempDir dir("config");
  CHECK(read_bert_config(dir.write("config.json", std::string(minilm_config))).hidden_size == 384);
}

TEST_CASE("bert tensors: Hugging Face's names and shapes, checked against an index", "[io][bert]") {
  using namespace secformer::io;
  BertConfig c = parse_bert_config(with("num_hidden_layers", "2"), "cfg.json");
  const auto model = bert_tensors(c, BertHead::model);
  const auto cls = bert_tensors(c, BertHead::sequence_classification);
  CHECK(model.size() == 5 + 16 * 2 + 2);
  CHECK(cls.size() == model.size() + 2);
  const auto shape_of = [&](const std::string& n) {
    for (const auto& e : cls)
      if (e.name == n) return e.shape;
    FAIL("no " << n);
    return std::vector<std::uint64_t>{};
  };
  using V = std::vector<std::uint64_t>;
  CHECK(shape_of("embeddings.word_embeddings.weight") == V{30522, 384});
  CHECK(shape_of("embeddings.position_embeddings.weight") == V{512, 384});
  CHECK(shape_of("embeddings.token_type_embeddings.weight") == V{2, 384});
  CHECK(shape_of("embeddings.LayerNorm.bias") == V{384});
  CHECK(shape_of("encoder.layer.1.attention.self.value.weight") == V{384, 384});
  CHECK(shape_of("encoder.layer.1.attention.output.LayerNorm.weight") == V{384});
  CHECK(shape_of("encoder.layer.0.intermediate.dense.weight") == V{1536, 384});
  CHECK(shape_of("encoder.layer.0.intermediate.dense.bias") == V{1536});
  CHECK(shape_of("encoder.layer.0.output.dense.weight") == V{384, 1536});
  CHECK(shape_of("pooler.dense.weight") == V{384, 384});
  CHECK(shape_of("classifier.weight") == V{2, 384});
  CHECK(shape_of("classifier.bias") == V{2});

  // An index as Hugging Face saves it: BertModel plain, BertForSequenceClassification with "bert.".
  const auto index_of = [](const std::vector<ExpectedTensor>& e, bool prefix) {
    std::vector<st::TensorInfo> v;
    for (const auto& t : e) v.push_back({(prefix && t.base ? "bert." : "") + t.name, "F32", t.shape, 0, 0});
    return v;
  };
  auto plain = index_of(model, false);
  plain.push_back({"embeddings.position_ids", "I64", {1, 512}, 0, 0});
  const TensorMap m = match_bert_tensors(c, BertHead::model, plain, "ckpt");
  CHECK_FALSE(m.prefixed);
  CHECK(m.file_names.size() == model.size());
  CHECK(m.file_name("pooler.dense.bias") == "pooler.dense.bias");
  const TensorMap mc = match_bert_tensors(c, BertHead::sequence_classification, index_of(cls, true), "ckpt");
  CHECK(mc.prefixed);
  CHECK(mc.file_name("encoder.layer.0.attention.self.query.weight") == "bert.encoder.layer.0.attention.self.query.weight");
  CHECK(mc.file_name("classifier.weight") == "classifier.weight");
  CHECK(match_bert_tensors(c, BertHead::sequence_classification, index_of(cls, false), "ckpt").file_names.size() == cls.size());
  CHECK(match_bert_tensors(c, BertHead::model, index_of(model, true), "ckpt").prefixed);
  // Legacy LayerNorm names.
  auto legacy = index_of(model, true);
  for (auto& t : legacy) {
    if (t.name.ends_with("LayerNorm.weight")) t.name.replace(t.name.size() - 6, 6, "gamma");
    if (t.name.ends_with("LayerNorm.bias")) t.name.replace(t.name.size() - 4, 4, "beta");
  }
  const TensorMap ml = match_bert_tensors(c, BertHead::model, legacy, "ckpt");
  CHECK(ml.file_name("encoder.layer.1.output.LayerNorm.weight") == "bert.encoder.layer.1.output.LayerNorm.gamma");
  CHECK(ml.file_name("embeddings.LayerNorm.bias") == "bert.embeddings.LayerNorm.beta");

  const auto error = [&](BertHead head, std::vector<st::TensorInfo> v) {
    try {
      (void)match_bert_tensors(c, head, v, "ckpt");
    } catch (const secformer::usage_error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  auto missing = index_of(cls, true);
  missing.erase(missing.begin() + 7);
  CHECK_THAT(error(BertHead::sequence_classification, missing), Contains("ckpt: missing tensor \"bert." + cls[7].name + "\""));
  CHECK_THAT(error(BertHead::sequence_classification, index_of(model, true)), Contains("missing tensor \"classifier.weight\""));
  auto extra = index_of(model, false);
  extra.push_back({"cls.predictions.bias", "F32", {30522}, 0, 0});
  CHECK_THAT(error(BertHead::model, extra), Contains("unexpected tensor \"cls.predictions.bias\""));
  CHECK_THAT(error(BertHead::model, index_of(cls, true)), Contains("unexpected tensor \"classifier."));
  auto shaped = index_of(model, false);
  shaped[10].shape = {384, 385};
  CHECK_THAT(error(BertHead::model, shaped), Contains("tensor \"" + model[10].name + "\" has shape (384, 385), expected ("));
  auto transposed = index_of(model, false);
  for (auto& t : transposed)
    if (t.name == "encoder.layer.0.intermediate.dense.weight") t.shape = {384, 1536};
  CHECK_THAT(error(BertHead::model, transposed), Contains("\"encoder.layer.0.intermediate.dense.weight\" has shape (384, 1536), expected (1536, 384)"));
  auto typed = index_of(model, false);
  typed[0].dtype = "I32";
  CHECK_THAT(error(BertHead::model, typed), Contains("tensor \"" + model[0].name + "\" has dtype I32"));
  auto mixed = index_of(model, true);
  mixed[3].name = mixed[3].name.substr(5);
  CHECK_THAT(error(BertHead::model, mixed), Contains("tensor \"" + model[3].name + "\" lacks the \"bert.\" prefix"));
  auto twice = index_of(model, false);
  for (const auto& t : twice)
    if (t.name == "embeddings.LayerNorm.weight") {
      auto g = t;
      g.name = "embeddings.LayerNorm.gamma";
      twice.push_back(g);
      break;
    }
  CHECK_THAT(error(BertHead::model, twice), Contains("appears twice"));
  c.num_hidden_layers = 3;
  CHECK_THAT(error(BertHead::model, index_of(model, false)), Contains("missing tensor \"encoder.layer.2."));
}

// ---- against Hugging Face's own writers (ctest io.hf_checkpoint: tests/support/run_hf_checkpoint.sh
// writes the files with tests/support/write_hf_checkpoint.py and sets SECFORMER_HF_DIR).

namespace {

void compare_tensors(const st::Checkpoint& c, const secformer::io::json::Value& expected) {
  for (const auto& [name, want] : expected.as_object()) {
    INFO(name);
    const auto* e = c.find(name);
    REQUIRE(e);
    std::vector<std::uint64_t> shape;
    for (const auto& d : want.at("shape").as_array()) shape.push_back(static_cast<std::uint64_t>(d.as_int()));
    CHECK(e->info.shape == shape);
    const std::vector<double> got = c.read<double>(name);
    const auto& values = want.at("values").as_array();
    REQUIRE(got.size() == values.size());
    std::size_t wrong = 0;
    for (std::size_t i = 0; i < got.size(); ++i) wrong += got[i] != values[i].as_number() || std::signbit(got[i]) != std::signbit(values[i].as_number());
    CHECK(wrong == 0);
  }
}

}  // namespace

TEST_CASE("hf: checkpoints written by Hugging Face read back exactly", "[.hf]") {
  using namespace secformer::io;
  const char* env = std::getenv("SECFORMER_HF_DIR");
  if (!env) FAIL("SECFORMER_HF_DIR is not set: run ctest -R io.hf_checkpoint (tests/support/run_hf_checkpoint.sh)");
  const fs::path dir = env;
  const json::Value expected = json::parse_file(dir / "expected.json");
  const auto& tensors = expected.at("tensors");
  const auto& cfg = expected.at("config");

  for (const char* sub : {"cls", "sharded"}) {
    INFO(sub);
    const BertConfig c = read_bert_config(dir / sub / "config.json");
    CHECK(c.architecture == BertHead::sequence_classification);
    CHECK(c.hidden_size == static_cast<std::size_t>(cfg.at("hidden_size").as_int()));
    CHECK(c.num_hidden_layers == static_cast<std::size_t>(cfg.at("num_hidden_layers").as_int()));
    CHECK(c.num_attention_heads == static_cast<std::size_t>(cfg.at("num_attention_heads").as_int()));
    CHECK(c.intermediate_size == static_cast<std::size_t>(cfg.at("intermediate_size").as_int()));
    CHECK(c.vocab_size == static_cast<std::size_t>(cfg.at("vocab_size").as_int()));
    CHECK(c.max_position_embeddings == static_cast<std::size_t>(cfg.at("max_position_embeddings").as_int()));
    CHECK(c.type_vocab_size == static_cast<std::size_t>(cfg.at("type_vocab_size").as_int()));
    std::vector<std::string> labels;
    for (const auto& l : cfg.at("labels").as_array()) labels.push_back(l.as_string());
    CHECK(c.id2label == labels);
    CHECK(c.num_labels == labels.size());
    const st::Checkpoint ck = st::Checkpoint::open(dir / sub);
    if (std::string(sub) == "sharded") CHECK(ck.shards().size() > 1);
    const TensorMap m = match_bert_tensors(c, BertHead::sequence_classification, ck.tensors(), (dir / sub).string());
    CHECK(m.prefixed);
    CHECK(m.file_names.size() == tensors.as_object().size());
    compare_tensors(ck, tensors);
  }
  {  // BertModel alone: the names without "bert."
    const BertConfig c = read_bert_config(dir / "base" / "config.json");
    CHECK(c.architecture == BertHead::model);
    const st::Checkpoint ck = st::Checkpoint::open(dir / "base");
    const TensorMap m = match_bert_tensors(c, BertHead::model, ck.tensors(), "base");
    CHECK_FALSE(m.prefixed);
    for (const auto& [canonical, file] : m.file_names) {
      INFO(canonical);
      const auto& want = tensors.at("bert." + canonical).at("values").as_array();
      const std::vector<float> got = ck.read<float>(file);
      REQUIRE(got.size() == want.size());
      for (std::size_t i = 0; i < got.size(); ++i)
        if (static_cast<double>(got[i]) != want[i].as_number()) FAIL("value " << i);
    }
  }
  // F16 (safetensors.numpy) and BF16 (safetensors.torch).
  const st::Checkpoint f16 = st::Checkpoint::open(dir / "half_f16.safetensors");
  const st::Checkpoint bf16 = st::Checkpoint::open(dir / "half_bf16.safetensors");
  CHECK(f16.at("f16.bits").info.dtype == "F16");
  CHECK(bf16.at("bf16.bits").info.dtype == "BF16");
  CHECK(f16.shards()[0].header().metadata == std::vector<std::pair<std::string, std::string>>{{"writer", "safetensors.numpy"}});
  json::Object half_f16, half_bf16;
  for (const auto& [k, v] : expected.at("half").as_object()) (k.starts_with("f16") ? half_f16 : half_bf16).emplace_back(k, v);
  compare_tensors(f16, json::Value{half_f16});
  compare_tensors(bf16, json::Value{half_bf16});
}

// ---- GLUE: the nine tasks' TSV readers and the metrics (include/secformer/io/glue.hpp, metrics.hpp).
#include <limits>
#include <optional>

#include <secformer/io/glue.hpp>
#include <secformer/io/metrics.hpp>

namespace {

namespace glue = secformer::io::glue;
namespace metrics = secformer::io::metrics;
using Catch::Matchers::WithinAbs;

/// Reads `text` as task `t` from a file `name` in `dir`.
glue::Dataset read_tsv(const TempDir& dir, glue::Task t, const std::string& name, const std::string& text) {
  return glue::read(t, dir.write(name, text));
}
/// The error message of reading `text` as task `t` ("" if it read).
std::string tsv_error(const TempDir& dir, glue::Task t, const std::string& name, const std::string& text) {
  try {
    (void)read_tsv(dir, t, name, text);
  } catch (const secformer::usage_error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("glue: each task's train/dev and test layouts read back", "[io][glue]") {
  const TempDir dir("glue_layouts");
  using glue::Task;

  SECTION("CoLA: train/dev without a header, test with index sentence") {
    // CRLF on one line, a quote kept as text, an empty mark column, empty lines at the end.
    const auto d = read_tsv(dir, Task::cola, "cola_dev.tsv",
                            "gj04\t1\t\tOur friends won't buy this analysis, let alone the next one we propose.\n"
                            "gj04\t0\t*\tThey drank the pub.\r\n"
                            "cj99\t1\t\t\"Fiddle,\" she said.\n\n\n");
    CHECK(d.labeled);
    REQUIRE(d.examples.size() == 3);
    CHECK(d.examples[0].text_a == "Our friends won't buy this analysis, let alone the next one we propose.");
    CHECK(d.examples[0].label == std::optional<std::size_t>(1));
    CHECK_FALSE(d.examples[0].text_b.has_value());
    CHECK_FALSE(d.examples[0].score.has_value());
    CHECK(d.examples[1].text_a == "They drank the pub.");
    CHECK(d.examples[1].label == std::optional<std::size_t>(0));
    CHECK(d.examples[2].text_a == "\"Fiddle,\" she said.");
    CHECK(d.examples[2].line == 3);
    CHECK(d.labels() == std::vector<std::size_t>{1, 0, 1});
    CHECK_THROWS_WITH(d.scores(), Contains("classification"));

    const auto t = read_tsv(dir, Task::cola, "cola_test.tsv", "index\tsentence\n0\tBill whistled past the house.\n1\tThe car honked.\n");
    CHECK_FALSE(t.labeled);
    REQUIRE(t.examples.size() == 2);
    CHECK(t.examples[1].text_a == "The car honked.");
    CHECK_FALSE(t.examples[1].label.has_value());
    CHECK(t.examples[1].line == 3);
    CHECK_THROWS_WITH(t.labels(), Contains("test file"));
  }
  SECTION("SST-2") {
    const auto d = read_tsv(dir, Task::sst2, "sst2.tsv", "sentence\tlabel\nit 's a charming and often affecting journey . \t1\n\"unflinchingly bleak and desperate \t0\n");
    REQUIRE(d.examples.size() == 2);
    CHECK(d.examples[0].text_a == "it 's a charming and often affecting journey . ");  // not trimmed
    CHECK(d.examples[1].text_a == "\"unflinchingly bleak and desperate ");              // an unmatched quote is text
    CHECK(d.labels() == std::vector<std::size_t>{1, 0});
    const auto t = read_tsv(dir, Task::sst2, "sst2_test.tsv", "index\tsentence\n0\tuneasy mishmash of styles and genres .\n");
    CHECK_FALSE(t.labeled);
    CHECK(t.examples.at(0).text_a == "uneasy mishmash of styles and genres .");
  }
  SECTION("MRPC, with a byte-order mark and CRLF") {
    const auto d = read_tsv(dir, Task::mrpc, "mrpc.tsv",
                            "\xEF\xBB\xBFQuality\t#1 ID\t#2 ID\t#1 String\t#2 String\r\n"
                            "1\t702876\t702977\tAmrozi accused his brother.\tReferring to him as only \"the witness\".\r\n"
                            "0\t2108705\t2108831\tYucaipa owned Dominick 's.\tYucaipa bought Dominick 's in 1995.\r\n");
    REQUIRE(d.examples.size() == 2);
    CHECK(d.examples[0].text_a == "Amrozi accused his brother.");
    CHECK(d.examples[0].text_b == std::optional<std::string>("Referring to him as only \"the witness\"."));
    CHECK(d.labels() == std::vector<std::size_t>{1, 0});
    const auto t = read_tsv(dir, Task::mrpc, "mrpc_test.tsv", "index\t#1 ID\t#2 ID\t#1 String\t#2 String\n0\t1089874\t1089925\tPCCW 's chief.\tCurrent Chief.\n");
    CHECK_FALSE(t.labeled);
    CHECK(t.examples.at(0).text_b == std::optional<std::string>("Current Chief."));
  }
  SECTION("QQP") {
    const auto d = read_tsv(dir, Task::qqp, "qqp.tsv",
                            "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n"
                            "133273\t213221\t213222\tHow is the life of a math student?\tWhich level of prepration is enough?\t0\n"
                            "402555\t536040\t536041\tHow do I control my horny emotions?\tHow do you control your horniness?\t1\n");
    REQUIRE(d.examples.size() == 2);
    CHECK(d.examples[1].text_a == "How do I control my horny emotions?");
    CHECK(d.examples[1].text_b == std::optional<std::string>("How do you control your horniness?"));
    CHECK(d.labels() == std::vector<std::size_t>{0, 1});
    const auto t = read_tsv(dir, Task::qqp, "qqp_test.tsv", "id\tquestion1\tquestion2\n0\tWhy?\tWhy not?\n");
    CHECK(t.examples.at(0).text_a == "Why?");
    CHECK(t.examples.at(0).text_b == std::optional<std::string>("Why not?"));
  }
  SECTION("STS-B: scores as doubles") {
    const std::string h = "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2";
    const auto d = read_tsv(dir, Task::stsb, "stsb.tsv",
                            h + "\tscore\n"
                                "0\tmain-captions\tMSRvid\t2012test\t0000\tnone\tnone\tA man with a hard hat is dancing.\tA man wearing a hard hat is dancing.\t5.000\n"
                                "1\tmain-captions\tMSRvid\t2012test\t0002\tnone\tnone\tA young child is riding a horse.\tA child is riding a horse.\t4.750\n"
                                "2\tmain-news\tdeft-news\t2014\t0003\tnone\tnone\tThe cat sat.\tStocks fell.\t0\n");
    CHECK(d.labeled);
    REQUIRE(d.examples.size() == 3);
    CHECK(d.examples[0].text_a == "A man with a hard hat is dancing.");
    CHECK(d.examples[0].text_b == std::optional<std::string>("A man wearing a hard hat is dancing."));
    CHECK_FALSE(d.examples[0].label.has_value());
    CHECK(d.scores() == std::vector<double>{5.0, 4.75, 0.0});
    CHECK_THROWS_WITH(d.labels(), Contains("STS-B"));
    const auto t = read_tsv(dir, Task::stsb, "stsb_test.tsv", h + "\n0\tmain-captions\tMSRvid\t2012test\t0024\tnone\tnone\tA girl is styling her hair.\tA girl is brushing her hair.\n");
    CHECK_FALSE(t.labeled);
    CHECK_FALSE(t.examples.at(0).score.has_value());
    CHECK(t.examples.at(0).text_b == std::optional<std::string>("A girl is brushing her hair."));
  }
  SECTION("MNLI: train (label1), dev matched/mismatched (label1..label5), test") {
    const std::string h = "index\tpromptID\tpairID\tgenre\tsentence1_binary_parse\tsentence2_binary_parse\tsentence1_parse\tsentence2_parse\tsentence1\tsentence2";
    const std::string parses = "\t( ( x ) )\t( ( y ) )\t(ROOT (S x))\t(ROOT (S y))\t";
    const auto tr = read_tsv(dir, Task::mnli, "mnli_train.tsv",
                             h + "\tlabel1\tgold_label\n" + "0\t31193\t31193n\tgovernment" + parses + "Conceptually cream skimming.\tProduct and geography.\tneutral\tneutral\n" +
                                 "1\t101457\t101457e\ttelephone" + parses + "you know during the season\tYou lose the things.\tentailment\tentailment\n");
    REQUIRE(tr.examples.size() == 2);
    CHECK(tr.examples[0].text_a == "Conceptually cream skimming.");
    CHECK(tr.examples[0].text_b == std::optional<std::string>("Product and geography."));
    CHECK(tr.labels() == std::vector<std::size_t>{1, 0});
    const auto dev = read_tsv(dir, Task::mnli, "dev_mismatched.tsv",
                              h + "\tlabel1\tlabel2\tlabel3\tlabel4\tlabel5\tgold_label\n" + "0\t63735\t63735n\tslate" + parses +
                                  "The new rights are nice.\tEveryone really likes them.\tneutral\tentailment\tneutral\tneutral\tneutral\tcontradiction\n");
    CHECK(dev.labels() == std::vector<std::size_t>{2});  // gold_label, the last column
    const auto t = read_tsv(dir, Task::mnli, "test_matched.tsv", h + "\n0\t31493\t31493\ttravel" + parses + "Hierbas, ans seco.\tThe drink is dark.\n");
    CHECK_FALSE(t.labeled);
    CHECK(t.examples.at(0).text_a == "Hierbas, ans seco.");
  }
  SECTION("QNLI, RTE, WNLI") {
    const auto q = read_tsv(dir, Task::qnli, "qnli.tsv",
                            "index\tquestion\tsentence\tlabel\n0\tWhat came into force?\tThe law came into force.\tentailment\n"
                            "1\tWhat is the name?\tUnrelated.\tnot_entailment\n");
    CHECK(q.labels() == std::vector<std::size_t>{0, 1});
    CHECK(q.examples[0].text_a == "What came into force?");
    CHECK(q.examples[0].text_b == std::optional<std::string>("The law came into force."));
    const auto r = read_tsv(dir, Task::rte, "rte.tsv", "index\tsentence1\tsentence2\tlabel\n0\tNo Weapons of Mass Destruction Found.\tWeapons found.\tnot_entailment\n");
    CHECK(r.labels() == std::vector<std::size_t>{1});
    const auto w = read_tsv(dir, Task::wnli, "wnli.tsv", "index\tsentence1\tsentence2\tlabel\n0\tI stuck a pin.\tThe pin had a hole.\t1\n1\tJohn saw Bill.\tBill saw John.\t0\n");
    CHECK(w.labels() == std::vector<std::size_t>{1, 0});
    CHECK(w.examples[1].text_b == std::optional<std::string>("Bill saw John."));
    for (const Task k : {Task::qnli, Task::rte, Task::wnli}) {
      const std::string head = k == Task::qnli ? "index\tquestion\tsentence\n" : "index\tsentence1\tsentence2\n";
      const auto t = read_tsv(dir, k, "test.tsv", head + "0\tA.\tB.\n");
      CHECK_FALSE(t.labeled);
      CHECK(t.examples.at(0).text_b == std::optional<std::string>("B."));
    }
  }
  SECTION("parse() over bytes, the source in messages") {
    const auto d = glue::parse(Task::sst2, "sentence\tlabel\nok\t1", "mem.tsv");  // no final newline
    CHECK(d.source == "mem.tsv");
    CHECK(d.examples.at(0).text_a == "ok");
    CHECK_THROWS_WITH(glue::parse(Task::sst2, "sentence\tlabel\nok\t2", "mem.tsv"), Contains("mem.tsv:2"));
  }
}

TEST_CASE("glue: malformed files fail naming the file and the line", "[io][glue]") {
  const TempDir dir("glue_errors");
  using glue::Task;
  const std::string rte_head = "index\tsentence1\tsentence2\tlabel\n";

  std::string e = tsv_error(dir, Task::rte, "cols.tsv", rte_head + "0\tA.\tB.\tentailment\n1\tA.\tB with\ta tab.\tentailment\n");
  CHECK_THAT(e, Contains("cols.tsv:3:") && Contains("5 columns") && Contains("has 4"));
  e = tsv_error(dir, Task::rte, "short.tsv", rte_head + "0\tA.\tentailment\n");
  CHECK_THAT(e, Contains("short.tsv:2:") && Contains("3 columns"));
  e = tsv_error(dir, Task::cola, "cola_cols.tsv", "gj04\t1\t\tFine.\ngj04\t1\tMissing a column.\n");
  CHECK_THAT(e, Contains("cola_cols.tsv:2:") && Contains("3 columns") && Contains("train/dev layout has 4"));

  e = tsv_error(dir, Task::rte, "label.tsv", rte_head + "0\tA.\tB.\tentailment\n1\tA.\tB.\tneutral\n");
  CHECK_THAT(e, Contains("label.tsv:3:") && Contains("\"neutral\"") && Contains("entailment, not_entailment"));
  e = tsv_error(dir, Task::sst2, "sst.tsv", "sentence\tlabel\ngood\t1.0\n");
  CHECK_THAT(e, Contains("sst.tsv:2:") && Contains("\"1.0\""));
  e = tsv_error(dir, Task::mnli, "mnli.tsv",
                "index\tpromptID\tpairID\tgenre\tsentence1_binary_parse\tsentence2_binary_parse\tsentence1_parse\tsentence2_parse\tsentence1\tsentence2\tlabel1\tgold_label\n"
                "0\t1\t1n\tg\tx\ty\tx\ty\tA.\tB.\tneutral\tNeutral\n");
  CHECK_THAT(e, Contains("mnli.tsv:2:") && Contains("gold_label \"Neutral\""));
  e = tsv_error(dir, Task::cola, "cola_label.tsv", "gj04\t2\t\tA.\n");
  CHECK_THAT(e, Contains("cola_label.tsv:1:") && Contains("\"2\""));

  const std::string sts_head = "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n";
  for (const std::string bad : {"5.5", "-1", "abc", "", "3.0x", "1e0", "nan"}) {
    e = tsv_error(dir, Task::stsb, "sts.tsv", sts_head + "0\tg\tf\ty\to\tn\tn\tA.\tB.\t2.5\n1\tg\tf\ty\to\tn\tn\tA.\tB.\t" + bad + "\n");
    CHECK_THAT(e, Contains("sts.tsv:3:") && Contains("[0, 5]"));
  }

  e = tsv_error(dir, Task::sst2, "head.tsv", "sentence\tlabels\ngood\t1\n");
  CHECK_THAT(e, Contains("head.tsv:1:") && Contains("not a SST-2 header") && Contains("\"sentence<TAB>labels\"") && Contains("\"sentence<TAB>label\""));
  e = tsv_error(dir, Task::qnli, "rte_as_qnli.tsv", rte_head + "0\tA.\tB.\tentailment\n");
  CHECK_THAT(e, Contains("rte_as_qnli.tsv:1:") && Contains("not a QNLI header"));
  e = tsv_error(dir, Task::mrpc, "mrpc.tsv", "Quality\t#1 ID\t#2 ID\t#1 String\n1\t1\t2\tA.\n");
  CHECK_THAT(e, Contains("mrpc.tsv:1:") && Contains("not a MRPC header"));
  e = tsv_error(dir, Task::mnli, "mnli_head.tsv",
                "index\tpromptID\tpairID\tgenre\tsentence1_binary_parse\tsentence2_binary_parse\tsentence1_parse\tsentence2_parse\tsentence1\tsentence2\tlabel2\tgold_label\n");
  CHECK_THAT(e, Contains("mnli_head.tsv:1:") && Contains("not an MNLI header"));
  e = tsv_error(dir, Task::cola, "cola_head.tsv", "index\tsentence\tlabel\n0\tA.\t1\n");
  CHECK_THAT(e, Contains("cola_head.tsv:1:") && Contains("not a CoLA header"));

  e = tsv_error(dir, Task::rte, "gap.tsv", rte_head + "0\tA.\tB.\tentailment\n\n1\tA.\tB.\tentailment\n");
  CHECK_THAT(e, Contains("gap.tsv:3:") && Contains("empty line"));
  CHECK_THAT(tsv_error(dir, Task::rte, "empty.tsv", ""), Contains("empty.tsv:1:") && Contains("empty"));
  CHECK_THAT(tsv_error(dir, Task::rte, "blank.tsv", "\r\n\n"), Contains("blank.tsv:1:") && Contains("empty"));
  CHECK_THAT(tsv_error(dir, Task::rte, "only_head.tsv", rte_head), Contains("only_head.tsv:1:") && Contains("no examples"));
  e = tsv_error(dir, Task::rte, "utf8.tsv", rte_head + "0\tA.\tB\xC3(.\tentailment\n");
  CHECK_THAT(e, Contains("utf8.tsv:2:") && Contains("invalid UTF-8"));
  CHECK_THROWS_WITH(glue::read(Task::rte, dir.path / "missing.tsv"), Contains("missing.tsv"));
  glue::Limits small;
  small.max_file_bytes = 10;
  CHECK_THROWS_WITH(glue::read(Task::rte, dir.write("big.tsv", rte_head + "0\tA.\tB.\tentailment\n"), small), Contains("big.tsv") && Contains("limit"));
}

TEST_CASE("glue: task descriptions, names, label ids and evaluation", "[io][glue]") {
  using glue::Metric;
  using glue::Task;
  CHECK(glue::all_tasks.size() == 9);
  for (const Task t : glue::all_tasks) {
    const auto& i = glue::info(t);
    CHECK(i.task == t);
    CHECK(glue::task_from_name(i.name) == t);
    CHECK(i.label_names.size() == i.num_labels);
  }
  const auto metrics_of = [](Task t) {
    const auto m = glue::info(t).metrics;
    return std::vector<Metric>(m.begin(), m.end());
  };
  CHECK(metrics_of(Task::cola) == std::vector<Metric>{Metric::matthews});
  for (const Task t : {Task::sst2, Task::mnli, Task::qnli, Task::rte, Task::wnli}) CHECK(metrics_of(t) == std::vector<Metric>{Metric::accuracy});
  for (const Task t : {Task::mrpc, Task::qqp}) CHECK(metrics_of(t) == std::vector<Metric>{Metric::accuracy, Metric::f1});
  CHECK(metrics_of(Task::stsb) == std::vector<Metric>{Metric::pearson, Metric::spearman});
  CHECK(glue::info(Task::stsb).regression);
  CHECK(glue::info(Task::stsb).num_labels == 1);
  CHECK(glue::info(Task::mnli).num_labels == 3);
  CHECK_FALSE(glue::info(Task::sst2).pair);
  CHECK(glue::info(Task::rte).pair);
  CHECK(glue::info(Task::sst2).name == "SST-2");
  CHECK(glue::metric_name(Metric::matthews) == "matthews");

  CHECK(glue::task_from_name("sst2") == Task::sst2);
  CHECK(glue::task_from_name("STS-B") == Task::stsb);
  CHECK(glue::task_from_name("stsb") == Task::stsb);
  CHECK(glue::task_from_name("mnli-mm") == Task::mnli);
  CHECK(glue::task_from_name("CoLA") == Task::cola);
  CHECK_THROWS_WITH(glue::task_from_name("squad"), Contains("unknown task \"squad\""));

  CHECK(glue::label_id(Task::mnli, "entailment") == 0);
  CHECK(glue::label_id(Task::mnli, "neutral") == 1);
  CHECK(glue::label_id(Task::mnli, "contradiction") == 2);
  CHECK(glue::label_id(Task::qnli, "not_entailment") == 1);
  CHECK(glue::label_id(Task::cola, "1") == 1);
  CHECK_THROWS_WITH(glue::label_id(Task::rte, "neutral"), Contains("no label \"neutral\""));
  CHECK_THROWS_WITH(glue::label_id(Task::stsb, "0"), Contains("regression"));

  // MRPC: accuracy and F1 (tp 3, fp 2, fn 1: F1 = 6/9); values from scikit-learn.
  const std::vector<std::size_t> g{1, 0, 1, 1, 0, 0, 1, 0}, p{1, 0, 0, 1, 1, 0, 1, 1};
  const auto s = glue::evaluate(Task::mrpc, g, p);
  REQUIRE(s.size() == 2);
  CHECK(s[0].metric == Metric::accuracy);
  CHECK_THAT(s[0].value, WithinAbs(5.0 / 8.0, 1e-15));
  CHECK(s[1].metric == Metric::f1);
  CHECK_THAT(s[1].value, WithinAbs(0.6666666666666666, 1e-15));
  const auto c = glue::evaluate(Task::cola, g, p);
  REQUIRE(c.size() == 1);
  CHECK_THAT(c[0].value, WithinAbs(0.2581988897471611, 1e-15));
  const std::vector<std::size_t> three{0, 1, 2};
  CHECK_THROWS_WITH(glue::evaluate(Task::rte, three, three), Contains("gold label 2") && Contains("2 labels"));
  CHECK_THROWS_WITH(glue::evaluate(Task::stsb, g, p), Contains("regression"));
  const std::vector<double> x{1, 2, 3, 4, 5.5}, y{2.1, 3.9, 6.2, 7.8, 11.1};
  const auto r = glue::evaluate(Task::stsb, x, y);
  REQUIRE(r.size() == 2);
  CHECK(r[0].metric == Metric::pearson);
  CHECK_THAT(r[0].value, WithinAbs(0.9988928600593365, 1e-14));
  CHECK(r[1].metric == Metric::spearman);
  CHECK_THAT(r[1].value, WithinAbs(1.0, 1e-15));
  CHECK_THROWS_WITH(glue::evaluate(Task::sst2, x, y), Contains("classification"));
}

TEST_CASE("metrics: accuracy, F1, Matthews, Pearson, Spearman against scikit-learn and SciPy", "[io][metrics]") {
  // Reference values: sklearn.metrics.{accuracy_score, f1_score, matthews_corrcoef} and
  // scipy.stats.{pearsonr, spearmanr} (scikit-learn 1.9.1, SciPy 1.17.1), checked by hand where
  // short: binary MCC (3*2 - 2*1) / sqrt(5*4*4*3).
  using V = std::vector<std::size_t>;
  using D = std::vector<double>;
  CHECK_THAT(metrics::accuracy(V{0, 1, 1, 0, 1, 2}, V{0, 1, 0, 0, 2, 2}), WithinAbs(4.0 / 6.0, 1e-15));
  CHECK(metrics::accuracy(V{3}, V{3}) == 1.0);

  const V g{1, 0, 1, 1, 0, 0, 1, 0}, p{1, 0, 0, 1, 1, 0, 1, 1};
  CHECK_THAT(metrics::f1(g, p), WithinAbs(0.6666666666666666, 1e-15));
  CHECK(metrics::f1(V{0, 0, 0}, V{0, 0, 0}) == 0.0);  // no positive anywhere: 0, as scikit-learn
  CHECK(metrics::f1(V{1, 1}, V{0, 0}) == 0.0);
  CHECK(metrics::f1(V{1, 0}, V{1, 0}) == 1.0);
  CHECK_THROWS_WITH(metrics::f1(V{0, 2}, V{0, 1}), Contains("gold label 1 is 2"));
  CHECK_THROWS_WITH(metrics::f1(V{0, 1}, V{0, 5}), Contains("prediction 1 is 5"));

  CHECK_THAT(metrics::matthews(g, p), WithinAbs(4.0 / std::sqrt(240.0), 1e-15));
  CHECK_THAT(metrics::matthews(g, p), WithinAbs(0.2581988897471611, 1e-15));
  CHECK_THAT(metrics::matthews(V{0, 1, 2, 0, 1, 2, 0, 2, 2, 1}, V{0, 2, 1, 0, 1, 2, 1, 2, 0, 1}), WithinAbs(0.4090909090909091, 1e-15));
  CHECK_THAT(metrics::matthews(V{7, 1000000, 7, 7}, V{7, 1000000, 1000000, 7}), WithinAbs(0.5773502691896258, 1e-15));
  CHECK(metrics::matthews(V{0, 1, 1}, V{1, 1, 1}) == 0.0);  // zero denominator: 0, as scikit-learn
  CHECK(metrics::matthews(V{1, 1, 1}, V{1, 1, 1}) == 0.0);
  CHECK_THAT(metrics::matthews(V{0, 1, 0, 1}, V{1, 0, 1, 0}), WithinAbs(-1.0, 1e-15));
  CHECK(metrics::matthews(V{0, 1, 2}, V{0, 1, 2}) == 1.0);

  CHECK_THAT(metrics::pearson(D{1, 2, 3, 4, 5.5}, D{2.1, 3.9, 6.2, 7.8, 11.1}), WithinAbs(0.9988928600593365, 1e-14));
  const D xs{1, 2, 2, 3, 4, 4, 4}, ys{3, 1, 2, 2, 5, 4, 6};
  CHECK_THAT(metrics::pearson(xs, ys), WithinAbs(0.7078611180371773, 1e-14));
  CHECK_THAT(metrics::spearman(xs, ys), WithinAbs(0.7080514800462759, 1e-14));  // ties: average ranks
  CHECK_THAT(metrics::spearman(D{1, 2, 3, 4}, D{10, 5, 2, -1}), WithinAbs(-1.0, 1e-15));
  CHECK_THAT(metrics::pearson(D{1, 2}, D{3, 5}), WithinAbs(1.0, 1e-15));
  CHECK(std::isnan(metrics::pearson(D{1, 2, 3}, D{2, 2, 2})));  // a constant side: NaN, as SciPy
  CHECK(std::isnan(metrics::spearman(D{2, 2, 2}, D{1, 2, 3})));

  for (const auto& err : {std::string("accuracy"), std::string("f1"), std::string("matthews")}) {
    const auto call = [&](const V& a, const V& b) {
      return err == "accuracy" ? metrics::accuracy(a, b) : err == "f1" ? metrics::f1(a, b) : metrics::matthews(a, b);
    };
    CHECK_THROWS_WITH(call(V{}, V{}), Contains(err) && Contains("empty"));
    CHECK_THROWS_WITH(call(V{0, 1}, V{0}), Contains(err) && Contains("2 gold values but 1 predictions"));
  }
  CHECK_THROWS_WITH(metrics::pearson(D{}, D{}), Contains("pearson") && Contains("empty"));
  CHECK_THROWS_WITH(metrics::spearman(D{1, 2}, D{1, 2, 3}), Contains("spearman") && Contains("2 gold values but 3 predictions"));
  CHECK_THROWS_WITH(metrics::pearson(D{1}, D{1}), Contains("at least two"));
  CHECK_THROWS_WITH(metrics::pearson(D{1, std::numeric_limits<double>::quiet_NaN()}, D{1, 2}), Contains("gold value 1 is not finite"));
  CHECK_THROWS_WITH(metrics::spearman(D{1, 2}, D{std::numeric_limits<double>::infinity(), 2}), Contains("prediction 0 is not finite"));
}
