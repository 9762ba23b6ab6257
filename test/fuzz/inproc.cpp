// In-process targets: the readers called directly. Contract: a reader returns or throws
// l2o::InputError with a one-line message of bounded length; any other exception, a crash or a
// hang is a failure. Where a reader accepts the input, the tool's next steps run too (the resolved
// spec parses again, the trainer is built; a loaded learner steps; a resumed run trains to its end).
#include <cxxabi.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>
#include <typeinfo>

#include "engine/atomic_file.h"
#include "engine/backend.h"
#include "engine/curriculum.h"
#include "engine/learner_io.h"
#include "engine/run_spec.h"
#include "engine/safetensors.h"
#include "engine/spec_reader.h"
#include "engine/train_state.h"
#include "engine/trainer.h"
#include "kernels/common.h"
#include "optimizees/dataset.h"
#include "targets.h"

namespace fs = std::filesystem;

namespace fuzz {

const char* kBaseSpec = R"({
  "seed": 3,
  "problem": {"type": "quadratic", "count": 4, "dims": 3},
  "learner": {"hidden": [4, 4], "output_scale": 0.1},
  "training": {"epochs": 8, "n_train": 10, "unroll": 5},
  "validation": {"period": 2, "n_valid": 10, "rollouts": 2},
  "curriculum": {"enabled": true, "n_train": [5, 10, 15], "period": 2, "patience": 1},
  "imitation": {"enabled": true, "ratio_per_stage": [0.5]},
  "output": {"checkpoint_every": 1, "log_every": 1000}
})";

