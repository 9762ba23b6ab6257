// Optimizees list their tensors (L2O-Scale's per-tensor level): the sizes follow theta's layout
// layer by layer and sum to num_params().
#include <catch2/catch.hpp>
#include <numeric>

#include "engine/random_scale.h"
#include "optimizees/convnet.h"
#include "optimizees/mlp.h"
#include "optimizees/quadratic.h"
#include "optimizees/task_batch.h"

using namespace l2o;

namespace {

Dataset blank_images(int channels, int side, int classes) {
  Dataset d;
  d.name = "blank";
  d.n = 4;
  d.channels = channels;
  d.height = d.width = side;
  d.num_classes = classes;
  d.images.assign(d.n * d.dim(), 0.5f);
  d.labels.assign(d.n, 0);
  return d;
}

int64_t total(const std::vector<int64_t>& s) { return std::accumulate(s.begin(), s.end(), int64_t(0)); }

}  // namespace

TEST_CASE("optimizees list their tensors in theta order", "[optimizee][l2o_scale]") {
  Quadratic<float> quad(128, 10, 0.01);
  REQUIRE(quad.tensor_sizes() == std::vector<int64_t>{1280});  // DM's one variable x (128, 10)

  const Dataset mnist_like = blank_images(1, 28, 10);
  Mlp<double> mlp("m", mnist_like, {20, 7}, Activation::sigmoid, 8, 0.01);
  const std::vector<int64_t> ms = mlp.tensor_sizes();
  REQUIRE(ms == std::vector<int64_t>{784 * 20, 20, 20 * 7, 7, 7 * 10, 10});  // W, b per layer
  REQUIRE(total(ms) == mlp.num_params());

  ConvNet<float> conv("c", mnist_like, conv_arch_by_name("conv_mnist"), 8, 0.01);
  // conv1 w, bias, gamma, beta; conv2 w, bias, gamma, beta; FC W (512 x 10), b.
  const std::vector<int64_t> cs = conv.tensor_sizes();
  REQUIRE(cs == std::vector<int64_t>{144, 16, 16, 16, 12800, 32, 32, 32, 5120, 10});
  REQUIRE(total(cs) == conv.num_params());
  // The frozen BN ranges are exactly the gamma and beta tensors.
  const CoordRanges frozen = conv.learner_frozen();
  REQUIRE(frozen.size() == 2);
  REQUIRE(frozen[0] == std::make_pair(int64_t(160), int64_t(192)));

  // A task batch concatenates its tasks' lists; the random scaling passes its problem's through.
  auto tasks = make_task_batch(problem_config_by_name("quadratic"), 3, Backend::cpu);
  REQUIRE(tasks->tensor_sizes() == std::vector<int64_t>{1280, 1280, 1280});
  RandomlyScaled scaled(*tasks, 1.0);
  REQUIRE(scaled.tensor_sizes() == tasks->tensor_sizes());
}
