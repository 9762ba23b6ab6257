// Labelled image datasets in memory, read from standard files (IDX, CIFAR-10 binary).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace l2o {

struct Dataset {
  std::string name;              // "mnist", "fashion_mnist", "cifar10"
  std::string source;            // the file(s) it was read from, for logs
  int64_t n = 0;                 // number of examples
  int channels = 1, height = 0, width = 0;
  int num_classes = 10;
  std::vector<float> images;     // (n, channels*height*width), channel-major per image, values in [0, 1]
  std::vector<int32_t> labels;   // (n), each in [0, num_classes)

  int64_t dim() const { return static_cast<int64_t>(channels) * height * width; }
};

// A raw IDX array (LeCun's format): unsigned-byte payload only, which is what MNIST-style files use.
struct IdxArray {
  std::vector<int64_t> dims;
  std::vector<uint8_t> data;
};

// Largest data file (decompressed) the readers accept; MNIST's largest is 47 MB.
constexpr uint64_t kMaxDataFileBytes = uint64_t(256) << 20;

// Reads an IDX file, plain or gzip-compressed (detected from the content, not the name).
// Throws InputError naming the file and the problem: missing file, a directory, wrong magic
// number, unsupported element type, a payload over kMaxDataFileBytes, truncated payload,
// trailing bytes, trailing garbage after the gzip stream. Decompression stops at the size
// the header declares (plus 1 MiB to count trailing bytes).
IdxArray read_idx(const std::string& path);

// Images (n, rows, cols) + labels (n) as a Dataset; throws InputError on mismatched counts.
Dataset load_idx_pair(const std::string& images_path, const std::string& labels_path, const std::string& name);

// CIFAR-10 binary batches: records of 1 label byte + 3072 image bytes (R, G, B planes, 32x32).
Dataset load_cifar10_bin(const std::vector<std::string>& paths);

// A split of a named dataset (REFERENCE.md section 6). "train": the training file without its first
// 5,000 images (TensorFlow's training split, on which the authors meta-train and validate; CIFAR-10:
// data_batch_1..5); "test": the official test file (evaluation). data_dir "" means the default:
//   mnist:         $L2O_DATA_DIR or ./data, files mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]
//   fashion_mnist: /usr/share/datasets/fashion-mnist (Debian's dataset-fashion-mnist)
//   cifar10:       $L2O_DATA_DIR/cifar-10-batches-bin/{data_batch_N,test_batch}.bin
// mnist and fashion_mnist images must be 28x28 (an InputError naming the file otherwise).
// Datasets are cached per (name, dir, split) for the life of the process.
const Dataset& load_dataset(const std::string& name, const std::string& data_dir = "",
                            const std::string& split = "test");

}  // namespace l2o
