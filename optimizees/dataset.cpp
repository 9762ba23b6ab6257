// IDX (MNIST-style) and CIFAR-10 binary readers, plus the cached named-dataset loader.
#include "optimizees/dataset.h"

#include <zlib.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>

#include "kernels/common.h"

namespace l2o {
namespace {

[[noreturn]] void input_error(const std::string& path, const std::string& problem) {
  throw InputError(path + ": " + problem);
}

std::string hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08X", v);
  return buf;
}

// Whole file contents; zlib's gzread decompresses gzip and passes plain files through, so
// compression is detected from the bytes (1f 8b), not the name.
std::vector<uint8_t> read_file_bytes(const std::string& path) {
  // fopen first: its errno says why (gzopen's errno is unreliable for a missing file).
  std::FILE* probe = std::fopen(path.c_str(), "rb");
  if (!probe) input_error(path, std::string("cannot open file (") + std::strerror(errno) + ")");
  std::fclose(probe);
  gzFile gz = gzopen(path.c_str(), "rb");
  if (!gz) input_error(path, "cannot open file (zlib could not allocate a reader)");
  std::vector<uint8_t> out;
  constexpr unsigned kChunk = 1u << 20;
  for (;;) {
    const size_t old = out.size();
    out.resize(old + kChunk);
    const int got = gzread(gz, out.data() + old, kChunk);
    if (got < 0) break;  // reported via gzerror below
    out.resize(old + static_cast<size_t>(got));
    if (got == 0) break;
  }
  int err = Z_OK;
  const char* msg = gzerror(gz, &err);
  std::string err_msg = msg ? msg : "";
  // zlib prefixes its message with the path, which input_error adds already.
  if (err_msg.rfind(path + ": ", 0) == 0) err_msg.erase(0, path.size() + 2);
  gzclose(gz);
  // A gzip stream cut short reads as Z_BUF_ERROR ("unexpected end of file").
  if (err != Z_OK && err != Z_STREAM_END) input_error(path, "corrupt or truncated gzip data (" + err_msg + ")");
  return out;
}

uint32_t be32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

bool is_file(const std::string& path) {
  std::error_code ec;
  return std::filesystem::is_regular_file(path, ec);
}

// "<base>" if it exists, else "<base>.gz" if that does, else "".
std::string plain_or_gz(const std::string& base) {
  if (is_file(base)) return base;
  if (is_file(base + ".gz")) return base + ".gz";
  return "";
}

std::string env_or(const char* var, const std::string& fallback) {
  const char* v = std::getenv(var);
  return (v && *v) ? std::string(v) : fallback;
}

// TensorFlow's read_data_sets keeps the first 5,000 training images as its validation split; the
// authors meta-train and validate on the remaining 55,000 (docs/fidelity.md).
constexpr int64_t kTfValidationImages = 5000;

Dataset load_mnist_like(const std::string& name, const std::string& dir, const std::string& split,
                        const std::string& hint) {
  const std::string prefix = split == "test" ? "t10k" : "train";
  const std::string img_base = dir + "/" + prefix + "-images-idx3-ubyte";
  const std::string lbl_base = dir + "/" + prefix + "-labels-idx1-ubyte";
  const std::string img = plain_or_gz(img_base), lbl = plain_or_gz(lbl_base);
  if (img.empty() || lbl.empty()) {
    const std::string& missing = img.empty() ? img_base : lbl_base;
    throw InputError(name + " (" + split + " split) not found: neither " + missing + " nor " + missing +
                     ".gz exists; " + hint);
  }
  Dataset ds = load_idx_pair(img, lbl, name);
  if (split == "train") {
    if (ds.n <= kTfValidationImages)
      input_error(img, "has " + std::to_string(ds.n) + " images; the training split drops the first " +
                           std::to_string(kTfValidationImages) + " (TensorFlow's validation images), so it needs more");
    const int64_t d = ds.dim();
    ds.images.erase(ds.images.begin(), ds.images.begin() + kTfValidationImages * d);
    ds.labels.erase(ds.labels.begin(), ds.labels.begin() + kTfValidationImages);
    ds.n -= kTfValidationImages;
    ds.source += " (images " + std::to_string(kTfValidationImages) + ".." + std::to_string(ds.n + kTfValidationImages - 1) +
                 ": TensorFlow's training split)";
  }
  return ds;
}

}  // namespace

