// l2o_eval: train optimizees with hand-designed or learned optimizers over several seeds and
// write DIR/curves.csv, DIR/curves_thin.csv and DIR/summary.json. Exit codes: 0 ok, 2 bad input, 1 internal error.
// Each finished seed is kept in DIR/partial/ until the end, so the same command run again after an
// interruption continues from the next seed (engine/eval_partials.h).
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "engine/atomic_file.h"
#include "engine/eval_partials.h"
#include "engine/evaluate.h"
#include "engine/fnv.h"
#include "engine/numerics.h"
#include "engine/progress.h"
#include "engine/rule_factory.h"
#include "tools/cli_args.h"
#include "l2o_version.h"  // generated at build time: L2O_GIT_COMMIT

using namespace l2o;

static const char* kUsage =
    "usage: l2o_eval --optimizer NAME|CKPT.safetensors[,...] --problem NAME[,...] --out DIR\n"
    "                [--lr X | --lr-grid X,Y,...] [--steps N] [--seeds K] [--seed0 S] [--data-dir D]\n"
    "                [--backend cpu|cuda|auto] [--split test|train] [--learned-trains-bn] [--jobs N]\n"
    "  optimizers: sgd, momentum, nag, adam, adagrad, rmsprop (TensorFlow's forms, as the authors'),\n"
    "              adam_torch, adagrad_torch, rmsprop_torch (PyTorch's), or a learner checkpoint\n"
    "  problems:   quadratic, mlp_orig, mlp_relu, mlp_deeper, mlp_fashion, conv_mnist, conv_cifar,\n"
    "              conv_cifar_standin (Conv-CIFAR on MNIST padded to 32x32x3: a stand-in, not CIFAR-10)\n"
    "  defaults:   --steps 10000 --seeds 10 --seed0 0 --backend cpu; --lr = the optimizer's default\n"
    "  --backend:  where optimizees and learned optimizers run; auto = CUDA where it can run the problem\n"
    "  --split:    the data the optimizees train on: test (default, the official test images, as the\n"
    "              authors evaluate) or train (the meta-training split)\n"
    "  --learned-trains-bn: learned optimizers also update conv batch-norm gamma/beta (the authors'\n"
    "              leave them at 1/0; hand-designed optimizers always train them)\n"
    "  --jobs:     run up to N seeds at once, one thread each (CPU backend; default 1); the results\n"
    "              are the same bytes as with one\n"
    "  --lr-grid:  per problem, each hand-designed optimizer runs every lr on K separate selection seeds\n"
    "              (seed0 + 1000000 + k) and the lr with the lowest mean final loss is then evaluated\n"
    "  Interrupted?  Run the same command again: seeds finished before are read from DIR/partial/\n"
    "              (kept until the results are written) when the binary, weights and settings match.\n";

static bool is_checkpoint(const std::string& o) {
  return o.size() > 12 && o.compare(o.size() - 12, 12, ".safetensors") == 0;
}

constexpr int64_t kMaxSteps = 10000000, kMaxSeeds = 10000, kMaxCurveValues = 200000000, kMaxJobs = 256;
// Selection seeds are seed0 + 1000000 + k: seed0 stays far enough below 2^63 for both.
constexpr int64_t kMaxSeed0 = (int64_t(1) << 62);

// --out must be a directory we can create and write, checked before any evaluation runs.
static void check_out_dir(const std::string& out) {
  namespace fs = std::filesystem;
  if (out.empty()) throw InputError("--out: empty directory name");
  std::error_code ec;
  if (fs::exists(out, ec) && !fs::is_directory(out, ec)) throw InputError("--out: " + out + " exists and is not a directory");
  fs::create_directories(out, ec);
  if (ec) throw InputError("--out: cannot create " + out + ": " + ec.message());
  const std::string probe = out + "/.l2o_eval_write_test";
  std::FILE* f = std::fopen(probe.c_str(), "wb");
  if (!f) throw InputError("--out: cannot write in " + out);
  std::fclose(f);
  std::remove(probe.c_str());
}

// The command line as one string a shell reads back the same (arguments quoted where needed).
static std::string command_line(int argc, char** argv) {
  std::string out;
  for (int i = 0; i < argc; ++i) {
    const std::string a = argv[i];
    const bool plain = !a.empty() && a.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                         "0123456789_-./,=:+@%") == std::string::npos;
    std::string q = "'";
    for (char c : a) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    out += (i ? " " : "") + (plain ? a : q + "'");
  }
  return out;
}

