// test_fuzz: mutation fuzzing of every reader of the tools (specs and --set, safetensors learner
// checkpoints and training states, IDX/gzip and CIFAR-10 files, resume directories, command lines),
// from a fixed seed. docs/reliability.md describes the contract it checks.
//
//   test_fuzz --mode inproc  [--seed S] [--scale X]           readers in-process (thousands of cases)
//   test_fuzz --mode process --bin-dir DIR [--seed S]         the real tools, one process per case
//   test_fuzz --only TARGET --case K --seed S --dump DIR      one case again, its inputs written to DIR
//   test_fuzz --write-corpus DIR                              regenerate test/fuzz/corpus/
#include <sys/resource.h>
#include <unistd.h>
#include <fcntl.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <string>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "targets.h"

namespace fs = std::filesystem;

namespace fuzz {
extern uint64_t g_child_mem_bytes;
extern double g_child_timeout_s;
}  // namespace fuzz

using namespace fuzz;

namespace {

const char* kUsage =
    "usage: test_fuzz [--mode inproc|process] [--seed S] [--scale X] [--only T,...] [--case K] [--dump DIR]\n"
    "                 [--source-dir DIR] [--bin-dir DIR] [--mem-gib G] [--timeout S] [--no-corpus] [--verbose]\n"
    "                 [--list] [--write-corpus DIR]\n"
    "  --mem-gib 0: no address-space limit (sanitizer builds reserve terabytes of it)\n";

[[noreturn]] void usage_error(const std::string& why) {
  std::fprintf(stderr, "test_fuzz: %s\n%s", why.c_str(), kUsage);
  std::exit(2);
}

std::set<std::string> split(const std::string& s) {
  std::set<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    const size_t c = s.find(',', start);
    const std::string item = s.substr(start, c == std::string::npos ? std::string::npos : c - start);
    if (!item.empty()) out.insert(item);
    if (c == std::string::npos) break;
    start = c + 1;
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode = "inproc", only, dump, source_dir = ".", bin_dir, write_corpus_dir;
  uint64_t seed = 1;
  double scale = 1.0, mem_gib = 4.0;
  int64_t single_case = -1;
  bool corpus = true, verbose = false, list = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage_error(a + " needs a value");
      return argv[++i];
    };
    if (a == "--mode") mode = value();
    else if (a == "--seed") seed = std::strtoull(value().c_str(), nullptr, 10);
    else if (a == "--scale") scale = std::atof(value().c_str());
    else if (a == "--only") only = value();
    else if (a == "--case") single_case = std::atoll(value().c_str());
    else if (a == "--dump") dump = value();
    else if (a == "--source-dir") source_dir = value();
    else if (a == "--bin-dir") bin_dir = value();
    else if (a == "--mem-gib") mem_gib = std::atof(value().c_str());
    else if (a == "--timeout") g_child_timeout_s = std::atof(value().c_str());
    else if (a == "--write-corpus") write_corpus_dir = value();
    else if (a == "--no-corpus") corpus = false;
    else if (a == "--verbose") verbose = true;
    else if (a == "--list") list = true;
    else if (a == "--help") {
      std::printf("%s", kUsage);
      return 0;
    } else usage_error("unknown argument " + a);
  }
  // --only with a target name picks the mode by itself.
  const std::set<std::string> wanted = split(only);
  bool any_proc = false, any_inproc = false;
  for (const auto& t : process_targets()) any_proc = any_proc || wanted.count(t.name);
  for (const auto& t : inproc_targets()) any_inproc = any_inproc || wanted.count(t.name);
  if (any_proc && !any_inproc) mode = "process";
  if (any_inproc && !any_proc) mode = "inproc";
  if (mode != "inproc" && mode != "process") usage_error("--mode must be inproc or process");
  const bool process = mode == "process";
  const std::vector<Target>& targets = process ? process_targets() : inproc_targets();
  if (list) {
    for (const auto* ts : {&inproc_targets(), &process_targets()})
      for (const auto& t : *ts) std::printf("%-14s %5d cases  %s\n", t.name, t.default_cases, t.process ? "process" : "inproc");
    return 0;
  }
  for (const auto& w : wanted) {
    bool known = false;
    for (const auto* ts : {&inproc_targets(), &process_targets()})
      for (const auto& t : *ts) known = known || w == t.name;
    if (!known) usage_error("unknown target " + w + " (see --list)");
  }
  if (process && bin_dir.empty()) usage_error("--mode process needs --bin-dir (where l2o_train and l2o_eval are)");

  const uint64_t mem = static_cast<uint64_t>(mem_gib * double(uint64_t(1) << 30));
  g_child_mem_bytes = mem;
  if (!process && mem > 0) {  // the readers run in this process: the same bound as the tools get
    const rlimit lim = {mem, mem};
    setrlimit(RLIMIT_AS, &lim);
  }
#ifdef _OPENMP
  if (!std::getenv("OMP_NUM_THREADS")) omp_set_num_threads(1);  // tiny problems: threads only cost time
