// safetensors: round trip, an independent check of the byte layout, every decode error,
// and the atomic file helpers it is saved with.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>

#include <nlohmann/json.hpp>
#include <unistd.h>

#include "engine/atomic_file.h"
#include "engine/safetensors.h"
#include "kernels/common.h"

namespace fs = std::filesystem;
using l2o::InputError;
using l2o::NamedTensor;
using l2o::SafetensorsFile;

namespace {

uint32_t bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

float from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// Builds a file by hand (no encoder involved): LE length, header text as given, data bytes.
std::string make_file(const std::string& header, const std::string& data) {
  std::string out;
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((uint64_t(header.size()) >> (8 * i)) & 0xff));
  return out + header + data;
}

std::string le_floats(std::initializer_list<float> vals) {
  std::string s;
  for (float f : vals)
    for (int i = 0; i < 4; ++i) s.push_back(static_cast<char>((bits(f) >> (8 * i)) & 0xff));
  return s;
}

SafetensorsFile sample() {
  SafetensorsFile f;
  f.metadata = {{"format", "pt"}, {"step", "1200"}};
  const float denorm = std::numeric_limits<float>::denorm_min();
  f.tensors.push_back({"lstm1.weight", {2, 3}, {1.0f, -0.0f, denorm, std::numeric_limits<float>::min(),
                                                std::numeric_limits<float>::max(), -1.5e-30f}});
  f.tensors.push_back({"scalar", {}, {3.25f}});
  f.tensors.push_back({"empty", {0, 4}, {}});
  f.tensors.push_back({"a.bias", {3}, {std::numeric_limits<float>::infinity(), from_bits(0x7fc00123u), 0.1f}});
  return f;
}

// A fresh directory per test, removed afterwards.
struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("l2o_test_st_" + std::to_string(::getpid()));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

}  // namespace

TEST_CASE("safetensors round trip keeps names, shapes, metadata and exact bits", "[safetensors]") {
  const SafetensorsFile in = sample();
  const SafetensorsFile out = l2o::decode_safetensors(l2o::encode_safetensors(in), "mem");
  REQUIRE(out.metadata == in.metadata);
  REQUIRE(out.tensors.size() == in.tensors.size());
  for (size_t i = 0; i < in.tensors.size(); ++i) {
    INFO("tensor " << in.tensors[i].name);
    CHECK(out.tensors[i].name == in.tensors[i].name);  // order preserved
    CHECK(out.tensors[i].shape == in.tensors[i].shape);
    REQUIRE(out.tensors[i].data.size() == in.tensors[i].data.size());
    for (size_t k = 0; k < in.tensors[i].data.size(); ++k)
      CHECK(bits(out.tensors[i].data[k]) == bits(in.tensors[i].data[k]));  // -0.0, denormals, NaN payload
  }
  CHECK(std::signbit(out.get("lstm1.weight").data[1]));
  CHECK(out.get("scalar").data[0] == 3.25f);
  REQUIRE_THROWS_AS(out.get("nope"), InputError);
  REQUIRE_THROWS_WITH(out.get("nope"), Catch::Contains("no tensor named \"nope\"") && Catch::Contains("scalar"));
}

TEST_CASE("safetensors byte layout matches the format", "[safetensors]") {
  SafetensorsFile f;
  f.metadata = {{"k", "v"}};
  f.tensors.push_back({"w", {2}, {1.0f, -2.0f}});
  f.tensors.push_back({"b", {1, 3}, {0.5f, 0.0f, 1e-3f}});
  const std::string bytes = l2o::encode_safetensors(f);
  const auto* u = reinterpret_cast<const unsigned char*>(bytes.data());

  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= uint64_t(u[i]) << (8 * i);
  REQUIRE(n % 8 == 0);  // data starts 8-byte aligned
  REQUIRE(8 + n + 5 * 4 == bytes.size());
  const std::string header = bytes.substr(8, n);
  CHECK(header.front() == '{');
  CHECK(header.find_last_not_of(' ') == header.rfind('}'));  // only spaces after the object

  const auto h = nlohmann::json::parse(header);
  CHECK(h["__metadata__"] == nlohmann::json({{"k", "v"}}));
  CHECK(h["w"]["dtype"] == "F32");
  CHECK(h["w"]["shape"] == nlohmann::json({2}));
  CHECK(h["w"]["data_offsets"] == nlohmann::json({0, 8}));
  CHECK(h["b"]["shape"] == nlohmann::json({1, 3}));
  CHECK(h["b"]["data_offsets"] == nlohmann::json({8, 20}));

  // 1.0f = 0x3f800000 and -2.0f = 0xc0000000, little-endian.
  const unsigned char* data = u + 8 + n;
  const unsigned char expect[8] = {0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0};
  CHECK(std::memcmp(data, expect, 8) == 0);
}

