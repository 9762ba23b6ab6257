// Mutators of the fuzz suite: raw bytes, JSON (structure-aware: hostile tokens spliced into a valid
// document), safetensors (header fields, metadata values, data, framing) and IDX/gzip files.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_util.h"

namespace fuzz {

// 1..rounds byte-level edits: bit flips, interesting bytes, truncation, insertion of random bytes or
// JSON tokens, chunk duplication and deletion, interesting little-endian u64 values.
void mutate_bytes(std::string& s, Rng& r, int rounds);

// Raw JSON text of a hostile value: huge/boundary numbers, NaN/Infinity literals, long strings,
// bad escapes, deep nesting, big arrays, wrong types.
std::string json_token(Rng& r);
// Raw JSON text of a key (with its quotes): known keys, typos, empty, long, escapes.
std::string json_key(Rng& r);

// 1-2 `--set` assignments: known and malformed key paths, hostile values; each at most max_chars
// (a process argument is limited to 128 KiB).
std::vector<std::string> random_overrides(Rng& r, size_t max_chars = 8u << 20);

// `text` must be valid JSON. 1..3 structural edits (replace, delete, add, rename, duplicate key,
// numeric tweaks, type swaps, wrapping, deep nesting), re-serialised; sometimes byte edits on top.
std::string mutate_json(const std::string& text, Rng& r, int byte_percent = 20);

// `bytes` must be a valid safetensors file.
std::string mutate_safetensors(const std::string& bytes, Rng& r);

// gzip (RFC 1952) of `plain`.
std::string gzip(const std::string& plain, int level = 6);

// A valid unsigned-byte IDX file.
std::string idx_file(const std::vector<uint32_t>& dims, const std::string& payload);
// Images (n x 28 x 28) and labels for the base data set.
struct IdxPair {
  std::string images, labels;  // file contents (plain or gzip)
  bool images_gz = false, labels_gz = false;
};
IdxPair base_idx_pair(int n);
// Mutates one or both files: header fields, payload size, labels, the gzip container.
IdxPair mutate_idx_pair(const IdxPair& base, Rng& r);

// CIFAR-10 binary batch: `records` records of 1 label byte + 3072 bytes.
std::string base_cifar(int records);
std::string mutate_cifar(const std::string& base, Rng& r);

}  // namespace fuzz
