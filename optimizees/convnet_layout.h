// A ConvNet's shapes and where its parameters live in theta (optimizees/convnet.h), in a header
// without Eigen, so the CUDA twin (optimizees/convnet_cuda.cu, compiled by nvcc) can take them.
#pragma once
#include <cstdint>
#include <vector>

#include "kernels/conv.h"

namespace l2o {

struct ConvBlockLayout {
  ConvShape conv;               // n is set per call from the batch size
  int64_t ph = 0, pw = 0;       // pooled output size
  int64_t off_w = 0, off_b = 0, off_gamma = 0, off_beta = 0;  // into theta
};

struct ConvNetLayout {
  std::vector<ConvBlockLayout> blocks;
  int64_t features = 0;                // flattened size of the last block's pooled output
  int64_t off_fc_w = 0, off_fc_b = 0;  // FC W (features, classes) and b (classes) in theta
  bool relu_logits = true;
  double bn_eps = 0;                   // the batch norm's epsilon (kBnEps)
};

}  // namespace l2o
