// l2o_rescore: a run's kept validation weights (output.keep_validated) scored again at another
// horizon, and the model a run validating there would have picked (engine/rescore.h). Prints one row
// per validation and the pick; --best-out copies the picked weights, for l2o_eval.
// Exit codes: 0 ok, 2 bad input, 1 internal error (or no finite score to pick from).
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "engine/atomic_file.h"
#include "engine/progress.h"
#include "engine/rescore.h"
#include "engine/run_spec.h"
#include "tools/cli_args.h"

using namespace l2o;

static const char* kUsage =
    "usage: l2o_rescore RUN_DIR --n-valid N [--rollouts R] [--jobs J] [--best-out FILE.safetensors]\n"
    "  Scores each validation's kept weights (the run trained with output.keep_validated true) after N\n"
    "  steps on the instances that validation drew, and picks the best as the trainer would have at\n"
    "  that horizon; runs with a curriculum are refused. --rollouts: instances per validation (default:\n"
    "  the run's). --jobs: rollouts at once (the same scores). --best-out: write the picked weights.\n";

static int run(int argc, char** argv) {
  CliArgs args(argc, argv, {"n-valid", "rollouts", "jobs", "best-out"}, {"help"});
  if (args.has("help")) {
    std::cout << kUsage;
    return 0;
  }
  if (args.positional().size() != 1) throw InputError("expected one RUN_DIR argument (see --help)");
  if (!args.has("n-valid")) throw InputError("--n-valid is required");
  const std::string dir = args.positional()[0];
  const int64_t n_valid = args.integer("n-valid", 0, 1), rollouts = args.integer("rollouts", 0, 1);
  const int64_t jobs = args.integer("jobs", 1, 1);
  if (jobs > 256) throw InputError("--jobs: at most 256, got " + std::to_string(jobs));
  const std::string spec_path = dir + "/spec.json";
  if (!std::filesystem::exists(spec_path)) throw InputError(dir + ": not a run directory (spec.json missing)");
  const RunSpec spec = parse_run_spec(read_file(spec_path), spec_path, {});
  // A line per validation on stderr: these are long (rollouts x N steps each).
  const auto t0 = std::chrono::steady_clock::now();
  const RescoreProgress progress = [&](const RescoredValidation& v, size_t done, size_t total) {
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::fprintf(stderr, "l2o_rescore: validation %zu/%zu (epoch %" PRId64 "): %.6g at %" PRId64
                 " steps, %s elapsed, ETA %s\n", done, total, v.epoch, v.score, n_valid,
                 Progress::format_duration(secs).c_str(),
                 Progress::format_duration(secs / static_cast<double>(done) * static_cast<double>(total - done)).c_str());
  };
  const Rescore r = rescore_validated(dir, spec, n_valid, rollouts, static_cast<int>(jobs), progress);
  std::printf("| validation | epoch | run's score (%" PRId64 " steps) | score (%" PRId64 " steps) | new best |\n",
              spec.n_valid, n_valid);
  std::printf("|---|---|---|---|---|\n");
  for (const auto& v : r.validations)
    std::printf("| %" PRId64 " | %" PRId64 " | %.6g | %.6g | %s |\n", v.index, v.epoch, v.logged_score, v.score,
                v.improved ? "yes" : "");
  if (r.best < 0) {
    std::fprintf(stderr, "l2o_rescore: every validation diverged at %" PRId64 " steps: nothing to pick\n", n_valid);
    return 1;
  }
  const auto& b = r.validations[static_cast<size_t>(r.best)];
  std::printf("picked: epoch %" PRId64 " (validation %" PRId64 "), score %.6g at %" PRId64 " steps\n", b.epoch, b.index,
              b.score, n_valid);
  if (args.has("best-out")) {
    const std::string out = args.get("best-out", "");
    write_file_atomic(out, read_file(b.path));
    std::printf("wrote %s\n", out.c_str());
  }
  return 0;
}

int main(int argc, char** argv) { return run_tool("l2o_rescore", "internal error: ", run, argc, argv); }
