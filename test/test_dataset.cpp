// Dataset readers: IDX (plain and gzip) and CIFAR-10 round trips, every error path, real data.
#include <catch2/catch.hpp>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <set>
#include <string>
#include <vector>

#include "kernels/common.h"
#include "optimizees/dataset.h"
#include "test/temp_dir.h"

namespace fs = std::filesystem;
using Catch::Contains;
using Bytes = std::vector<uint8_t>;

namespace {

struct TempDir : l2o_test::TempDir {
  TempDir() : l2o_test::TempDir("l2o_test_dataset") {}
};

void write_plain(const std::string& path, const Bytes& b) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

void write_gz(const std::string& path, const Bytes& b) {
  gzFile gz = gzopen(path.c_str(), "wb");
  REQUIRE(gz != nullptr);
  REQUIRE(gzwrite(gz, b.data(), static_cast<unsigned>(b.size())) == static_cast<int>(b.size()));
  REQUIRE(gzclose(gz) == Z_OK);
}

void put_be32(Bytes& b, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<uint8_t>(v >> s));
}

// Unsigned-byte IDX file: header from dims, then the payload as given (may be short or long on purpose).
Bytes idx(const std::vector<uint32_t>& dims, const Bytes& payload) {
  Bytes b = {0, 0, 0x08, static_cast<uint8_t>(dims.size())};
  for (uint32_t d : dims) put_be32(b, d);
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}

Bytes iota_bytes(size_t n) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(i * 7);
  return b;
}

const Bytes kLabels = {0, 9, 3};

double mean(const std::vector<float>& v) { return std::accumulate(v.begin(), v.end(), 0.0) / v.size(); }

}  // namespace

TEST_CASE("IDX pair round-trips, plain and gzip", "[dataset]") {
  TempDir tmp;
  const Bytes pixels = iota_bytes(3 * 2 * 4);
  const bool gz = GENERATE(false, true);
  const std::string img = tmp.file("img"), lbl = tmp.file("lbl");
  (gz ? write_gz : write_plain)(img, idx({3, 2, 4}, pixels));
  (gz ? write_gz : write_plain)(lbl, idx({3}, kLabels));

  const l2o::IdxArray arr = l2o::read_idx(img);
  CHECK(arr.dims == std::vector<int64_t>{3, 2, 4});
  CHECK(arr.data == pixels);

  const l2o::Dataset ds = l2o::load_idx_pair(img, lbl, "tiny");
  CHECK(ds.name == "tiny");
  CHECK_THAT(ds.source, Contains(img) && Contains(lbl));
  CHECK(ds.n == 3);
  CHECK(ds.channels == 1);
  CHECK(ds.height == 2);
  CHECK(ds.width == 4);
  CHECK(ds.dim() == 8);
  CHECK(ds.labels == std::vector<int32_t>{0, 9, 3});
  REQUIRE(ds.images.size() == pixels.size());
  for (size_t i = 0; i < pixels.size(); ++i) CHECK(ds.images[i] == Approx(pixels[i] / 255.0f));
}

TEST_CASE("IDX errors name the file and the problem", "[dataset]") {
  TempDir tmp;
  const std::string f = tmp.file("bad-idx"), lbl = tmp.file("lbl");

  SECTION("wrong magic") {
    write_plain(f, Bytes(16, 0));
    REQUIRE_THROWS_AS(l2o::read_idx(f), l2o::InputError);
    REQUIRE_THROWS_WITH(l2o::read_idx(f), Contains(f) && Contains("wrong magic number 0x00000000"));
  }
  SECTION("unsupported element type") {
    Bytes b = idx({2}, {1, 2});
    b[2] = 0x0D;  // float
    write_plain(f, b);
    REQUIRE_THROWS_WITH(l2o::read_idx(f), Contains("unsupported element type 0x00000D01"));
  }
  SECTION("truncated payload") {
    write_plain(f, idx({3, 2, 4}, iota_bytes(20)));
    REQUIRE_THROWS_WITH(l2o::read_idx(f), Contains(f) && Contains("truncated: expected 24 payload bytes, got 20"));
  }
  SECTION("truncated header") {
    write_plain(f, {0, 0, 8, 3, 0, 0});
    REQUIRE_THROWS_WITH(l2o::read_idx(f), Contains("truncated"));
  }
  SECTION("truncated gzip stream") {
    write_gz(f, idx({100, 28, 28}, iota_bytes(100 * 28 * 28)));
    fs::resize_file(f, fs::file_size(f) / 2);
    REQUIRE_THROWS_WITH(l2o::read_idx(f), Contains(f) && Contains("truncated"));
  }
  SECTION("trailing bytes") {
    write_plain(f, idx({3, 2, 4}, iota_bytes(27)));
    REQUIRE_THROWS_WITH(l2o::read_idx(f), Contains(f) && Contains("3 trailing bytes after the payload"));
  }
  SECTION("missing file") {
    const std::string missing = tmp.file("no-such-file");
    REQUIRE_THROWS_AS(l2o::read_idx(missing), l2o::InputError);
    REQUIRE_THROWS_WITH(l2o::read_idx(missing),
                        Contains(missing) && Contains("cannot open file") && Contains("No such file"));
  }
  SECTION("mismatched counts name both files") {
    write_plain(f, idx({3, 2, 4}, iota_bytes(24)));
    write_plain(lbl, idx({2}, {1, 2}));
    REQUIRE_THROWS_WITH(l2o::load_idx_pair(f, lbl, "x"),
                        Contains(f) && Contains(lbl) && Contains("3 images") && Contains("2 labels"));
  }
  SECTION("label out of range") {
    write_plain(f, idx({3, 2, 4}, iota_bytes(24)));
    write_plain(lbl, idx({3}, {1, 10, 2}));
    REQUIRE_THROWS_WITH(l2o::load_idx_pair(f, lbl, "x"), Contains(lbl) && Contains("label 10 at index 1 is out of range"));
  }
  SECTION("labels given as images") {
    write_plain(lbl, idx({3}, kLabels));
    REQUIRE_THROWS_WITH(l2o::load_idx_pair(lbl, lbl, "x"), Contains("expected 3 dimensions"));
  }
}

