// 64-bit FNV-1a, as 16 hex digits: the digests of run specs (engine/run_spec.h) and of evaluation
// identities (engine/eval_partials.h). A fingerprint against mix-ups, not a cryptographic hash.
#pragma once
#include <cstdint>
#include <cstdio>
#include <string>

namespace l2o {

inline std::string fnv1a_hex(const std::string& bytes) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

}  // namespace l2o
