// Hostile inputs to the readers (reliability issue): deep or huge JSON, long keys echoed in
// messages, safetensors headers with NUL padding, duplicate keys or oversize, gzip trailing
// garbage and bombs, directories as data files, and MNIST images that are not 28x28.
// Only the pre-existing reader API is used, so the file also builds against the old readers.
#include <catch2/catch.hpp>
#include <zlib.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "engine/safetensors.h"
#include "engine/spec_reader.h"
#include "kernels/common.h"
#include "optimizees/dataset.h"
#include "test/temp_dir.h"

namespace fs = std::filesystem;
using Catch::Contains;
using l2o::InputError;
using nlohmann::json;
using Bytes = std::vector<uint8_t>;

namespace {

// The message of the InputError `f` throws ("" when it throws nothing).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

std::string nested(size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }

struct TempDir : l2o_test::TempDir {
  TempDir() : l2o_test::TempDir("l2o_test_limits") {}
};

void write_plain(const std::string& path, const Bytes& b, bool append = false) {
  std::ofstream f(path, std::ios::binary | (append ? std::ios::app : std::ios::trunc));
  f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

void write_gz(const std::string& path, const Bytes& b, const char* mode = "wb") {
  gzFile gz = gzopen(path.c_str(), mode);
  REQUIRE(gz != nullptr);
  for (size_t off = 0; off < b.size();) {
    const unsigned n = static_cast<unsigned>(std::min<size_t>(b.size() - off, 1u << 24));
    REQUIRE(gzwrite(gz, b.data() + off, n) == static_cast<int>(n));
    off += n;
  }
  REQUIRE(gzclose(gz) == Z_OK);
}

Bytes idx(const std::vector<uint32_t>& dims, size_t payload) {
  Bytes b = {0, 0, 0x08, static_cast<uint8_t>(dims.size())};
  for (uint32_t d : dims)
    for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<uint8_t>(d >> s));
  for (size_t i = 0; i < payload; ++i) b.push_back(static_cast<uint8_t>(i % 10));
  return b;
}

std::string st_file(const std::string& header, const std::string& data) {
  std::string out;
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((uint64_t(header.size()) >> (8 * i)) & 0xff));
  return out + header + data;
}

const std::string kOneFloat("\0\0\x80\x3f", 4);  // 1.0f

}  // namespace

// ---------------------------------------------------------------------------------------
TEST_CASE("limits: JSON nested 100,000 deep is an InputError, not a crash", "[spec][limits]") {
  const std::string text = "{\"seed\": " + nested(100000) + "}";
  REQUIRE_THROWS_AS(l2o::parse_json_text(text, "deep.json"), InputError);
  // The 65th open bracket: '{' is level 1, so the 64th '[' at column 9 + 64.
  REQUIRE_THROWS_WITH(l2o::parse_json_text(text, "deep.json"),
                      "deep.json: JSON nested deeper than 64 levels at line 1, column 73");
  // Metadata values name their origin the same way.
  REQUIRE_THROWS_WITH(l2o::parse_json_text(nested(100000), "state.safetensors metadata \"curriculum\""),
                      Catch::StartsWith("state.safetensors metadata \"curriculum\": JSON nested deeper than 64"));
  // 64 levels are fine; brackets inside strings do not count.
  CHECK(l2o::parse_json_text("{\"a\": " + nested(63) + "}", "ok.json").is_object());
  CHECK(l2o::parse_json_text("{\"a\": \"" + std::string(1000, '[') + "\\\"[[\"}", "ok.json")["a"].is_string());
}

TEST_CASE("limits: a spec over 4 MiB is rejected before parsing", "[spec][limits]") {
  const std::string text = "{\"seed\": 1}" + std::string((4u << 20) + 1, ' ');
  REQUIRE_THROWS_WITH(l2o::parse_json_text(text, "big.json"),
                      "big.json: JSON text is " + std::to_string(text.size()) + " bytes, over the 4 MiB limit");
  CHECK(l2o::parse_json_text("{\"seed\": 1}" + std::string(1000, ' '), "ok.json")["seed"] == 1);
}