TEST_CASE("safetensors decodes a hand-written file", "[safetensors]") {
  // Unpadded header, keys out of offset order, no metadata: all legal.
  const std::string header =
      R"({"z":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})";
  const auto f = l2o::decode_safetensors(make_file(header, le_floats({7.0f, -1.0f, 2.5f})), "hand.safetensors");
  CHECK(f.metadata.empty());
  REQUIRE(f.tensors.size() == 2);
  CHECK(f.tensors[0].name == "z");  // file (offset) order
  CHECK(f.get("z").data == std::vector<float>{7.0f});
  CHECK(f.get("a").data == std::vector<float>{-1.0f, 2.5f});
  CHECK(f.get("a").shape == std::vector<int64_t>{2});
}

TEST_CASE("safetensors decode rejects malformed files with a clear message", "[safetensors]") {
  auto decode = [](const std::string& bytes) { return l2o::decode_safetensors(bytes, "ckpt.safetensors"); };
  const std::string one = le_floats({1.0f});
  auto tensor = [](const std::string& name, const std::string& dtype, const std::string& shape, int b, int e) {
    return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":[" +
           std::to_string(b) + "," + std::to_string(e) + "]}";
  };

  SECTION("too short") {
    REQUIRE_THROWS_WITH(decode("abc"), Catch::Contains("ckpt.safetensors") && Catch::Contains("too short"));
  }
  SECTION("header length beyond the file") {
    std::string bytes = make_file("{}", "");
    bytes[0] = 100;
    REQUIRE_THROWS_WITH(decode(bytes), Catch::Contains("ckpt.safetensors: header length 100 exceeds the file size"));
  }
  SECTION("header not JSON") {
    REQUIRE_THROWS_WITH(decode(make_file("{\"a\":", "")),
                        Catch::StartsWith("ckpt.safetensors header: invalid JSON at line 1, column 6: "));
  }
  SECTION("header not an object") {
    REQUIRE_THROWS_WITH(decode(make_file("[1,2]   ", "")), Catch::Contains("header is not a JSON object"));
  }
  SECTION("dtype other than F32 is named") {
    REQUIRE_THROWS_WITH(decode(make_file("{" + tensor("w", "F16", "[2]", 0, 4) + "}", one)),
                        Catch::Contains("tensor \"w\" has dtype F16; only F32 is supported"));
  }
  SECTION("shape does not match the offsets span") {
    REQUIRE_THROWS_WITH(decode(make_file("{" + tensor("w", "F32", "[2]", 0, 4) + "}", one)),
                        Catch::Contains("tensor \"w\": shape [2] needs 8 bytes but data_offsets span 4"));
  }
  SECTION("offsets out of range") {
    REQUIRE_THROWS_WITH(decode(make_file("{" + tensor("w", "F32", "[2]", 0, 8) + "}", one)),
                        Catch::Contains("tensor \"w\": data_offsets [0, 8] out of range for 4 data bytes"));
  }
  SECTION("reversed offsets") {
    REQUIRE_THROWS_WITH(decode(make_file("{" + tensor("w", "F32", "[0]", 4, 0) + "}", one)),
                        Catch::Contains("out of range"));
  }
  SECTION("negative offset or dimension") {
    REQUIRE_THROWS_WITH(decode(make_file("{" + tensor("w", "F32", "[1]", -4, 0) + "}", one)),
                        Catch::Contains("data offset must be a non-negative integer"));
    REQUIRE_THROWS_WITH(decode(make_file("{" + tensor("w", "F32", "[-1]", 0, 4) + "}", one)),
                        Catch::Contains("shape dimension must be a non-negative integer"));
  }
  SECTION("overlapping tensors") {
    const std::string h = "{" + tensor("a", "F32", "[2]", 0, 8) + "," + tensor("b", "F32", "[1]", 4, 8) + "}";
    REQUIRE_THROWS_WITH(decode(make_file(h, le_floats({1, 2}))),
                        Catch::Contains("tensor \"b\" overlaps tensor \"a\""));
  }
  SECTION("gap between tensors") {
    const std::string h = "{" + tensor("a", "F32", "[1]", 0, 4) + "," + tensor("b", "F32", "[1]", 8, 12) + "}";
    REQUIRE_THROWS_WITH(decode(make_file(h, le_floats({1, 2, 3}))),
                        Catch::Contains("data bytes [4, 8) before tensor \"b\" are not covered"));
  }
  SECTION("trailing data") {
    REQUIRE_THROWS_WITH(decode(make_file("{" + tensor("w", "F32", "[1]", 0, 4) + "}", one + "xyz")),
                        Catch::Contains("ckpt.safetensors: 3 trailing data bytes are not covered by any tensor"));
  }
  SECTION("metadata values must be strings") {
    REQUIRE_THROWS_WITH(decode(make_file(R"({"__metadata__":{"step":12}})", "")),
                        Catch::Contains("metadata value for \"step\" is not a string"));
  }
  SECTION("malformed entries") {
    REQUIRE_THROWS_WITH(decode(make_file(R"({"w":3})", "")), Catch::Contains("tensor \"w\": header entry is not an object"));
    REQUIRE_THROWS_WITH(decode(make_file(R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[0,0],"x":1}})", "")),
                        Catch::Contains("unknown header field \"x\""));
    REQUIRE_THROWS_WITH(decode(make_file(R"({"w":{"dtype":"F32","shape":[0]}})", "")),
                        Catch::Contains("\"data_offsets\" must be [begin, end]"));
  }
  SECTION("overflowing shape") {
    REQUIRE_THROWS_WITH(
        decode(make_file("{" + tensor("w", "F32", "[4294967296,4294967296]", 0, 4) + "}", one)),
        Catch::Contains("is too large"));
  }
  SECTION("NaN and Inf are accepted") {
    const auto f = decode(make_file("{" + tensor("w", "F32", "[2]", 0, 8) + "}",
                                    le_floats({std::nanf(""), -std::numeric_limits<float>::infinity()})));
    CHECK(std::isnan(f.get("w").data[0]));
    CHECK(std::isinf(f.get("w").data[1]));
  }
}