TEST_CASE("CIFAR-10 binary records", "[dataset]") {
  TempDir tmp;
  Bytes file;
  for (uint8_t label : {uint8_t{6}, uint8_t{2}}) {
    file.push_back(label);
    for (int c = 0; c < 3; ++c)  // each plane constant: R=10, G=20, B=30, plus label offset
      file.insert(file.end(), 1024, static_cast<uint8_t>(10 * (c + 1) + label));
  }
  fs::create_directories(tmp.path / "cifar-10-batches-bin");
  const std::string batch = (tmp.path / "cifar-10-batches-bin" / "test_batch.bin").string();
  write_plain(batch, file);

  SECTION("two records") {
    const l2o::Dataset ds = l2o::load_cifar10_bin({batch});
    CHECK(ds.n == 2);
    CHECK(ds.channels == 3);
    CHECK(ds.height == 32);
    CHECK(ds.width == 32);
    CHECK(ds.labels == std::vector<int32_t>{6, 2});
    REQUIRE(ds.images.size() == 2 * 3072);
    CHECK(ds.images[0] == Approx(16 / 255.0f));            // image 0, R plane
    CHECK(ds.images[1024] == Approx(26 / 255.0f));         // image 0, G plane
    CHECK(ds.images[3072 + 2048] == Approx(32 / 255.0f));  // image 1, B plane
  }
  SECTION("two batch files concatenate") {
    CHECK(l2o::load_cifar10_bin({batch, batch}).n == 4);
  }
  SECTION("via load_dataset") {
    const l2o::Dataset& ds = l2o::load_dataset("cifar10", tmp.path.string());
    CHECK(ds.n == 2);
    CHECK(ds.name == "cifar10");
  }
  SECTION("size not a multiple of the record") {
    file.insert(file.end(), 5, 0);
    write_plain(batch, file);
    REQUIRE_THROWS_WITH(l2o::load_cifar10_bin({batch}), Contains(batch) && Contains("multiple of the 3073-byte"));
  }
}

TEST_CASE("load_dataset: names, defaults, .gz fallback, cache", "[dataset]") {
  TempDir tmp;
  REQUIRE_THROWS_AS(l2o::load_dataset("imagenet"), l2o::InputError);
  REQUIRE_THROWS_WITH(l2o::load_dataset("imagenet"),
                      Contains("imagenet") && Contains("mnist") && Contains("fashion_mnist") && Contains("cifar10"));
  // Missing MNIST tells the user how to get it.
  REQUIRE_THROWS_WITH(l2o::load_dataset("mnist", tmp.path.string()),
                      Contains("tools/setup.sh") && Contains("data_dir"));

  fs::create_directories(tmp.path / "mnist");
  write_gz(tmp.file("mnist/t10k-images-idx3-ubyte.gz"), idx({3, 28, 28}, iota_bytes(3 * 784)));
  write_plain(tmp.file("mnist/t10k-labels-idx1-ubyte"), idx({3}, kLabels));
  const l2o::Dataset& a = l2o::load_dataset("mnist", tmp.path.string());
  CHECK(a.n == 3);
  CHECK(a.dim() == 784);
  CHECK(a.name == "mnist");
  CHECK(&l2o::load_dataset("mnist", tmp.path.string()) == &a);  // cached
  REQUIRE_THROWS_WITH(l2o::load_dataset("mnist", tmp.path.string(), "valid"), Contains("unknown data split 'valid'"));
}