TEST_CASE("limits: a NUL byte ends nothing silently", "[spec][limits]") {
  const std::string text = std::string("{\"seed\": 1}\0{\"x\": oops", 22);
  REQUIRE_THROWS_WITH(l2o::parse_json_text(text, "nul.json"), "nul.json: invalid JSON at line 1, column 12: NUL byte");
}

TEST_CASE("limits: long keys and values are cut in messages", "[spec][limits]") {
  const std::string key(1 << 20, 'k');
  auto short_line = [](const std::string& msg) {
    INFO(msg.substr(0, 300));
    CHECK(!msg.empty());
    CHECK(msg.size() < 400);
    CHECK_THAT(msg, Contains("..."));
  };
  SECTION("unknown key") {
    json j = l2o::parse_json_text("{\"" + key + "\": 1, \"" + key + "2\": 2}", "spec.json");
    l2o::SpecNode root(j);
    const std::string msg = error_of([&] { root.finish(); });
    short_line(msg);
    CHECK_THAT(msg, Catch::StartsWith("$.kkkk") && Contains("...: unknown key; also unknown: \"kkkk"));
  }
  SECTION("many unknown keys are counted, not listed") {
    std::string text = "{";
    for (int i = 0; i < 1000; ++i) text += (i ? "," : "") + std::string("\"key") + std::to_string(i) + "\": 1";
    json j = l2o::parse_json_text(text + "}", "spec.json");
    l2o::SpecNode root(j);
    const std::string msg = error_of([&] { root.finish(); });
    CHECK(msg.size() < 400);
    CHECK_THAT(msg, Contains("and 989 more"));
  }
  SECTION("duplicate key") {
    const std::string msg =
        error_of([&] { l2o::parse_json_text("{\"a\": {\"" + key + "\": 1, \"" + key + "\": 2}}", "spec.json"); });
    short_line(msg);
    CHECK_THAT(msg, Catch::StartsWith("spec.json: duplicate key \"kkkk") && Contains("...\" in $.a"));
  }
  SECTION("value not among the choices") {
    json j = {{"backend", key}};
    const std::string msg = error_of([&] { l2o::SpecNode(j).choice("backend", "cpu", {"cpu", "cuda"}); });
    short_line(msg);
    CHECK_THAT(msg, Catch::StartsWith("$.backend: \"kkkk") && Contains("...\" is not one of \"cpu\", \"cuda\""));
  }
  SECTION("syntax error after a long token") {
    const std::string msg = error_of([&] { l2o::parse_json_text("{\"a\": \"" + key + "\\q\"}", "spec.json"); });
    short_line(msg);
    CHECK_THAT(msg, Catch::StartsWith("spec.json: invalid JSON at line 1, column ") && Contains("backslash"));
  }
  SECTION("--set without a value") {
    json j;
    const std::string msg = error_of([&] { l2o::apply_override(j, key); });
    short_line(msg);
    CHECK_THAT(msg, Catch::StartsWith("--set kkkk") && Contains("...: expected KEY=VALUE"));
  }
}

TEST_CASE("limits: --set values and keys are bounded too", "[spec][limits]") {
  json j = {{"seed", 1}};
  REQUIRE_THROWS_WITH(l2o::apply_override(j, "seed=" + nested(100000)),
                      "--set seed=" + std::string(72, '[') + "...: JSON nested deeper than 64 levels at line 1, column 65");
  std::string deep_key = "a";
  for (int i = 0; i < 100000; ++i) deep_key += ".a";
  REQUIRE_THROWS_WITH(l2o::apply_override(j, deep_key + "=1"), Contains("key has more than 64 components"));
  l2o::apply_override(j, "seed=" + nested(10));
  CHECK(j["seed"].is_array());
}

// ---------------------------------------------------------------------------------------
TEST_CASE("limits: safetensors headers padded with NUL are rejected", "[safetensors][limits]") {
  const std::string pad("\0\0\0\0\0\0", 6);
  REQUIRE_THROWS_WITH(l2o::decode_safetensors(st_file("{}" + pad, ""), "ckpt.safetensors"),
                      "ckpt.safetensors: header has a NUL byte at offset 2 (the header is padded with spaces, not NUL bytes)");
  // What followed the NUL was never read before.
  REQUIRE_THROWS_WITH(l2o::decode_safetensors(st_file(std::string("{}\0{\"w\":3}", 10), ""), "ckpt.safetensors"),
                      Contains("NUL byte at offset 2"));
  CHECK(l2o::decode_safetensors(st_file("{}      ", ""), "ok.safetensors").tensors.empty());
}