IdxArray read_idx(const std::string& path) {
  const std::vector<uint8_t> bytes = read_file_bytes(path);
  if (bytes.size() < 4) input_error(path, "truncated: " + std::to_string(bytes.size()) + " bytes, too short for an IDX header");
  const uint32_t magic = be32(bytes.data());
  if (bytes[0] != 0 || bytes[1] != 0 || bytes[3] == 0)
    input_error(path, "wrong magic number " + hex32(magic) + " (expected 0x0000080X for unsigned-byte IDX)");
  if (bytes[2] != 0x08)
    input_error(path, "unsupported element type " + hex32(magic) + " (only unsigned-byte IDX, 0x0000080X, is supported)");
  const size_t ndims = bytes[3];
  const size_t header = 4 + 4 * ndims;
  if (bytes.size() < header)
    input_error(path, "truncated: header needs " + std::to_string(header) + " bytes for " + std::to_string(ndims) +
                          " dimensions, file has " + std::to_string(bytes.size()));
  IdxArray arr;
  uint64_t count = 1;
  for (size_t i = 0; i < ndims; ++i) {
    const uint32_t d = be32(bytes.data() + 4 + 4 * i);
    arr.dims.push_back(d);
    // Guard against a corrupt header whose product overflows; the size check below catches the rest.
    if (d != 0 && count > std::numeric_limits<uint64_t>::max() / d) input_error(path, "dimensions overflow");
    count *= d;
  }
  const uint64_t payload = bytes.size() - header;
  if (payload < count)
    input_error(path, "truncated: expected " + std::to_string(count) + " payload bytes, got " + std::to_string(payload));
  if (payload > count) input_error(path, std::to_string(payload - count) + " trailing bytes after the payload");
  arr.data.assign(bytes.begin() + static_cast<std::ptrdiff_t>(header), bytes.end());
  return arr;
}

Dataset load_idx_pair(const std::string& images_path, const std::string& labels_path, const std::string& name) {
  const IdxArray img = read_idx(images_path);
  const IdxArray lbl = read_idx(labels_path);
  if (img.dims.size() != 3)
    input_error(images_path, "expected 3 dimensions (n, rows, cols) for images, got " + std::to_string(img.dims.size()));
  if (lbl.dims.size() != 1)
    input_error(labels_path, "expected 1 dimension (n) for labels, got " + std::to_string(lbl.dims.size()));
  if (img.dims[0] != lbl.dims[0])
    throw InputError("mismatched counts: " + images_path + " has " + std::to_string(img.dims[0]) + " images but " +
                     labels_path + " has " + std::to_string(lbl.dims[0]) + " labels");
  if (img.dims[0] == 0) input_error(images_path, "contains no images");
  Dataset ds;
  ds.name = name;
  ds.source = images_path + ", " + labels_path;
  ds.n = img.dims[0];
  ds.channels = 1;
  ds.height = static_cast<int>(img.dims[1]);
  ds.width = static_cast<int>(img.dims[2]);
  ds.labels.resize(static_cast<size_t>(ds.n));
  for (size_t i = 0; i < lbl.data.size(); ++i) {
    if (lbl.data[i] >= ds.num_classes)
      input_error(labels_path, "label " + std::to_string(lbl.data[i]) + " at index " + std::to_string(i) +
                                   " is out of range [0, " + std::to_string(ds.num_classes) + ")");
    ds.labels[i] = lbl.data[i];
  }
  ds.images.resize(img.data.size());
  for (size_t i = 0; i < img.data.size(); ++i) ds.images[i] = img.data[i] / 255.0f;
  return ds;
}

