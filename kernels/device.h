// Which accelerator (if any) this process can use. Callable from every build: a build without
// CUDA reports "no device" with the reason.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace l2o {

struct DeviceInfo {
  bool available = false;
  std::string name;        // e.g. "NVIDIA H200"
  int cc_major = 0, cc_minor = 0;
  int64_t memory_bytes = 0;
  std::string reason;      // why no device, when !available
};

DeviceInfo query_cuda_device();

// Runs y = a*x + y on the device and returns y: proves the toolchain, runtime and device work.
std::vector<float> cuda_saxpy(float a, const std::vector<float>& x, const std::vector<float>& y);

}  // namespace l2o