TEST_CASE("limits: safetensors headers with duplicate keys are rejected", "[safetensors][limits]") {
  const std::string w = R"("w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]})";
  REQUIRE_THROWS_WITH(l2o::decode_safetensors(st_file("{" + w + "," + w + "}", kOneFloat), "ckpt.safetensors"),
                      "ckpt.safetensors header: duplicate key \"w\" in $");
  REQUIRE_THROWS_WITH(
      l2o::decode_safetensors(st_file(R"({"__metadata__":{"learner":"{}","learner":"x"}})", ""), "ckpt.safetensors"),
      "ckpt.safetensors header: duplicate key \"learner\" in $.__metadata__");
  REQUIRE_THROWS_WITH(
      l2o::decode_safetensors(
          st_file(R"({"w":{"dtype":"F32","dtype":"F16","shape":[1],"data_offsets":[0,4]}})", kOneFloat),
          "ckpt.safetensors"),
      "ckpt.safetensors header: duplicate key \"dtype\" in $.w");
}

TEST_CASE("limits: safetensors headers over 1 MiB or nested deep are rejected", "[safetensors][limits]") {
  const std::string big = "{}" + std::string((1u << 20) - 1, ' ');
  REQUIRE_THROWS_WITH(l2o::decode_safetensors(st_file(big, ""), "ckpt.safetensors"),
                      "ckpt.safetensors: header length 1048577 is over the 1 MiB limit for a header");
  REQUIRE_THROWS_WITH(
      l2o::decode_safetensors(st_file("{\"__metadata__\":" + nested(100000) + "}", ""), "ckpt.safetensors"),
      "ckpt.safetensors header: JSON nested deeper than 64 levels at line 1, column 80");
}

TEST_CASE("limits: safetensors messages cut long names and values", "[safetensors][limits]") {
  const std::string name(100000, 'n');
  const std::string header = "{\"" + name + R"(":{"dtype":"F16","shape":[1],"data_offsets":[0,4]}})";
  const std::string msg = error_of([&] { l2o::decode_safetensors(st_file(header, kOneFloat), "ckpt.safetensors"); });
  CHECK(msg.size() < 300);
  CHECK_THAT(msg, Catch::StartsWith("ckpt.safetensors: tensor \"nnnn") && Contains("...\" has dtype F16"));

  std::string shape = "[";
  for (int i = 0; i < 10000; ++i) shape += (i ? "," : "") + std::to_string(1);
  const std::string h3 = R"({"w":{"dtype":"F32","shape":)" + shape + R"(,7],"data_offsets":[0,4]}})";
  const std::string msg3 = error_of([&] { l2o::decode_safetensors(st_file(h3, kOneFloat), "x"); });
  CHECK(msg3.size() < 300);
  CHECK_THAT(msg3, Contains("x: tensor \"w\": shape [1,1,1,") && Contains("... needs 28 bytes"));
}

// ---------------------------------------------------------------------------------------
TEST_CASE("limits: gzip data followed by garbage is rejected", "[dataset][limits]") {
  TempDir tmp;
  const std::string f = tmp.file("img.gz");
  write_gz(f, idx({2, 3, 4}, 24));
  write_plain(f, {'g', 'a', 'r', 'b', 'a', 'g', 'e'}, /*append=*/true);
  REQUIRE_THROWS_WITH(l2o::read_idx(f), f + ": 7 bytes of trailing garbage after the gzip stream");

  // Concatenated gzip members are one valid stream.
  const Bytes all = idx({2, 3, 4}, 24);
  write_gz(f, Bytes(all.begin(), all.begin() + 10));
  write_gz(f, Bytes(all.begin() + 10, all.end()), "ab");
  CHECK(l2o::read_idx(f).data.size() == 24);
}