TEST_CASE("load_dataset: the train split drops TensorFlow's 5,000 validation images", "[dataset]") {
  TempDir tmp;
  fs::create_directories(tmp.path / "mnist");
  const int64_t n = 5003, d = 28 * 28;  // load_dataset requires MNIST's 28x28
  std::vector<uint8_t> pixels(n * d), labels(n);
  for (int64_t i = 0; i < n; ++i) {
    pixels[d * i] = static_cast<uint8_t>(i % 251);
    pixels[d * i + 1] = static_cast<uint8_t>(i / 251);
    labels[i] = static_cast<uint8_t>(i % 10);
  }
  write_plain(tmp.file("mnist/train-images-idx3-ubyte"), idx({static_cast<uint32_t>(n), 28, 28}, pixels));
  write_plain(tmp.file("mnist/train-labels-idx1-ubyte"), idx({static_cast<uint32_t>(n)}, labels));
  // Only the train files: the test split is missing and says so, naming the split.
  REQUIRE_THROWS_WITH(l2o::load_dataset("mnist", tmp.path.string(), "test"),
                      Contains("test split") && Contains("t10k-images-idx3-ubyte"));
  const l2o::Dataset& ds = l2o::load_dataset("mnist", tmp.path.string(), "train");
  REQUIRE(ds.n == 3);  // images 5000, 5001, 5002
  REQUIRE(ds.labels == std::vector<int32_t>{0, 1, 2});
  CHECK(ds.images[0] == Approx((5000 % 251) / 255.0f));
  CHECK(ds.images[1] == Approx((5000 / 251) / 255.0f));
  CHECK(ds.images[2 * d + 1] == Approx((5002 / 251) / 255.0f));
  CHECK_THAT(ds.source, Contains("TensorFlow's training split"));

  // A training file too small to split is an error naming it.
  TempDir small;
  fs::create_directories(small.path / "mnist");
  write_plain(small.file("mnist/train-images-idx3-ubyte"), idx({3, 28, 28}, iota_bytes(3 * 784)));
  write_plain(small.file("mnist/train-labels-idx1-ubyte"), idx({3}, kLabels));
  REQUIRE_THROWS_WITH(l2o::load_dataset("mnist", small.path.string(), "train"),
                      Contains("train-images-idx3-ubyte") && Contains("has 3 images"));
}

TEST_CASE("real Fashion-MNIST test split", "[dataset][real]") {
  const std::string dir = "/usr/share/datasets/fashion-mnist";
  // tools/setup.sh installs it; the test command runs set-up first, so absence is a failure.
  INFO(dir << " missing (apt-get install dataset-fashion-mnist)");
  REQUIRE(fs::exists(dir));
  const l2o::Dataset& ds = l2o::load_dataset("fashion_mnist");
  CHECK(ds.n == 10000);
  CHECK(ds.height == 28);
  CHECK(ds.width == 28);
  CHECK(ds.images.size() == 10000u * 784u);
  CHECK(std::set<int32_t>(ds.labels.begin(), ds.labels.end()).size() == 10);
  CHECK(std::all_of(ds.labels.begin(), ds.labels.end(), [](int32_t l) { return l >= 0 && l < 10; }));
  CHECK(mean(ds.images) == Approx(0.286).margin(0.02));
}

TEST_CASE("real MNIST training split from data/ (tools/fetch_data.sh)", "[dataset][real]") {
  const std::string dir = L2O_SOURCE_DIR "/data";
  const l2o::Dataset& ds = l2o::load_dataset("mnist", dir, "train");
  CHECK(ds.n == 55000);
  CHECK(ds.images.size() == 55000u * 784u);
  CHECK(std::set<int32_t>(ds.labels.begin(), ds.labels.end()).size() == 10);
  CHECK(mean(ds.images) == Approx(0.1307).margin(0.003));
  const l2o::Dataset& fashion = l2o::load_dataset("fashion_mnist", "", "train");
  CHECK(fashion.n == 55000);
}

TEST_CASE("real MNIST test split from data/ (tools/fetch_data.sh)", "[dataset][real]") {
  const std::string dir = L2O_SOURCE_DIR "/data";
  INFO(dir << "/mnist missing (run tools/setup.sh)");
  REQUIRE(fs::exists(dir + "/mnist"));
  const l2o::Dataset& ds = l2o::load_dataset("mnist", dir);
  CHECK(ds.n == 10000);
  CHECK(ds.height == 28);
  CHECK(ds.width == 28);
  CHECK(std::set<int32_t>(ds.labels.begin(), ds.labels.end()).size() == 10);
  CHECK(mean(ds.images) == Approx(0.1325).margin(0.003));
  // The official file's first labels: 7, 2, 1, 0, 4.
  CHECK(std::vector<int32_t>(ds.labels.begin(), ds.labels.begin() + 5) == std::vector<int32_t>{7, 2, 1, 0, 4});
}