namespace {

// A broken property of accepted input (not an exception type the tools would see).
struct Broken : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::string type_name(const std::exception& e) {
  int status = 0;
  char* d = abi::__cxa_demangle(typeid(e).name(), nullptr, nullptr, &status);
  std::string s = status == 0 && d ? d : typeid(e).name();
  std::free(d);
  return s;
}

// The InputError contract: one line, bounded (values from the input are clipped).
std::string check_message(const std::string& msg) {
  if (msg.find('\n') != std::string::npos) return "InputError message spans several lines: " + clip(msg);
  if (msg.size() > 4096) return "InputError message is " + std::to_string(msg.size()) + " characters: " + clip(msg);
  if (msg.empty()) return "InputError with an empty message";
  return "";
}

template <class F>
CaseResult guarded(F&& f) {
  try {
    f();
    return {"", "accepted"};
  } catch (const Broken& e) {
    return {e.what(), "fail"};
  } catch (const l2o::InputError& e) {
    return {check_message(e.what()), "input-error"};
  } catch (const std::exception& e) {
    return {"threw " + type_name(e) + " (not l2o::InputError; the tools would exit 1): " + clip(e.what()), "fail"};
  } catch (...) {
    return {"threw a non-std exception", "fail"};
  }
}

void dump_file(const std::string& dump, const std::string& name, const std::string& bytes) {
  if (dump.empty()) return;
  fs::create_directories(dump);
  write_bytes(dump + "/" + name, bytes);
}

// The trainer is built for accepted specs unless its problem is big (a quadratic with millions of
// values takes seconds just to draw).
bool cheap_to_build(const l2o::RunSpec& s) {
  return s.problem.kind != "quadratic" || s.problem.quad_count * s.problem.quad_dims * s.problem.quad_dims <= 1000000;
}

CaseResult run_spec(const Bases& b, Rng& r, const std::string& dir, const std::string& dump) {
  const std::string& base = r.chance(70) ? b.spec_text : r.pick(b.specs);
  std::string text = base;
  if (r.chance(90)) text = mutate_json(base, r);
  else mutate_bytes(text, r, 4);
  std::vector<std::string> sets;
  if (r.chance(25)) sets = random_overrides(r);
  dump_file(dump, "spec.json", text);
  if (!dump.empty()) {
    std::string args;
    for (const auto& s : sets) args += "--set '" + s + "'\n";
    dump_file(dump, "set_args.txt", args);
  }
  return guarded([&] {
    l2o::RunSpec s = l2o::parse_run_spec(text, "fuzz.json", sets);
    // A run's spec.json is the resolved spec; --resume reads it back and checks its digest.
    l2o::RunSpec back;
    try {
      back = l2o::parse_run_spec(s.resolved.dump(2) + "\n", "spec.json", {});
    } catch (const l2o::InputError& e) {
      throw Broken(std::string("the resolved spec of an accepted spec does not parse again (a resume would fail): ") + e.what());
    }
    if (l2o::spec_digest(back.given) != l2o::spec_digest(s.resolved))
      throw Broken("the resolved spec's digest changes when read back (a resume would refuse it)");
    const l2o::ResolvedBackend rb = l2o::resolve_backend(s.backend, s.problem);
    if (cheap_to_build(s)) {
      l2o::TrainerOptions opt;
      opt.run_dir = dir + "/never_written";
      opt.backend = rb.kind;
      l2o::Trainer t(s, opt);
      if (fs::exists(opt.run_dir)) throw Broken("building the trainer wrote " + opt.run_dir);
    }
  });
}

CaseResult run_safetensors(const Bases& b, Rng& r, const std::string&, const std::string& dump) {
  const std::string bytes = mutate_safetensors(r.chance(50) ? b.learner_bytes : b.state_bytes, r);
  dump_file(dump, "file.safetensors", bytes);
  return guarded([&] {
    l2o::SafetensorsFile f = l2o::decode_safetensors(bytes, "fuzz.safetensors");
    uint64_t total = 0;
    for (const auto& t : f.tensors) {
      uint64_t count = 1;
      for (int64_t d : t.shape) count *= static_cast<uint64_t>(d);
      if (count != t.data.size()) throw Broken("decoded tensor " + clip(t.name, 80) + " has a shape that does not match its data");
      total += t.data.size() * 4;
    }
    if (total > bytes.size()) throw Broken("decoded more tensor bytes than the file holds");
  });
}

CaseResult run_learner(const Bases& b, Rng& r, const std::string& dir, const std::string& dump) {
  const std::string bytes = mutate_safetensors(b.learner_bytes, r);
  dump_file(dump, "learner.safetensors", bytes);
  const std::string path = dir + "/learner.safetensors";
  write_bytes(path, bytes);
  return guarded([&] {
    l2o::LoadedLearner l = l2o::load_learner(path);
    if (static_cast<int64_t>(l.phi.size()) != l.learner->num_params()) throw Broken("phi size differs from the learner's");
    // What l2o_eval does next: the learner steps as an optimizer.
    const int64_t n = 7;
    std::vector<float> g = {1e-3f, -2.0f, 0.0f, 1e30f, -1e-30f, 5.0f, 1.0f}, u(n);
    l.learner->reset(n, 0);
    l.learner->step(l.phi.data(), g.data(), u.data(), false);
  });
}

const l2o::RunSpec& base_spec() {
  static const l2o::RunSpec s = l2o::parse_run_spec(kBaseSpec, "base", {});
  return s;
}

CaseResult run_state(const Bases& b, Rng& r, const std::string& dir, const std::string& dump) {
  const std::string bytes = mutate_safetensors(b.state_bytes, r);
  dump_file(dump, "state.safetensors", bytes);
  const std::string path = dir + "/state.safetensors";
  write_bytes(path, bytes);
  const l2o::RunSpec& spec = base_spec();
  static const int64_t n = l2o::make_learner<float>(l2o::SpecNode(const_cast<nlohmann::json&>(spec.learner), "$.learner"))->num_params();
  return guarded([&] {
    l2o::TrainState s = l2o::load_state(path, n, l2o::spec_digest(spec.resolved));
    if (!s.curriculum.is_null()) l2o::Curriculum::from_json(spec.curriculum.config, s.curriculum);
  });
}

// Resumes dir/run in-process as l2o_train --resume does; a refusal must leave dir as it was (.lock aside).
CaseResult resume_and_judge(const std::string& dir, const std::string& changed) {
  const std::string run = dir + "/run";
  const Snapshot before = snapshot(dir);
  CaseResult res = guarded([&] {
    const std::string path = run + "/spec.json";
    if (!fs::exists(path)) throw l2o::InputError(run + ": not a run directory (spec.json missing)");
    l2o::RunSpec spec = l2o::parse_run_spec(l2o::read_file(path), path, {});
    l2o::TrainerOptions opt;
    opt.run_dir = run;
    opt.resume = true;
    opt.backend = l2o::resolve_backend(spec.backend, spec.problem).kind;
    l2o::Trainer(spec, opt).run();
  });
  if (res.outcome == "input-error" && res.failure.empty()) {
    const std::string d = diff_snapshots(before, snapshot(dir), {"run/.lock"});
    if (!d.empty()) res.failure = "resume refused (InputError) after writing: " + d + " [mutated " + changed + "]";
  } else if (res.outcome == "accepted") {
    const auto left = temp_leftovers(run);
    if (!left.empty()) res.failure = "a finished resume left " + left[0];
  } else if (!res.failure.empty()) {
    res.failure += " [mutated " + changed + "]";
  }
  return res;
}

// A whole resume, in-process: the base run (stopped mid-curriculum) with one of its files mutated,
// then trained to its end. Refusal must leave the directory as it was (.lock aside).
CaseResult run_resume(const Bases& b, Rng& r, const std::string& dir, const std::string& dump) {
  const std::string run = dir + "/run";
  copy_tree(b.run_dir, run);
  const uint64_t what = r.below(100);
  std::string changed;
  if (what < 75) {
    changed = "checkpoints/state.safetensors";
    write_bytes(run + "/" + changed, mutate_safetensors(b.state_bytes, r));
  } else if (what < 85) {
    changed = "metrics.jsonl";
    std::string m = read_bytes(run + "/" + changed);
    switch (r.below(4)) {
      case 0: m.resize(r.below(m.size() + 1)); break;
      case 1: m += "{\"kind\":\"junk\"}\n"; break;
      case 2: m.clear(); break;
      default: mutate_bytes(m, r, 3); break;
    }
    write_bytes(run + "/" + changed, m);
  } else if (what < 95) {
    changed = "spec.json";
    write_bytes(run + "/" + changed, mutate_json(read_bytes(run + "/" + changed), r));
  } else {
    changed = "checkpoints/state.safetensors.tmp.12345 (stale temp file)";
    write_bytes(run + "/checkpoints/state.safetensors.tmp.12345", "partial");
  }
  if (!dump.empty()) {
    remove_tree(dump + "/run");
    fs::create_directories(dump);
    copy_tree(run, dump + "/run");
    dump_file(dump, "changed.txt", changed + "\n");
  }
  return resume_and_judge(dir, changed);
}

CaseResult run_idx(const Bases& b, Rng& r, const std::string& dir, const std::string& dump) {
  const IdxPair p = mutate_idx_pair(b.idx, r);
  // Mostly the readers directly; one case in ten through load_dataset (the tools' path: file names
  // with and without .gz, the 28x28 check), which caches per directory and so needs a new one.
  const bool via_dataset = r.chance(10);
  static uint64_t fresh = 0;
  const std::string root = via_dataset ? dir + "/d" + std::to_string(fresh++) : dir;
  const std::string mn = root + "/mnist";
  fs::create_directories(mn);
  for (const char* f : {"/t10k-images-idx3-ubyte", "/t10k-images-idx3-ubyte.gz", "/t10k-labels-idx1-ubyte",
                        "/t10k-labels-idx1-ubyte.gz"})
    if (!via_dataset) std::remove((mn + f).c_str());
  // The reader detects gzip from the bytes; the name may or may not say .gz.
  const std::string img = mn + "/t10k-images-idx3-ubyte" + (p.images_gz && r.chance(70) ? ".gz" : "");
  const std::string lbl = mn + "/t10k-labels-idx1-ubyte" + (p.labels_gz && r.chance(70) ? ".gz" : "");
  write_bytes(img, p.images);
  write_bytes(lbl, p.labels);
  if (!dump.empty()) {
    fs::create_directories(dump + "/mnist");
    write_bytes(dump + "/mnist/" + fs::path(img).filename().string(), p.images);
    write_bytes(dump + "/mnist/" + fs::path(lbl).filename().string(), p.labels);
  }
  CaseResult res = guarded([&] {
    const l2o::Dataset ds_direct = via_dataset ? l2o::Dataset{} : l2o::load_idx_pair(img, lbl, "mnist");
    const l2o::Dataset& ds = via_dataset ? l2o::load_dataset("mnist", root, "test") : ds_direct;
    if (ds.n <= 0 || static_cast<int64_t>(ds.labels.size()) != ds.n ||
        static_cast<int64_t>(ds.images.size()) != ds.n * ds.dim() || (via_dataset && (ds.height != 28 || ds.width != 28)))
      throw Broken("an accepted MNIST data set is inconsistent");
    for (int32_t l : ds.labels)
      if (l < 0 || l >= 10) throw Broken("an accepted label is out of range");
  });
  if (via_dataset) remove_tree(root);
  return res;
}

CaseResult run_cifar(const Bases& b, Rng& r, const std::string& dir, const std::string& dump) {
  const std::string bytes = mutate_cifar(b.cifar, r);
  const std::string path = dir + "/test_batch.bin";
  write_bytes(path, bytes);
  dump_file(dump, "test_batch.bin", bytes);
  return guarded([&] {
    const l2o::Dataset ds = l2o::load_cifar10_bin({path});
    if (ds.n <= 0 || static_cast<int64_t>(ds.images.size()) != ds.n * 3072 ||
        static_cast<int64_t>(ds.labels.size()) != ds.n)
      throw Broken("an accepted CIFAR-10 batch is inconsistent");
  });
}

}  // namespace

