// Evaluation: train optimizees with an update rule (no meta-updates) over several seeds and
// record the minibatch loss at every step, as in the authors' evaluate_dm.py.
#pragma once
#include <functional>
#include <memory>
#include <map>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "engine/eval_partials.h"
#include "learners/update_rule.h"
#include "optimizees/optimizee.h"

namespace l2o {

struct EvalResult {
  std::string optimizer, problem;
  int64_t steps = 0;
  std::vector<uint64_t> seeds;
  std::vector<std::vector<float>> losses;  // per seed: losses at steps 0..steps (a shorter row = diverged)
  int64_t diverged = 0;
  int64_t resumed_seeds = 0;    // seeds read from partial results (EvalPartials) instead of run
  // Partial results of another build: per build, the seed replayed to check them, whether the
  // replay gave their curve bit for bit, and how many of their other seeds were then adopted
  // (counted in resumed_seeds).
  struct Replay {
    std::string build;
    uint64_t seed = 0;
    bool agreed = false;
    int64_t adopted = 0;
  };
  std::vector<Replay> replays;
  double seconds = 0;           // this process's time (resumed seeds ran in an earlier one)
  std::string backend = "cpu";  // where the optimizee ran
  std::string split;            // the data split it trained on ("" for data-free problems)
};

// Called after each seed with the seeds done, their total, that seed's last recorded loss (its
// last finite one when it diverged), and whether this call ran it (false: read from partials).
using EvalProgress = std::function<void(size_t done, size_t total, double last_loss, bool ran)>;

// A new rule like the one given to evaluate() (the same kind, settings and weights, with state of
// its own), for each extra worker thread of a parallel evaluation.
using RuleFactory = std::function<std::unique_ptr<UpdateRule>()>;

// Runs `rule` on `problem` for each seed: theta_0 and the minibatch stream depend only on the
// seed, so every optimizer sees the same instances. A non-finite loss ends that seed's run.
// The optimizee runs on `backend`; `progress` (optional) hears of each finished seed. With
// `partials`, a seed whose curve it holds from this build is read instead of run, and each seed run
// is saved there. Curves held from another build are adopted only if that build's first seed, run
// again here ahead of the others, gives its curve bit for bit; otherwise they all run again.
// jobs > 1 with `more_rules` (CPU backend; the device path takes one seed at a time): up to `jobs`
// seeds run at once, each worker thread with an optimizee of its own and a rule from `more_rules`
// (the calling thread's worker uses `rule`), threads made per call, in the caller's flush-to-zero mode. Since a rollout
// depends on its seed alone, the result is that of jobs = 1 bit for bit; only `progress` hears of
// the seeds in the order they finish (its calls never overlap).
EvalResult evaluate(UpdateRule& rule, const std::string& optimizer_label, const std::string& problem_name,
                    const ProblemConfig& problem, int64_t steps, const std::vector<uint64_t>& seeds,
                    Backend backend = Backend::cpu, const EvalProgress& progress = nullptr,
                    const EvalPartials* partials = nullptr, int jobs = 1, const RuleFactory& more_rules = nullptr);

// Steps per chunk of the device-resident rollout: one upload of minibatch indices and one
// download of losses (the only synchronisation) per chunk.
constexpr int64_t kEvalChunkSteps = 128;

// One seed's rollout on the device (engine/cuda_evaluate.cu), which evaluate() takes on the CUDA
// backend when `opt` is a CUDA optimizee and `rule` a CUDA hand-designed rule or a LearnedRule over
// a CUDA learner: theta, gradients and updates stay on the device, the minibatches are drawn from
// `batches` in the host loop's order. `rule` must be reset() and theta0 drawn already. Same curve
// as the host loop: `curve` gets the losses at steps 0..steps up to the first non-finite one
// (*diverged then true; `batches` and the rule may have run a chunk past it). Returns false and
// does nothing when the pair has no device path (always, in a build without CUDA).
bool evaluate_rollout_device(UpdateRule& rule, OptimizeeT<float>& opt, const CoordRanges& frozen, const float* theta0,
                             Rng& batches, int64_t steps, std::vector<float>* curve, bool* diverged,
                             int64_t chunk = kEvalChunkSteps);

// Final-loss statistics over the seeds that did not diverge.
struct EvalSummary {
  double final_mean = 0, final_std = 0, log10_mean_final = 0, mean_log10_final = 0;
  int64_t finished = 0;
};
EvalSummary summarize(const EvalResult& r);

// curves.csv rows (header `optimizer,problem,seed,step,loss`) and the summary.json document.
// thin = true keeps only the rows thin_curve_keeps() names (curves_thin.csv): about 200 rows per
// seed of a 10,000-step run instead of 10,001, small enough to commit beside summary.json so that a
// report can be rebuilt on another machine (docs/results/README.md).
std::string curves_csv(const std::vector<EvalResult>& results, bool thin = false);
// provenance: what produced the results (commit, build, machine, command line), written as the
// document's "provenance" object beside "results".
std::string summary_json(const std::vector<EvalResult>& results,
                         const std::map<std::string, std::string>& provenance = {});

// The median of a finished seed's losses over its last kLateWindow steps (all of them when the
// curve is shorter): its late loss without the single-minibatch spikes that can land on the last
// step (docs/results/full/README.md, "Spikes at the last step"). summary.json's late_median_losses.
constexpr int64_t kLateWindow = 100;
double late_median_loss(const std::vector<float>& curve);

// Whether row t of a seed's curve of `rows` rows is kept in curves_thin.csv: every step up to 100
// (where the curves fall fastest), every 100th after, and the seed's last row (its final loss, or
// where it diverged).
bool thin_curve_keeps(int64_t t, int64_t rows);

}  // namespace l2o
