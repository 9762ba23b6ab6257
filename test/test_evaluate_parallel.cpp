// evaluate() with jobs > 1: seeds on worker threads give the curves of one job bit for bit, on real
// MNIST MLPs with a learned rule as on the quadratic; partial results, progress, worker errors and
// the flush-to-zero mode carry over to the workers.
#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>

#include "engine/evaluate.h"
#include "engine/numerics.h"
#include "engine/rule_factory.h"
#include "temp_dir.h"

using namespace l2o;

namespace {

// Wraps a rule and records which threads called update() and in which flush-to-zero mode; can be
// told to fail on its first update (after arriving, below). With clear(n), each spy's first update waits until n spies have
// arrived (at most 20 s): every worker then holds a seed at once, however the threads are scheduled.
class SpyRule : public UpdateRule {
 public:
  SpyRule(std::unique_ptr<UpdateRule> inner, bool fail) : inner_(std::move(inner)), fail_(fail) {}
  std::string name() const override { return inner_->name(); }
  void reset(int64_t n) override { inner_->reset(n); }
  void set_tensor_sizes(const std::vector<int64_t>& s) override { inner_->set_tensor_sizes(s); }
  void update(const float* g, float* u) override {
    {
      std::unique_lock<std::mutex> lock(mu());
      threads().insert(std::this_thread::get_id());
      ftz_seen().insert(flush_to_zero_enabled());
      if (!arrived_) {
        arrived_ = true;
        ++arrivals();
        cv().notify_all();
        if (!cv().wait_for(lock, std::chrono::seconds(20), [] { return arrivals() >= expected(); }))
          throw std::runtime_error("the workers never ran at the same time");
      }
    }
    if (fail_) throw std::runtime_error("spy rule failed on purpose");
    inner_->update(g, u);
  }
  bool learned() const override { return inner_->learned(); }

  static std::mutex& mu() { static std::mutex m; return m; }
  static std::condition_variable& cv() { static std::condition_variable c; return c; }
  static int& arrivals() { static int a = 0; return a; }
  static int& expected() { static int e = 0; return e; }
  static std::set<std::thread::id>& threads() { static std::set<std::thread::id> s; return s; }
  static std::set<bool>& ftz_seen() { static std::set<bool> s; return s; }
  static void clear(int workers) {
    std::lock_guard<std::mutex> lock(mu());
    threads().clear();
    ftz_seen().clear();
    arrivals() = 0;
    expected() = workers;
  }

 private:
  std::unique_ptr<UpdateRule> inner_;
  bool fail_;
  bool arrived_ = false;
};

// The authors' trained L2O-DM-CL: a learned rule that does optimise the MLP.
const char* kDmCl = L2O_SOURCE_DIR "/docs/results/authors_models/checkpoints/dm_cl.safetensors";

// Runs for every seed count / job count below must agree with this one job run exactly.
void require_same(const EvalResult& a, const EvalResult& b) {
  REQUIRE(a.seeds == b.seeds);
  REQUIRE(a.losses == b.losses);  // every loss of every seed, bit for bit
  REQUIRE(a.diverged == b.diverged);
}

}  // namespace

TEST_CASE("evaluate with jobs > 1 gives the curves of one job, bit for bit", "[evaluate]") {
  ProblemConfig mlp = problem_config_by_name("mlp_orig");
  mlp.data_dir = L2O_SOURCE_DIR "/data";
  const std::vector<uint64_t> seeds = {11, 12, 13, 14, 15};
  NamedRule one = make_update_rule(kDmCl, 0);
  const EvalResult ref = evaluate(*one.rule, one.label, "mlp_orig", mlp, 40, seeds, Backend::cpu);
  REQUIRE(ref.losses.size() == 5);
  REQUIRE(ref.losses[0] != ref.losses[1]);  // the seeds are different instances
  REQUIRE(ref.losses[0].back() < 0.9f * ref.losses[0].front());  // and the rule does optimise
  for (int jobs : {2, 3, 8}) {
    INFO("jobs " << jobs);
    const int workers = std::min(jobs, 5);
    SpyRule::clear(workers);
    int made = 0;
    SpyRule first(make_update_rule(kDmCl, 0).rule, false);
    const RuleFactory more = [&] {
      ++made;
      return std::unique_ptr<UpdateRule>(new SpyRule(make_update_rule(kDmCl, 0).rule, false));
    };
    const EvalResult r = evaluate(first, one.label, "mlp_orig", mlp, 40, seeds, Backend::cpu, nullptr, nullptr, jobs, more);
    require_same(ref, r);
    REQUIRE(made == workers - 1);
    REQUIRE(SpyRule::threads().size() == static_cast<size_t>(workers));
  }
  // Diverging seeds (SGD at lr 1e6 on the quadratic) are counted the same way.
  const ProblemConfig quad = problem_config_by_name("quadratic");
  for (double lr : {0.01, 1e6}) {
    NamedRule a = make_update_rule("sgd", lr), b = make_update_rule("sgd", lr);
    const RuleFactory more = [lr] { return make_update_rule("sgd", lr).rule; };
    const EvalResult serial = evaluate(*a.rule, a.label, "quadratic", quad, 60, {1, 2, 3, 4}, Backend::cpu);
    const EvalResult parallel =
        evaluate(*b.rule, b.label, "quadratic", quad, 60, {1, 2, 3, 4}, Backend::cpu, nullptr, nullptr, 4, more);
    require_same(serial, parallel);
    REQUIRE(parallel.diverged == (lr > 1 ? 4 : 0));
  }
}

