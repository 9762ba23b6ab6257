// The safetensors checkpoint format (F32 only), so Python users can load our weights:
//   u64 little-endian N | N bytes JSON header (space-padded to a multiple of 8) | raw little-endian data
// Header: {"__metadata__": {str: str}, "<name>": {"dtype": "F32", "shape": [...], "data_offsets": [b, e]}, ...}
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace l2o {

struct NamedTensor {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> data;  // row-major, product(shape) elements
};

struct SafetensorsFile {
  std::map<std::string, std::string> metadata;
  std::vector<NamedTensor> tensors;  // file order (by data offset)
  // Throws InputError naming the missing tensor.
  const NamedTensor& get(const std::string& name) const;
};

// Tensors are laid out in the given order with contiguous offsets. Throws l2o::Error on
// inconsistent input (shape vs data size, duplicate or empty names).
std::string encode_safetensors(const SafetensorsFile& file);

// Largest header decode accepts; ours are about 1 KB.
constexpr uint64_t kMaxSafetensorsHeader = uint64_t(1) << 20;

// Validates the whole file; every problem is an InputError starting with `origin`: a header
// over kMaxSafetensorsHeader, padded with NUL, nested deeper than kMaxJsonDepth or holding a
// duplicate key is rejected. NaN/Inf values are accepted: the caller decides whether they matter.
SafetensorsFile decode_safetensors(const std::string& bytes, const std::string& origin);

void save_safetensors(const std::string& path, const SafetensorsFile& file);  // atomic replace
SafetensorsFile load_safetensors(const std::string& path);

}  // namespace l2o