TEST_CASE("safetensors encode rejects inconsistent tensors", "[safetensors]") {
  SafetensorsFile f;
  f.tensors.push_back({"w", {2, 2}, {1.0f}});
  REQUIRE_THROWS_AS(l2o::encode_safetensors(f), l2o::Error);
  f.tensors = {{"w", {1}, {1.0f}}, {"w", {1}, {2.0f}}};
  REQUIRE_THROWS_WITH(l2o::encode_safetensors(f), Catch::Contains("duplicate tensor name"));
}

TEST_CASE("atomic write replaces the file and leaves no temp file", "[safetensors]") {
  TempDir dir;
  const std::string path = dir.file("latest.safetensors");
  l2o::write_file_atomic(path, "old contents");
  REQUIRE(l2o::read_file(path) == "old contents");

  const SafetensorsFile in = sample();
  l2o::save_safetensors(path, in);
  const SafetensorsFile out = l2o::load_safetensors(path);
  REQUIRE(out.tensors.size() == in.tensors.size());
  CHECK(bits(out.get("lstm1.weight").data[2]) == bits(in.get("lstm1.weight").data[2]));

  size_t entries = 0;
  for (const auto& e : fs::directory_iterator(dir.path)) {
    ++entries;
    CHECK(e.path().filename().string().find(".tmp.") == std::string::npos);
  }
  CHECK(entries == 1);

  l2o::write_file_atomic(path, "");  // empty files are fine too
  CHECK(l2o::read_file(path).empty());
}

TEST_CASE("file helpers report paths in errors", "[safetensors]") {
  TempDir dir;
  const std::string missing = dir.file("missing.safetensors");
  REQUIRE_THROWS_AS(l2o::read_file(missing), InputError);
  REQUIRE_THROWS_WITH(l2o::load_safetensors(missing), Catch::Contains(missing));
  REQUIRE_THROWS_WITH(l2o::write_file_atomic(dir.file("no/such/dir/x"), "x"),
                      Catch::Contains("no/such/dir/x") && Catch::Contains("No such file"));

  // A corrupt file on disk names the path.
  l2o::write_file_atomic(dir.file("bad.safetensors"), "1234");
  REQUIRE_THROWS_WITH(l2o::load_safetensors(dir.file("bad.safetensors")),
                      Catch::StartsWith(dir.file("bad.safetensors") + ": file is 4 bytes"));
}

TEST_CASE("append_line writes one line per call", "[safetensors]") {
  TempDir dir;
  const std::string path = dir.file("metrics.jsonl");
  l2o::append_line(path, R"({"epoch":0})");
  l2o::append_line(path, R"({"epoch":1})");
  CHECK(l2o::read_file(path) == "{\"epoch\":0}\n{\"epoch\":1}\n");
}