TEST_CASE("a parallel evaluation reports every seed once, reads and writes partial results", "[evaluate]") {
  const ProblemConfig quad = problem_config_by_name("quadratic");
  const std::vector<uint64_t> seeds = {5, 6, 7, 8, 9, 10};
  NamedRule a = make_update_rule("adam", 0.05);
  const EvalResult ref = evaluate(*a.rule, a.label, "quadratic", quad, 80, seeds, Backend::cpu);
  l2o_test::TempDir dir("eval_parallel");
  const EvalPartials partials(dir.file("partial"), "identity", "this build");
  partials.save(6, ref.losses[1]);  // two seeds finished by an earlier, interrupted run
  partials.save(9, ref.losses[4]);
  std::vector<size_t> done;
  std::vector<double> last;
  int read_back = 0;  // seeds the callback heard of as read, not run
  NamedRule b = make_update_rule("adam", 0.05);
  const RuleFactory more = [] { return make_update_rule("adam", 0.05).rule; };
  const EvalResult r = evaluate(
      *b.rule, b.label, "quadratic", quad, 80, seeds, Backend::cpu,
      [&](size_t d, size_t total, double loss, bool ran) {
        REQUIRE(total == 6);
        done.push_back(d);
        last.push_back(loss);
        read_back += ran ? 0 : 1;
      },
      &partials, 3, more);
  require_same(ref, r);
  REQUIRE(r.resumed_seeds == 2);
  REQUIRE(read_back == 2);
  REQUIRE(done == std::vector<size_t>{1, 2, 3, 4, 5, 6});  // calls never overlap, so the count is exact
  std::vector<double> finals;
  for (const auto& c : ref.losses) finals.push_back(c.back());
  std::sort(finals.begin(), finals.end());
  std::sort(last.begin(), last.end());
  REQUIRE(last == finals);  // each seed's last loss once, in whatever order they finished
  for (size_t k = 0; k < seeds.size(); ++k) {  // every seed run here was saved, and reads back the same
    std::vector<float> c;
    REQUIRE(partials.load(seeds[k], 80, &c) == EvalPartials::Found::this_build);
    REQUIRE(c == ref.losses[k]);
  }
}

