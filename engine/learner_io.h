// Learners as the engine reads and writes them: the config from a spec (the "learner" object, also
// stored in checkpoints) and learner checkpoints as safetensors (one tensor per parameter block,
// the config in the metadata).
#pragma once
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/spec_reader.h"
#include "kernels/backend.h"
#include "learners/learner.h"
#include "learners/learner_factory.h"

namespace l2o {

// Reads (strictly) and completes the learner config at `node` ("type": "l2o_dm", "rnnprop" or "l2o_scale");
// the json is updated with defaults.
LearnerConfig parse_learner_config(SpecNode node);

// parse_learner_config, then learners/learner_factory.h's make_learner on `backend`.
template <typename T>
std::unique_ptr<LearnerT<T>> make_learner(SpecNode node, Backend backend = Backend::cpu);

struct LoadedLearner {
  std::unique_ptr<LearnerT<float>> learner;
  std::vector<float> phi;
  nlohmann::json config;    // the learner config from the file's metadata
  nlohmann::json metadata;  // all metadata values (strings)
};

// Metadata keys: "format" = "l2o-engine learner", "learner" = config JSON, plus `extra`.
void save_learner(const std::string& path, const LearnerT<float>& learner, const std::vector<float>& phi,
                  const nlohmann::json& config, const std::map<std::string, std::string>& extra);
// Throws InputError naming the file: not a learner checkpoint, missing or mis-shaped tensors, NaN/Inf.
LoadedLearner load_learner(const std::string& path, Backend backend = Backend::cpu);

}  // namespace l2o
