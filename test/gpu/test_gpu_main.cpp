// GPU tests: their own executable. Without a device, main returns 77 and ctest reports Skipped.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>
#include <cstdio>

#include "kernels/device.h"

int main(int argc, char** argv) {
  const l2o::DeviceInfo d = l2o::query_cuda_device();
  if (!d.available) {
    std::printf("test_gpu: skipped: %s\n", d.reason.c_str());
    return 77;
  }
  std::printf("test_gpu: device %s (sm_%d%d)\n", d.name.c_str(), d.cc_major, d.cc_minor);
  return Catch::Session().run(argc, argv);
}
