#include "engine/safetensors.h"

#include <algorithm>
#include <cstring>
#include <set>

#include <nlohmann/json.hpp>

#include "engine/atomic_file.h"
#include "engine/spec_reader.h"
#include "kernels/common.h"

namespace l2o {

namespace {

using ojson = nlohmann::ordered_json;  // keeps header order, so encode->decode preserves tensor order

constexpr const char* kMetadataKey = "__metadata__";

// Explicit byte order, so files are little-endian whatever the host is.
void put_u64_le(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint64_t get_u64_le(const unsigned char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

[[noreturn]] void bad(const std::string& origin, const std::string& what) {
  throw InputError(origin + ": " + what);
}

// Names and values come from the file: cut to kMaxEchoChars in messages.
std::string quote(const std::string& s) { return "\"" + clip_text(s) + "\""; }

// Reads a JSON value that must be a non-negative integer.
uint64_t read_uint(const ojson& v, const std::string& origin, const std::string& what) {
  if (!v.is_number_unsigned()) bad(origin, what + " must be a non-negative integer, got " + dump_clipped(v));
  return v.get<uint64_t>();
}

struct Entry {
  NamedTensor tensor;
  uint64_t begin = 0, end = 0;
};

Entry parse_entry(const std::string& name, const ojson& info, uint64_t data_size,
                  const std::string& origin) {
  const std::string where = "tensor " + quote(name);
  if (!info.is_object()) bad(origin, where + ": header entry is not an object");
  for (auto it = info.begin(); it != info.end(); ++it) {
    if (it.key() != "dtype" && it.key() != "shape" && it.key() != "data_offsets")
      bad(origin, where + ": unknown header field " + quote(it.key()));
  }
  if (!info.contains("dtype") || !info["dtype"].is_string()) bad(origin, where + ": missing string \"dtype\"");
  const std::string dtype = info["dtype"].get<std::string>();
  if (dtype != "F32") bad(origin, where + " has dtype " + clip_text(dtype) + "; only F32 is supported");

  if (!info.contains("shape") || !info["shape"].is_array()) bad(origin, where + ": missing array \"shape\"");
  Entry e;
  e.tensor.name = name;
  // Saturating product: a hostile shape must not wrap around to a small byte count.
  uint64_t count = 1;
  bool overflow = false, zero = false;
  for (const auto& d : info["shape"]) {
    const uint64_t dim = read_uint(d, origin, where + ": shape dimension");
    if (dim > uint64_t(INT64_MAX)) bad(origin, where + ": shape dimension " + std::to_string(dim) + " is too large");
    zero = zero || dim == 0;
    overflow = overflow || __builtin_mul_overflow(count, dim, &count);
    e.tensor.shape.push_back(static_cast<int64_t>(dim));
  }
  uint64_t nbytes = 0;
  overflow = overflow || __builtin_mul_overflow(count, uint64_t(4), &nbytes);
  if (zero) nbytes = 0;
  else if (overflow) bad(origin, where + ": shape " + dump_clipped(info["shape"]) + " is too large");

  const ojson& off = info.contains("data_offsets") ? info["data_offsets"] : ojson();
  if (!off.is_array() || off.size() != 2) bad(origin, where + ": \"data_offsets\" must be [begin, end]");
  e.begin = read_uint(off[0], origin, where + ": data offset");
  e.end = read_uint(off[1], origin, where + ": data offset");
  if (e.begin > e.end || e.end > data_size) {
    bad(origin, where + ": data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
                    "] out of range for " + std::to_string(data_size) + " data bytes");
  }
  if (nbytes != e.end - e.begin) {
    bad(origin, where + ": shape " + dump_clipped(info["shape"]) + " needs " + std::to_string(nbytes) +
                    " bytes but data_offsets span " + std::to_string(e.end - e.begin));
  }
  return e;
}

}  // namespace

const NamedTensor& SafetensorsFile::get(const std::string& name) const {
  for (const auto& t : tensors)
    if (t.name == name) return t;
  std::string have;
  constexpr size_t kListed = 20;
  for (size_t i = 0; i < tensors.size() && i < kListed; ++i) have += (have.empty() ? "" : ", ") + clip_text(tensors[i].name);
  if (tensors.size() > kListed) have += " and " + std::to_string(tensors.size() - kListed) + " more";
  throw InputError("no tensor named " + quote(name) + " (have: " + (have.empty() ? "none" : have) + ")");
}

std::string encode_safetensors(const SafetensorsFile& file) {
  ojson header = ojson::object();
  if (!file.metadata.empty()) {
    ojson meta = ojson::object();
    for (const auto& [k, v] : file.metadata) meta[k] = v;
    header[kMetadataKey] = meta;
  }
  std::set<std::string> names;
  uint64_t offset = 0;
  for (const auto& t : file.tensors) {
    L2O_CHECK(!t.name.empty() && t.name != kMetadataKey, "bad tensor name '" << t.name << "'");
    L2O_CHECK(names.insert(t.name).second, "duplicate tensor name '" << t.name << "'");
    uint64_t count = 1;
    for (int64_t d : t.shape) {
      L2O_CHECK(d >= 0, "negative dimension in tensor '" << t.name << "'");
      count *= static_cast<uint64_t>(d);
    }
    L2O_CHECK(count == t.data.size(), "tensor '" << t.name << "' has " << t.data.size()
                                                 << " values for " << count << " elements");
    header[t.name] = {{"dtype", "F32"}, {"shape", t.shape}, {"data_offsets", {offset, offset + 4 * count}}};
    offset += 4 * count;
  }
  std::string json = header.dump();
  json.append((8 - json.size() % 8) % 8, ' ');  // keeps the data 8-byte aligned, as the reference writer does

  std::string out;
  out.reserve(8 + json.size() + offset);
  put_u64_le(out, json.size());
  out += json;
  for (const auto& t : file.tensors) {
    for (float f : t.data) {
      uint32_t u;
      std::memcpy(&u, &f, 4);
      for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((u >> (8 * i)) & 0xff));
    }
  }
  return out;
}

SafetensorsFile decode_safetensors(const std::string& bytes, const std::string& origin) {
  if (bytes.size() < 8) {
    bad(origin, "file is " + std::to_string(bytes.size()) + " bytes, too short for a safetensors header");
  }
  const auto* raw = reinterpret_cast<const unsigned char*>(bytes.data());
  const uint64_t n = get_u64_le(raw);
  if (n > bytes.size() - 8) {
    bad(origin, "header length " + std::to_string(n) + " exceeds the file size (" +
                    std::to_string(bytes.size()) + " bytes)");
  }
  if (n > kMaxSafetensorsHeader) {
    bad(origin, "header length " + std::to_string(n) + " is over the " + std::to_string(kMaxSafetensorsHeader >> 20) +
                    " MiB limit for a header");
  }
  const std::string text = bytes.substr(8, n);
  // The format pads with spaces; nlohmann would stop reading at a NUL and ignore the rest.
  const size_t nul = text.find('\0');
  if (nul != std::string::npos) {
    bad(origin, "header has a NUL byte at offset " + std::to_string(nul) +
                    " (the header is padded with spaces, not NUL bytes)");
  }
  // Size, depth and duplicate keys are checked there; messages start "<origin> header: ".
  const ojson header = parse_json_text_ordered(text, origin + " header", kMaxSafetensorsHeader);
  if (!header.is_object()) bad(origin, "header is not a JSON object");

  const uint64_t data_begin = 8 + n;
  const uint64_t data_size = bytes.size() - data_begin;
  SafetensorsFile file;
  std::vector<Entry> entries;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == kMetadataKey) {
      if (!it.value().is_object()) bad(origin, "__metadata__ is not an object");
      for (auto m = it.value().begin(); m != it.value().end(); ++m) {
        if (!m.value().is_string()) bad(origin, "metadata value for " + quote(m.key()) + " is not a string");
        file.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    entries.push_back(parse_entry(it.key(), it.value(), data_size, origin));
  }

  // Tensors must tile the data exactly: no overlap, no gap, nothing trailing.
  std::stable_sort(entries.begin(), entries.end(),
                   [](const Entry& a, const Entry& b) { return a.begin < b.begin; });
  uint64_t pos = 0;
  std::string prev;
  for (const auto& e : entries) {
    if (e.begin < pos) bad(origin, "tensor " + quote(e.tensor.name) + " overlaps tensor " + quote(prev));
    if (e.begin > pos) {
      bad(origin, "data bytes [" + std::to_string(pos) + ", " + std::to_string(e.begin) +
                      ") before tensor " + quote(e.tensor.name) + " are not covered by any tensor");
    }
    pos = e.end;
    prev = e.tensor.name;
  }
  if (pos != data_size) {
    bad(origin, std::to_string(data_size - pos) + " trailing data bytes are not covered by any tensor");
  }

  for (auto& e : entries) {
    const unsigned char* p = raw + data_begin + e.begin;
    e.tensor.data.resize((e.end - e.begin) / 4);
    for (size_t i = 0; i < e.tensor.data.size(); ++i, p += 4) {
      const uint32_t u = uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
      std::memcpy(&e.tensor.data[i], &u, 4);
    }
    file.tensors.push_back(std::move(e.tensor));
  }
  return file;
}

void save_safetensors(const std::string& path, const SafetensorsFile& file) {
  write_file_atomic(path, encode_safetensors(file));
}

SafetensorsFile load_safetensors(const std::string& path) {
  return decode_safetensors(read_file(path), path);
}

}  // namespace l2o
