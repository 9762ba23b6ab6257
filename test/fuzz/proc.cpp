// Process targets: every case runs the real l2o_train or l2o_eval, under an address-space limit
// (ulimit -v) and a time limit, in its own directory. Contract (README, docs/reliability.md):
// exit 0, or exit 2 with one error line and nothing written (the case directory is unchanged, the
// run directory's .lock aside); exit 1 only where training itself failed (non-finite segments);
// never a signal, never a hang.
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <thread>

#include "engine/run_spec.h"
#include "kernels/common.h"
#include "targets.h"

extern char** environ;
namespace fs = std::filesystem;

namespace fuzz {

// Settable from main (--mem-gib, --timeout).
uint64_t g_child_mem_bytes = uint64_t(4) << 30;
double g_child_timeout_s = 30;

namespace {

struct ProcResult {
  bool signaled = false, timed_out = false;
  int sig = 0, code = -1;
  std::string err;  // stderr
  double seconds = 0;
};

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string command_line(const std::vector<std::string>& argv) {
  std::string s;
  for (size_t i = 0; i < argv.size(); ++i) {
    std::string a = i == 0 ? fs::path(argv[0]).filename().string() : argv[i];
    s += (i ? " " : "") + (a.size() > 200 ? shell_quote(a.substr(0, 60)) + "...(" + std::to_string(a.size()) + " chars)"
                                           : shell_quote(a));
  }
  return s;
}

// fork + exec with the limits set in the child (async-signal-safe calls only after fork).
ProcResult spawn(const std::vector<std::string>& argv, const std::string& cwd, const std::string& err_path,
                 double timeout_s, uint64_t mem_bytes = 0) {
  std::vector<std::string> env;
  bool omp = false, wait_policy = false;
  for (char** e = environ; *e; ++e) {
    env.push_back(*e);
    omp = omp || std::strncmp(*e, "OMP_NUM_THREADS=", 16) == 0;
    wait_policy = wait_policy || std::strncmp(*e, "OMP_WAIT_POLICY=", 16) == 0;
  }
  if (!omp) env.push_back("OMP_NUM_THREADS=1");  // tiny problems: threads only cost start-up time
  if (!wait_policy) env.push_back("OMP_WAIT_POLICY=PASSIVE");
  std::vector<char*> cargv, cenv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  for (const auto& e : env) cenv.push_back(const_cast<char*>(e.c_str()));
  cenv.push_back(nullptr);
  if (mem_bytes == 0) mem_bytes = g_child_mem_bytes;
  const rlimit mem = {mem_bytes, mem_bytes}, core = {0, 0};

  const auto t0 = std::chrono::steady_clock::now();
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fuzz: fork failed");
  if (pid == 0) {
    ::setpgid(0, 0);
    if (mem.rlim_cur > 0) ::setrlimit(RLIMIT_AS, &mem);
    ::setrlimit(RLIMIT_CORE, &core);
    if (::chdir(cwd.c_str()) != 0) ::_exit(126);
    const int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int null = ::open("/dev/null", O_RDWR);
    if (err < 0 || null < 0) ::_exit(126);
    ::dup2(null, 0);
    ::dup2(null, 1);
    ::dup2(err, 2);
    ::execve(cargv[0], cargv.data(), cenv.data());
    ::_exit(127);
  }
  ProcResult r;
  int status = 0;
  for (int sleep_us = 200;;) {
    const pid_t w = ::waitpid(pid, &status, WNOHANG);
    if (w == pid) break;
    const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (el > timeout_s) {
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      r.timed_out = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(sleep_us));
    sleep_us = std::min(sleep_us * 2, 5000);
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!r.timed_out) {
    if (WIFSIGNALED(status)) r.signaled = true, r.sig = WTERMSIG(status);
    else if (WIFEXITED(status)) r.code = WEXITSTATUS(status);
  }
  try {
    r.err = read_bytes(err_path);
  } catch (const std::exception&) {
  }
  return r;
}

std::string last_line(const std::string& s) {
  std::string t = s;
  while (!t.empty() && t.back() == '\n') t.pop_back();
  const size_t nl = t.rfind('\n');
  return nl == std::string::npos ? t : t.substr(nl + 1);
}

struct Expect {
  bool allow_timeout = false;                // a valid input with a large budget may run long
  std::vector<std::string> ignore;           // snapshot paths a refusal may touch (run/.lock)
  std::string root;                          // the case directory (snapshot root)
  Snapshot before;
};

// Judges one run against the contract.
CaseResult judge(const std::vector<std::string>& argv, const ProcResult& p, const Expect& e) {
  const std::string cmd = command_line(argv);
  CaseResult res;
  if (p.timed_out) {
    if (e.allow_timeout) return {"", "slow: valid input with a large budget (stopped at the time limit)"};
    res.failure = "no exit within " + std::to_string(static_cast<int>(g_child_timeout_s)) + " s: " + cmd;
    res.outcome = "fail";
    return res;
  }
  if (p.signaled) {
    res.failure = std::string("killed by signal ") + std::to_string(p.sig) + " (" + strsignal(p.sig) + "): " + cmd +
                  " | stderr: " + clip(last_line(p.err));
    res.outcome = "fail";
    return res;
  }
  if (p.code == 0) {
    const auto left = temp_leftovers(e.root);
    if (!left.empty()) return {"exit 0 but a temp file was left: " + left[0] + ": " + cmd, "fail"};
    return {"", "exit 0"};
  }
  if (p.code == 2) {
    // One error line (notes and warnings may precede it), bounded, and nothing written.
    size_t errors = 0, longest = 0;
    size_t start = 0;
    while (start < p.err.size()) {
      size_t nl = p.err.find('\n', start);
      if (nl == std::string::npos) nl = p.err.size();
      const std::string line = p.err.substr(start, nl - start);
      longest = std::max(longest, line.size());
      if (line.find(": error: ") != std::string::npos) ++errors;
      start = nl + 1;
    }
    const std::string last = last_line(p.err);
    if (errors != 1 || last.find(": error: ") == std::string::npos)
      return {"exit 2 without exactly one error line at the end: " + cmd + " | stderr: " + clip(p.err), "fail"};
    if (longest > 4096) return {"exit 2 with an error line of " + std::to_string(longest) + " characters: " + cmd, "fail"};
    const std::string d = diff_snapshots(e.before, snapshot(e.root), e.ignore);
    if (!d.empty()) return {"exit 2 but wrote: " + d + ": " + cmd + " | stderr: " + clip(last), "fail"};
    return {"", "exit 2"};
  }
  const std::string last = last_line(p.err);
  if (p.code == 1 && (p.err.find("non-finite") != std::string::npos || p.err.find("diverged for every lr") != std::string::npos))
    return {"", "exit 1 (training diverged)"};
  return {"exit " + std::to_string(p.code) + " (" + (p.code == 1 ? "could not continue" : "not in the contract") +
              "): " + cmd + " | stderr: " + clip(last),
          "fail"};
}

std::string tool(const Bases& b, const char* name) { return b.bin_dir + "/" + name; }

CaseResult run_case(const std::vector<std::string>& argv, const std::string& case_dir, Expect e,
                    const std::string& dump, double timeout_s = -1, uint64_t mem_bytes = 0) {
  e.root = case_dir + "/c";
  e.before = snapshot(e.root);
  if (!dump.empty()) {
    fs::create_directories(dump);
    remove_tree(dump + "/c");
    copy_tree(e.root, dump + "/c");
    std::string cmd = "cd c && " + command_line(argv) + "\n";
    write_bytes(dump + "/command.sh", cmd);
  }
  const ProcResult p =
      spawn(argv, e.root, case_dir + "/stderr.txt", timeout_s > 0 ? timeout_s : g_child_timeout_s, mem_bytes);
  return judge(argv, p, e);
}

// Work a valid spec costs (optimizee coordinate-steps x learner size), to keep big budgets short.
double estimated_cost(const l2o::RunSpec& s) {
  double params = 20000;
  if (s.problem.kind == "quadratic") params = static_cast<double>(s.problem.quad_count) * s.problem.quad_dims;
  else if (s.problem.kind == "mlp") {
    double in = 784;
    params = 0;
    for (int64_t h : s.problem.hidden) params += in * h + h, in = static_cast<double>(h);
    params += in * 10 + 10;
    params *= s.problem.batch_size / 16.0;
  } else {
    params = 20000.0 * s.problem.batch_size;
  }
  double learner = 0, in = 2;
  for (const auto& h : s.learner.value("hidden", nlohmann::json::array({20, 20}))) {
    const double hd = h.get<double>();
    learner += 4 * hd * (hd + in);
    in = hd;
  }
  double n_train = static_cast<double>(s.n_train), n_valid = static_cast<double>(s.n_valid);
  double period = static_cast<double>(s.valid_period), stages = 0;
  if (s.curriculum.enabled) {
    for (int64_t v : s.curriculum.config.n_train) n_train = std::max(n_train, static_cast<double>(v));
    for (int64_t v : s.curriculum.config.n_valid) n_valid = std::max(n_valid, static_cast<double>(v));
    n_valid = std::max({n_valid, n_train, static_cast<double>(s.curriculum.config.last_n_valid)});
    period = static_cast<double>(s.curriculum.period);
    stages = static_cast<double>(s.curriculum.config.n_train.size());
  }
  const double epochs = static_cast<double>(s.epochs);
  const double steps = epochs * n_train + (epochs / period + 1 + stages) * static_cast<double>(s.rollouts) * n_valid;
  return steps * params * std::max(learner, 1.0);
}

// Valid specs: run them when small; a few large ones run under a short limit (early failures,
// such as an allocation at the first validation, still show), the rest are skipped.
struct SpecVerdict {
  bool valid = false, run = true;
  double timeout = -1;
};
SpecVerdict classify_spec(const std::string& text, const std::vector<std::string>& sets) {
  static int large_runs = 0;
  SpecVerdict v;
  try {
    const l2o::RunSpec s = l2o::parse_run_spec(text, "spec.json", sets);
    v.valid = true;
    if (estimated_cost(s) > 3e7) {
      if (large_runs >= 12) v.run = false;
      else ++large_runs, v.timeout = 2.0;
    }
  } catch (const std::exception&) {
  }
  return v;
}

CaseResult run_train_spec(const Bases& b, Rng& r, const std::string& dir, const std::string& dump) {
  const std::string& base = r.chance(85) ? b.spec_text : r.pick(b.specs);
  std::string text = r.chance(90) ? mutate_json(base, r) : base;
  if (text == base) mutate_bytes(text, r, 4);
  fs::create_directories(dir + "/c");
  write_bytes(dir + "/c/spec.json", text);
  const SpecVerdict v = classify_spec(text, {});
  if (!v.run) return {"", "skipped: valid spec with a large budget"};
  Expect e;
  e.allow_timeout = v.valid && v.timeout > 0;
  return run_case({tool(b, "l2o_train"), "spec.json", "--out", "run"}, dir, e, dump, v.timeout);
}

CaseResult run_train_set(const Bases& b, Rng& r, const std::string& dir, const std::string& dump) {
  fs::create_directories(dir + "/c");
  write_bytes(dir + "/c/spec.json", b.spec_text);
  const auto sets = random_overrides(r, 100000);
  std::vector<std::string> argv = {tool(b, "l2o_train"), "spec.json", "--out", "run"};
  for (const auto& s : sets) argv.push_back("--set"), argv.push_back(s);
  const SpecVerdict v = classify_spec(b.spec_text, sets);
  if (!v.run) return {"", "skipped: valid spec with a large budget"};
  Expect e;
  e.allow_timeout = v.valid && v.timeout > 0;
  return run_case(argv, dir, e, dump, v.timeout);
}

CaseResult run_train_args(const Bases& b, Rng& r, const std::string& dir, const std::string& dump) {
  fs::create_directories(dir + "/c");
  write_bytes(dir + "/c/spec.json", b.spec_text);
  copy_tree(b.run_dir, dir + "/c/done");  // a run to --resume (stopped after 4 epochs)
  std::vector<std::string> argv = {tool(b, "l2o_train")};
  static const std::vector<std::string> pos = {"spec.json", "spec.json", "spec.json", "missing.json", "", "-", ".",
                                               "done", "done/spec.json", "/dev/null", "spec.json"};
  static const std::vector<std::string> outs = {"run", "run", "", ".", "spec.json", "run/sub", "done", "run/../run2"};
  static const std::vector<std::string> resumes = {"done", "done", "missing", "spec.json", "", ".", "done/checkpoints"};
  static const std::vector<std::string> backends = {"cpu", "cuda", "auto", "tpu", ""};
  static const std::vector<std::string> stops = {"0", "1", "-1", "x", "99999999999999999999", "", "1.5"};
  const uint64_t n = r.below(5);
  if (r.chance(80)) argv.push_back(r.pick(pos));
  for (uint64_t i = 0; i < n; ++i) {
    switch (r.below(9)) {
      case 0: argv.push_back("--out"), argv.push_back(r.pick(outs)); break;
      case 1: argv.push_back("--out=" + r.pick(outs)); break;
      case 2:
        for (const auto& s : random_overrides(r, 100000)) argv.push_back("--set"), argv.push_back(s);
        break;
      case 3: argv.push_back("--resume"), argv.push_back(r.pick(resumes)); break;
      case 4: argv.push_back("--backend"), argv.push_back(r.pick(backends)); break;
      case 5: argv.push_back("--stop-after-epochs"), argv.push_back(r.pick(stops)); break;
      case 6: argv.push_back(r.pick(std::vector<std::string>{"--help", "--bogus", "--out", "--set", "--resume", "--", "-x", "--set="})); break;
      case 7: argv.push_back(r.pick(pos)); break;
      default: argv.push_back("--resume=" + r.pick(resumes)); break;
    }
  }
  Expect e;
  e.ignore = {"done/.lock"};
  return run_case(argv, dir, e, dump);
}

// The base run with one file mutated, then --resume.
CaseResult run_resume_proc(const Bases& b, Rng& r, const std::string& dir, const std::string& dump) {
  const std::string run = dir + "/c/run";
  fs::create_directories(dir + "/c");
  copy_tree(b.run_dir, run);
  const uint64_t what = r.below(100);
  if (what < 75) {
    write_bytes(run + "/checkpoints/state.safetensors", mutate_safetensors(b.state_bytes, r));
  } else if (what < 83) {
    std::string m = read_bytes(run + "/metrics.jsonl");
    switch (r.below(4)) {
      case 0: m.resize(r.below(m.size() + 1)); break;
      case 1: m += "{\"kind\":\"junk\"}\n"; break;
      case 2: m.clear(); break;
      default: mutate_bytes(m, r, 3); break;
    }
    write_bytes(run + "/metrics.jsonl", m);
  } else if (what < 93) {
    write_bytes(run + "/spec.json", mutate_json(read_bytes(run + "/spec.json"), r));
  } else if (what < 96) {
    fs::remove(run + (r.chance(50) ? "/checkpoints/state.safetensors" : "/spec.json"));
  } else {
    write_bytes(run + "/checkpoints/latest.safetensors.tmp.4242", "partial");
  }
  Expect e;
  e.ignore = {"run/.lock"};
  return run_case({tool(b, "l2o_train"), "--resume", "run"}, dir, e, dump);
}

CaseResult run_eval_learner(const Bases& b, Rng& r, const std::string& dir, const std::string& dump) {
  fs::create_directories(dir + "/c");
  write_bytes(dir + "/c/learner.safetensors", mutate_safetensors(b.learner_bytes, r));
  return run_case({tool(b, "l2o_eval"), "--optimizer", "learner.safetensors", "--problem", "quadratic", "--steps", "3",
                   "--seeds", "2", "--out", "out"},
                  dir, Expect{}, dump);
}

void write_idx_dir(const IdxPair& p, Rng& r, const std::string& mn) {
  fs::create_directories(mn);
  write_bytes(mn + "/t10k-images-idx3-ubyte" + (p.images_gz && r.chance(70) ? ".gz" : ""), p.images);
  write_bytes(mn + "/t10k-labels-idx1-ubyte" + (p.labels_gz && r.chance(70) ? ".gz" : ""), p.labels);
}

CaseResult run_eval_idx(const Bases& b, Rng& r, const std::string& dir, const std::string& dump) {
  write_idx_dir(mutate_idx_pair(b.idx, r), r, dir + "/c/data/mnist");
  return run_case({tool(b, "l2o_eval"), "--optimizer", "sgd", "--problem", r.chance(80) ? "mlp_orig" : "conv_mnist",
                   "--steps", "2", "--seeds", "1", "--data-dir", "data", "--out", "out"},
                  dir, Expect{}, dump);
}

CaseResult run_eval_cifar(const Bases& b, Rng& r, const std::string& dir, const std::string& dump) {
  fs::create_directories(dir + "/c/data/cifar-10-batches-bin");
  write_bytes(dir + "/c/data/cifar-10-batches-bin/test_batch.bin", mutate_cifar(b.cifar, r));
  return run_case({tool(b, "l2o_eval"), "--optimizer", "adam", "--problem", "conv_cifar", "--steps", "1", "--seeds",
                   "1", "--data-dir", "data", "--out", "out"},
                  dir, Expect{}, dump);
}

CaseResult run_eval_args(const Bases& b, Rng& r, const std::string& dir, const std::string& dump) {
  fs::create_directories(dir + "/c");
  write_bytes(dir + "/c/learner.safetensors", b.learner_bytes);
  write_bytes(dir + "/c/spec.json", b.spec_text);
  fs::create_directories(dir + "/c/dir.safetensors");
  {
    Rng quiet(1);
    IdxPair p = b.idx;
    write_idx_dir(p, quiet, dir + "/c/data/mnist");
  }
  static const std::vector<std::pair<std::string, std::vector<std::string>>> opts = {
      {"--optimizer", {"adam", "sgd", "adam,sgd", "learner.safetensors", "learner.safetensors,adam", "adma", "", ",",
                       "missing.safetensors", "dir.safetensors", "spec.json", "nag,rmsprop_torch", "learner.safetensors,learner.safetensors"}},
      {"--problem", {"quadratic", "quadratic", "quadratic,quadratic", "mlp_orig", "conv_cifar", "bogus", "", ",", "mlp"}},
      {"--data-dir", {"data", "missing", "", "spec.json", "."}},
      {"--out", {"out", "out", "", "spec.json", "out/sub", ".", "learner.safetensors"}},
      {"--steps", {"1", "2", "0", "-1", "x", "", "99999999999999999999", "10000001", "1e2", " 2", "2 "}},
      {"--seeds", {"1", "2", "0", "10001", "x", "-1"}},
      {"--seed0", {"0", "5", "-1", "4611686018427387905", "9223372036854775807", "x", "4611686018427387904"}},
      {"--lr", {"0.1", "0", "-1", "nan", "inf", "1e400", "x", "", "1e-300"}},
      {"--lr-grid", {"0.1,0.01", "0.1,,0.2", "nan", "-1", "1e-3", "inf", ""}},
      {"--backend", {"cpu", "cuda", "auto", "tpu", ""}},
      {"--split", {"test", "train", "x", ""}},
  };
  std::vector<std::string> argv = {tool(b, "l2o_eval")};
  // Usually a nearly valid command, so the checks past the first one are reached.
  if (r.chance(70)) argv.insert(argv.end(), {"--optimizer", "adam", "--problem", "quadratic", "--steps", "2", "--seeds", "1", "--out", "out"});
  for (uint64_t i = 0, n = 1 + r.below(4); i < n; ++i) {
    const uint64_t k = r.below(opts.size() + 2);
    if (k < opts.size()) {
      if (r.chance(85)) argv.push_back(opts[k].first), argv.push_back(r.pick(opts[k].second));
      else argv.push_back(opts[k].first + "=" + r.pick(opts[k].second));
    } else {
      argv.push_back(r.pick(std::vector<std::string>{"--help", "--learned-trains-bn", "--learned-trains-bn=1", "--bogus", "junk", "--steps"}));
    }
  }
  // Bounded work for valid commands: at most 2 steps x 2 seeds per optimizer and problem.
  bool big = false;
  for (size_t i = 0; i + 1 < argv.size(); ++i)
    if (argv[i] == "--steps" && (argv[i + 1] == "10000001" || argv[i + 1] == "1e2")) big = true;
  if (big) argv.insert(argv.end(), {"--steps", "2"});  // the last one counts
  return run_case(argv, dir, Expect{}, dump);
}


// Fixed command lines that file mutation does not reach: endless devices as a spec, a checkpoint or a
// run's spec.json (a reader must refuse them or stop at its size limit, not read until memory runs
// out; these run under 1 GiB so an unbounded read fails in about a second), and an existing file
// given as the output directory. Each must be refused with exit 2.
CaseResult run_special(const Bases& b, Rng& r, const std::string& dir, const std::string& dump) {
  (void)r;
  fs::create_directories(dir + "/c");
  write_bytes(dir + "/c/spec.json", b.spec_text);
  const uint64_t which = g_case_index % 6;
  std::vector<std::string> argv;
  Expect e;
  uint64_t mem = 0;
  if (which == 0) {
    argv = {tool(b, "l2o_train"), "/dev/zero", "--out", "run"};
    mem = uint64_t(1) << 30;
  } else if (which == 1) {
    fs::create_symlink("/dev/zero", dir + "/c/zero.safetensors");
    argv = {tool(b, "l2o_eval"), "--optimizer", "zero.safetensors", "--problem", "quadratic", "--steps", "2", "--seeds",
            "1", "--out", "out"};
    mem = uint64_t(1) << 30;
  } else if (which == 2) {
    copy_tree(b.run_dir, dir + "/c/run");
    fs::remove(dir + "/c/run/spec.json");
    fs::create_symlink("/dev/zero", dir + "/c/run/spec.json");
    argv = {tool(b, "l2o_train"), "--resume", "run"};
    e.ignore = {"run/.lock"};
    mem = uint64_t(1) << 30;
  } else if (which == 3) {
    argv = {tool(b, "l2o_train"), "spec.json", "--out", "spec.json"};
  } else if (which == 4) {
    argv = {tool(b, "l2o_train"), "spec.json", "--out", "spec.json/run"};
  } else {
    argv = {tool(b, "l2o_eval"), "--optimizer", "adam", "--problem", "quadratic", "--steps", "2", "--seeds", "1",
            "--out", "spec.json"};
  }
  CaseResult res = run_case(argv, dir, e, dump, 20, mem);
  if (res.failure.empty() && res.outcome != "exit 2") res.failure = "not refused: " + res.outcome + ": " + command_line(argv);
  return res;
}

}  // namespace

const std::vector<Target>& process_targets() {
  static const std::vector<Target> t = {
      {"train_spec", 400, true, true, run_train_spec},     {"train_set", 150, true, true, run_train_set},
      {"train_args", 150, true, true, run_train_args},     {"resume_proc", 400, true, true, run_resume_proc},
      {"eval_learner", 250, true, true, run_eval_learner}, {"eval_idx", 250, true, true, run_eval_idx},
      {"eval_cifar", 60, true, true, run_eval_cifar},      {"eval_args", 200, true, true, run_eval_args},
      {"special", 6, true, true, run_special},
  };
  return t;
}

void build_bases_process(Bases& b) {
  build_common_bases(b);
  const std::string dir = b.work + "/base";
  fs::create_directories(dir + "/c");
  write_bytes(dir + "/c/spec.json", b.spec_text);
  const std::vector<std::string> argv = {tool(b, "l2o_train"), "spec.json", "--out", "run", "--stop-after-epochs", "4"};
  const ProcResult p = spawn(argv, dir + "/c", dir + "/stderr.txt", 120);
  if (p.timed_out || p.signaled || p.code != 0)
    throw std::runtime_error("fuzz: the base run failed: " + command_line(argv) + "\n" + p.err);
  b.run_dir = dir + "/c/run";
  b.learner_bytes = read_bytes(b.run_dir + "/checkpoints/latest.safetensors");
  b.state_bytes = read_bytes(b.run_dir + "/checkpoints/state.safetensors");
}

CaseResult replay_corpus_process(const Bases& b, const std::string& file, const std::string& case_dir) {
  const std::string name = fs::path(file).filename().string();
  fs::create_directories(case_dir + "/c");
  std::vector<std::string> argv;
  Expect e;
  if (name.rfind("spec_", 0) == 0) {
    fs::copy_file(file, case_dir + "/c/spec.json");
    argv = {tool(b, "l2o_train"), "spec.json", "--out", "run"};
  } else if (name.rfind("learner_", 0) == 0) {
    fs::copy_file(file, case_dir + "/c/learner.safetensors");
    argv = {tool(b, "l2o_eval"), "--optimizer", "learner.safetensors", "--problem", "quadratic", "--steps", "2",
            "--seeds", "1", "--out", "out"};
  } else if (name.rfind("state_", 0) == 0) {
    copy_tree(b.run_dir, case_dir + "/c/run");
    fs::copy_file(file, case_dir + "/c/run/checkpoints/state.safetensors", fs::copy_options::overwrite_existing);
    argv = {tool(b, "l2o_train"), "--resume", "run"};
    e.ignore = {"run/.lock"};
  } else if (name.rfind("idx_images_", 0) == 0 || name.rfind("idx_labels_", 0) == 0) {
    const std::string mn = case_dir + "/c/data/mnist";
    fs::create_directories(mn);
    const bool images = name.rfind("idx_images_", 0) == 0;
    fs::copy_file(file, mn + (images ? "/t10k-images-idx3-ubyte" : "/t10k-labels-idx1-ubyte"));
    write_bytes(mn + (images ? "/t10k-labels-idx1-ubyte" : "/t10k-images-idx3-ubyte"), images ? b.idx.labels : b.idx.images);
    argv = {tool(b, "l2o_eval"), "--optimizer", "sgd", "--problem", "mlp_orig", "--steps", "2", "--seeds", "1",
            "--data-dir", "data", "--out", "out"};
  } else {
    return {"", "skipped: unknown corpus file kind"};
  }
  CaseResult res = run_case(argv, case_dir, e, "");
  if (res.failure.empty() && res.outcome != "exit 2")
    res.failure = "corpus file " + name + " gave " + res.outcome + "; it must be refused with exit 2";
  return res;
}

}  // namespace fuzz