const std::vector<Target>& inproc_targets() {
  static const std::vector<Target> t = {
      {"spec", 8000, false, false, run_spec},       {"safetensors", 6000, false, false, run_safetensors},
      {"learner", 5000, false, false, run_learner}, {"state", 6000, false, false, run_state},
      {"resume", 1500, false, true, run_resume},    {"idx", 4000, false, false, run_idx},
      {"cifar", 1000, false, false, run_cifar},
  };
  return t;
}

void build_common_bases(Bases& b) {
  b.spec_text = kBaseSpec;
  b.specs = {b.spec_text};
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(b.source_dir + "/specs"))
    if (e.path().extension() == ".json") names.push_back(e.path().string());
  std::sort(names.begin(), names.end());  // directory order is not reproducible
  for (const auto& n : names) b.specs.push_back(read_bytes(n));
  b.idx = base_idx_pair(10);
  b.cifar = base_cifar(3);
}

void build_bases_inproc(Bases& b) {
  build_common_bases(b);
  b.run_dir = b.work + "/base_run";
  l2o::RunSpec spec = l2o::parse_run_spec(kBaseSpec, "base", {});
  l2o::TrainerOptions opt;
  opt.run_dir = b.run_dir;
  opt.stop_after_epochs = 4;  // mid-stage: the next validation ends stage 0
  l2o::train(spec, opt);
  b.learner_bytes = read_bytes(b.run_dir + "/checkpoints/latest.safetensors");
  b.state_bytes = read_bytes(b.run_dir + "/checkpoints/state.safetensors");
}