TEST_CASE("limits: a gzip bomb stops at the size its IDX header declares", "[dataset][limits]") {
  TempDir tmp;
  const std::string f = tmp.file("bomb.gz");
  Bytes b = idx({1, 28, 28}, 784);
  b.resize(b.size() + (32u << 20), 0);  // 32 MiB of zeros after the payload: about 32 KB compressed
  write_gz(f, b);
  REQUIRE(fs::file_size(f) < (1u << 20));
  REQUIRE_THROWS_WITH(l2o::read_idx(f), f + ": more than 1048576 trailing bytes after the payload "
                                            "(the header declares 1x28x28 = 784 bytes; stopped reading)");

  // A header declaring more than the 256 MiB cap is refused before reading the payload.
  const std::string g = tmp.file("huge-header");
  write_plain(g, idx({1000000, 28, 28}, 10));
  REQUIRE_THROWS_WITH(l2o::read_idx(g), g + ": header declares 1000000x28x28 = 784000000 payload bytes, "
                                            "over the 256 MiB limit for a data file");
}

TEST_CASE("limits: a directory given as a data file says so", "[dataset][limits]") {
  TempDir tmp;
  fs::create_directories(tmp.path / "mnist" / "t10k-images-idx3-ubyte");
  write_plain(tmp.file("mnist/t10k-labels-idx1-ubyte"), idx({3}, 3));
  const std::string dir = tmp.file("mnist/t10k-images-idx3-ubyte");
  REQUIRE_THROWS_WITH(l2o::read_idx(dir), dir + ": is a directory, not a data file");
  REQUIRE_THROWS_WITH(l2o::load_dataset("mnist", tmp.path.string()),
                      dir + ": is a directory, not a data file (mnist, test split)");
  REQUIRE_THROWS_WITH(l2o::load_idx_pair(tmp.file("mnist/t10k-labels-idx1-ubyte"), tmp.path.string(), "x"),
                      tmp.path.string() + ": is a directory, not a data file");
}

TEST_CASE("limits: MNIST-like datasets must be 28x28", "[dataset][limits]") {
  const auto side = GENERATE(0u, 1u, 2u, 27u);
  TempDir tmp;
  fs::create_directories(tmp.path / "mnist");
  const std::string img = tmp.file("mnist/t10k-images-idx3-ubyte");
  write_plain(img, idx({3, side, side}, 3 * side * side));
  write_plain(tmp.file("mnist/t10k-labels-idx1-ubyte"), idx({3}, 3));
  const std::string shape = std::to_string(side) + "x" + std::to_string(side);
  const std::string msg = error_of([&] { l2o::load_dataset("mnist", tmp.path.string()); });
  INFO(msg);
  if (side == 0) CHECK(msg == img + ": images are 0x0 pixels; they need at least one");
  else CHECK(msg == img + ": images are " + shape + " pixels; mnist needs 28x28");

  // Fashion-MNIST (files directly in data_dir) too; the small shapes still load as an IDX pair.
  const std::string fimg = tmp.file("t10k-images-idx3-ubyte");
  write_plain(fimg, idx({3, side, 28}, 3 * side * 28));
  write_plain(tmp.file("t10k-labels-idx1-ubyte"), idx({3}, 3));
  if (side > 0) {
    CHECK(error_of([&] { l2o::load_dataset("fashion_mnist", tmp.path.string()); }) ==
          fimg + ": images are " + std::to_string(side) + "x28 pixels; fashion_mnist needs 28x28");
    CHECK(l2o::load_idx_pair(img, tmp.file("t10k-labels-idx1-ubyte"), "tiny").dim() == int64_t(side) * side);
  }
}

TEST_CASE("limits: 28x28 synthetic MNIST loads", "[dataset][limits]") {
  TempDir tmp;
  fs::create_directories(tmp.path / "mnist");
  write_gz(tmp.file("mnist/t10k-images-idx3-ubyte.gz"), idx({3, 28, 28}, 3 * 784));
  write_plain(tmp.file("mnist/t10k-labels-idx1-ubyte"), idx({3}, 3));
  const l2o::Dataset& ds = l2o::load_dataset("mnist", tmp.path.string());
  CHECK(ds.n == 3);
  CHECK(ds.dim() == 784);
}