static int run(int argc, char** argv) {
  CliArgs args(argc, argv,
               {"optimizer", "problem", "out", "lr", "lr-grid", "steps", "seeds", "seed0", "data-dir", "backend", "split",
                "stop-after-seeds", "jobs"},
               {"help", "learned-trains-bn"});
  if (args.has("help")) {
    std::cout << kUsage;
    return 0;
  }
  if (!args.positional().empty()) throw InputError("unexpected argument \"" + args.positional()[0] + "\"");
  const auto optimizers = args.list("optimizer");
  const auto problems = args.list("problem");
  if (optimizers.empty()) throw InputError("--optimizer is required");
  if (problems.empty()) throw InputError("--problem is required");
  if (!args.has("out")) throw InputError("--out is required");
  const std::string out = args.get("out", "");
  const int64_t steps = args.integer("steps", 10000, 1);
  const int64_t seeds = args.integer("seeds", 10, 1);
  const int64_t seed0 = args.integer("seed0", 0, 0);
  const int64_t jobs = args.integer("jobs", 1, 1);
  if (jobs > kMaxJobs) throw InputError("--jobs: at most " + std::to_string(kMaxJobs) + ", got " + std::to_string(jobs));
  // Testing aid: end the process (as a kill would) once this many reported seeds are done.
  const int64_t stop_after_seeds = args.integer("stop-after-seeds", -1, 0);
  // Limits (docs/reliability.md): the curves are held in memory and written as CSV.
  if (steps > kMaxSteps) throw InputError("--steps: at most " + std::to_string(kMaxSteps) + ", got " + std::to_string(steps));
  if (seeds > kMaxSeeds) throw InputError("--seeds: at most " + std::to_string(kMaxSeeds) + ", got " + std::to_string(seeds));
  if (seed0 > kMaxSeed0) throw InputError("--seed0: at most " + std::to_string(kMaxSeed0) + ", got " + std::to_string(seed0));
  const double lr = args.number("lr", 0);
  if (args.has("lr") && !(lr > 0)) throw InputError("--lr: must be > 0, got " + args.get("lr", ""));
  std::vector<double> grid;
  for (const auto& v : args.list("lr-grid")) {
    char* end = nullptr;
    const double x = std::strtod(v.c_str(), &end);
    if (*end != '\0' || !(x > 0)) throw InputError("--lr-grid: \"" + v + "\" is not a positive number");
    grid.push_back(x);
  }
  if (args.has("lr") && !grid.empty()) throw InputError("--lr and --lr-grid exclude each other");

  const int64_t curve_values = (steps + 1) * seeds * static_cast<int64_t>(optimizers.size() * problems.size());
  if (curve_values > kMaxCurveValues)
    throw InputError("--steps x --seeds x optimizers x problems = " + std::to_string(curve_values) +
                     " loss values, more than the limit of " + std::to_string(kMaxCurveValues) + "; split the evaluation");
  // Validate everything (names, data files, backend) before anything is written.
  const std::string requested = args.get("backend", "cpu");
  const std::string split = args.get("split", "test");
  if (split != "test" && split != "train") throw InputError("--split: \"" + split + "\" is not test or train");
  std::vector<ProblemConfig> configs;
  std::vector<Backend> backends;  // per problem
  std::vector<std::string> placement;
  Backend rule_backend = Backend::cpu;  // learned optimizers run on CUDA when any problem does
  for (const auto& p : problems) {
    ProblemConfig c = problem_config_by_name(p);
    c.data_dir = args.get("data-dir", "");
    c.split = split;
    c.learned_trains_bn = args.has("learned-trains-bn");
    const ResolvedBackend rb = resolve_backend(requested, c);
    make_optimizee<float>(c, rb.kind);  // loads the dataset now: a missing file fails here
    placement.push_back("l2o_eval: " + p + " runs on " +
                        (rb.kind == Backend::cuda ? "cuda (" + rb.device + ")" : std::string("cpu")) +
                        (rb.note.empty() ? "" : " [" + rb.note + "]"));
    if (rb.kind == Backend::cuda) rule_backend = Backend::cuda;
    configs.push_back(c);
    backends.push_back(rb.kind);
  }
  std::vector<NamedRule> rules;
  std::vector<std::string> weights_digest;  // a checkpoint's bytes, so that retrained weights never reuse partials
  bool any_hand = false;
  for (const auto& o : optimizers) {
    rules.push_back(make_update_rule(o, lr, rule_backend));
    weights_digest.push_back(is_checkpoint(o) ? fnv1a_hex(read_file(o)) : "");
    for (double x : grid) make_update_rule(o, x);  // every grid value is valid for every optimizer
    any_hand = any_hand || !is_checkpoint(o);
  }
  if ((args.has("lr") || !grid.empty()) && !any_hand)
    throw InputError("--lr and --lr-grid set hand-designed optimizers' learning rates; every --optimizer here is a "
                     "learned checkpoint");
  // Two checkpoints in folders of the same name would share a label in curves.csv: number them.
  for (size_t k = 0; k < rules.size(); ++k) {
    int same = 1;
    for (size_t j = 0; j < k; ++j) same += rules[j].label == rules[k].label || rules[j].label.rfind(rules[k].label + "#", 0) == 0;
    if (same > 1) rules[k].label += "#" + std::to_string(same);
  }
  check_out_dir(out);
  if (requested != "cpu")
    for (const auto& line : placement) std::fprintf(stderr, "%s\n", line.c_str());
  // The device path takes one seed at a time, and rules made for the device stay on one thread.
  const int eval_jobs = rule_backend == Backend::cuda ? 1 : static_cast<int>(jobs);
  if (jobs > 1 && eval_jobs == 1)
    std::fprintf(stderr, "l2o_eval: --jobs %lld has no effect here: on cuda the seeds run one at a time\n",
                 static_cast<long long>(jobs));
  std::vector<uint64_t> seed_list, selection_seeds;
  for (int64_t s = 0; s < seeds; ++s) {
    seed_list.push_back(static_cast<uint64_t>(seed0 + s));
    selection_seeds.push_back(static_cast<uint64_t>(seed0 + 1000000 + s));
  }

  // What a seed's curve depends on besides the seed and the build: partial results of other weights
  // or settings are never read; those of another build only after a replay (engine/evaluate.h).
  const std::string partial_dir = out + "/partial";
  const std::string build = std::string(L2O_GIT_COMMIT) + "|" + cpu_build_isa();
  const auto partials_for = [&](size_t p, size_t k, const std::string& label, double lr_used) {
    char lr_text[32];
    std::snprintf(lr_text, sizeof lr_text, "%.17g", lr_used);
    return EvalPartials(partial_dir,
                        placement[p] + "|" + optimizers[k] + "|" + weights_digest[k] + "|" + label + "|" + lr_text +
                            "|" + problems[p] + "|" + split + "|" + args.get("data-dir", "") + "|" +
                            (args.has("learned-trains-bn") ? "bn" : "") + "|" + std::to_string(steps),
                        build);
  };
  // Tells of partial results of another build: adopted after a replay, or run again.
  const auto tell_replays = [&](const EvalResult& res) {
    for (const auto& rep : res.replays)
      std::fprintf(stderr,
                   rep.agreed ? "l2o_eval: partial results of build %s: seed %llu replayed to the same bits here, "
                                "%lld more of its seeds adopted\n"
                              : "l2o_eval: partial results of build %s: seed %llu replayed differently here, so "
                                "its other seeds ran again\n",
                   rep.build.c_str(), static_cast<unsigned long long>(rep.seed), static_cast<long long>(rep.adopted));
  };
  int64_t seeds_done = 0;
  // Each extra worker of a parallel evaluation makes its own copy of the rule (checkpoints are read again).
  const auto same_rule = [&](const std::string& name, double lr_used) -> RuleFactory {
    return [name, lr_used, rule_backend] { return make_update_rule(name, lr_used, rule_backend).rule; };
  };

  enable_flush_to_zero();
  std::vector<EvalResult> results;
  for (size_t p = 0; p < problems.size(); ++p) {
    for (size_t k = 0; k < rules.size(); ++k) {
      NamedRule* chosen = &rules[k];
      double chosen_lr = lr;
      NamedRule best;
      const bool learned = is_checkpoint(optimizers[k]);
      if (!grid.empty() && !learned) {  // pick the lr on selection seeds, never on the reported ones
        double best_loss = INFINITY;
        for (double x : grid) {
          NamedRule cand = make_update_rule(optimizers[k], x, rule_backend);
          const EvalPartials partials = partials_for(p, k, cand.label, x);
          const EvalResult sel = evaluate(*cand.rule, cand.label, problems[p], configs[p], steps, selection_seeds,
                                          backends[p], nullptr, &partials, eval_jobs, same_rule(optimizers[k], x));
          tell_replays(sel);
          const EvalSummary s = summarize(sel);
          std::fprintf(stderr, "  lr grid: %-22s %-12s mean final loss %.4g on selection seeds\n",
                       cand.label.c_str(), problems[p].c_str(), s.final_mean);
          if (s.finished == static_cast<int64_t>(seeds) && s.final_mean < best_loss) {
            best_loss = s.final_mean;
            best = std::move(cand);
            chosen_lr = x;
          }
        }
        if (!best.rule) throw Error(optimizers[k] + " diverged for every lr of --lr-grid on " + problems[p]);
        chosen = &best;
      }
      auto& r = *chosen;
      // A line per seed, so that a long evaluation logged to a file shows its progress and ETA.
      // The ETA counts only the seeds this process ran: seeds read from partial results take no time.
      const auto t0 = std::chrono::steady_clock::now();
      size_t ran_here = 0;
      const EvalProgress progress = [&](size_t done, size_t total, double last, bool ran) {
        if (!ran) {
          std::fprintf(stderr, "  %s %s: seed %zu/%zu read from %s (last loss %.4g)\n", r.label.c_str(),
                       problems[p].c_str(), done, total, partial_dir.c_str(), last);
        } else {
          ++ran_here;
          const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
          const double eta = secs / static_cast<double>(ran_here) * static_cast<double>(total - done);
          std::fprintf(stderr, "  %s %s: seed %zu/%zu done (last loss %.4g), %s elapsed, ETA %s\n", r.label.c_str(),
                       problems[p].c_str(), done, total, last, Progress::format_duration(secs).c_str(),
                       Progress::format_duration(eta).c_str());
        }
        if (++seeds_done == stop_after_seeds) {
          std::fprintf(stderr, "l2o_eval: stopped after %lld seeds (--stop-after-seeds); the same command continues\n",
                       static_cast<long long>(seeds_done));
          std::_Exit(1);
        }
      };
      const EvalPartials partials = partials_for(p, k, r.label, chosen_lr);
      results.push_back(evaluate(*r.rule, r.label, problems[p], configs[p], steps, seed_list, backends[p], progress,
                                 &partials, eval_jobs, same_rule(optimizers[k], chosen_lr)));
      tell_replays(results.back());
      const EvalSummary s = summarize(results.back());
      std::fprintf(stderr, "%-24s %-12s final loss %.4g +/- %.3g (log10 of mean %.3f), %lld/%lld seeds finished, %.1fs",
                   r.label.c_str(), problems[p].c_str(), s.final_mean, s.final_std, s.log10_mean_final,
                   static_cast<long long>(s.finished), static_cast<long long>(seeds), results.back().seconds);
      const int64_t resumed = results.back().resumed_seeds;
      if (resumed > 0) std::fprintf(stderr, " (%lld seeds read from %s)", static_cast<long long>(resumed), partial_dir.c_str());
      std::fprintf(stderr, "\n");
    }
  }
  std::filesystem::create_directories(out);
  write_file_atomic(out + "/curves.csv", curves_csv(results));
  write_file_atomic(out + "/curves_thin.csv", curves_csv(results, /*thin=*/true));
  std::string devices;  // where the problems ran (the CUDA device's name, when one did)
  for (const auto& line : placement) devices += (devices.empty() ? "" : "; ") + line.substr(line.find(": ") + 2);
  const std::map<std::string, std::string> provenance = {{"git_commit", L2O_GIT_COMMIT},
                                                         {"cpu_built_for", cpu_build_isa()},
                                                         {"cpu", cpu_model_name()},
                                                         {"ran_on", devices},
                                                         {"command", command_line(argc, argv)}};
  write_file_atomic(out + "/summary.json", summary_json(results, provenance));
  std::filesystem::remove_all(partial_dir);  // the results hold every seed now
  std::fprintf(stderr, "wrote %s/curves.csv, curves_thin.csv and summary.json\n", out.c_str());
  return 0;
}

int main(int argc, char** argv) { return run_tool("l2o_eval", "internal error: ", run, argc, argv); }
