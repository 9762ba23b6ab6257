// The MLP row/elementwise ops and the hand-designed optimizer kernels against their CPU twins.
#include "kernels/mlp_ops.h"
#include "kernels/optim.h"
#include "kernels/segment_ops.h"
#include "test/gpu/cuda/gpu_compare.h"

using namespace l2o;
using namespace l2o_gpu;

TEST_CASE("MLP ops: GPU matches the CPU twins", "[gpu][mlp]") {
  const int64_t examples = 300, dim = 33, classes = 10;
  const auto images = random_floats(examples * dim, 0.0f, 1.0f, 1);
  std::vector<int32_t> labels(examples);
  for (int64_t i = 0; i < examples; ++i) labels[i] = static_cast<int32_t>((i * 7) % classes);
  for (int64_t rows : {int64_t(1), int64_t(7), int64_t(33), int64_t(257)}) {
    INFO("rows = " << rows);
    std::vector<int32_t> idx(rows);
    for (int64_t r = 0; r < rows; ++r) idx[r] = static_cast<int32_t>((r * 131 + 17) % examples);
    std::vector<float> x(rows * dim);
    std::vector<int32_t> y(rows);
    gather_rows_cpu(rows, dim, images.data(), labels.data(), idx.data(), x.data(), y.data());
    Guarded<float> d_images(images), d_x{std::vector<float>(rows * dim)};
    Guarded<int32_t> d_labels(labels), d_idx(idx), d_y{std::vector<int32_t>(rows)};
    gather_rows_cuda(rows, dim, d_images.data(), d_labels.data(), d_idx.data(), d_x.data(), d_y.data());
    REQUIRE(d_x.get() == x);  // a copy: exact
    REQUIRE(d_y.get() == y);

    for (Activation act : {Activation::sigmoid, Activation::relu, Activation::tanh}) {
      INFO("activation " << static_cast<int>(act));
      const auto z0 = random_floats(rows * dim, -3.0f, 3.0f, 2);
      const auto b = random_floats(dim, -0.5f, 0.5f, 3);
      std::vector<float> z = z0;
      bias_act_forward_cpu(rows, dim, b.data(), act, z.data());
      Guarded<float> d_z(z0), d_b(b);
      bias_act_forward_cuda(rows, dim, d_b.data(), act, d_z.data());
      require_close(d_z.get(), z, 1e-6, 1e-7, "bias+activation");

      auto delta = random_floats(rows * dim, -1.0f, 1.0f, 4);
      Guarded<float> d_delta(delta), d_a(z);
      act_backward_cpu(rows * dim, act, z.data(), delta.data());
      act_backward_cuda(rows * dim, act, d_a.data(), d_delta.data());
      require_close(d_delta.get(), delta, 1e-6, 1e-7, "activation backward");
    }
    const auto logits0 = random_floats(rows * classes, -4.0f, 4.0f, 5);
    const auto bc = random_floats(classes, -0.5f, 0.5f, 6);
    std::vector<float> logits = logits0, loss_rows(rows), dlogits(rows * classes);
    bias_add_cpu(rows, classes, bc.data(), logits.data());
    Guarded<float> d_logits(logits0), d_bc(bc), d_loss{std::vector<float>(rows)}, d_dl{std::vector<float>(rows * classes)};
    bias_add_cuda(rows, classes, d_bc.data(), d_logits.data());
    require_close(d_logits.get(), logits, 1e-6, 1e-7, "bias add");
    softmax_xent_cpu(rows, classes, logits.data(), y.data(), 1.0f / rows, loss_rows.data(), dlogits.data());
    softmax_xent_cuda(rows, classes, d_logits.data(), d_y.data(), 1.0f / rows, d_loss.data(), d_dl.data());
    require_close(d_loss.get(), loss_rows, 1e-5, 1e-6, "softmax cross-entropy loss");
    require_close(d_dl.get(), dlogits, 1e-5, 1e-6, "softmax cross-entropy gradient");

    float sum = 0;
    size_t bytes = 0;
    sum_cpu(rows, loss_rows.data(), &sum, &bytes, &bytes);
    sum_cuda(rows, d_loss.data(), nullptr, nullptr, &bytes);  // query
    DeviceBuffer<unsigned char> tmp(static_cast<int64_t>(std::max<size_t>(bytes, 1)));
    Guarded<float> d_sum{std::vector<float>(1)};
    sum_cuda(rows, d_loss.data(), d_sum.data(), tmp.data(), &bytes);
    require_close(d_sum.get(), {sum}, 1e-5, 0.0, "loss sum");
  }
}

