// The named problems (REFERENCE.md section 3) and the optimizee factory.
#include <algorithm>

#include "kernels/common.h"
#include "optimizees/mlp.h"
#include "optimizees/quadratic.h"

namespace l2o {

const std::vector<std::string>& problem_names() {
  static const std::vector<std::string> names = {"quadratic", "mlp_orig", "mlp_relu", "mlp_deeper", "mlp_fashion"};
  return names;
}

ProblemConfig problem_config_by_name(const std::string& name) {
  ProblemConfig c;
  c.type = name;
  if (name == "quadratic") return c;
  c.type = "mlp";
  if (name == "mlp_orig") return c;  // 784-20-10 sigmoid, the training task
  if (name == "mlp_relu") { c.activation = "relu"; return c; }
  if (name == "mlp_deeper") { c.hidden = {20, 20}; return c; }
  if (name == "mlp_fashion") { c.dataset = "fashion_mnist"; return c; }  // MLP-orig on Fashion-MNIST
  std::string list;
  for (const auto& n : problem_names()) list += (list.empty() ? "" : ", ") + n;
  throw InputError("unknown problem \"" + name + "\" (expected one of: " + list + ")");
}

static Activation parse_activation(const std::string& s) {
  if (s == "sigmoid") return Activation::sigmoid;
  if (s == "relu") return Activation::relu;
  if (s == "tanh") return Activation::tanh;
  throw InputError("unknown activation \"" + s + "\" (expected one of: sigmoid, relu, tanh)");
}

template <typename T>
std::unique_ptr<OptimizeeT<T>> make_optimizee(const ProblemConfig& cfg) {
  if (cfg.type == "quadratic") return std::make_unique<Quadratic<T>>(cfg.quad_count, cfg.quad_dims, cfg.init_std);
  if (cfg.type == "mlp") {
    const Dataset& data = load_dataset(cfg.dataset, cfg.data_dir);
    std::string name = "mlp";
    for (int64_t h : cfg.hidden) name += "_" + std::to_string(h);
    name += "_" + cfg.activation;
    return std::make_unique<Mlp<T>>(name, data, cfg.hidden, parse_activation(cfg.activation), cfg.batch_size,
                                     cfg.init_std);
  }
  throw InputError("unknown problem type \"" + cfg.type + "\" (expected quadratic or mlp)");
}

template std::unique_ptr<OptimizeeT<float>> make_optimizee<float>(const ProblemConfig&);
template std::unique_ptr<OptimizeeT<double>> make_optimizee<double>(const ProblemConfig&);

}  // namespace l2o
