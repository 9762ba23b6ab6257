// EvalPartials: a seed's curve survives a round trip; any file it cannot trust is skipped, never read.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <string>
#include <vector>

#include "engine/atomic_file.h"
#include "engine/eval_partials.h"

namespace fs = std::filesystem;

TEST_CASE("EvalPartials keeps a seed's curve and refuses files it cannot trust", "[eval]") {
  const std::string dir = (fs::temp_directory_path() / ("l2o_partials_" + std::to_string(::getpid()))).string();
  fs::remove_all(dir);
  const l2o::EvalPartials p(dir, "commit|adam(lr=0.01)|mlp_orig|100");
  const std::vector<float> curve = {2.3f, 1.25f, 0.5f, 1e-7f};
  std::vector<float> got;
  REQUIRE_FALSE(p.load(7, 3, &got));  // nothing saved yet
  p.save(7, curve);
  REQUIRE(p.load(7, 3, &got));
  REQUIRE(got == curve);
  // A diverged seed's curve is shorter than steps + 1, down to no loss at all.
  p.save(8, {});
  got = {1.0f};
  REQUIRE(p.load(8, 3, &got));
  REQUIRE(got.empty());
  // Another identity (other weights, binary or settings) never reads it; nor a shorter evaluation.
  REQUIRE_FALSE(l2o::EvalPartials(dir, "commit|adam(lr=0.1)|mlp_orig|100").load(7, 3, &got));
  REQUIRE_FALSE(p.load(7, 2, &got));
  // A damaged payload fails its checksum; a file under the right name but for another seed is refused.
  std::string path;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().string().find("_seed7.f32") != std::string::npos) path = e.path().string();
  REQUIRE_FALSE(path.empty());
  std::string bytes = l2o::read_file(path);
  bytes[bytes.size() - 2] ^= 0x01;
  l2o::write_file_atomic(path, bytes);
  REQUIRE_FALSE(p.load(7, 3, &got));
  fs::copy_file(path.substr(0, path.size() - 9) + "seed8.f32", path, fs::copy_options::overwrite_existing);
  REQUIRE_FALSE(p.load(7, 3, &got));
  l2o::write_file_atomic(path, "not a partial\n");
  REQUIRE_FALSE(p.load(7, 3, &got));
  fs::remove_all(dir);
}