#endif
  install_crash_handlers();
  // The trainer logs progress on stderr; in-process cases would flood it.
  int saved_stderr = -1;
  if (!process && !verbose) {
    saved_stderr = dup(2);
    const int null = open("/dev/null", O_WRONLY);
    dup2(null, 2);
    close(null);
  }

  Bases b;
  b.source_dir = fs::absolute(source_dir).string();
  b.bin_dir = bin_dir.empty() ? "" : fs::absolute(bin_dir).string();  // the tools run in case directories
  b.work = make_temp_dir(process ? "proc" : "inproc");
  const auto t_start = std::chrono::steady_clock::now();
  int rc = 0;
  try {
    if (process) build_bases_process(b);
    else build_bases_inproc(b);
    if (!write_corpus_dir.empty()) {
      write_corpus(b, write_corpus_dir);
      std::printf("wrote the corpus to %s\n", write_corpus_dir.c_str());
      remove_tree(b.work);
      return 0;
    }
    std::printf("test_fuzz: mode %s, seed %llu, scale %g, memory limit %.1f GiB per %s, scratch in %s\n", mode.c_str(),
                static_cast<unsigned long long>(seed), scale, mem_gib, process ? "tool run" : "process",
                fs::path(b.work).parent_path().c_str());
    const bool on_disk = !scratch_in_memory();
    if (on_disk)
      std::printf("test_fuzz: note: the scratch space is on a disk (no room in /dev/shm; set L2O_FUZZ_TMP to a tmpfs):"
                  " a third of the cases for the targets that write files\n");
    std::fflush(stdout);
    Report report;
    // The corpus first: every file there must be refused.
    const std::string corpus_dir = source_dir + "/test/fuzz/corpus";
    if (corpus && single_case < 0 && wanted.empty() && fs::is_directory(corpus_dir)) {
      std::vector<std::string> files;
      for (const auto& e : fs::directory_iterator(corpus_dir))
        if (e.is_regular_file() && e.path().filename().string()[0] != '.' && e.path().extension() != ".md")
          files.push_back(e.path().string());
      std::sort(files.begin(), files.end());
      const auto t0 = std::chrono::steady_clock::now();
      int n = 0;
      for (size_t k = 0; k < files.size(); ++k) {
        const std::string dir = b.work + "/corpus_" + std::to_string(k);
        fs::create_directories(dir);
        set_current_case(("corpus:" + fs::path(files[k]).filename().string()).c_str(), k, seed);
        if (!process) alarm(60);
        const CaseResult res = process ? replay_corpus_process(b, files[k], dir) : replay_corpus_inproc(b, files[k], dir);
        alarm(0);
        remove_tree(dir);
        ++n;
        if (!res.failure.empty()) report.fail("corpus/" + fs::path(files[k]).filename().string(), k, seed, res.failure);
      }
      std::printf("  %-14s %5d files %6.1f s\n", "corpus", n,
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    for (const auto& t : targets) {
      if (!wanted.empty() && !wanted.count(t.name)) continue;
      const bool writes = std::string(t.name) != "spec" && std::string(t.name) != "safetensors";  // the rest write files
      const bool fixed_list = std::string(t.name) == "special";  // a fixed list of command lines: all of it, always
      const double factor = fixed_list ? 1.0 : scale * (on_disk && writes ? 1.0 / 3 : 1.0);
      const int64_t cases = single_case >= 0 ? 1 : std::max<int64_t>(1, static_cast<int64_t>(t.default_cases * factor));
      const auto t0 = std::chrono::steady_clock::now();
      std::map<std::string, int> outcomes;
      int failed = 0;
      const std::string shared_dir = b.work + "/" + t.name;
      if (!t.fresh_dir) fs::create_directories(shared_dir);
      for (int64_t i = 0; i < cases; ++i) {
        const uint64_t index = single_case >= 0 ? static_cast<uint64_t>(single_case) : static_cast<uint64_t>(i);
        const uint64_t cs = case_seed(seed, t.name, index);
        Rng r(cs);
        const std::string dir = t.fresh_dir ? b.work + "/" + t.name + "_" + std::to_string(index) : shared_dir;
        if (t.fresh_dir) fs::create_directories(dir);
        set_current_case(t.name, index, seed);
        g_case_index = index;
        if (!process) alarm(60);  // a hang in-process: the handler names the case
        CaseResult res;
        try {
          res = t.run(b, r, dir, single_case >= 0 ? dump : "");
        } catch (const std::exception& e) {
          res.failure = std::string("the fuzz harness failed: ") + e.what();
        }
        alarm(0);
        if (t.fresh_dir) remove_tree(dir);
        ++outcomes[res.failure.empty() ? res.outcome : "FAILED"];
        if (!res.failure.empty()) {
          ++failed;
          report.fail(t.name, index, seed, res.failure);
        } else if (single_case >= 0) {
          std::printf("%s case %lld: %s\n", t.name, static_cast<long long>(index), res.outcome.c_str());
        }
      }
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::string o;
      for (const auto& [k, v] : outcomes) o += (o.empty() ? "" : ", ") + k + " " + std::to_string(v);
      std::printf("  %-14s %5lld cases %6.1f s  (%s)\n", t.name, static_cast<long long>(cases), secs, o.c_str());
      std::fflush(stdout);
    }
    if (single_case >= 0 && !dump.empty()) std::printf("inputs of the case written to %s\n", dump.c_str());
    report.summary(seed);
    const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
    std::printf("test_fuzz: %d failure(s), %.1f s (seed %llu)\n", report.failures, total,
                static_cast<unsigned long long>(seed));
    rc = report.failures == 0 ? 0 : 1;
  } catch (const std::exception& e) {
    std::printf("test_fuzz: setup failed: %s\n", e.what());
    rc = 1;
  }
  if (saved_stderr >= 0) dup2(saved_stderr, 2);
  remove_tree(b.work);
  return rc;
}
