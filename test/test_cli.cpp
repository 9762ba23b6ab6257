// The tools' error paths: one clear line on stderr, exit code 2, nothing written.
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <unistd.h>

#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "engine/atomic_file.h"
#include "engine/backend.h"
#include "engine/run_spec.h"

namespace fs = std::filesystem;

namespace {

struct Run {
  int code;
  std::string out;
};

Run run(const std::string& args) {
  const std::string cmd = "cd \"" L2O_SOURCE_DIR "\" && \"" L2O_BINARY_DIR "/\"" + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  char buf[512];
  while (fgets(buf, sizeof buf, p)) out += buf;
  const int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

std::string out_dir(const std::string& name) {
  auto d = fs::temp_directory_path() / ("l2o_cli_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  return d.string();
}

void require_input_error(const std::string& args, const std::string& message, const std::string& dir) {
  Run r = run(args);
  INFO(args << "\n" << r.out);
  REQUIRE(r.code == 2);
  REQUIRE_THAT(r.out, Catch::Contains(message));
  REQUIRE(std::count(r.out.begin(), r.out.end(), '\n') == 1);
  if (!dir.empty()) REQUIRE_FALSE(fs::exists(dir));
}

}  // namespace

TEST_CASE("l2o_eval rejects bad input with exit code 2 and writes nothing", "[cli]") {
  const std::string d = out_dir("eval");
  const std::string base = "l2o_eval --out " + d + " ";
  require_input_error(base + "--optimizer adma --problem mlp_orig", "unknown optimizer \"adma\"", d);
  require_input_error(base + "--optimizer adam --problem mlp_big", "unknown problem \"mlp_big\"", d);
  require_input_error(base + "--optimizer adam --problem quadratic --steps 0", "--steps: must be >= 1, got 0", d);
  require_input_error(base + "--optimizer adam --problem quadratic --seeds -3", "--seeds: must be >= 1", d);
  require_input_error(base + "--optimizer adam --problem quadratic --steps ten", "--steps: expected an integer", d);
  require_input_error(base + "--optimizer adam --problem quadratic --lr 0", "--lr: must be > 0", d);
  require_input_error(base + "--optimizer adam --problem mlp_orig --data-dir /nonexistent/dir",
                      "/nonexistent/dir/mnist/t10k-images-idx3-ubyte", d);
  require_input_error(base + "--optimizer /nonexistent/x.safetensors --problem quadratic", "/nonexistent/x.safetensors",
                      d);
  require_input_error(base + "--optimizer adam --problem quadratic --bogus 1", "unknown option --bogus", d);
  require_input_error(base + "--optimizer adam --problem quadratic --lr-grid 0.1,-2", "--lr-grid: \"-2\"", d);
  require_input_error(base + "--optimizer adam --problem quadratic --lr 0.1 --lr-grid 0.1", "exclude each other", d);
  require_input_error(base + "--optimizer adam --problem quadratic --backend tpu", "unknown backend \"tpu\"", d);
  // Limits and early checks (docs/reliability.md).
  require_input_error(base + "--optimizer adam --problem quadratic --steps 10000000000", "--steps: at most", d);
  require_input_error(base + "--optimizer adam --problem quadratic --seeds 1000000000", "--seeds: at most", d);
  require_input_error(base + "--optimizer adam --problem quadratic --seed0 9223372036854775000", "--seed0: at most", d);
  require_input_error(base + "--optimizer adam,,sgd --problem quadratic", "--optimizer: empty element", d);
  require_input_error(base + "--optimizer adam --problem quadratic --jobs 0", "--jobs: must be >= 1, got 0", d);
  require_input_error(base + "--optimizer adam --problem quadratic --jobs 999", "--jobs: at most 256, got 999", d);
  require_input_error(base + "--optimizer adam --problem quadratic,", "--problem: empty element", d);
  require_input_error(base + "--optimizer docs/results/authors_models/checkpoints/dm.safetensors --problem quadratic "
                             "--lr 0.1",
                      "every --optimizer here is a learned checkpoint", d);
  require_input_error("l2o_eval --optimizer adam --problem quadratic --steps 2 --seeds 1 --out \"\"",
                      "--out: empty directory name", "");
  const std::string file = out_dir("eval_file");
  l2o::write_file_atomic(file, "x");
  Run r = run("l2o_eval --optimizer adam --problem quadratic --steps 2 --seeds 1 --out " + file);
  REQUIRE(r.code == 2);
  REQUIRE_THAT(r.out, Catch::Contains("exists and is not a directory"));
  fs::remove(file);
}

TEST_CASE("l2o_eval numbers checkpoints that would share a label", "[cli]") {
  const std::string d = out_dir("eval_labels");
  const std::string ck = "docs/results/authors_models/checkpoints/dm.safetensors";
  Run r = run("l2o_eval --optimizer " + ck + "," + ck + " --problem quadratic --steps 3 --seeds 1 --out " + d);
  INFO(r.out);
  REQUIRE(r.code == 0);
  const std::string curves = l2o::read_file(d + "/curves.csv");
  REQUIRE_THAT(curves, Catch::Contains("l2o:authors_models/dm,") && Catch::Contains("l2o:authors_models/dm#2,"));
  fs::remove_all(d);
}

TEST_CASE("l2o_eval writes curves and a summary for the same instances per optimizer", "[cli]") {
  const std::string d = out_dir("eval_ok");
  Run r = run("l2o_eval --optimizer adam,sgd --lr 0.01 --problem quadratic --steps 50 --seeds 3 --out " + d);
  INFO(r.out);
  REQUIRE(r.code == 0);
  const std::string csv = l2o::read_file(d + "/curves.csv");
  REQUIRE(csv.rfind("optimizer,problem,seed,step,loss\n", 0) == 0);
  REQUIRE(std::count(csv.begin(), csv.end(), '\n') == 1 + 2 * 3 * 51);
  // Step 0 is the same instance for both optimizers: identical initial losses per seed.
  auto first_loss = [&](const std::string& prefix) {
    auto pos = csv.find(prefix);
    REQUIRE(pos != std::string::npos);
    auto end = csv.find('\n', pos);
    return csv.substr(csv.rfind(',', end) + 1, end - csv.rfind(',', end) - 1);
  };
  REQUIRE(first_loss("adam(lr=0.01),quadratic,1,0,") == first_loss("sgd(lr=0.01),quadratic,1,0,"));
  const std::string summary = l2o::read_file(d + "/summary.json");
  REQUIRE_THAT(summary, Catch::Contains("\"log10_mean_final_loss\""));
  // What produced it: the command line as run, the commit, the build and the machine.
  REQUIRE_THAT(summary, Catch::Contains("\"provenance\"") &&
                            Catch::Contains("l2o_eval --optimizer adam,sgd --lr 0.01 --problem quadratic --steps 50 "
                                            "--seeds 3 --out " + d + "\"") &&
                            Catch::Contains("\"cpu_built_for\": \"" + l2o::cpu_build_isa() + "\"") &&
                            Catch::Contains("\"ran_on\": \"quadratic runs on cpu\"") &&
                            Catch::Contains("\"git_commit\": \"") && Catch::Contains("\"cpu\": \""));
  fs::remove_all(d);
}

TEST_CASE("l2o_eval run again after an interruption continues from its partial results, same bytes", "[cli]") {
  const std::string ref = out_dir("eval_partial_ref"), d = out_dir("eval_partial");
  const std::string args = "l2o_eval --optimizer adam,docs/results/authors_models/checkpoints/dm.safetensors "
                           "--lr-grid 0.01,0.1 --problem quadratic --steps 300 --seeds 3 --out ";
  Run a = run(args + ref);
  INFO(a.out);
  REQUIRE(a.code == 0);
  // Cut short after 4 reported seeds (adam's 3, the learned optimizer's first), as a kill would.
  Run cut = run(args + d + " --stop-after-seeds 4");
  INFO(cut.out);
  REQUIRE(cut.code == 1);
  REQUIRE_THAT(cut.out, Catch::Contains("stopped after 4 seeds"));
  REQUIRE_FALSE(fs::exists(d + "/summary.json"));
  // 2 lrs x 3 selection seeds, then 3 + 1 reported seeds; damage one of adam's reported seeds.
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(d + "/partial")) files.push_back(e.path().string());
  REQUIRE(files.size() == 10);
  std::string damaged;
  for (const auto& f : files)
    if (f.size() > 10 && f.compare(f.size() - 10, 10, "_seed1.f32") == 0) damaged = f;
  REQUIRE_FALSE(damaged.empty());
  const std::string bytes = l2o::read_file(damaged);
  l2o::write_file_atomic(damaged, bytes.substr(0, bytes.size() - 4));
  Run again = run(args + d);
  INFO(again.out);
  REQUIRE(again.code == 0);
  REQUIRE_THAT(again.out, Catch::Contains("warning: ignoring the partial result " + damaged + " (truncated") &&
                              Catch::Contains("seed 1 runs again"));
  // Seeds read back are reported as such; the ETA comes from the seeds this process ran.
  REQUIRE_THAT(again.out, Catch::Contains("seed 2/3 read from " + d + "/partial (last loss") &&
                              Catch::Contains("seed 3/3 done (last loss"));
  for (const char* f : {"/curves.csv", "/curves_thin.csv"}) REQUIRE(l2o::read_file(d + f) == l2o::read_file(ref + f));
  const std::string summary = l2o::read_file(d + "/summary.json");
  REQUIRE_THAT(summary, Catch::Contains("\"resumed_seeds\": 2") && Catch::Contains("\"resumed_seeds\": 1"));
  REQUIRE_FALSE(fs::exists(d + "/partial"));  // removed once the results hold every seed
  // Retrained weights at the same path never reuse the old weights' partial results.
  const std::string w = out_dir("eval_partial_w") + ".safetensors", d2 = out_dir("eval_partial_2");
  fs::copy_file(L2O_SOURCE_DIR "/docs/results/authors_models/checkpoints/dm.safetensors", w);
  const std::string args2 = "l2o_eval --optimizer " + w + " --problem quadratic --steps 300 --seeds 2 --out " + d2;
  REQUIRE(run(args2 + " --stop-after-seeds 1").code == 1);
  fs::copy_file(L2O_SOURCE_DIR "/docs/results/authors_models/checkpoints/dm_cl.safetensors", w,
                fs::copy_options::overwrite_existing);
  Run other = run(args2);
  INFO(other.out);
  REQUIRE(other.code == 0);
  REQUIRE_THAT(l2o::read_file(d2 + "/summary.json"), Catch::Contains("\"resumed_seeds\": 0"));
  for (const auto& x : {ref, d, d2}) fs::remove_all(x);
  fs::remove(w);
}

TEST_CASE("l2o_eval adopts another build's partial results once one of their seeds replays to the same bits",
          "[cli]") {
  const std::string ref = out_dir("eval_adopt_ref"), d = out_dir("eval_adopt");
  const std::string args = "l2o_eval --optimizer adam --lr 0.01 --problem quadratic --steps 300 --seeds 4 --out ";
  REQUIRE(run(args + ref).code == 0);
  REQUIRE(run(args + d + " --stop-after-seeds 3").code == 1);
  // As if a session before, on another build, had left them: the build token in each header changed.
  int files = 0;
  for (const auto& e : fs::directory_iterator(d + "/partial")) {
    std::string bytes = l2o::read_file(e.path().string());
    const size_t eol = bytes.find('\n');
    std::istringstream head(bytes.substr(0, eol));
    std::vector<std::string> tok;
    for (std::string t; head >> t;) tok.push_back(t);
    REQUIRE(tok.size() == 8);
    tok[4] = "older-build|AVX2+FMA";
    std::string line;
    for (const auto& t : tok) line += (line.empty() ? "" : " ") + t;
    l2o::write_file_atomic(e.path().string(), line + bytes.substr(eol));
    ++files;
  }
  REQUIRE(files == 3);
  Run again = run(args + d);
  INFO(again.out);
  REQUIRE(again.code == 0);
  REQUIRE_THAT(again.out, Catch::Contains("partial results of build older-build|AVX2+FMA: seed 0 replayed to the same "
                                          "bits here, 2 more of its seeds adopted"));
  for (const char* f : {"/curves.csv", "/curves_thin.csv"}) REQUIRE(l2o::read_file(d + f) == l2o::read_file(ref + f));
  const std::string summary = l2o::read_file(d + "/summary.json");
  REQUIRE_THAT(summary, Catch::Contains("\"resumed_seeds\": 2") && Catch::Contains("\"partials_of_other_builds\"") &&
                            Catch::Contains("\"build\": \"older-build|AVX2+FMA\""));
  for (const auto& x : {ref, d}) fs::remove_all(x);
}

TEST_CASE("l2o_eval --jobs runs seeds in parallel and writes the bytes of one job", "[cli]") {
  const std::string one = out_dir("eval_jobs1"), many = out_dir("eval_jobs3");
  // A grid (selection seeds in parallel too), a learned optimizer, real MNIST and the quadratic.
  const std::string args = "l2o_eval --optimizer adam,docs/results/authors_models/checkpoints/dm.safetensors "
                           "--lr-grid 0.01,0.1 --problem quadratic,mlp_orig --data-dir data --steps 60 --seeds 4 --out ";
  Run a = run(args + one + " --jobs 1");
  INFO(a.out);
  REQUIRE(a.code == 0);
  Run b = run(args + many + " --jobs 3");
  INFO(b.out);
  REQUIRE(b.code == 0);
  for (const char* f : {"/curves.csv", "/curves_thin.csv"}) REQUIRE(l2o::read_file(many + f) == l2o::read_file(one + f));
  REQUIRE_THAT(b.out, Catch::Contains("seed 4/4 done"));
  for (const auto& x : {one, many}) fs::remove_all(x);
}

TEST_CASE("l2o_rescore scores kept validation weights at another horizon and writes the pick", "[cli]") {
  const std::string d = out_dir("rescore");
  Run t = run("l2o_train specs/l2o_dm_quadratic.json --out " + d + " --set training.epochs=4 --set validation.period=2 "
              "--set output.keep_validated=true");
  INFO(t.out);
  REQUIRE(t.code == 0);
  Run r = run("l2o_rescore " + d + " --n-valid 50 --jobs 2 --best-out " + d + "/picked.safetensors");
  INFO(r.out);
  REQUIRE(r.code == 0);
  REQUIRE_THAT(r.out, Catch::Contains("| 0 | 2 |") && Catch::Contains("| 1 | 4 |") &&
                          Catch::Contains("picked: epoch ") && Catch::Contains("at 50 steps") &&
                          Catch::Contains("l2o_rescore: validation 2/2 (epoch 4): "));
  REQUIRE(fs::exists(d + "/picked.safetensors"));
  require_input_error("l2o_rescore " + d, "--n-valid is required", "");
  require_input_error("l2o_rescore " + d + " --n-valid 0", "--n-valid: must be >= 1, got 0", "");
  require_input_error("l2o_rescore /nonexistent/run --n-valid 5", "/nonexistent/run: not a run directory", "");
  fs::remove_all(d);
}

TEST_CASE("l2o_eval --lr-grid picks the best lr on selection seeds and reports only it", "[cli]") {
  const std::string d = out_dir("grid");
  Run r = run("l2o_eval --optimizer sgd --lr-grid 0.001,0.1 --problem quadratic --steps 60 --seeds 2 --out " + d);
  INFO(r.out);
  REQUIRE(r.code == 0);
  REQUIRE_THAT(r.out, Catch::Contains("lr grid: sgd(lr=0.001)") && Catch::Contains("lr grid: sgd(lr=0.1)"));
  const std::string csv = l2o::read_file(d + "/curves.csv");
  REQUIRE_THAT(csv, Catch::Contains("sgd(lr=0.1),quadratic,0,0,"));  // SGD on the quadratic wants the larger lr
  REQUIRE(csv.find("sgd(lr=0.001)") == std::string::npos);
  fs::remove_all(d);
}

TEST_CASE("l2o_train rejects bad specs with the JSON path, exit code 2, nothing written", "[cli]") {
  const std::string d = out_dir("train");
  const std::string spec = out_dir("spec") + ".json";
  l2o::write_file_atomic(spec, R"({"training": {"epochs": 5, "unrol": 20}})");
  require_input_error("l2o_train " + spec + " --out " + d, "$.training.unrol: unknown key (did you mean \"unroll\"?)",
                      d);
  require_input_error("l2o_train specs/l2o_dm.json --out " + d + " --set training.epochs=-1",
                      "$.training.epochs: -1 is out of range", d);
  require_input_error("l2o_train specs/l2o_dm.json --out " + d + " --set training", "expected KEY=VALUE", d);
  require_input_error("l2o_train /nonexistent/spec.json --out " + d, "/nonexistent/spec.json", d);
  require_input_error("l2o_train --resume " + d, "not a run directory", d);
  require_input_error("l2o_train specs/l2o_dm.json --out " + d + " --jobs two", "--jobs: expected an integer", d);
  require_input_error("l2o_train specs/l2o_dm.json --out " + d + " --backend tpu", "$.backend", d);
  // "cuda" that cannot run: no device here, or (on a GPU machine) a problem without a CUDA twin.
  require_input_error("l2o_train specs/l2o_dm_quadratic.json --out " + d + " --backend cuda", "backend \"cuda\"", d);
  // Data that cannot be loaded fails before the run directory exists (the problem is built first).
  require_input_error("l2o_train specs/l2o_dm.json --out " + d + " --set training.unroll=1000 --set training.n_train=1000",
                      "MiB of activations", d);
  require_input_error("l2o_train specs/l2o_dm.json --out " + d + " --set problem.data_dir=/nonexistent/dir",
                      "/nonexistent/dir/mnist/train-images-idx3-ubyte", d);
  fs::remove(spec);
}

TEST_CASE("l2o_train stops on SIGTERM at an epoch boundary with a checkpoint, and resumes bit for bit", "[cli]") {
  const std::string d = out_dir("train_sigterm"), d2 = out_dir("train_sigterm_ref");
  const std::string sets = " --set training.epochs=100000 --set validation.rollouts=2 --set validation.n_valid=20";
  // Started in the background, signalled once its first epoch is logged; `wait` gives its exit code
  // (137 if it ignored the request and the watchdog killed it).
  const std::string cmd = "cd \"" L2O_SOURCE_DIR "\" && (exec \"" L2O_BINARY_DIR
                          "/l2o_train\" specs/l2o_dm_quadratic.json --out " + d + sets + " 2>" + d +
                          ".log) & p=$!; i=0; while [ ! -s " + d + "/metrics.jsonl ] && [ $i -lt 1200 ] && "
                          "kill -0 $p 2>/dev/null; do sleep 0.05; i=$((i+1)); done; kill -TERM $p; "
                          "(sleep 120; kill -KILL $p) 2>/dev/null & w=$!; wait $p; rc=$?; kill $w; "
                          "echo \"rc=$rc\"; cat " + d + ".log";
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  char buf[512];
  while (fgets(buf, sizeof buf, p)) out += buf;
  pclose(p);
  INFO(out);
  REQUIRE_THAT(out, Catch::Contains("rc=143") && Catch::Contains("stopped by SIGTERM after epoch ") &&
                        Catch::Contains("--resume " + d + " continues"));
  const auto epoch_lines = [](const std::string& dir) {
    const std::string m = l2o::read_file(dir + "/metrics.jsonl");
    int64_t n = 0;
    for (size_t at = m.find("\"kind\":\"epoch\""); at != std::string::npos; at = m.find("\"kind\":\"epoch\"", at + 1)) ++n;
    return n;
  };
  const int64_t stopped_at = epoch_lines(d);
  REQUIRE(stopped_at >= 1);
  REQUIRE(stopped_at < 100000);
  // Nothing logged is lost: the resume keeps every line (a state behind them would drop some).
  Run resumed = run("l2o_train --resume " + d + " --stop-after-epochs 2");
  INFO(resumed.out);
  REQUIRE(resumed.code == 0);
  REQUIRE(epoch_lines(d) == stopped_at + 2);
  // The same bytes as a run that was never signalled.
  Run ref = run("l2o_train specs/l2o_dm_quadratic.json --out " + d2 + sets + " --stop-after-epochs " +
                std::to_string(stopped_at + 2));
  INFO(ref.out);
  REQUIRE(ref.code == 0);
  for (const char* f : {"/checkpoints/latest.safetensors", "/checkpoints/state.safetensors"})
    REQUIRE(l2o::read_file(d + f) == l2o::read_file(d2 + f));
  fs::remove_all(d);
  fs::remove_all(d2);
  fs::remove(d + ".log");
}

TEST_CASE("l2o_train runs the custom MLP that docs/spec.md documents", "[cli]") {
  const std::string d = out_dir("train_custom_mlp");
  const std::string spec = out_dir("custom") + ".json";
  l2o::write_file_atomic(spec, R"({"problem": {"type": "mlp", "hidden": [8], "activation": "tanh"},
                                   "training": {"epochs": 2}, "validation": {"rollouts": 2, "n_valid": 20}})");
  Run r = run("l2o_train " + spec + " --out " + d);
  INFO(r.out);
  REQUIRE(r.code == 0);
  REQUIRE_THAT(r.out, Catch::Contains("training l2o_dm on mlp"));
  REQUIRE(fs::exists(d + "/checkpoints/best.safetensors"));
  // 784-8-10: 6,370 coordinates.
  l2o::RunSpec s = l2o::parse_run_spec(l2o::read_file(d + "/spec.json"), "spec.json", {});
  s.problem.data_dir = L2O_SOURCE_DIR "/data";
  REQUIRE(l2o::make_optimizee<float>(s.problem)->num_params() == 784 * 8 + 8 + 8 * 10 + 10);
  fs::remove_all(d);
  fs::remove(spec);
}

