// Backend selection: "cpu" always runs; "cuda" where it cannot run is one clear input error;
// "auto" falls back to the CPU and says why. On a machine with a device the CUDA branch is checked
// instead, so the test means something either way.
#include <catch2/catch.hpp>

#include "engine/backend.h"
#include "learners/l2o_dm_cuda.h"
#include "optimizees/cuda_optimizees.h"
#include "kernels/device.h"
#include "kernels/common.h"

using namespace l2o;

TEST_CASE("backend resolution: cpu, cuda and auto", "[backend]") {
  const ProblemConfig mlp = problem_config_by_name("mlp_orig");
  const ProblemConfig conv = problem_config_by_name("conv_mnist");
  const ProblemConfig quad = problem_config_by_name("quadratic");
  REQUIRE(resolve_backend("cpu", mlp).kind == Backend::cpu);
  REQUIRE(resolve_backend("cpu", mlp).device == "cpu");
  REQUIRE_THROWS_WITH(resolve_backend("gpu", mlp), Catch::Contains("unknown backend \"gpu\""));
  const DeviceInfo d = query_cuda_device();
  if (!d.available) {
    REQUIRE_THROWS_AS(resolve_backend("cuda", mlp), InputError);
    REQUIRE_THROWS_WITH(resolve_backend("cuda", mlp), Catch::StartsWith("backend \"cuda\" requested but ") &&
                                                          Catch::Contains(d.reason));
    const ResolvedBackend a = resolve_backend("auto", mlp);
    REQUIRE(a.kind == Backend::cpu);
    REQUIRE_THAT(a.note, Catch::Contains("auto: CPU backend") && Catch::Contains(d.reason));
  } else {
    REQUIRE(resolve_backend("cuda", mlp).kind == Backend::cuda);
    REQUIRE_THAT(resolve_backend("cuda", mlp).device, Catch::Contains(d.name));
    REQUIRE(resolve_backend("auto", mlp).kind == Backend::cuda);
    REQUIRE(resolve_backend("cuda", conv).kind == Backend::cuda);
    REQUIRE(resolve_backend("auto", conv).kind == Backend::cuda);
    REQUIRE_THROWS_WITH(resolve_backend("cuda", quad), Catch::Contains("\"quadratic\" has no CUDA implementation"));
    REQUIRE(resolve_backend("auto", quad).kind == Backend::cpu);
  }
}

TEST_CASE("the CUDA backend states which learners and problems it runs", "[backend]") {
  std::string why;
  REQUIRE(cuda_supports_problem(problem_config_by_name("mlp_deeper"), &why));
  for (const char* conv : {"conv_mnist", "conv_cifar", "conv_cifar_standin"})
    REQUIRE(cuda_supports_problem(problem_config_by_name(conv), &why));
  REQUIRE_FALSE(cuda_supports_problem(problem_config_by_name("quadratic"), &why));
  REQUIRE_THAT(why, Catch::Contains("\"quadratic\" has no CUDA implementation"));
  L2oDmConfig c;
  REQUIRE(cuda_supports_learner(c, &why));
  c.hidden = {20, 20, 20};
  REQUIRE_FALSE(cuda_supports_learner(c, &why));
  REQUIRE_THAT(why, Catch::Contains("2 LSTM layers of at most 32 units"));
  c.hidden = {64, 20};
  REQUIRE_FALSE(cuda_supports_learner(c, nullptr));
}