CaseResult replay_corpus_inproc(const Bases& b, const std::string& file, const std::string& case_dir) {
  const std::string name = fs::path(file).filename().string();
  const std::string bytes = read_bytes(file);
  CaseResult res;
  if (name.rfind("spec_", 0) == 0) {
    res = guarded([&] {  // as l2o_train SPEC --out DIR does
      l2o::RunSpec s = l2o::parse_run_spec(bytes, file, {});
      l2o::TrainerOptions opt;
      opt.run_dir = case_dir + "/run";
      opt.backend = l2o::resolve_backend(s.backend, s.problem).kind;
      l2o::Trainer t(s, opt);
      t.run();
    });
  } else if (name.rfind("learner_", 0) == 0) {
    res = guarded([&] { l2o::load_learner(file); });
  } else if (name.rfind("state_", 0) == 0) {
    copy_tree(b.run_dir, case_dir + "/run");
    fs::copy_file(file, case_dir + "/run/checkpoints/state.safetensors", fs::copy_options::overwrite_existing);
    res = resume_and_judge(case_dir, "checkpoints/state.safetensors (" + name + ")");
  } else if (name.rfind("idx_images_", 0) == 0) {
    fs::create_directories(case_dir + "/mnist");
    fs::copy_file(file, case_dir + "/mnist/t10k-images-idx3-ubyte");
    write_bytes(case_dir + "/mnist/t10k-labels-idx1-ubyte", b.idx.labels);
    res = guarded([&] { l2o::load_dataset("mnist", case_dir, "test"); });
  } else if (name.rfind("idx_labels_", 0) == 0) {
    fs::create_directories(case_dir + "/mnist");
    write_bytes(case_dir + "/mnist/t10k-images-idx3-ubyte", b.idx.images);
    fs::copy_file(file, case_dir + "/mnist/t10k-labels-idx1-ubyte");
    res = guarded([&] { l2o::load_dataset("mnist", case_dir, "test"); });
  } else {
    return {"", "skipped: unknown corpus file kind"};
  }
  if (res.failure.empty() && res.outcome != "input-error")
    res.failure = "corpus file " + name + " was accepted; it must be refused with an InputError";
  return res;
}


