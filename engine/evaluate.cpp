#include "engine/evaluate.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <deque>
#include <exception>
#include <system_error>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#ifdef _OPENMP
#include <omp.h>
#endif

namespace l2o {

namespace {

// One evaluation worker: an update rule and an optimizee of its own, and its buffers.
struct SeedRunner {
  UpdateRule* rule = nullptr;
  std::unique_ptr<OptimizeeT<float>> opt;
  CoordRanges frozen;
  std::vector<float> theta, grad, u;
  Batch batch;

  SeedRunner(UpdateRule& r, const ProblemConfig& problem, Backend backend)
      : rule(&r), opt(make_optimizee<float>(problem, backend)) {
    const int64_t n = opt->num_params();
    theta.resize(n);
    grad.resize(n);
    u.resize(n);
    frozen = r.learned() ? opt->learner_frozen() : CoordRanges{};
    r.set_tensor_sizes(opt->tensor_sizes());  // before each reset below (L2O-Scale's per-tensor level)
  }

  // The seed's losses at steps 0..steps, up to the first non-finite one; returns whether it diverged.
  bool run(uint64_t seed, int64_t steps, Backend backend, std::vector<float>* curve) {
    const int64_t n = opt->num_params();
    opt->init(seed, theta.data());
    Rng batches(seed, kStreamBatch);
    rule->reset(n);
    curve->reserve(steps + 1);
    bool diverged = false;
    if (backend == Backend::cuda &&
        evaluate_rollout_device(*rule, *opt, frozen, theta.data(), batches, steps, curve, &diverged))
      return diverged;
    for (int64_t t = 0; t <= steps; ++t) {
      opt->sample_batch(batches, batch);
      const float loss = opt->loss_and_grad(theta.data(), batch, t < steps ? grad.data() : nullptr);
      if (!std::isfinite(loss)) return true;  // diverged: the curve stops here and the seed is counted
      curve->push_back(loss);
      if (t == steps) break;
      rule->update(grad.data(), u.data());
      zero_ranges(frozen, u.data());
      for (int64_t i = 0; i < n; ++i) theta[i] += u[i];
    }
    return false;
  }
};

}  // namespace

EvalResult evaluate(UpdateRule& rule, const std::string& optimizer_label, const std::string& problem_name,
                    const ProblemConfig& problem, int64_t steps, const std::vector<uint64_t>& seeds,
                    Backend backend, const EvalProgress& progress, const EvalPartials* partials, int jobs,
                    const RuleFactory& more_rules) {
  auto t0 = std::chrono::steady_clock::now();
  EvalResult r;
  r.optimizer = optimizer_label;
  r.problem = problem_name;
  r.steps = steps;
  r.seeds = seeds;
  r.backend = backend_name(backend);
  r.split = problem.kind == "quadratic" ? "" : problem.split;
  r.losses.resize(seeds.size());
  std::vector<char> diverged(seeds.size(), 0);
  size_t done = 0;
  std::mutex mu;  // guards done, progress and partial saves
  const auto seed_done = [&](size_t k, bool ran) {
    const std::vector<float>& c = r.losses[k];
    ++done;
    if (progress) progress(done, seeds.size(), c.empty() ? NAN : static_cast<double>(c.back()), ran);
  };
  const auto read_done = [&](size_t k, std::vector<float>&& curve) {
    r.losses[k] = std::move(curve);
    diverged[k] = static_cast<int64_t>(r.losses[k].size()) != steps + 1;
    ++r.resumed_seeds;
    seed_done(k, false);
  };
  std::vector<size_t> todo;  // seeds to run, in seed order
  std::map<std::string, std::vector<size_t>> foreign;  // another build -> the seeds it holds, in seed order
  std::vector<std::vector<float>> held(seeds.size());
  for (size_t k = 0; k < seeds.size(); ++k) {
    std::string by;
    const auto found = partials ? partials->load(seeds[k], steps, &held[k], &by) : EvalPartials::Found::none;
    if (found == EvalPartials::Found::this_build)
      read_done(k, std::move(held[k]));
    else if (found == EvalPartials::Found::other_build)
      foreign[by].push_back(k);
    else
      todo.push_back(k);
  }

  // Workers take the next seed of the queue below until none is left (or one has failed).
  size_t may_run = todo.size();  // and every seed of another build: its first replays, the rest may run
  for (const auto& f : foreign) may_run += f.second.size();
  const size_t workers = backend == Backend::cuda || !more_rules
                             ? 1
                             : std::max<size_t>(1, std::min(may_run, static_cast<size_t>(std::max(jobs, 1))));
  std::vector<std::unique_ptr<UpdateRule>> extra_rules;
  std::vector<std::unique_ptr<SeedRunner>> runners;
  runners.push_back(std::make_unique<SeedRunner>(rule, problem, backend));
  for (size_t w = 1; w < workers; ++w) {  // built here: dataset loading and rule making stay on one thread
    extra_rules.push_back(more_rules());
    runners.push_back(std::make_unique<SeedRunner>(*extra_rules.back(), problem, backend));
  }
  // The seeds to run, taken by the workers in this order: each other build's first seed ahead of
  // the rest. When it finishes, that build's other curves are adopted if it gave theirs bit for bit
  // (the same numerics, so the same curves), else they join the queue.
  std::deque<size_t> queue;
  std::map<size_t, std::string> replay_of;  // a replayed seed's position -> the build it checks
  for (const auto& [build, ks] : foreign) {
    queue.push_back(ks[0]);
    replay_of[ks[0]] = build;
  }
  queue.insert(queue.end(), todo.begin(), todo.end());
  const auto replayed = [&](size_t k, const std::vector<float>& curve) {  // under mu
    const auto it = replay_of.find(k);
    if (it == replay_of.end()) return;
    EvalResult::Replay rep;
    rep.build = it->second;
    rep.seed = seeds[k];
    rep.agreed = curve == held[k];
    const std::vector<size_t>& ks = foreign[it->second];
    for (size_t i = 1; i < ks.size(); ++i) {
      if (!rep.agreed) {
        queue.push_back(ks[i]);
        continue;
      }
      read_done(ks[i], std::move(held[ks[i]]));
      ++rep.adopted;
    }
    r.replays.push_back(rep);
  };
  std::atomic<bool> failed{false};
  std::vector<std::exception_ptr> errors(workers);
  // Threads made here take the caller's floating-point environment (flush-to-zero included: POSIX
  // pthread_create), so a worker's arithmetic is the caller's. The learners' OpenMP loops share the
  // caller's thread count among the workers (their results do not depend on it).
#ifdef _OPENMP
  const int omp_threads = omp_get_max_threads();
#endif
  const auto work = [&](size_t w) {
#ifdef _OPENMP
    if (workers > 1) omp_set_num_threads(std::max(1, omp_threads / static_cast<int>(workers)));
#endif
    try {
      for (;;) {
        size_t k;
        {
          std::lock_guard<std::mutex> lock(mu);
          if (failed || queue.empty()) break;
          k = queue.front();
          queue.pop_front();
        }
        std::vector<float> curve;
        const bool d = runners[w]->run(seeds[k], steps, backend, &curve);
        std::lock_guard<std::mutex> lock(mu);
        if (partials) partials->save(seeds[k], curve);
        r.losses[k] = std::move(curve);
        diverged[k] = d;
        seed_done(k, true);
        replayed(k, r.losses[k]);
      }
    } catch (...) {
      errors[w] = std::current_exception();
      failed = true;
    }
  };
  std::vector<std::thread> threads;
  try {
    for (size_t w = 1; w < workers; ++w) threads.emplace_back(work, w);
  } catch (const std::system_error&) {  // no more threads to be had: those running share the seeds
  }
  work(0);
  for (auto& t : threads) t.join();
#ifdef _OPENMP
  omp_set_num_threads(omp_threads);  // the calling thread's own setting back
#endif
  for (const auto& e : errors)
    if (e) std::rethrow_exception(e);
  for (char d : diverged) r.diverged += d;
  std::sort(r.replays.begin(), r.replays.end(),  // in build order, however the replays finished
            [](const EvalResult::Replay& a, const EvalResult::Replay& b) { return a.build < b.build; });
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

EvalSummary summarize(const EvalResult& r) {
  EvalSummary s;
  double sum = 0, sum_sq = 0, sum_log = 0;
  for (const auto& c : r.losses) {
    if (static_cast<int64_t>(c.size()) != r.steps + 1) continue;
    const double f = c.back();
    sum += f;
    sum_sq += f * f;
    // A loss of exactly 0 (every other class's exp(z - max) underflowed: below about 1e-38,
    // kernels/softmax_xent_math.h) counts as 1e-30, above what it stands for.
    sum_log += std::log10(std::max(f, 1e-30));
    ++s.finished;
  }
  if (s.finished == 0) {
    s.final_mean = s.final_std = s.log10_mean_final = s.mean_log10_final = NAN;
    return s;
  }
  s.final_mean = sum / s.finished;
  s.final_std = std::sqrt(std::max(0.0, sum_sq / s.finished - s.final_mean * s.final_mean));
  s.log10_mean_final = std::log10(std::max(s.final_mean, 1e-30));
  s.mean_log10_final = sum_log / s.finished;
  return s;
}

// RFC 4180 quoting for labels such as "momentum(lr=0.01,momentum=0.5)".
static std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

double late_median_loss(const std::vector<float>& curve) {
  const int64_t n = std::min<int64_t>(kLateWindow, static_cast<int64_t>(curve.size()));
  if (n == 0) return NAN;
  std::vector<double> w(curve.end() - n, curve.end());
  std::sort(w.begin(), w.end());
  return n % 2 ? w[n / 2] : 0.5 * (w[n / 2 - 1] + w[n / 2]);
}

bool thin_curve_keeps(int64_t t, int64_t rows) { return t <= 100 || t % 100 == 0 || t == rows - 1; }

std::string curves_csv(const std::vector<EvalResult>& results, bool thin) {
  std::string out = "optimizer,problem,seed,step,loss\n";
  char line[512];
  for (const auto& r : results) {
    const std::string opt = csv_field(r.optimizer), prob = csv_field(r.problem);
    for (size_t k = 0; k < r.seeds.size(); ++k) {
      const auto& c = r.losses[k];
      for (size_t t = 0; t < c.size(); ++t) {
        if (thin && !thin_curve_keeps(static_cast<int64_t>(t), static_cast<int64_t>(c.size()))) continue;
        std::snprintf(line, sizeof line, "%s,%s,%llu,%zu,%.9g\n", opt.c_str(), prob.c_str(),
                      static_cast<unsigned long long>(r.seeds[k]), t, c[t]);
        out += line;
      }
    }
  }
  return out;
}

static nlohmann::json finite_or_null(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); }

std::string summary_json(const std::vector<EvalResult>& results, const std::map<std::string, std::string>& provenance) {
  nlohmann::json doc = nlohmann::json::array();
  for (const auto& r : results) {
    EvalSummary s = summarize(r);
    // Each seed's final loss (null where it diverged), so that Table 1's per-seed statistics
    // survive without the curves.
    nlohmann::json finals = nlohmann::json::array(), late = nlohmann::json::array();
    for (const auto& c : r.losses) {
      const bool finished = static_cast<int64_t>(c.size()) == r.steps + 1;
      finals.push_back(finished ? finite_or_null(c.back()) : nlohmann::json());
      late.push_back(finished ? finite_or_null(late_median_loss(c)) : nlohmann::json());
    }
    doc.push_back({{"optimizer", r.optimizer},
                   {"problem", r.problem},
                   {"steps", r.steps},
                   {"seeds", r.seeds.size()},
                   {"seed_ids", r.seeds},
                   {"final_losses", finals},
                   {"late_median_losses", late},
                   {"diverged", r.diverged},
                   {"resumed_seeds", r.resumed_seeds},
                   {"final_loss_mean", finite_or_null(s.final_mean)},
                   {"final_loss_std", finite_or_null(s.final_std)},
                   {"log10_mean_final_loss", finite_or_null(s.log10_mean_final)},
                   {"mean_log10_final_loss", finite_or_null(s.mean_log10_final)},
                   {"seconds", r.seconds},
                   {"backend", r.backend},
                   {"split", r.split}});
    if (!r.replays.empty()) {
      nlohmann::json reps = nlohmann::json::array();
      for (const auto& rep : r.replays)
        reps.push_back({{"build", rep.build}, {"replayed_seed", rep.seed}, {"same_curve", rep.agreed},
                        {"adopted_seeds", rep.adopted}});
      doc.back()["partials_of_other_builds"] = reps;
    }
  }
  nlohmann::json out{{"results", doc}};
  if (!provenance.empty()) out["provenance"] = provenance;
  return out.dump(2) + "\n";
}

}  // namespace l2o
