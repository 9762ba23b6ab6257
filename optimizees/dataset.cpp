// IDX (MNIST-style) and CIFAR-10 binary readers, plus the cached named-dataset loader.
#include "optimizees/dataset.h"

#include <zlib.h>

#include <algorithm>
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

std::string fmt_mib(uint64_t n) { return std::to_string(n >> 20) + " MiB"; }

// Why `path` cannot be read as a data file, or "" when it is a regular file.
std::string not_a_file(const std::string& path) {
  std::error_code ec;
  const auto st = std::filesystem::status(path, ec);
  if (st.type() == std::filesystem::file_type::regular) return "";
  if (st.type() == std::filesystem::file_type::directory) return "is a directory, not a data file";
  if (std::filesystem::exists(st)) return "is not a regular file";
  return "does not exist";
}

// A data file, plain or gzip (detected from the bytes 1f 8b, not the name), read in pieces so
// callers stop decompressing once they have what the file's header promises.
class DataReader {
 public:
  explicit DataReader(const std::string& path) : path_(path) {
    const std::string why = not_a_file(path);
    if (why == "does not exist") input_error(path, "cannot open file (" + std::string(std::strerror(ENOENT)) + ")");
    if (!why.empty()) input_error(path, why);
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) input_error(path, std::string("cannot open file (") + std::strerror(errno) + ")");
    std::error_code ec;
    const uint64_t size = std::filesystem::file_size(path, ec);
    if (!ec && size > kMaxDataFileBytes) {
      std::fclose(f);
      input_error(path, "is " + std::to_string(size) + " bytes, over the " + fmt_mib(kMaxDataFileBytes) +
                            " limit for a data file");
    }
    raw_.resize(ec ? 0 : static_cast<size_t>(size));
    const size_t got = raw_.empty() ? 0 : std::fread(raw_.data(), 1, raw_.size(), f);
    const bool failed = std::ferror(f) != 0;
    std::fclose(f);
    if (failed) input_error(path, std::string("read error (") + std::strerror(errno) + ")");
    raw_.resize(got);
    gz_ = raw_.size() >= 2 && raw_[0] == 0x1f && raw_[1] == 0x8b;
    if (gz_) {
      if (inflateInit2(&zs_, 16 + MAX_WBITS) != Z_OK) input_error(path, "cannot start gzip decompression (zlib)");
      zs_.next_in = raw_.data();
      zs_.avail_in = static_cast<uInt>(raw_.size());
    }
  }
  ~DataReader() {
    if (gz_) inflateEnd(&zs_);
  }
  DataReader(const DataReader&) = delete;
  DataReader& operator=(const DataReader&) = delete;

  // Up to n bytes into dst; fewer only at the end of the data.
  size_t read(uint8_t* dst, size_t n) {
    if (!gz_) {
      const size_t k = std::min(n, raw_.size() - pos_);
      if (k > 0) std::memcpy(dst, raw_.data() + pos_, k);  // an empty file has no data pointer
      pos_ += k;
      return k;
    }
    size_t got = 0;
    while (got < n && !done_) {
      const size_t want = std::min<size_t>(n - got, 1u << 30);
      zs_.next_out = dst + got;
      zs_.avail_out = static_cast<uInt>(want);
      const int ret = inflate(&zs_, Z_NO_FLUSH);
      got += want - zs_.avail_out;
      if (ret == Z_STREAM_END) {
        // Concatenated gzip members are one stream; anything else after the end is garbage.
        if (zs_.avail_in == 0) {
          done_ = true;
        } else if (zs_.avail_in >= 2 && zs_.next_in[0] == 0x1f && zs_.next_in[1] == 0x8b) {
          inflateReset(&zs_);
        } else {
          input_error(path_, std::to_string(zs_.avail_in) + " bytes of trailing garbage after the gzip stream");
        }
      } else if ((ret == Z_OK || ret == Z_BUF_ERROR) && zs_.avail_in == 0 && zs_.avail_out != 0) {
        input_error(path_, "truncated gzip data (unexpected end of file)");  // all input is in memory
      } else if (ret != Z_OK) {
        input_error(path_, std::string("corrupt gzip data (") + (zs_.msg ? zs_.msg : "zlib error " + std::to_string(ret)) + ")");
      }
    }
    return got;
  }

  // Reads and drops up to `max` bytes; returns how many there were.
  uint64_t skip(uint64_t max) {
    std::vector<uint8_t> scratch(1u << 16);
    uint64_t total = 0;
    while (total < max) {
      const size_t k = read(scratch.data(), static_cast<size_t>(std::min<uint64_t>(scratch.size(), max - total)));
      total += k;
      if (k == 0) break;
    }
    return total;
  }

  // The rest of the data, at most `max` bytes (else an InputError).
  std::vector<uint8_t> read_rest(uint64_t max) {
    std::vector<uint8_t> out;
    constexpr size_t kChunk = 1u << 20;
    for (;;) {
      const size_t old = out.size();
      out.resize(old + kChunk);
      const size_t k = read(out.data() + old, kChunk);
      out.resize(old + k);
      if (out.size() > max)
        input_error(path_, std::string(gz_ ? "decompresses to" : "is") + " more than " + fmt_mib(max) +
                               ", the limit for a data file");
      if (k < kChunk) return out;
    }
  }

 private:
  std::string path_;
  std::vector<uint8_t> raw_;  // the file as stored
  size_t pos_ = 0;            // plain files: read position in raw_
  bool gz_ = false, done_ = false;
  z_stream zs_{};
};