TEST_CASE("l2o_train records the backend that ran: auto falls back to the CPU and says why", "[cli]") {
  const std::string d = out_dir("train_auto");
  // The quadratic has no CUDA twin, so "auto" resolves to the CPU on every machine.
  Run r = run("l2o_train specs/l2o_dm_quadratic.json --out " + d +
              " --backend auto --set training.epochs=2 --set validation.rollouts=2 --set validation.n_valid=20");
  INFO(r.out);
  REQUIRE(r.code == 0);
  REQUIRE_THAT(r.out, Catch::Contains("auto: CPU backend (") && Catch::Contains("(backend cpu on cpu)"));
  // The timing covers this process's meta-steps; a resume of the finished run has none to time.
  REQUIRE_THAT(r.out, Catch::Contains("ms over this process's "));
  const std::string spec = l2o::read_file(d + "/spec.json");
  const std::string ran_on = "\"ran_on\": \"cpu on cpu, built for " + l2o::cpu_build_isa() + "\"";
  REQUIRE_THAT(spec, Catch::Contains("\"backend\": \"auto\"") && Catch::Contains(ran_on));
  // The recorded spec (with ran_on) is itself a valid spec: the run resumes from it, silently with
  // the same binary.
  Run again = run("l2o_train --resume " + d);
  INFO(again.out);
  REQUIRE(again.code == 0);
  REQUIRE_THAT(again.out, !Catch::Contains("warning"));
  REQUIRE_THAT(again.out, Catch::Contains("none ran in this process"));
  // Started by another build (ran_on and git_commit are informational: outside the spec digest),
  // it resumes with a warning that names both.
  std::string other = spec;
  other.replace(other.find(ran_on), ran_on.size(), "\"ran_on\": \"cpu on cpu, built for SSE9\"");
  l2o::write_file_atomic(d + "/spec.json", other);
  Run moved = run("l2o_train --resume " + d);
  INFO(moved.out);
  REQUIRE(moved.code == 0);
  REQUIRE_THAT(moved.out, Catch::Contains("was started by commit") && Catch::Contains("built for SSE9") &&
                              Catch::Contains("not necessarily bit for bit"));
  fs::remove_all(d);
}
