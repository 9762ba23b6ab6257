// A small meta-training spec on the quadratic for the trainer's tests: seconds to run, and it learns.
#pragma once

namespace {

const char* kQuadSpec = R"({
  "seed": 3,
  "problem": {"type": "quadratic", "count": 16},
  "learner": {"hidden": [8, 8], "preprocess": "log_and_sign", "output_scale": 0.1},
  "training": {"epochs": 6, "n_train": 40, "unroll": 20, "meta_optimizer": {"lr": 0.005}},
  "validation": {"period": 2, "n_valid": 40, "rollouts": 4},
  "output": {"checkpoint_every": 1}
})";

}  // namespace
