// The fuzz targets. In-process targets call the readers directly (thousands of cases a second) and
// assert that bad input only ever raises l2o::InputError with a one-line message; process targets
// run the real l2o_train / l2o_eval per case and assert the exit-code and nothing-written contract.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_util.h"
#include "mutators.h"

namespace fuzz {

// The valid inputs every case starts from, built once per run.
struct Bases {
  std::string source_dir;            // the repository (specs/, test/fuzz/corpus/)
  std::string work;                  // scratch directory of this run
  std::string spec_text;             // a tiny quadratic run with curriculum and imitation
  std::vector<std::string> specs;    // spec_text and the repository's specs/*.json
  std::string learner_bytes;         // a learner checkpoint (init.safetensors of the base run)
  std::string state_bytes;           // checkpoints/state.safetensors of the base run, mid-curriculum
  std::string run_dir;               // the base run, stopped after 4 epochs: resume targets copy it
  IdxPair idx;                       // 10 images of 28x28 and their labels
  std::string cifar;                 // 3 CIFAR-10 records
  std::string bin_dir;               // process mode: where l2o_train and l2o_eval are
};

// The tiny spec the cases start from: runs in well under a second.
extern const char* kBaseSpec;

struct CaseResult {
  std::string failure;  // "" when the case kept the contract
  std::string outcome;  // for the summary: "ok", "input-error", "skipped: ...", ...
};

struct Target {
  const char* name;
  int default_cases;
  bool process;    // spawns the tools
  bool fresh_dir;  // needs an empty directory per case (else one directory is reused: creating and
                   // removing directories costs milliseconds on some file systems)
  // Runs case `index`; writes its inputs under `dump` too when that is not empty.
  CaseResult (*run)(const Bases&, Rng&, const std::string& case_dir, const std::string& dump);
};

const std::vector<Target>& inproc_targets();
const std::vector<Target>& process_targets();

// In-process base run (the trainer called directly); process mode makes it with the binaries.
void build_bases_inproc(Bases& b);
void build_bases_process(Bases& b);
void build_common_bases(Bases& b);

// Corpus replay: each file under test/fuzz/corpus/ must be refused (InputError / exit 2).
CaseResult replay_corpus_inproc(const Bases& b, const std::string& file, const std::string& case_dir);
CaseResult replay_corpus_process(const Bases& b, const std::string& file, const std::string& case_dir);
// Writes the corpus files (deterministic) into `dir`.
void write_corpus(const Bases& b, const std::string& dir);

}  // namespace fuzz