TEST_CASE("hand-designed optimizer kernels: GPU matches the CPU twins over three steps", "[gpu][optim]") {
  for (int64_t n : sizes()) {
    INFO("n = " << n);
    std::vector<std::vector<float>> grads;
    for (int t = 0; t < 3; ++t) grads.push_back(random_floats(n, -1.0f, 1.0f, 30 + t));
    // One optimizer on both backends for three steps, so the state buffers (s1, s2) carry over;
    // compares the update u, or the parameters for the in-place meta-optimizer.
    auto run = [&](const char* what, bool in_place, bool stateful, auto cpu, auto gpu) {
      INFO(what);
      std::vector<float> s1(n, 0.0f), s2(n, 0.0f), u(n, 0.0f), param = random_floats(n, -1.0f, 1.0f, 9);
      Guarded<float> d_s1(s1), d_s2(s2), d_u(u), d_param(param);
      for (int t = 0; t < 3; ++t) {
        Guarded<float> d_g(grads[t]);
        cpu(grads[t].data(), s1.data(), s2.data(), u.data(), param.data(), t + 1);
        gpu(d_g.data(), d_s1.data(), d_s2.data(), d_u.data(), d_param.data(), t + 1);
      }
      if (in_place) {
        require_close(d_param.get(), param, 1e-6, 1e-7, "parameters");
      } else {
        require_close(d_u.get(), u, 1e-5, 1e-6, "update");
      }
      const auto s1_gpu = d_s1.get();
      if (stateful) require_close(s1_gpu, s1, 1e-5, 1e-6, "first state buffer");
      d_s2.get();
    };
    using F = float*;
    using G = const float*;
    run("sgd", false, false, [&](G g, F, F, F u, F, int64_t) { sgd_update_cpu(n, g, u, 0.1f); },
        [&](G g, F, F, F u, F, int64_t) { sgd_update_cuda(n, g, u, 0.1f); });
    run("momentum", false, true, [&](G g, F v, F, F u, F, int64_t) { momentum_update_cpu(n, g, v, u, 0.1f, 0.9f, false); },
        [&](G g, F v, F, F u, F, int64_t) { momentum_update_cuda(n, g, v, u, 0.1f, 0.9f, false); });
    run("nag", false, true, [&](G g, F v, F, F u, F, int64_t) { momentum_update_cpu(n, g, v, u, 0.1f, 0.9f, true); },
        [&](G g, F v, F, F u, F, int64_t) { momentum_update_cuda(n, g, v, u, 0.1f, 0.9f, true); });
    run("adam", false, true,
        [&](G g, F m, F v, F u, F, int64_t t) { adam_update_cpu(n, g, m, v, u, 0.01f, 0.9f, 0.999f, 1e-8f, t); },
        [&](G g, F m, F v, F u, F, int64_t t) { adam_update_cuda(n, g, m, v, u, 0.01f, 0.9f, 0.999f, 1e-8f, t); });
    run("adagrad", false, true, [&](G g, F s, F, F u, F, int64_t) { adagrad_update_cpu(n, g, s, u, 0.1f, 1e-10f); },
        [&](G g, F s, F, F u, F, int64_t) { adagrad_update_cuda(n, g, s, u, 0.1f, 1e-10f); });
    run("rmsprop", false, true, [&](G g, F s, F, F u, F, int64_t) { rmsprop_update_cpu(n, g, s, u, 0.01f, 0.99f, 1e-8f); },
        [&](G g, F s, F, F u, F, int64_t) { rmsprop_update_cuda(n, g, s, u, 0.01f, 0.99f, 1e-8f); });
    // TF forms (state from zero here; the rules start it at 0.1 / 1.0, which the CPU tests cover).
    run("adam_tf", false, true,
        [&](G g, F m, F v, F u, F, int64_t t) { adam_tf_update_cpu(n, g, m, v, u, 0.01f, 0.9f, 0.999f, 1e-8f, t); },
        [&](G g, F m, F v, F u, F, int64_t t) { adam_tf_update_cuda(n, g, m, v, u, 0.01f, 0.9f, 0.999f, 1e-8f, t); });
    run("adagrad_tf", false, true, [&](G g, F s, F, F u, F, int64_t) { adagrad_tf_update_cpu(n, g, s, u, 0.1f); },
        [&](G g, F s, F, F u, F, int64_t) { adagrad_tf_update_cuda(n, g, s, u, 0.1f); });
    run("rmsprop_tf", false, true,
        [&](G g, F s, F, F u, F, int64_t) { rmsprop_tf_update_cpu(n, g, s, u, 0.01f, 0.9f, 1e-10f); },
        [&](G g, F s, F, F u, F, int64_t) { rmsprop_tf_update_cuda(n, g, s, u, 0.01f, 0.9f, 1e-10f); });
    run("adam_tf_apply", true, true,
        [&](G g, F m, F v, F, F p, int64_t t) { adam_tf_apply_cpu(n, p, g, m, v, 0.001f, 0.9f, 0.999f, 1e-8f, t); },
        [&](G g, F m, F v, F, F p, int64_t t) { adam_tf_apply_cuda(n, p, g, m, v, 0.001f, 0.9f, 0.999f, 1e-8f, t); });
    run("adam_apply", true, true,
        [&](G g, F m, F v, F, F p, int64_t t) { adam_apply_cpu(n, p, g, m, v, 0.001f, 0.9f, 0.999f, 1e-8f, t); },
        [&](G g, F m, F v, F, F p, int64_t t) { adam_apply_cuda(n, p, g, m, v, 0.001f, 0.9f, 0.999f, 1e-8f, t); });
  }
}

TEST_CASE("segment suffix sums and scaling: GPU matches the CPU twins", "[gpu][segment]") {
  for (int64_t n : sizes()) {
    INFO("n = " << n);
    for (int64_t steps : {int64_t(1), int64_t(2), int64_t(20)}) {
      INFO("steps = " << steps);
      auto x = random_floats(steps * n, -1.0f, 1.0f, 40 + steps);
      Guarded<float> d_x(x);
      suffix_sum_steps_cpu(steps, n, x.data());
      suffix_sum_steps_cuda(steps, n, d_x.data());
      require_close(d_x.get(), x, 0.0, 0.0, "suffix sums");  // the same additions in the same order
    }
    auto y = random_floats(n, -2.0f, 2.0f, 50);
    Guarded<float> d_y(y);
    scale_cpu(n, 0.37f, y.data());
    scale_cuda(n, 0.37f, d_y.data());
    require_close(d_y.get(), y, 0.0, 0.0, "scale");
  }
}
