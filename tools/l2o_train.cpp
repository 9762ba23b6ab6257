// l2o_train: meta-train a learned optimizer from a JSON run spec into a run directory.
// Exit codes: 0 done, 2 bad input (spec, flags, files), 1 training failed or internal error,
// 128 + the signal (130 SIGINT, 143 SIGTERM) stopped on request with a checkpoint (--resume continues).
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "engine/atomic_file.h"
#include "engine/backend.h"
#include "engine/run_spec.h"
#include "engine/trainer.h"
#include "l2o_version.h"  // generated at build time: L2O_GIT_COMMIT
#include "tools/cli_args.h"

using namespace l2o;
namespace fs = std::filesystem;

static const char* kUsage =
    "usage: l2o_train SPEC.json [--out DIR] [--set KEY=VALUE ...] [--backend cpu|cuda|auto] [--jobs N]\n"
    "       l2o_train --resume DIR [--jobs N]\n"
    "  Keys are documented in docs/spec.md; --set a.b=value overrides any of them.\n"
    "  DIR defaults to runs/<spec name>. --resume continues an interrupted run from its last checkpoint.\n"
    "  --jobs N runs validation rollouts N at once, one thread each (CPU backend; default 1): the run is\n"
    "  the same bit for bit, so a run may be resumed with another N.\n";

// The first SIGINT or SIGTERM asks the trainer to stop at the next epoch boundary with a checkpoint;
// the handler then steps aside, so a second one ends the process at once (the last checkpoint stays).
static volatile std::sig_atomic_t g_stop_signal = 0;

extern "C" void request_stop(int signo) {
  g_stop_signal = signo;
  std::signal(signo, SIG_DFL);
}

static int run(int argc, char** argv) {
  CliArgs args(argc, argv, {"out", "set", "resume", "backend", "stop-after-epochs", "jobs"}, {"help"});
  if (args.has("help")) {
    std::cout << kUsage;
    return 0;
  }
  TrainerOptions opt;
  opt.progress_tty = isatty(STDERR_FILENO);
  opt.stop_after_epochs = args.integer("stop-after-epochs", -1, 0);
  const int64_t jobs = args.integer("jobs", 1, 1);
  if (jobs > 256) throw InputError("--jobs: at most 256, got " + std::to_string(jobs));
  opt.validation_jobs = static_cast<int>(jobs);
  RunSpec spec;
  if (args.has("resume")) {
    if (!args.positional().empty() || args.has("set") || args.has("out"))
      throw InputError("--resume DIR takes no spec, --out or --set: the run's own spec.json is used");
    opt.run_dir = args.get("resume", "");
    opt.resume = true;
    const std::string path = opt.run_dir + "/spec.json";
    if (!fs::exists(path)) throw InputError(opt.run_dir + ": not a run directory (spec.json missing)");
    spec = parse_run_spec(read_file(path), path, {});
  } else {
    if (args.positional().size() != 1) throw InputError("expected one SPEC.json argument (see --help)");
    const std::string path = args.positional()[0];
    auto overrides = args.all("set");
    if (args.has("backend")) overrides.push_back("backend=" + args.get("backend", ""));
    spec = parse_run_spec(read_file(path), path, overrides);
    opt.run_dir = args.get("out", "runs/" + fs::path(path).stem().string());
    if (opt.run_dir.empty()) throw InputError("--out: empty directory name");
    if (fs::exists(opt.run_dir) && !fs::is_directory(opt.run_dir))
      throw InputError("--out: " + opt.run_dir + " exists and is not a directory");
    if (fs::exists(opt.run_dir + "/checkpoints/state.safetensors"))
      throw InputError(opt.run_dir + " already holds a run: continue it with --resume " + opt.run_dir +
                       ", or choose another --out");
  }
  const ResolvedBackend rb = resolve_backend(spec.backend, spec.problem);
  if (!rb.note.empty()) std::fprintf(stderr, "l2o_train: %s\n", rb.note.c_str());
  opt.backend = rb.kind;
  if (opt.validation_jobs > 1 && rb.kind == Backend::cuda)
    std::fprintf(stderr, "l2o_train: --jobs %d has no effect here: on cuda the rollouts run one at a time\n",
                 opt.validation_jobs);
  const std::string backend = std::string(backend_name(rb.kind)) + " on " + rb.device;
  // What the numbers depend on besides the spec: the commit and, on the CPU, the binary's vector
  // instructions (engine/backend.h cpu_build_isa).
  const std::string ran_on = rb.kind == Backend::cpu ? backend + ", built for " + cpu_build_isa() : backend;
  if (!opt.resume) {  // train() writes the resolved spec once everything it needs is built
    spec.resolved["git_commit"] = L2O_GIT_COMMIT;  // the commit this binary was built from
    spec.resolved["ran_on"] = ran_on;              // informational: what "backend" resolved to, and how
  } else {
    const std::string was_commit = spec.resolved.value("git_commit", ""), was_on = spec.resolved.value("ran_on", "");
    if (was_commit != L2O_GIT_COMMIT || was_on != ran_on)
      std::fprintf(stderr,
                   "l2o_train: warning: %s was started by commit %s on \"%s\"; this binary is commit %s on \"%s\": it "
                   "continues the run, but not necessarily bit for bit (docs/reliability.md, \"Resuming\")\n",
                   opt.run_dir.c_str(), was_commit.empty() ? "?" : was_commit.c_str(), was_on.c_str(), L2O_GIT_COMMIT,
                   ran_on.c_str());
  }
  opt.stop_request = &g_stop_signal;
  std::signal(SIGINT, request_stop);
  std::signal(SIGTERM, request_stop);
  Trainer trainer(spec, opt);  // builds everything that can fail on input; writes nothing yet
  std::fprintf(stderr, "l2o_train: %s %s on %s (backend %s), %lld epochs x %lld steps, run dir %s\n",
               opt.resume ? "resuming" : "training", spec.learner.value("type", "l2o_dm").c_str(),
               spec.problem_name.c_str(), backend.c_str(), static_cast<long long>(spec.epochs),
               static_cast<long long>(spec.n_train), opt.run_dir.c_str());
  TrainSummary s = trainer.run();
  char timing[128] = "none ran in this process";
  if (s.timed_meta_steps > 0)
    std::snprintf(timing, sizeof timing, "median %.1f ms over this process's %lld", s.median_ms_per_meta_step,
                  static_cast<long long>(s.timed_meta_steps));
  std::fprintf(stderr,
               "l2o_train: %lld epochs, %lld meta-steps (%lld skipped; %s), best validation %.6g at epoch %lld\n",
               static_cast<long long>(s.epochs_done), static_cast<long long>(s.meta_steps),
               static_cast<long long>(s.skipped_segments), timing, s.best_score, static_cast<long long>(s.best_epoch));
  if (s.stopped_on_request) {
    const int signo = g_stop_signal;
    std::fprintf(stderr, "l2o_train: stopped by %s after epoch %lld with a checkpoint; l2o_train --resume %s continues\n",
                 signo == SIGINT ? "SIGINT" : "SIGTERM", static_cast<long long>(s.epochs_done), opt.run_dir.c_str());
    return 128 + signo;
  }
  return 0;
}

int main(int argc, char** argv) { return run_tool("l2o_train", "", run, argc, argv); }