// ---- the corpus ------------------------------------------------------------------------------------
namespace {

l2o::SafetensorsFile decode(const std::string& bytes) { return l2o::decode_safetensors(bytes, "base"); }

std::string with_metadata(const std::string& bytes, const std::string& key, const std::string& value) {
  l2o::SafetensorsFile f = decode(bytes);
  f.metadata[key] = value;
  return l2o::encode_safetensors(f);
}

std::string with_curriculum(const std::string& state, const std::string& key, const nlohmann::json& value) {
  l2o::SafetensorsFile f = decode(state);
  nlohmann::json c = nlohmann::json::parse(f.metadata.at("curriculum"));
  c[key] = value;
  f.metadata["curriculum"] = c.dump();
  return l2o::encode_safetensors(f);
}

std::string u64_le(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  return s;
}

uint64_t header_len(const std::string& b) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(b[i]);
  return v;
}

std::string nested(size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }

}  // namespace

void write_corpus(const Bases& b, const std::string& dir) {
  fs::create_directories(dir);
  auto put = [&](const std::string& name, const std::string& bytes) { write_bytes(dir + "/" + name, bytes); };
  // Specs (l2o_train SPEC: exit 2, no run directory).
  put("spec_deep_nesting.json", "{\"problem\": " + nested(10000) + "}\n");
  std::string nul = kBaseSpec;
  nul.insert(nul.find("\"learner\""), std::string("\0", 1));
  put("spec_nul_byte.json", nul);
  put("spec_nan_literal.json", "{\"learner\": {\"log_k\": NaN}}\n");
  put("spec_huge_seed.json", "{\"seed\": 18446744073709551616}\n");
  put("spec_number_overflow.json", "{\"training\": {\"epochs\": 1e400}}\n");
  put("spec_long_key.json", "{\"" + std::string(20000, 'k') + "\": 1}\n");
  put("spec_duplicate_key.json", "{\"training\": {\"epochs\": 1, \"epochs\": 2}}\n");
  put("spec_wrong_type.json", "{\"training\": {\"epochs\": \"10\"}}\n");
  put("spec_huge_quadratic.json", "{\"problem\": {\"type\": \"quadratic\", \"count\": 1048576, \"dims\": 4096}}\n");
  put("spec_huge_activations.json",
      "{\"problem\": {\"type\": \"quadratic\", \"count\": 1048576, \"dims\": 1},"
      " \"learner\": {\"hidden\": [256, 256, 256, 256]}, \"training\": {\"unroll\": 1000, \"n_train\": 1000}}\n");
  put("spec_learner_5_layers.json", "{\"learner\": {\"hidden\": [1, 1, 1, 1, 1]}}\n");
  put("spec_n_valid_huge.json",
      "{\"problem\": {\"type\": \"quadratic\", \"count\": 4, \"dims\": 3}, \"learner\": {\"hidden\": [4, 4]},"
      " \"training\": {\"epochs\": 2, \"n_train\": 20}, \"validation\": {\"period\": 1, \"n_valid\": 1000000000000000, \"rollouts\": 1}}\n");
  // Learner checkpoints (l2o_eval --optimizer FILE: exit 2, no --out directory).
  {
    const std::string& l = b.learner_bytes;
    const uint64_t n = header_len(l);
    std::string header = l.substr(8, n);
    while (!header.empty() && header.back() == ' ') header.pop_back();
    const std::string padded = header + std::string(8 - header.size() % 8 + 8, '\0');
    put("learner_nul_padded_header.safetensors", u64_le(padded.size()) + padded + l.substr(8 + n));
    put("learner_header_length_max.safetensors", u64_le(~uint64_t(0)) + l.substr(8));
    put("learner_huge_hidden.safetensors", with_metadata(l, "learner", "{\"hidden\": [100000000, 100000000]}"));
    put("learner_5_layers.safetensors", with_metadata(l, "learner", "{\"hidden\": [4, 4, 4, 4, 4]}"));
    put("learner_deep_metadata.safetensors", with_metadata(l, "learner", nested(10000)));
    put("learner_not_learner.safetensors", with_metadata(l, "format", "l2o-engine training state"));
    l2o::SafetensorsFile f = decode(l);
    f.tensors[0].data[0] = NAN;
    put("learner_nan_weight.safetensors", l2o::encode_safetensors(f));
    // A shape whose element count overflows 64 bits once multiplied by 4 bytes.
    std::string h = header;
    const std::string shape = "\"shape\":[";
    const size_t at = h.find(shape);
    const size_t end = h.find(']', at);
    h.replace(at + shape.size(), end - at - shape.size(), "4611686018427387904,4");
    h.append((8 - h.size() % 8) % 8, ' ');
    put("learner_shape_overflow.safetensors", u64_le(h.size()) + h + l.substr(8 + n));
  }
  // Training states (l2o_train --resume on the base run: exit 2, the run directory unchanged).
  {
    const std::string& s = b.state_bytes;
    put("state_epoch_not_integer.safetensors", with_metadata(s, "epoch", "1e3"));
    put("state_epoch_overflow.safetensors", with_metadata(s, "epoch", "99999999999999999999"));
    put("state_curriculum_deep.safetensors", with_metadata(s, "curriculum", nested(10000)));
    put("state_curriculum_not_json.safetensors", with_metadata(s, "curriculum", "{\"version\": 2,"));
    put("state_other_spec.safetensors", with_metadata(s, "spec_digest", "0123456789abcdef"));
    put("state_best_score_nan.safetensors", with_metadata(s, "best_score", "nan"));
    // Accepted by load_state but inconsistent with a live curriculum: found by the fuzz suite.
    l2o::SafetensorsFile f = decode(s);
    std::vector<l2o::NamedTensor> keep;
    for (auto& t : f.tensors)
      if (t.name != "stage_best_phi") keep.push_back(t);
    f.tensors = keep;
    put("state_no_stage_best_phi.safetensors", l2o::encode_safetensors(f));
    put("state_awaiting_baseline.safetensors", with_curriculum(s, "awaiting_baseline", true));
    // Finite but extreme optimizer moments: the next update makes phi non-finite.
    f = decode(s);
    for (auto& t : f.tensors) {
      if (t.name == "adam_v") std::fill(t.data.begin(), t.data.end(), -1.0f);
      if (t.name == "il_v") std::fill(t.data.begin(), t.data.end(), -1.0f);
    }
    put("state_negative_second_moments.safetensors", l2o::encode_safetensors(f));
    f = decode(s);
    for (auto& t : f.tensors)
      if (t.name == "adam_m" || t.name == "il_m") std::fill(t.data.begin(), t.data.end(), 1e38f);
    put("state_huge_first_moments.safetensors", l2o::encode_safetensors(f));
    put("state_curriculum_stopped.safetensors", with_curriculum(s, "stopped", true));
    put("state_rule_mismatch_short_metrics.safetensors",
        with_metadata(with_curriculum(s, "rule", "consecutive"), "metrics_lines", "2"));
  }
  // IDX files (l2o_eval --problem mlp_orig --data-dir: exit 2, no --out directory).
  {
    std::string img = b.idx.images;
    std::string bomb = img;
    bomb.append(size_t(6) << 20, '\0');  // 6 MiB of trailing zeros: about 6 KB compressed
    put("idx_images_gzip_bomb.gz", gzip(bomb, 9));
    put("idx_images_truncated", img.substr(0, 16 + 784 * 5 + 100));
    put("idx_images_dims_overflow", idx_file({0xffffffffu, 0xffffffffu, 0xffffffffu}, ""));
    put("idx_images_255_dims", std::string("\0\0\x08\xff", 4) + std::string(4 * 255, '\x02'));
    put("idx_images_trailing_garbage.gz", gzip(img) + "garbage");
    put("idx_images_truncated_gzip.gz", gzip(img).substr(0, 200));
    put("idx_images_32x32", idx_file({10, 32, 32}, std::string(10 * 32 * 32, '\x01')));
    std::string lbl = b.idx.labels;
    lbl[8 + 3] = static_cast<char>(200);
    put("idx_labels_out_of_range", lbl);
    put("idx_labels_count_mismatch", idx_file({9}, std::string(9, '\x01')));
  }
}

}  // namespace fuzz