TEST_CASE("partial results of another build are adopted after a replay to the same bits, else run again",
          "[evaluate]") {
  const ProblemConfig quad = problem_config_by_name("quadratic");
  const std::vector<uint64_t> seeds = {5, 6, 7, 8, 9, 10};
  NamedRule a = make_update_rule("adam", 0.05);
  const EvalResult ref = evaluate(*a.rule, a.label, "quadratic", quad, 80, seeds, Backend::cpu);
  l2o_test::TempDir dir("eval_replay");
  const RuleFactory more = [] { return make_update_rule("adam", 0.05).rule; };
  const EvalPartials here(dir.file("same"), "setting", "build B");
  {
    // Build A (a session before) finished seeds 6, 8 and 9 with the same numerics; this build B
    // finished seed 10 before an interruption. Seed 6 is replayed; 8 and 9 are adopted as they are.
    const EvalPartials earlier(dir.file("same"), "setting", "build A");
    earlier.save(6, ref.losses[1]);
    earlier.save(8, ref.losses[3]);
    std::vector<float> marked = ref.losses[4];
    marked.back() = 42.0f;  // not what a run gives: it reaches the result only by adoption
    earlier.save(9, marked);
    here.save(10, ref.losses[5]);
    NamedRule b = make_update_rule("adam", 0.05);
    std::vector<size_t> done;
    int read_back = 0;
    const EvalResult r = evaluate(*b.rule, b.label, "quadratic", quad, 80, seeds, Backend::cpu,
                                  [&](size_t d, size_t, double, bool ran) {
                                    done.push_back(d);
                                    read_back += ran ? 0 : 1;
                                  },
                                  &here, 2, more);
    REQUIRE(r.replays.size() == 1);
    REQUIRE(r.replays[0].build == "build_A");  // as one header token
    REQUIRE(r.replays[0].seed == 6);
    REQUIRE(r.replays[0].agreed);
    REQUIRE(r.replays[0].adopted == 2);
    REQUIRE(r.resumed_seeds == 3);  // 10 from this build, 8 and 9 adopted
    REQUIRE(read_back == 3);        // and reported as read (the replayed seed 6 as run)
    REQUIRE(r.losses[4] == marked);
    for (size_t k : {0, 1, 2, 3, 5}) REQUIRE(r.losses[k] == ref.losses[k]);
    REQUIRE(done == std::vector<size_t>{1, 2, 3, 4, 5, 6});
    std::vector<float> c;  // the replayed seed is saved as this build's
    REQUIRE(here.load(6, 80, &c) == EvalPartials::Found::this_build);
    REQUIRE(c == ref.losses[1]);
    REQUIRE(summary_json({r}, {}).find("\"partials_of_other_builds\"") != std::string::npos);
  }
  {
    // Build C's numerics differ: its first seed replays to other bits, so none of its curves is used.
    const EvalPartials other(dir.file("other"), "setting", "build C");
    const EvalPartials mine(dir.file("other"), "setting", "build B");
    for (size_t k : {0, 2, 4}) {
      std::vector<float> off = ref.losses[k];
      off[40] *= 1.0f + 1e-6f;
      other.save(seeds[k], off);
    }
    NamedRule b = make_update_rule("adam", 0.05);
    const EvalResult r = evaluate(*b.rule, b.label, "quadratic", quad, 80, seeds, Backend::cpu, nullptr, &mine, 3,
                                  more);
    require_same(ref, r);
    REQUIRE(r.replays.size() == 1);
    REQUIRE(r.replays[0].seed == 5);
    REQUIRE_FALSE(r.replays[0].agreed);
    REQUIRE(r.replays[0].adopted == 0);
    REQUIRE(r.resumed_seeds == 0);
  }
  {
    // The replay runs beside the other seeds to run: with 2 jobs, seed 5 (build D's first) and seed 7
    // must be in flight at once, or the spies' barrier times out and the evaluation throws.
    const EvalPartials other(dir.file("beside"), "setting", "build D");
    const EvalPartials mine(dir.file("beside"), "setting", "build B");
    other.save(5, ref.losses[0]);
    other.save(6, ref.losses[1]);
    for (size_t k : {3, 4, 5}) mine.save(seeds[k], ref.losses[k]);
    SpyRule::clear(2);
    SpyRule first(make_update_rule("adam", 0.05).rule, false);
    const RuleFactory spies = [] {
      return std::unique_ptr<UpdateRule>(new SpyRule(make_update_rule("adam", 0.05).rule, false));
    };
    const EvalResult r =
        evaluate(first, "adam", "quadratic", quad, 80, seeds, Backend::cpu, nullptr, &mine, 2, spies);
    require_same(ref, r);
    REQUIRE(SpyRule::threads().size() == 2);
    REQUIRE(r.replays.size() == 1);
    REQUIRE(r.replays[0].agreed);
    REQUIRE(r.replays[0].adopted == 1);
    REQUIRE(r.resumed_seeds == 4);
  }
}

TEST_CASE("a worker's error ends a parallel evaluation with that error", "[evaluate]") {
  const ProblemConfig quad = problem_config_by_name("quadratic");
  SpyRule::clear(2);  // the calling thread's worker holds its seed until a failing one has one too
  SpyRule ok(make_update_rule("sgd", 0.01).rule, false);
  const RuleFactory failing = [] {
    return std::unique_ptr<UpdateRule>(new SpyRule(make_update_rule("sgd", 0.01).rule, true));
  };
  REQUIRE_THROWS_WITH(evaluate(ok, "sgd", "quadratic", quad, 200, {1, 2, 3, 4, 5, 6, 7, 8}, Backend::cpu, nullptr,
                               nullptr, 3, failing),
                      "spy rule failed on purpose");
}

// Guaranteed while the workers are threads made per call (POSIX: a new thread inherits the
// floating-point environment); a pool made earlier would not be, and would change the bits.
TEST_CASE("parallel evaluation workers take the caller's flush-to-zero mode", "[evaluate]") {
  const ProblemConfig quad = problem_config_by_name("quadratic");
  const bool was = flush_to_zero_enabled();
  for (bool on : {true, false}) {
    INFO("flush to zero " << on);
    set_flush_to_zero_this_thread(on);
    REQUIRE(flush_to_zero_enabled() == on);
    SpyRule::clear(4);
    SpyRule first(make_update_rule("sgd", 0.01).rule, false);
    const RuleFactory more = [] {
      return std::unique_ptr<UpdateRule>(new SpyRule(make_update_rule("sgd", 0.01).rule, false));
    };
    evaluate(first, "sgd", "quadratic", quad, 30, {1, 2, 3, 4}, Backend::cpu, nullptr, nullptr, 4, more);
    REQUIRE(SpyRule::threads().size() == 4);
    REQUIRE(SpyRule::ftz_seen() == std::set<bool>{on});
  }
  set_flush_to_zero_this_thread(was);
}
