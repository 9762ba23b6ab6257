// The small double-precision L2O-DM (LSTM 4-3, output scale 0.1) on a 3 x 4 quadratic that the
// finite-difference tests of whole segments share, with phi and theta_0 drawn from given seeds.
#pragma once
#include <cstdint>
#include <vector>

#include "learners/l2o_dm.h"
#include "optimizees/quadratic.h"

namespace l2o_test {

struct SmallDmProblem {
  static l2o::L2oDmConfig config() {
    l2o::L2oDmConfig c;
    c.hidden = {4, 3};
    c.output_scale = 0.1;
    return c;
  }
  l2o::L2oDm<double> dm{config()};
  l2o::Quadratic<double> q{3, 4, 0.5};
  std::vector<double> phi, theta0;
  SmallDmProblem(uint64_t phi_seed, uint64_t theta_seed) : phi(dm.num_params()), theta0(q.num_params()) {
    dm.init_params(phi_seed, phi.data());
    q.init(theta_seed, theta0.data());
  }
};

}  // namespace l2o_test
