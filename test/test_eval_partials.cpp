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
  using Found = l2o::EvalPartials::Found;
  const l2o::EvalPartials p(dir, "adam(lr=0.01)|mlp_orig|100", "abc123|AVX2+FMA");
  const std::vector<float> curve = {2.3f, 1.25f, 0.5f, 1e-7f};
  std::vector<float> got;
  REQUIRE(p.load(7, 3, &got) == Found::none);  // nothing saved yet
  p.save(7, curve);
  std::string by;
  REQUIRE(p.load(7, 3, &got, &by) == Found::this_build);
  REQUIRE(got == curve);
  REQUIRE(by == "abc123|AVX2+FMA");
  // A diverged seed's curve is shorter than steps + 1, down to no loss at all.
  p.save(8, {});
  got = {1.0f};
  REQUIRE(p.load(8, 3, &got) == Found::this_build);
  REQUIRE(got.empty());
  // Another build reads the curve as another build's (evaluate() replays before adopting it); a
  // build's name becomes one header token.
  const l2o::EvalPartials later(dir, "adam(lr=0.01)|mlp_orig|100", "def456 dirty|AVX-512+FMA");
  REQUIRE(later.build() == "def456_dirty|AVX-512+FMA");
  got.clear();
  REQUIRE(later.load(7, 3, &got, &by) == Found::other_build);
  REQUIRE(got == curve);
  REQUIRE(by == "abc123|AVX2+FMA");
  // Another setting (other weights or settings) never reads it; nor a shorter evaluation.
  REQUIRE(l2o::EvalPartials(dir, "adam(lr=0.1)|mlp_orig|100", "abc123|AVX2+FMA").load(7, 3, &got) == Found::none);
  REQUIRE(p.load(7, 2, &got) == Found::none);
  // A damaged payload fails its checksum; a file under the right name but for another seed is refused.
  std::string path;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().string().find("_seed7.f32") != std::string::npos) path = e.path().string();
  REQUIRE_FALSE(path.empty());
  std::string bytes = l2o::read_file(path);
  bytes[bytes.size() - 2] ^= 0x01;
  l2o::write_file_atomic(path, bytes);
  REQUIRE(p.load(7, 3, &got) == Found::none);
  fs::copy_file(path.substr(0, path.size() - 9) + "seed8.f32", path, fs::copy_options::overwrite_existing);
  REQUIRE(p.load(7, 3, &got) == Found::none);
  l2o::write_file_atomic(path, "not a partial\n");
  REQUIRE(p.load(7, 3, &got) == Found::none);
  fs::remove_all(dir);
}