uint32_t be32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

bool is_file(const std::string& path) { return not_a_file(path).empty(); }

// "<base>" if it is a file, else "<base>.gz" if that is, else "".
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
constexpr int kMnistSide = 28;  // MNIST and Fashion-MNIST images are 28x28

Dataset load_mnist_like(const std::string& name, const std::string& dir, const std::string& split,
                        const std::string& hint) {
  const std::string prefix = split == "test" ? "t10k" : "train";
  const std::string img_base = dir + "/" + prefix + "-images-idx3-ubyte";
  const std::string lbl_base = dir + "/" + prefix + "-labels-idx1-ubyte";
  const std::string img = plain_or_gz(img_base), lbl = plain_or_gz(lbl_base);
  if (img.empty() || lbl.empty()) {
    const std::string& missing = img.empty() ? img_base : lbl_base;
    // Something there that is not a file (a directory) is named as such, not as missing.
    for (const std::string& p : {missing, missing + ".gz"}) {
      const std::string why = not_a_file(p);
      if (why != "does not exist") input_error(p, why + " (" + name + ", " + split + " split)");
    }
    throw InputError(name + " (" + split + " split) not found: neither " + missing + " nor " + missing +
                     ".gz exists; " + hint);
  }
  Dataset ds = load_idx_pair(img, lbl, name);
  // An MLP or conv net sized from other shapes would train silently on the wrong input.
  if (ds.height != kMnistSide || ds.width != kMnistSide)
    input_error(img, "images are " + std::to_string(ds.height) + "x" + std::to_string(ds.width) + " pixels; " + name +
                         " needs " + std::to_string(kMnistSide) + "x" + std::to_string(kMnistSide));
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
  DataReader in(path);
  uint8_t head[4 + 4 * 255];
  const size_t got = in.read(head, 4);
  if (got < 4) input_error(path, "truncated: " + std::to_string(got) + " bytes, too short for an IDX header");
  const uint32_t magic = be32(head);
  if (head[0] != 0 || head[1] != 0 || head[3] == 0)
    input_error(path, "wrong magic number " + hex32(magic) + " (expected 0x0000080X for unsigned-byte IDX)");
  if (head[2] != 0x08)
    input_error(path, "unsupported element type " + hex32(magic) + " (only unsigned-byte IDX, 0x0000080X, is supported)");
  const size_t ndims = head[3];
  const size_t header = 4 + 4 * ndims;
  const size_t have = 4 + in.read(head + 4, 4 * ndims);
  if (have < header)
    input_error(path, "truncated: header needs " + std::to_string(header) + " bytes for " + std::to_string(ndims) +
                          " dimensions, file has " + std::to_string(have));
  IdxArray arr;
  uint64_t count = 1;
  std::string shape;
  for (size_t i = 0; i < ndims; ++i) {
    const uint32_t d = be32(head + 4 + 4 * i);
    arr.dims.push_back(d);
    shape += (i ? "x" : "") + std::to_string(d);
    if (d != 0 && count > std::numeric_limits<uint64_t>::max() / d) count = std::numeric_limits<uint64_t>::max();
    else count *= d;
  }
  // The header bounds what is decompressed: a gzip bomb stops here, not at the end of its stream.
  if (count > kMaxDataFileBytes)
    input_error(path, "header declares " + shape + " = " + (count == std::numeric_limits<uint64_t>::max() ? "too many" : std::to_string(count)) +
                          " payload bytes, over the " + fmt_mib(kMaxDataFileBytes) + " limit for a data file");
  constexpr size_t kChunk = size_t(1) << 20;  // grown as data arrives, so a short file allocates little
  while (arr.data.size() < count) {
    const size_t old = arr.data.size();
    const size_t want = static_cast<size_t>(std::min<uint64_t>(kChunk, count - old));
    arr.data.resize(old + want);
    const size_t k = in.read(arr.data.data() + old, want);
    arr.data.resize(old + k);
    if (k < want) break;
  }
  if (arr.data.size() < count)
    input_error(path, "truncated: expected " + std::to_string(count) + " payload bytes, got " + std::to_string(arr.data.size()));
  constexpr uint64_t kCounted = uint64_t(1) << 20;  // trailing bytes counted before giving up
  const uint64_t extra = in.skip(kCounted + 1);
  if (extra > kCounted)
    input_error(path, "more than " + std::to_string(kCounted) + " trailing bytes after the payload (the header declares " +
                          shape + " = " + std::to_string(count) + " bytes; stopped reading)");
  if (extra > 0) input_error(path, std::to_string(extra) + " trailing bytes after the payload");
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
  if (img.dims[1] == 0 || img.dims[2] == 0)
    input_error(images_path, "images are " + std::to_string(img.dims[1]) + "x" + std::to_string(img.dims[2]) +
                                 " pixels; they need at least one");
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
    const std::vector<uint8_t> bytes = DataReader(path).read_rest(kMaxDataFileBytes);
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
        throw InputError("cifar10 (" + split + " split) not found: " + path + " " + not_a_file(path) +
                         "; set data_dir (or L2O_DATA_DIR) to a directory holding cifar-10-batches-bin/ from the "
                         "CIFAR-10 binary version");
    ds = load_cifar10_bin(paths);
  }
  auto stored = std::make_unique<Dataset>(std::move(ds));
  const Dataset& ref = *stored;
  cache.emplace(key, std::move(stored));
  return ref;
}

}  // namespace l2o
