// K tasks as one optimizee: K = 1 is the plain problem; each task is its own instance with its own
// minibatch; the loss is the sum and the gradient the concatenation of the tasks'.
#include <catch2/catch.hpp>

#include <algorithm>

#include "engine/backend.h"
#include "optimizees/task_batch.h"

using namespace l2o;

TEST_CASE("a task batch is K independent instances behind one optimizee", "[optimizees]") {
  const ProblemConfig cfg = problem_config_by_name("quadratic");
  auto plain = make_optimizee<float>(cfg);
  const int64_t n = plain->num_params();
  auto one = make_task_batch(cfg, 1, Backend::cpu);
  auto three = make_task_batch(cfg, 3, Backend::cpu);
  REQUIRE(one->num_params() == n);
  REQUIRE(three->num_params() == 3 * n);
  REQUIRE(three->name() == plain->name() + "_x3");

  std::vector<float> th_plain(n), th1(n), th3(3 * n), g_plain(n), g1(n), g3(3 * n);
  plain->init(5, th_plain.data());
  one->init(5, th1.data());
  three->init(5, th3.data());
  REQUIRE(th1 == th_plain);                                              // task 0 keeps the caller's seed
  REQUIRE(std::equal(th_plain.begin(), th_plain.end(), th3.begin()));
  REQUIRE_FALSE(std::equal(th_plain.begin(), th_plain.end(), th3.begin() + n));  // task 1 is another instance

  Rng r1(7, kStreamBatch), r2(7, kStreamBatch), r3(7, kStreamBatch);
  Batch b_plain, b1, b3;
  plain->sample_batch(r1, b_plain);
  one->sample_batch(r2, b1);
  three->sample_batch(r3, b3);
  REQUIRE(b1.idx == b_plain.idx);
  REQUIRE(b3.idx.size() == 3 * b_plain.idx.size());
  REQUIRE(one->loss_and_grad(th1.data(), b1, g1.data()) == plain->loss_and_grad(th_plain.data(), b_plain, g_plain.data()));
  REQUIRE(g1 == g_plain);

  // The sum of the tasks' own losses, each on its slice of theta and of the batch.
  const float total = three->loss_and_grad(th3.data(), b3, g3.data());
  double expect = 0;
  const int64_t per = static_cast<int64_t>(b_plain.idx.size());
  for (int k = 0; k < 3; ++k) {
    auto solo = make_optimizee<float>(cfg);
    std::vector<float> th(n), g(n);
    solo->init(TaskBatch::task_seed(5, k), th.data());
    Batch b;
    b.idx.assign(b3.idx.begin() + k * per, b3.idx.begin() + (k + 1) * per);
    expect += solo->loss_and_grad(th.data(), b, g.data());
    REQUIRE(std::equal(g.begin(), g.end(), g3.begin() + k * n));
  }
  REQUIRE(total == Approx(expect).epsilon(1e-6));
  REQUIRE(total > 0);
}
