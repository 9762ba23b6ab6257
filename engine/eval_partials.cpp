#include "engine/eval_partials.h"

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "engine/atomic_file.h"
#include "engine/fnv.h"

namespace l2o {

namespace {
constexpr const char* kMagic = "l2o_eval partial v2";

// The build as one header token: printable, no spaces, at most 127 characters.
std::string build_token(const std::string& build) {
  std::string t = build.substr(0, 127);
  for (char& c : t)
    if (c <= ' ' || c > '~') c = '_';
  return t.empty() ? "-" : t;
}
}  // namespace

EvalPartials::EvalPartials(std::string dir, const std::string& setting, std::string build)
    : dir_(std::move(dir)), key_(fnv1a_hex(setting)), build_(build_token(build)) {}

std::string EvalPartials::path(uint64_t seed) const {
  return dir_ + "/" + key_ + "_seed" + std::to_string(seed) + ".f32";
}

// File: one header line "<magic> <key> <build> <seed> <losses> <FNV-1a of the payload>", then the
// losses as raw float32 in this machine's byte order (a file from a machine of another byte order
// fails evaluate()'s replay, so it is never adopted).
void EvalPartials::save(uint64_t seed, const std::vector<float>& curve) const {
  std::filesystem::create_directories(dir_);
  std::string payload(curve.size() * sizeof(float), '\0');
  if (!curve.empty()) std::memcpy(&payload[0], curve.data(), payload.size());
  char head[256];
  std::snprintf(head, sizeof head, "%s %s %s %" PRIu64 " %zu %s\n", kMagic, key_.c_str(), build_.c_str(), seed,
                curve.size(), fnv1a_hex(payload).c_str());
  write_file_atomic(path(seed), head + payload);
}

EvalPartials::Found EvalPartials::load(uint64_t seed, int64_t steps, std::vector<float>* curve,
                                       std::string* made_by) const {
  const std::string p = path(seed);
  std::error_code ec;
  if (!std::filesystem::exists(p, ec)) return Found::none;
  const auto skip = [&](const std::string& why) {
    std::fprintf(stderr, "l2o_eval: warning: ignoring the partial result %s (%s); seed %" PRIu64 " runs again\n",
                 p.c_str(), why.c_str(), seed);
    return Found::none;
  };
  std::string bytes;
  try {
    bytes = read_file(p, static_cast<size_t>(steps + 1) * sizeof(float) + 4096);
  } catch (const std::exception& e) {
    return skip(e.what());
  }
  const size_t eol = bytes.find('\n');
  if (eol == std::string::npos || eol > 255) return skip("no header line");
  const std::string head = bytes.substr(0, eol), payload = bytes.substr(eol + 1);
  char magic_a[16], magic_b[16], magic_c[16], key[32], build[128], sum[32];
  unsigned long long file_seed = 0, n = 0;
  if (std::sscanf(head.c_str(), "%15s %15s %15s %31s %127s %llu %llu %31s", magic_a, magic_b, magic_c, key, build,
                  &file_seed, &n, sum) != 8 ||
      std::string(magic_a) + " " + magic_b + " " + magic_c != kMagic)
    return skip("not an l2o_eval partial result of this version");
  if (key != key_ || file_seed != seed) return skip("made for another evaluation or seed");
  if (n > static_cast<unsigned long long>(steps + 1)) return skip("more losses than steps + 1");
  if (payload.size() != n * sizeof(float))
    return skip("truncated: " + std::to_string(payload.size()) + " bytes of losses, expected " +
                std::to_string(n * sizeof(float)));
  if (fnv1a_hex(payload) != sum) return skip("checksum mismatch");
  curve->assign(n, 0.0f);
  if (n) std::memcpy(curve->data(), payload.data(), payload.size());
  if (made_by) *made_by = build;
  return build == build_ ? Found::this_build : Found::other_build;
}

}  // namespace l2o
