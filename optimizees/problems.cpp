// The named problems (REFERENCE.md section 3) and the optimizee factory.
#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <type_traits>

#include "kernels/common.h"
#include "optimizees/convnet.h"
#include "optimizees/cuda_optimizees.h"
#include "optimizees/mlp.h"
#include "optimizees/quadratic.h"

namespace l2o {

const std::vector<std::string>& problem_names() {
  static const std::vector<std::string> names = {"quadratic", "mlp_orig", "mlp_relu", "mlp_deeper", "mlp_fashion",
                                                 "conv_mnist", "conv_cifar", "conv_cifar_standin"};
  return names;
}

ProblemConfig problem_config_by_name(const std::string& name) {
  ProblemConfig c;
  if (name == "quadratic") {
    c.kind = "quadratic";
    return c;
  }
  if (name == "conv_mnist" || name == "conv_cifar" || name == "conv_cifar_standin") {
    c.kind = "conv";
    c.arch = name == "conv_mnist" ? "conv_mnist" : "conv_cifar";
    c.dataset = name == "conv_mnist" ? "mnist" : name == "conv_cifar" ? "cifar10" : "mnist_as_cifar_standin";
    return c;
  }
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

// Stand-in for CIFAR-10 where it is not available: MNIST digits zero-padded 28x28 -> 32x32 (2 pixels
// each side) and replicated to 3 channels, so the Conv-CIFAR architecture runs unchanged. Built
// once per (data_dir, split) and cached for the life of the process; its name says "standin".
static const Dataset& mnist_as_cifar_standin(const std::string& data_dir, const std::string& split) {
  static std::mutex mu;
  static std::map<std::string, std::unique_ptr<Dataset>> cache;
  const std::lock_guard<std::mutex> lock(mu);
  const std::string key = data_dir + '\n' + split;
  auto it = cache.find(key);
  if (it != cache.end()) return *it->second;
  const Dataset& src = load_dataset("mnist", data_dir, split);
  L2O_CHECK(src.channels == 1 && src.height <= 32 && src.width <= 32, "unexpected MNIST shape");
  auto d = std::make_unique<Dataset>();
  d->name = "mnist_as_cifar_standin";
  d->source = src.source + " (zero-padded to 32x32, replicated to 3 channels: CIFAR-10 stand-in)";
  d->n = src.n;
  d->channels = 3;
  d->height = d->width = 32;
  d->num_classes = src.num_classes;
  d->labels = src.labels;
  d->images.assign(d->n * d->dim(), 0.0f);
  const int top = (32 - src.height) / 2, left = (32 - src.width) / 2;
  for (int64_t i = 0; i < src.n; ++i) {
    const float* in = &src.images[i * src.dim()];
    for (int c = 0; c < 3; ++c) {
      float* out = &d->images[i * d->dim() + c * 32 * 32];
      for (int y = 0; y < src.height; ++y)
        for (int x = 0; x < src.width; ++x) out[(y + top) * 32 + x + left] = in[y * src.width + x];
    }
  }
  const Dataset& ref = *d;
  cache.emplace(key, std::move(d));
  return ref;
}

bool cuda_supports_problem(const ProblemConfig& problem, std::string* why) {
  if (problem.kind == "mlp" || problem.kind == "conv") return true;
  if (why) *why = "problem kind \"" + problem.kind + "\" has no CUDA implementation yet (MLPs and conv nets do)";
  return false;
}

template <typename T>
std::unique_ptr<OptimizeeT<T>> make_optimizee(const ProblemConfig& cfg) {
  if (cfg.kind == "quadratic") return std::make_unique<Quadratic<T>>(cfg.quad_count, cfg.quad_dims, cfg.init_std);
  if (cfg.kind == "mlp") {
    const Dataset& data = load_dataset(cfg.dataset, cfg.data_dir, cfg.split);
    std::string name = "mlp";
    for (int64_t h : cfg.hidden) name += "_" + std::to_string(h);
    name += "_" + cfg.activation;
    return std::make_unique<Mlp<T>>(name, data, cfg.hidden, parse_activation(cfg.activation), cfg.batch_size,
                                     cfg.init_std);
  }
  if (cfg.kind == "conv") {
    const bool standin = cfg.dataset == "mnist_as_cifar_standin";
    const Dataset& data = standin ? mnist_as_cifar_standin(cfg.data_dir, cfg.split)
                                  : load_dataset(cfg.dataset, cfg.data_dir, cfg.split);
    std::string name = cfg.arch + (standin ? "_standin" : "");
    if (!cfg.relu_logits) name += "_linear_logits";
    return std::make_unique<ConvNet<T>>(name, data, conv_arch_by_name(cfg.arch, cfg.relu_logits), cfg.batch_size,
                                        cfg.init_std, cfg.learned_trains_bn);
  }
  throw InputError("unknown problem kind \"" + cfg.kind + "\" (expected quadratic, mlp or conv)");
}

template <typename T>
std::unique_ptr<OptimizeeT<T>> make_optimizee(const ProblemConfig& cfg, Backend backend) {
  if (backend == Backend::cpu) return make_optimizee<T>(cfg);
  std::string why;
  if (!cuda_supports_problem(cfg, &why)) throw InputError("backend \"cuda\": " + why);
  if constexpr (std::is_same_v<T, float>) {
    auto cpu = make_optimizee<float>(cfg);
    if (cfg.kind == "conv") {
      const auto& net = dynamic_cast<const ConvNet<float>&>(*cpu);
      const Dataset& data = net.data();
      ConvNetLayout layout = net.layout();
      return make_convnet_cuda(std::move(cpu), data, std::move(layout));
    }
    const auto& mlp = dynamic_cast<const Mlp<float>&>(*cpu);
    const Dataset& data = mlp.data();
    std::vector<int64_t> sizes = mlp.sizes();
    const Activation act = mlp.activation();
    return make_mlp_cuda(std::move(cpu), data, std::move(sizes), act);
  }
  throw Error("the CUDA backend runs in float only");
}

template std::unique_ptr<OptimizeeT<float>> make_optimizee<float>(const ProblemConfig&);
template std::unique_ptr<OptimizeeT<double>> make_optimizee<double>(const ProblemConfig&);
template std::unique_ptr<OptimizeeT<float>> make_optimizee<float>(const ProblemConfig&, Backend);
template std::unique_ptr<OptimizeeT<double>> make_optimizee<double>(const ProblemConfig&, Backend);

}  // namespace l2o
