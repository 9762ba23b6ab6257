// The CPU conv optimizees' cost (REFERENCE.md section 3): one loss-and-gradient of Conv-MNIST and the
// Conv-CIFAR stand-in at their batch size, and each of its ops on the same shapes, as medians in ms.
// An op timed alone finds its buffers warm in cache, so the rows add up to less than the whole (about
// 3/4 on Conv-MNIST, bench/NOTES.md); the rest is misses between ops, the input gather and the FC layer.
// Before timing, the gradient of the whole is checked finite and non-zero (a broken build fails, exit 1).
//   bench_convnet_cpu [--problems conv_mnist,conv_cifar_standin] [--max-seconds 20] [--data-dir data]
//                     [--json FILE]   (one JSON line per row)
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <vector>

#include "bench/bench_harness.h"
#include "engine/numerics.h"
#include "kernels/conv.h"
#include "optimizees/convnet.h"
#include "optimizees/optimizee.h"
#include "tools/cli_args.h"

using namespace l2o;

namespace {

struct Row {
  std::string problem, op;
  bench::Timing t;
};

// The ops of one ConvNet loss and gradient on its shapes, with inputs taken from a real forward pass.
void bench_ops(const std::string& problem, ConvNet<float>& net, const std::vector<float>& theta, int64_t n,
               double budget, std::vector<Row>& rows) {
  const ConvNetLayout layout = net.layout();
  Rng rng(7, 0);
  std::vector<float> x(static_cast<size_t>(n * net.data().dim()));
  for (auto& v : x) v = static_cast<float>(rng.uniform());
  const double each = budget / (8.0 * static_cast<double>(layout.blocks.size()));
  for (size_t l = 0; l < layout.blocks.size(); ++l) {
    ConvShape s = layout.blocks[l].conv;
    s.n = n;
    const int64_t hw = s.col_cols(), count = s.out_size(), pooled = n * s.c_out * layout.blocks[l].ph * layout.blocks[l].pw;
    const float* w = theta.data() + layout.blocks[l].off_w;
    const float* gamma = theta.data() + layout.blocks[l].off_gamma;
    const float* beta = theta.data() + layout.blocks[l].off_beta;
    std::vector<float> col(s.col_size()), dcol(s.col_size()), z(count), xhat(count), a(count), inv(s.c_out);
    std::vector<float> p(pooled), dp(pooled, 0.01f), da(count), dx(s.in_size()), dw(s.weight_size()), db(s.c_out);
    std::vector<float> dg(s.c_out), dbt(s.c_out);
    std::vector<int32_t> arg(pooled);
    const std::string b = "block" + std::to_string(l) + " ";
    auto add = [&](const std::string& op, auto&& fn) { rows.push_back({problem, b + op, bench::time_op(fn, each)}); };
    add("conv forward", [&] { conv2d_forward_cpu(s, x.data(), w, theta.data() + layout.blocks[l].off_b, z.data(), col.data()); });
    add("batch norm forward", [&] {
      batchnorm_forward_cpu(n, s.c_out, hw, z.data(), gamma, beta, float(kBnEps), a.data(), xhat.data(), inv.data());
    });
    add("relu forward", [&] { relu_forward_cpu(count, a.data(), a.data()); });
    add("max-pool forward", [&] {
      maxpool2x2_forward_cpu(n * s.c_out, s.h_out(), s.w_out(), a.data(), p.data(), arg.data());
    });
    add("max-pool backward", [&] { maxpool2x2_backward_cpu(n * s.c_out, s.h_out(), s.w_out(), dp.data(), arg.data(), da.data()); });
    add("relu backward", [&] { relu_backward_cpu(count, a.data(), da.data(), da.data()); });
    std::vector<float> dbn(count);
    add("batch norm backward", [&] {
      batchnorm_backward_cpu(n, s.c_out, hw, da.data(), xhat.data(), gamma, inv.data(), dbn.data(), dg.data(), dbt.data());
    });
    // Block 0's input gradient is never needed (the images), as in ConvNet::loss_and_grad.
    add(l == 0 ? "conv backward (dw, db)" : "conv backward (dx, dw, db)", [&] {
      conv2d_backward_cpu(s, x.data(), w, dbn.data(), l == 0 ? nullptr : dx.data(), dw.data(), db.data(),
                          col.data(), dcol.data());
    });
    x.assign(p.begin(), p.end());  // the next block's input has this block's pooled shape
  }
}

int run(int argc, char** argv) {
  CliArgs args(argc, argv, {"problems", "max-seconds", "data-dir", "json"}, {"help"});
  if (args.has("help")) {
    std::cout << "usage: bench_convnet_cpu [--problems conv_mnist,conv_cifar_standin] [--max-seconds S] "
                 "[--data-dir D] [--json FILE]\n";
    return 0;
  }
  std::vector<std::string> problems = args.list("problems");
  if (problems.empty()) problems = {"conv_mnist", "conv_cifar_standin"};
  const double max_seconds = args.number("max-seconds", 20.0);
  if (!(max_seconds > 0)) throw InputError("--max-seconds: must be > 0");
  const double budget = max_seconds / static_cast<double>(problems.size());
  enable_flush_to_zero();
  std::vector<Row> rows;
  for (const auto& problem : problems) {
    ProblemConfig cfg = problem_config_by_name(problem);
    if (cfg.kind != "conv") throw InputError("--problems: \"" + problem + "\" is not a conv problem");
    cfg.data_dir = args.get("data-dir", "");
    auto opt = make_optimizee<float>(cfg);
    auto* net = dynamic_cast<ConvNet<float>*>(opt.get());
    L2O_CHECK(net, "problem " << problem << " is not a ConvNet");
    std::vector<float> theta(net->num_params()), grad(net->num_params());
    net->init(0, theta.data());
    Rng rng(0, 1);
    Batch batch;
    net->sample_batch(rng, batch);
    const float loss = net->loss_and_grad(theta.data(), batch, grad.data());
    double g2 = 0;
    for (float g : grad) g2 += static_cast<double>(g) * g;
    if (!std::isfinite(loss) || !std::isfinite(g2) || g2 == 0) {
      std::cerr << "bench_convnet_cpu: " << problem << ": loss " << loss << ", |grad|^2 " << g2 << "\n";
      return 1;
    }
    rows.push_back({problem, "loss and gradient (whole)",
                    bench::time_op([&] { net->loss_and_grad(theta.data(), batch, grad.data()); }, budget / 2)});
    bench_ops(problem, *net, theta, static_cast<int64_t>(batch.idx.size()), budget / 2, rows);
  }
  std::cout << "| problem | op | median ms | min ms | samples |\n|---|---|---|---|---|\n";
  for (const auto& r : rows)
    std::printf("| %s | %s | %.3f | %.3f | %d x %lld |\n", r.problem.c_str(), r.op.c_str(), r.t.median_ms,
                r.t.min_ms, r.t.reps, static_cast<long long>(r.t.inner));
  if (args.has("json")) {
    std::ofstream out(args.get("json", ""));
    if (!out) throw InputError("--json: cannot write " + args.get("json", ""));
    for (const auto& r : rows)
      out << nlohmann::json{{"bench", "convnet_cpu"}, {"problem", r.problem}, {"op", r.op},
                            {"median_ms", r.t.median_ms}, {"min_ms", r.t.min_ms}, {"reps", r.t.reps},
                            {"inner", r.t.inner}}
                 .dump()
          << "\n";
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return run_tool("bench_convnet_cpu", "internal error: ", run, argc, argv); }