Dataset load_cifar10_bin(const std::vector<std::string>& paths) {
  constexpr size_t kImage = 3 * 32 * 32, kRecord = 1 + kImage;
  if (paths.empty()) throw InputError("cifar10: no batch files given");
  Dataset ds;
  ds.name = "cifar10";
  ds.channels = 3;
  ds.height = ds.width = 32;
  for (const std::string& path : paths) {
    const std::vector<uint8_t> bytes = read_file_bytes(path);
    if (bytes.empty() || bytes.size() % kRecord != 0)
      input_error(path, "size " + std::to_string(bytes.size()) + " bytes is not a positive multiple of the " +
                            std::to_string(kRecord) + "-byte CIFAR-10 record (1 label + 3072 image bytes)");
    const size_t records = bytes.size() / kRecord;
    for (size_t r = 0; r < records; ++r) {
      const uint8_t* rec = bytes.data() + r * kRecord;
      if (rec[0] >= ds.num_classes)
        input_error(path, "label " + std::to_string(rec[0]) + " in record " + std::to_string(r) + " is out of range [0, 10)");
      ds.labels.push_back(rec[0]);
      // The file's R, G, B planes are already the channel-major layout Dataset uses.
      for (size_t k = 1; k < kRecord; ++k) ds.images.push_back(rec[k] / 255.0f);
    }
    ds.n += static_cast<int64_t>(records);
    ds.source += (ds.source.empty() ? "" : ", ") + path;
  }
  return ds;
}

const Dataset& load_dataset(const std::string& name, const std::string& data_dir, const std::string& split) {
  std::string dir;
  if (name == "mnist" || name == "cifar10") {
    dir = data_dir.empty() ? env_or("L2O_DATA_DIR", "./data") : data_dir;
  } else if (name == "fashion_mnist") {
    dir = data_dir.empty() ? "/usr/share/datasets/fashion-mnist" : data_dir;
  } else {
    throw InputError("unknown dataset '" + name + "' (valid: mnist, fashion_mnist, cifar10)");
  }
  if (split != "train" && split != "test")
    throw InputError("unknown data split '" + split + "' (valid: train, test)");

  static std::mutex mu;
  static std::map<std::string, std::unique_ptr<Dataset>> cache;
  const std::lock_guard<std::mutex> lock(mu);  // held while loading: concurrent callers wait, load once
  const std::string key = name + '\n' + dir + '\n' + split;
  auto it = cache.find(key);
  if (it != cache.end()) return *it->second;

  Dataset ds;
  if (name == "mnist") {
    ds = load_mnist_like(name, dir + "/mnist", split,
                         "run tools/setup.sh to fetch MNIST, or set data_dir (or L2O_DATA_DIR) to a directory holding mnist/");
  } else if (name == "fashion_mnist") {
    ds = load_mnist_like(name, dir, split,
                         "install Debian's dataset-fashion-mnist, or set data_dir to a directory holding the files");
  } else {
    // Accept both <dir>/cifar-10-batches-bin/ and data_dir pointing at the batches folder itself.
    std::string folder = dir + "/cifar-10-batches-bin";
    if (!is_file(folder + "/test_batch.bin") && is_file(dir + "/test_batch.bin")) folder = dir;
    std::vector<std::string> paths;
    if (split == "test") {
      paths = {folder + "/test_batch.bin"};
    } else {
      for (int b = 1; b <= 5; ++b) paths.push_back(folder + "/data_batch_" + std::to_string(b) + ".bin");
    }
    for (const auto& path : paths)
      if (!is_file(path))
        throw InputError("cifar10 (" + split + " split) not found: " + path + " does not exist; set data_dir (or "
                         "L2O_DATA_DIR) to a directory holding cifar-10-batches-bin/ from the CIFAR-10 binary version");
    ds = load_cifar10_bin(paths);
  }
  auto stored = std::make_unique<Dataset>(std::move(ds));
  const Dataset& ref = *stored;
  cache.emplace(key, std::move(stored));
  return ref;
}

}  // namespace l2o
