// The authors' L2O-DM optimizers imported by tools/import_authors
// (docs/results/authors_models/checkpoints/): each loads as our default learner, and two learner
// steps match an independent double-precision evaluation of Sonnet 1's network from the tensors
// (REFERENCE.md section 1 conventions, written out below). Mutated references (another gate order,
// no forget bias, [h, x] rows, swapped LogAndSign features) must disagree, so the check has teeth.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "engine/safetensors.h"
#include "engine/learner_io.h"

using namespace l2o;

namespace {

// Ways to get Sonnet's conventions wrong; Variant{} is the correct network.
struct Variant {
  int gate_block[4] = {0, 1, 2, 3};  // column block of i, j, f, o in W and b
  double forget_bias = 1.0;
  bool h_first = false;        // W rows [h; x] instead of [x; h]
  bool swap_features = false;  // [sign, log] instead of [log, sign]
};

struct RefState {
  std::vector<double> h[2], c[2];
};

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

// One Sonnet 1 LSTM step: z = [x, h] W + b, blocks i, j, f, o; c' = s(f + fb) c + s(i) tanh(j);
// h' = s(o) tanh(c').
void lstm_ref(const std::vector<double>& x, const NamedTensor& w, const NamedTensor& b, const Variant& v,
              std::vector<double>& h, std::vector<double>& c) {
  const size_t H = h.size(), in = x.size(), G = 4 * H;
  std::vector<double> xh;
  if (v.h_first) {
    xh = h;
    xh.insert(xh.end(), x.begin(), x.end());
  } else {
    xh = x;
    xh.insert(xh.end(), h.begin(), h.end());
  }
  std::vector<double> hn(H), cn(H);
  for (size_t u = 0; u < H; ++u) {
    double z[4];
    for (int g = 0; g < 4; ++g) {
      const size_t col = v.gate_block[g] * H + u;
      z[g] = b.data[col];
      for (size_t k = 0; k < in + H; ++k) z[g] += xh[k] * double(w.data[k * G + col]);
    }
    cn[u] = sigmoid(z[2] + v.forget_bias) * c[u] + sigmoid(z[0]) * std::tanh(z[1]);
    hn[u] = sigmoid(z[3]) * std::tanh(cn[u]);
  }
  h = hn;
  c = cn;
}

// One optimizer step of one coordinate: LogAndSign (k = 5, eps = float32 epsilon), two LSTMs,
// u = 0.01 (h2 . w + b).
double dm_ref(const SafetensorsFile& f, double g, const Variant& v, RefState& s) {
  const double k = 5.0, eps = 1.1920928955078125e-07;
  std::vector<double> x = {std::max(std::log(std::fabs(g) + eps) / k, -1.0),
                           std::min(std::max(g * std::exp(k), -1.0), 1.0)};
  if (v.swap_features) std::swap(x[0], x[1]);
  lstm_ref(x, f.get("lstm_0/w"), f.get("lstm_0/b"), v, s.h[0], s.c[0]);
  lstm_ref(s.h[0], f.get("lstm_1/w"), f.get("lstm_1/b"), v, s.h[1], s.c[1]);
  const NamedTensor& w = f.get("linear/w");
  double out = f.get("linear/b").data[0];
  for (size_t i = 0; i < s.h[1].size(); ++i) out += s.h[1][i] * double(w.data[i]);
  return 0.01 * out;
}

// Max over coordinates and both steps of |u - ref| / (atol + rtol |ref|): <= 1 means agreement.
double worst_ratio(const SafetensorsFile& f, const std::vector<std::vector<float>>& grads,
                   const std::vector<std::vector<float>>& u, const Variant& v) {
  double worst = 0;
  for (size_t i = 0; i < grads[0].size(); ++i) {
    RefState s;
    for (int l = 0; l < 2; ++l) s.h[l] = s.c[l] = std::vector<double>(20, 0.0);
    for (size_t t = 0; t < grads.size(); ++t) {
      const double ref = dm_ref(f, grads[t][i], v, s);
      worst = std::max(worst, std::fabs(u[t][i] - ref) / (1e-6 + 1e-5 * std::fabs(ref)));
    }
  }
  return worst;
}

}  // namespace

TEST_CASE("the authors' imported L2O-DM optimizers step as Sonnet 1's network", "[authors]") {
  const std::vector<std::vector<float>> grads = {
      {1e-8f, -3e-6f, 2.5e-4f, -0.0123f, 0.2f, -0.7f, 1.0f},  // step 1, from zero state
      {-2e-8f, 5e-6f, -1e-3f, 0.03f, -0.1f, 0.5f, -2.0f}};  // step 2, state carried
  for (const std::string name : {"dm", "dm_aug", "dm_cl", "dm_il", "dm_cl_il"}) {
    INFO("model " << name);
    const std::string path = L2O_SOURCE_DIR "/docs/results/authors_models/checkpoints/" + name + ".safetensors";
    LoadedLearner l = load_learner(path);
    REQUIRE(l.learner->type() == "l2o_dm");
    REQUIRE(l.learner->num_params() == 5141);
    // The stored config is our complete default config (make_learner fills in every default).
    nlohmann::json defaults = nlohmann::json::object();
    make_learner<float>(SpecNode(defaults, "$.learner"));
    REQUIRE(nlohmann::json::parse(l.metadata.at("learner").get<std::string>()) == defaults);
    REQUIRE(l.metadata.at("source").get<std::string>().find("VITA-Group/L2O-Training-Techniques commit 0a3da557") !=
            std::string::npos);
    REQUIRE(l.metadata.at("source_sha256").get<std::string>().size() == 64);

    const int64_t n = static_cast<int64_t>(grads[0].size());
    l.learner->reset(n, 2);
    l.learner->zero_state();
    std::vector<std::vector<float>> u(grads.size(), std::vector<float>(n));
    for (size_t t = 0; t < grads.size(); ++t) l.learner->step(l.phi.data(), grads[t].data(), u[t].data(), false);
    const SafetensorsFile f = load_safetensors(path);
    REQUIRE(f.get("lstm_0/w").shape == std::vector<int64_t>{22, 80});
    REQUIRE(f.get("lstm_1/w").shape == std::vector<int64_t>{40, 80});

    // Agreement within 1e-6 abs + 1e-5 rel; the updates must be non-trivial for that to mean much.
    double umax = 0;
    for (const auto& ut : u)
      for (float x : ut) umax = std::max(umax, double(std::fabs(x)));
    CHECK(umax > 1e-3);
    CHECK(worst_ratio(f, grads, u, Variant{}) <= 1.0);

    // Each convention mistake would show up far beyond the tolerance.
    Variant pytorch_gates;  // i, f, j(g), o
    pytorch_gates.gate_block[1] = 2;
    pytorch_gates.gate_block[2] = 1;
    Variant no_forget_bias;
    no_forget_bias.forget_bias = 0.0;
    Variant h_first;
    h_first.h_first = true;
    Variant swapped;
    swapped.swap_features = true;
    for (const Variant& v : {pytorch_gates, no_forget_bias, h_first, swapped}) CHECK(worst_ratio(f, grads, u, v) > 100);
  }
}
