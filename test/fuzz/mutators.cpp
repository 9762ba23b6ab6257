#include "mutators.h"

#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace fuzz {

using oj = nlohmann::ordered_json;

namespace {

const std::vector<std::string> kNumbers = {
    "0", "-0", "1", "-1", "2", "3", "5", "7", "10", "20", "0.5", "-0.5", "1.5", "1e3", "1e-3", "1e-30", "1e-300",
    "1e308", "1e309", "-1e309", "1E400", "1.7976931348623157e308", "4.9e-324", "2.2250738585072014e-308",
    "9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809",
    "18446744073709551615", "18446744073709551616", "123456789012345678901234567890", "4611686018427387904",
    "2147483647", "2147483648", "-2147483649", "4294967295", "4294967296", "1048576", "1048577", "4096", "4097",
    "65536", "65537", "1000", "1001", "256", "257", "100000", "100001", "1000000", "100000000", "100000001",
    "1000000000000", "1e15", "0.1", "0.999999", "0.9999999999", "1.0000001", "1e6", "1e30", "1e31", "3.0", "20.0",
    "0.0", "-1e-300", "00", "01", "1.", ".5", "+1", "0x10", "1e", "--1"};
const std::vector<std::string> kLiterals = {
    "true", "false", "null", "NaN", "-NaN", "Infinity", "-Infinity", "nan", "inf", "-inf", "undefined", "True", "nul",
    "\"\"", "\"x\"", "\"inf\"", "\"-inf\"", "\"nan\"", "\"NaN\"", "\"1\"", "\"-1\"", "\"1e3\"", "\"0\"", "\" 1\"",
    "\"\\u0000\"", "\"a\\u0000b\"", "\"\\ud800\"", "\"\\udfff\"", "\"\\ud800\\u0041\"", "\"\\x41\"", "\"\\\"",
    "\"\xff\xfe\"", "\"\xc3\"", "\"\xe2\x82\xac\"", "\"tab\there\"", "\"new\nline\"", "\"../../etc/passwd\"",
    "\"/dev/zero\"", "\"/proc/self/mem\"", "\"/\"", "\".\"", "\"data\"", "\"quadratic\"", "\"mlp_orig\"", "\"mlp\"",
    "\"conv_mnist\"", "\"conv_cifar\"", "\"conv_cifar_standin\"", "\"mlp_fashion\"", "\"cuda\"", "\"auto\"", "\"cpu\"",
    "\"identity\"", "\"log_and_sign\"", "\"adam\"", "\"adam_torch\"", "\"sgd\"", "\"momentum\"", "\"nag\"",
    "\"adagrad\"", "\"rmsprop\"", "\"adagrad_torch\"", "\"rmsprop_torch\"", "\"consecutive\"", "\"authors\"",
    "\"random\"", "\"round_robin\"", "\"fixed\"", "\"fresh\"", "\"train\"", "\"test\"", "\"fashion_mnist\"",
    "\"truncated_normal\"", "\"zero\"", "\"relu\"", "\"tanh\"", "\"sigmoid\"", "\"F32\"", "\"F16\"", "\"F64\"",
    "\"BF16\"", "\"I64\"", "\"l2o-engine learner\"", "\"l2o-engine training state\"", "\"l2o_dm\"",
    "[]", "{}", "[[]]", "[{}]", "{\"\":0}", "[1,2,3]", "[0]", "[-1]", "[1e309]", "[null]", "[20,20]", "[20]",
    "[257]", "[1,1,1,1,1]", "[256,256,256,256]", "[4096,4096]", "[5,5]", "[5,10,15]", "[15,10,5]", "[0.5]", "[2.0]",
    "[\"a\"]", "[true]", "{\"type\":\"adam\"}", "{\"type\":\"sgd\",\"lr\":1e3}", "[{\"type\":\"nag\"}]",
    "[{\"type\":\"rmsprop\",\"alpha\":-1,\"eps\":-1}]", "{\"a\":1,\"a\":2}", "[1,]", "[,1]", "{,}", "{\"a\"}", "[",
    "]", "{", "}", ":", ",", "\"", "\"unterminated", "/* c */ 1", "1 2", "0 ]"};

std::string deep(Rng& r) {
  static const std::vector<size_t> depths = {2, 10, 62, 63, 64, 65, 66, 100, 1000, 100000};
  const size_t d = r.pick(depths);
  if (r.chance(50)) return std::string(d, '[') + (r.chance(50) ? "1" : "") + std::string(d, ']');
  std::string s;
  for (size_t i = 0; i < d; ++i) s += "{\"a\":";
  s += "1";
  s += std::string(d, '}');
  return s;
}

std::string long_string(Rng& r) {
  static const std::vector<size_t> lens = {81, 200, 5000, 100000, 1000000};
  size_t n = r.pick(lens);
  if (r.chance(2)) n = (size_t(4) << 20) + 10;  // over the 4 MiB spec limit
  std::string s = "\"";
  const char c = "Aa\xe2\\"[r.below(4)];
  if (c == '\\') {
    for (size_t i = 0; i < n / 6; ++i) s += "\\u00e9";
  } else if (c == '\xe2') {
    for (size_t i = 0; i < n / 3; ++i) s += "\xe2\x82\xac";
  } else {
    s.append(n, c);
  }
  return s + "\"";
}

std::string big_array(Rng& r) {
  const size_t n = r.chance(70) ? 1000 : 200000;
  std::string s = "[";
  const std::string elem = r.pick(std::vector<std::string>{"0", "1", "20", "1e309", "\"x\"", "[]", "null"});
  for (size_t i = 0; i < n; ++i) s += (i ? "," : "") + elem;
  return s + "]";
}

std::string many_keys(Rng& r) {
  const size_t n = r.chance(80) ? 100 : 20000;
  std::string s = "{";
  for (size_t i = 0; i < n; ++i) s += (i ? ",\"k" : "\"k") + std::to_string(i) + "\":" + std::to_string(i);
  return s + "}";
}

std::string random_number(Rng& r) {
  switch (r.below(4)) {
    case 0: return std::to_string(static_cast<int64_t>(r.next()));
    case 1: return std::to_string(r.next());
    case 2: return std::to_string(static_cast<int64_t>(r.below(100000)) - 50000);
    default: {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.17ge%d", static_cast<double>(r.below(1000000)) / 1000.0,
                    static_cast<int>(r.below(700)) - 350);
      return buf;
    }
  }
}

const std::vector<std::string> kKeys = {
    "seed", "backend", "ran_on", "git_commit", "problem", "type", "hidden", "activation", "dataset", "batch_size",
    "data_dir", "split", "count", "dims", "relu_logits", "learned_trains_bn", "init_std", "learner", "preprocess",
    "log_k", "output_scale", "forget_bias", "output_bias_init", "training", "epochs", "n_train", "unroll",
    "meta_optimizer", "lr", "beta1", "beta2", "eps", "clip_grad_norm", "max_consecutive_failures", "validation",
    "period", "n_valid", "rollouts", "instances", "imitation", "enabled", "ratio", "ratio_per_stage", "teachers",
    "selection", "omega", "momentum", "alpha", "curriculum", "last_n_valid", "patience", "rule", "output",
    "log_every", "checkpoint_every", "__metadata__", "dtype", "shape", "data_offsets", "format", "epoch",
    "adam_step", "il_step", "il_epochs", "stopped", "meta_steps", "skipped", "consecutive_failures",
    "metrics_lines", "validations", "best_score", "best_epoch", "spec_digest", "version", "num_eval", "stage",
    "awaiting_baseline", "best", "improved", "since_improvement", "phi", "adam_m", "adam_v", "il_m", "il_v",
    "stage_best_phi", "lstm_0/w", "lstm_0/b", "lstm_1/w", "lstm_1/b", "linear/w", "linear/b", "epcohs", "lerner",
    "Seed", "seed ", "", "a", "$", "."};

}  // namespace

std::string json_token(Rng& r) {
  const uint64_t k = r.below(100);
  if (k < 30) return r.pick(kNumbers);
  if (k < 70) return r.pick(kLiterals);
  if (k < 78) return random_number(r);
  if (k < 86) return deep(r);
  if (k < 92) return long_string(r);
  if (k < 96) return big_array(r);
  return many_keys(r);
}

std::string json_key(Rng& r) {
  const uint64_t k = r.below(100);
  if (k < 70) return oj(r.pick(kKeys)).dump();
  if (k < 85) {  // a typo of a known key
    std::string s = r.pick(kKeys);
    if (!s.empty()) {
      const size_t i = r.below(s.size());
      switch (r.below(3)) {
        case 0: s[i] = static_cast<char>('a' + r.below(26)); break;
        case 1: s.erase(i, 1); break;
        default: s.insert(i, 1, static_cast<char>('a' + r.below(26))); break;
      }
    }
    return oj(s).dump(-1, ' ', false, oj::error_handler_t::replace);
  }
  if (k < 90) return "\"" + std::string(r.chance(50) ? 100 : 100000, 'k') + "\"";
  return r.pick(std::vector<std::string>{"\"\\u0000\"", "\"a\\u0000\"", "\"\\ud800\"", "\"\xff\"", "\"k\\\"q\"",
                                         "\"a.b\"", "\"0\"", "\"\\n\"", "\"\xe2\x82\xac\""});
}

std::vector<std::string> random_overrides(Rng& r, size_t max_chars) {
  static const std::vector<std::string> keys = {
      "seed", "backend", "problem", "problem.type", "problem.count", "problem.dims", "problem.hidden",
      "problem.batch_size", "problem.data_dir", "learner", "learner.hidden", "learner.hidden.0", "learner.hidden.5",
      "learner.log_k", "training.epochs", "training.unroll", "training.n_train", "training.meta_optimizer.lr",
      "validation.n_valid", "validation.rollouts", "validation.period", "imitation.teachers",
      "imitation.teachers.0", "imitation.teachers.0.lr", "imitation.teachers.7", "imitation.ratio_per_stage.0",
      "curriculum.n_train.1", "curriculum.n_train.99999999999", "curriculum.enabled", "curriculum.n_valid",
      "output", "output.checkpoint_every", "a.b.c", "", "x..y", ".a", "a.", "problem.type.x", "seed.x", "0", "a=b",
      "git_commit", "ran_on"};
  std::vector<std::string> out;
  for (uint64_t i = 0, n = 1 + r.below(2); i < n; ++i) {
    std::string key = r.pick(keys);
    if (r.chance(4)) {
      key.clear();
      for (int d = 0; d < 70; ++d) key += d ? ".a" : "a";
    } else if (r.chance(3)) {
      key = std::string(100000, 'k');
    }
    std::string value = r.chance(80) ? json_token(r)
                                     : r.pick(std::vector<std::string>{"abc", "", "=", "1=2", "quadratic", "[", "{\"a\":"});
    if (key.size() + value.size() > max_chars) value = "1";
    out.push_back(r.chance(5) ? key : key + "=" + value);
  }
  return out;
}

// ---- bytes --------------------------------------------------------------------------------------
void mutate_bytes(std::string& s, Rng& r, int rounds) {
  static const std::vector<unsigned char> interesting = {0, 1, 0x7f, 0x80, 0xff, '"', '\\', '{', '}', '[', ']', ',',
                                                         ':', ' ', '\n', '0', '9', '-', '.', 'e', 0x1f, 0x8b, 0x08};
  const int n = 1 + static_cast<int>(r.below(static_cast<uint64_t>(rounds)));
  for (int i = 0; i < n; ++i) {
    const size_t len = s.size();
    const size_t pos = len ? r.below(len) : 0;
    switch (r.below(10)) {
      case 0:
        if (len) s[pos] = static_cast<char>(s[pos] ^ (1u << r.below(8)));
        break;
      case 1:
        if (len) s[pos] = static_cast<char>(r.pick(interesting));
        break;
      case 2:  // truncation: anywhere, or near the end
        s.resize(r.chance(50) ? pos : (len > 16 ? len - 1 - r.below(16) : pos));
        break;
      case 3: {
        std::string ins;
        for (uint64_t k = 0, m = 1 + r.below(16); k < m; ++k) ins.push_back(static_cast<char>(r.below(256)));
        s.insert(pos, ins);
        break;
      }
      case 4: {
        const std::string t = json_token(r);
        s.insert(pos, t.size() > 4096 ? t.substr(0, 4096) : t);
        break;
      }
      case 5:
        if (len) {  // duplicate a chunk somewhere
          const size_t a = r.below(len), b = a + 1 + r.below(std::min<size_t>(len - a, 256));
          s.insert(r.below(len + 1), s.substr(a, b - a));
        }
        break;
      case 6:
        if (len) {
          const size_t a = r.below(len);
          s.erase(a, 1 + r.below(std::min<size_t>(len - a, 64)));
        }
        break;
      case 7:
        if (len >= 8) {  // an interesting little-endian u64 (safetensors header length, IDX dims)
          static const std::vector<uint64_t> vals = {0, 1, 7, 8, 0xff, 0x100000, 0x100001, 0x7fffffff, 0xffffffff,
                                                     0x7fffffffffffffffull, 0xffffffffffffffffull};
          uint64_t v = r.chance(70) ? r.pick(vals) : static_cast<uint64_t>(len) + r.below(17) - 8;
          const size_t at = r.chance(50) ? 0 : r.below(len - 7);
          for (int b = 0; b < 8; ++b) s[at + b] = static_cast<char>((v >> (8 * b)) & 0xff);
        }
        break;
      case 8:
        s.append(1 + r.below(32), static_cast<char>(r.pick(interesting)));
        break;
      default:
        if (len) {  // a run of one byte
          const size_t a = r.below(len);
          const size_t m = std::min<size_t>(len - a, 1 + r.below(32));
          std::memset(&s[a], r.pick(interesting), m);
        }
        break;
    }
  }
}

// ---- JSON ---------------------------------------------------------------------------------------
namespace {

struct Node {
  oj* node;
  oj* parent;      // nullptr for the root
  std::string key;  // in an object parent
  size_t index = 0;
};

void collect(oj& j, oj* parent, const std::string& key, size_t index, std::vector<Node>& out) {
  out.push_back({&j, parent, key, index});
  if (out.size() > 5000) return;
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) collect(it.value(), &j, it.key(), 0, out);
  } else if (j.is_array()) {
    for (size_t i = 0; i < j.size(); ++i) collect(j[i], &j, "", i, out);
  }
}

struct Raw {
  std::vector<std::string> tokens;
  // A string value that is replaced by tokens[k] (raw JSON) after dump().
  oj value(const std::string& raw) {
    tokens.push_back(raw);
    return oj("\x01R" + std::to_string(tokens.size() - 1) + "\x01");
  }
  std::string key(const std::string& raw) {
    tokens.push_back(raw);
    return "\x01R" + std::to_string(tokens.size() - 1) + "\x01";
  }
  std::string apply(std::string text) const {
    for (size_t k = tokens.size(); k-- > 0;) {
      const std::string ph = "\"\\u0001R" + std::to_string(k) + "\\u0001\"";
      const size_t at = text.find(ph);
      if (at != std::string::npos) text.replace(at, ph.size(), tokens[k]);
    }
    return text;
  }
};

std::string tweak_number(const oj& v, Rng& r) {
  if (v.is_number_integer() || v.is_number_unsigned()) {
    const long double x = v.is_number_unsigned() ? static_cast<long double>(v.get<uint64_t>())
                                                 : static_cast<long double>(v.get<int64_t>());
    const long double opts[] = {x + 1, x - 1, x * 2, x * 1000, -x, 0, x * 1e6L, x + 0.5L, x * 1e18L};
    const long double y = opts[r.below(9)];
    char buf[64];
    if (y == static_cast<long double>(static_cast<int64_t>(y)) && y > -9.2e18L && y < 9.2e18L)
      std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(y));
    else
      std::snprintf(buf, sizeof buf, "%.17Lg", y);
    return buf;
  }
  if (v.is_number_float()) {
    const double x = v.get<double>();
    const double opts[] = {x * 10, x / 10, -x, 0, x * 1e300, x + 1, x * 1e-300, 1 - x};
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.17g", opts[r.below(8)]);
    std::string s = buf;
    if (s == "inf" || s == "-inf" || s == "nan" || s == "-nan") s = "1e309";
    return s;
  }
  return r.pick(kNumbers);
}

}  // namespace

namespace {
// Nesting depth of JSON text (brackets outside strings): the mutator's own walk is recursive.
size_t json_depth(const std::string& t) {
  size_t depth = 0, max = 0;
  bool in_string = false, escaped = false;
  for (char c : t) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      max = std::max(max, ++depth);
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return max;
}
}  // namespace

std::string mutate_json(const std::string& text, Rng& r, int byte_percent) {
  oj root;
  try {
    if (json_depth(text) > 200) throw std::runtime_error("too deep for the mutator");
    root = oj::parse(text);
  } catch (const std::exception&) {  // not JSON (an earlier byte edit): bytes only
    std::string s = text;
    mutate_bytes(s, r, 3);
    return s;
  }
  Raw raw;
  const int ops = 1 + static_cast<int>(r.below(3));
  for (int op = 0; op < ops; ++op) {
    std::vector<Node> nodes;
    collect(root, nullptr, "", 0, nodes);
    // Leaves and containers alike; the root only for a few ops.
    Node n = nodes[r.below(nodes.size())];
    const uint64_t k = r.below(100);
    if (k < 35) {  // replace the value with a hostile token
      *n.node = raw.value(json_token(r));
    } else if (k < 48) {  // numeric tweak (or a number where something else was)
      *n.node = raw.value(n.node->is_number() ? tweak_number(*n.node, r) : r.pick(kNumbers));
    } else if (k < 58) {  // delete
      if (n.parent && n.parent->is_object()) n.parent->erase(n.key);
      else if (n.parent && n.parent->is_array()) n.parent->erase(n.index);
    } else if (k < 70) {  // add a member / element
      if (n.node->is_object()) (*n.node)[raw.key(json_key(r))] = raw.value(json_token(r));
      else if (n.node->is_array()) n.node->push_back(raw.value(json_token(r)));
      else if (n.parent && n.parent->is_object()) (*n.parent)[raw.key(json_key(r))] = raw.value(json_token(r));
    } else if (k < 78) {  // rename a key (to a known one, a typo, or a sibling: a duplicate key)
      if (n.parent && n.parent->is_object()) {
        oj value = *n.node;
        n.parent->erase(n.key);
        std::string key;
        if (r.chance(40) && !n.parent->empty()) {
          auto it = n.parent->begin();
          std::advance(it, static_cast<long>(r.below(n.parent->size())));
          key = oj(it.key()).dump();  // duplicate of a sibling
        } else {
          key = json_key(r);
        }
        (*n.parent)[raw.key(key)] = value;
      }
    } else if (k < 85) {  // type swap
      const oj& v = *n.node;
      if (v.is_number()) *n.node = v.dump();
      else if (v.is_string()) *n.node = raw.value(v.get<std::string>().empty() ? "0" : v.get<std::string>());
      else if (v.is_array()) *n.node = oj::object({{"0", v.empty() ? oj(0) : v[0]}});
      else if (v.is_object()) *n.node = oj::array({v.empty() ? oj(nullptr) : v.begin().value()});
      else if (v.is_boolean()) *n.node = v.get<bool>() ? "true" : "1";
      else *n.node = 0;
    } else if (k < 90) {  // wrap
      *n.node = r.chance(50) ? oj::array({*n.node}) : oj::object({{"x", *n.node}});
    } else if (k < 95) {  // copy another subtree here
      const Node& src = nodes[r.below(nodes.size())];
      oj copy = *src.node;
      *n.node = std::move(copy);
    } else {  // deep nesting
      *n.node = raw.value(deep(r));
    }
  }
  std::string out = raw.apply(root.dump(r.chance(50) ? -1 : 2, ' ', false, oj::error_handler_t::replace));
  if (r.chance(static_cast<unsigned>(byte_percent))) mutate_bytes(out, r, 2);
  return out;
}

// ---- safetensors ----------------------------------------------------------------------------------
namespace {

struct Tensor {
  std::string name;
  oj dtype, shape;
  std::string bytes;
};

uint64_t get_u64(const std::string& s, size_t at) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(s[at + i]);
  return v;
}

std::string u64_le(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  return s;
}

void put_float(std::string& bytes, size_t i, float f) {
  std::memcpy(&bytes[4 * i], &f, 4);
}

const std::vector<std::string> kMetaNumbers = {
    "", "0", "-1", "1", "2", "3", "5", "8", "100", "1e3", " 1", "1 ", "+1", "0x10", "01", "1.5", "nan", "inf",
    "-inf", "NaN", "9223372036854775807", "9223372036854775808", "-9223372036854775808", "4611686018427387903",
    "4611686018427387904", "99999999999999999999", "-2", "2junk", "\xff", "1e308", "1e309", "0.0",
    "0.84688398241996765", "-0", "infinity", "null", "{}", "true"};

}  // namespace

std::string mutate_safetensors(const std::string& bytes, Rng& r) {
  const uint64_t n = get_u64(bytes, 0);
  oj header = oj::parse(bytes.substr(8, n));
  const std::string data = bytes.substr(8 + n);
  oj meta = header.contains("__metadata__") ? header["__metadata__"] : oj();
  std::vector<Tensor> ts;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") continue;
    const auto& off = it.value()["data_offsets"];
    const uint64_t b = off[0].get<uint64_t>(), e = off[1].get<uint64_t>();
    ts.push_back({it.key(), it.value()["dtype"], it.value()["shape"], data.substr(b, e - b)});
  }
  Raw raw;
  // 1) Consistent edits: the result still tiles its data, so the readers' semantics are reached.
  const int ops = 1 + static_cast<int>(r.below(3));
  for (int op = 0; op < ops; ++op) {
    const uint64_t k = r.below(100);
    if (k < 40 && meta.is_object() && !meta.empty()) {  // a metadata value
      auto it = meta.begin();
      std::advance(it, static_cast<long>(r.below(meta.size())));
      const std::string v = it.value().is_string() ? it.value().get<std::string>() : "";
      const uint64_t m = r.below(100);
      if (!v.empty() && (v[0] == '{' || v[0] == '[') && m < 70) {
        it.value() = mutate_json(v, r, 10);  // learner config, curriculum state
      } else if (m < 80) {
        it.value() = r.pick(kMetaNumbers);
      } else if (m < 88) {
        meta.erase(it.key());
      } else if (m < 94) {
        it.value() = raw.value(json_token(r));  // not a string
      } else {
        meta[r.pick(kKeys)] = r.pick(kMetaNumbers);
      }
    } else if (k < 48 && !ts.empty()) {  // delete a tensor
      ts.erase(ts.begin() + static_cast<long>(r.below(ts.size())));
    } else if (k < 53 && !ts.empty()) {  // duplicate a tensor under another name
      Tensor t = ts[r.below(ts.size())];
      t.name = r.pick(kKeys);
      ts.push_back(t);
    } else if (k < 58 && !ts.empty()) {  // rename
      ts[r.below(ts.size())].name = r.pick(kKeys);
    } else if (k < 66 && !ts.empty()) {  // reshape, keeping or changing the byte count
      Tensor& t = ts[r.below(ts.size())];
      std::vector<uint64_t> dims;
      for (const auto& d : t.shape) dims.push_back(d.get<uint64_t>());
      uint64_t count = t.bytes.size() / 4;
      switch (r.below(5)) {
        case 0: std::reverse(dims.begin(), dims.end()); break;
        case 1: dims = {count}; break;
        case 2: dims.push_back(1); break;
        case 3:
          if (!dims.empty()) dims.back() += 1;
          break;
        default:
          if (!dims.empty() && dims.back() > 1) dims.back() -= 1;
          break;
      }
      t.shape = dims;
      count = 1;
      for (uint64_t d : dims) count *= d;
      t.bytes.resize(4 * count, '\0');
    } else if (k < 80 && !ts.empty()) {  // special floats
      Tensor& t = ts[r.below(ts.size())];
      if (!t.bytes.empty()) {
        static const float vals[] = {NAN, INFINITY, -INFINITY, 1e38f, -0.0f, 1e-45f, 3.4028235e38f, 1e30f};
        for (uint64_t j = 0, m = 1 + r.below(3); j < m; ++j) put_float(t.bytes, r.below(t.bytes.size() / 4), vals[r.below(8)]);
      }
    } else if (k < 85 && ts.size() > 1) {  // reorder
      std::swap(ts[r.below(ts.size())], ts[r.below(ts.size())]);
    } else if (k < 90) {  // metadata missing or not an object
      if (r.chance(50)) meta = oj();
      else meta = raw.value(json_token(r));
    } else {  // dtype
      if (!ts.empty())
        ts[r.below(ts.size())].dtype = r.pick(std::vector<std::string>{"F16", "F64", "BF16", "I32", "U8", "f32", "", "F32 "});
    }
  }
  // Layout.
  oj h = oj::object();
  const bool meta_last = r.chance(15);
  if (!meta.is_null() && !meta_last) h["__metadata__"] = meta;
  std::string body;
  for (const auto& t : ts) {
    h[t.name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {body.size(), body.size() + t.bytes.size()}}};
    body += t.bytes;
  }
  if (!meta.is_null() && meta_last) h["__metadata__"] = meta;
  // 2) Inconsistent header edits.
  if (r.chance(30) && !ts.empty()) {
    oj& e = h[ts[r.below(ts.size())].name];
    switch (r.below(8)) {
      case 0: e["data_offsets"][r.below(2)] = e["data_offsets"][r.below(2)].get<uint64_t>() + 4 * (r.below(3)) - 4 + r.below(2); break;
      case 1: e["data_offsets"] = {e["data_offsets"][1], e["data_offsets"][0]}; break;
      case 2: e["data_offsets"] = raw.value(r.pick(std::vector<std::string>{"[0]", "[0,0,0]", "[-4,0]", "[0,18446744073709551615]", "[1.5,2]", "\"0,4\"", "[18446744073709551612,18446744073709551615]", "null"})); break;
      case 3: e["shape"] = raw.value(r.pick(std::vector<std::string>{"[]", "[0]", "[-1]", "[1.5]", "[\"3\"]", "[4294967296,4294967296]", "[4611686018427387904,4]", "[9223372036854775808]", "[18446744073709551615,2]", "null", "3", "[[1]]"})); break;
      case 4: e.erase("dtype"); break;
      case 5: e["extra"] = 1; break;
      case 6: e = raw.value(json_token(r)); break;
      default: e.erase("data_offsets"); break;
    }
  }
  std::string text = raw.apply(h.dump(-1, ' ', false, oj::error_handler_t::replace));
  if (r.chance(20)) text = mutate_json(text, r, 0);
  // 3) Framing.
  text.append((8 - text.size() % 8) % 8, ' ');
  uint64_t len = text.size();
  switch (r.below(12)) {
    case 0: text.append(8 * (1 + r.below(4)), '\0'); len = text.size(); break;  // NUL padding
    case 1: text.insert(r.below(text.size() + 1), 1, '\0'); len = text.size(); break;
    case 2: text.append(1 + r.below(9), r.chance(50) ? '\t' : '\n'); len = text.size(); break;
    case 3: text.insert(0, "\xEF\xBB\xBF"); len = text.size(); break;
    case 4: len = r.pick(std::vector<uint64_t>{0, 1, 2, 7, len - 1, len + 1, len + 8, (uint64_t(1) << 20) + 1,
                                                uint64_t(1) << 63, ~uint64_t(0), 8 + len + body.size(),
                                                len + body.size()}); break;
    case 5: body.resize(body.size() > 0 ? r.below(body.size()) : 0); break;
    case 6: body.append(1 + r.below(8), '\0'); break;
    case 7:  // just over the 1 MiB header limit
      if (text.size() < (uint64_t(1) << 20) + 8) text.append((uint64_t(1) << 20) + 8 - text.size(), ' ');
      len = text.size();
      break;
    default: break;
  }
  std::string out = u64_le(len) + text + body;
  if (r.chance(12)) mutate_bytes(out, r, 3);
  return out;
}

// ---- gzip, IDX, CIFAR -----------------------------------------------------------------------------
std::string gzip(const std::string& plain, int level) {
  z_stream zs{};
  if (deflateInit2(&zs, level, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    throw std::runtime_error("deflateInit2");
  std::string out(deflateBound(&zs, static_cast<uLong>(plain.size())) + 64, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(plain.data()));
  zs.avail_in = static_cast<uInt>(plain.size());
  zs.next_out = reinterpret_cast<Bytef*>(&out[0]);
  zs.avail_out = static_cast<uInt>(out.size());
  const int ret = deflate(&zs, Z_FINISH);
  deflateEnd(&zs);
  if (ret != Z_STREAM_END) throw std::runtime_error("deflate");
  out.resize(zs.total_out);
  return out;
}

std::string idx_file(const std::vector<uint32_t>& dims, const std::string& payload) {
  std::string s = {0, 0, 0x08, static_cast<char>(dims.size())};
  for (uint32_t d : dims)
    for (int b = 24; b >= 0; b -= 8) s.push_back(static_cast<char>((d >> b) & 0xff));
  return s + payload;
}

IdxPair base_idx_pair(int n) {
  std::string img(static_cast<size_t>(n) * 784, '\0'), lbl(static_cast<size_t>(n), '\0');
  for (size_t i = 0; i < img.size(); ++i) img[i] = static_cast<char>((i * 7) % 256);
  for (int i = 0; i < n; ++i) lbl[i] = static_cast<char>(i % 10);
  IdxPair p;
  p.images = idx_file({static_cast<uint32_t>(n), 28, 28}, img);
  p.labels = idx_file({static_cast<uint32_t>(n)}, lbl);
  return p;
}

namespace {

std::string mutate_one_idx(const std::string& plain, bool labels, Rng& r, bool* gz) {
  std::string s = plain;
  const uint64_t k = r.below(100);
  const size_t ndims = static_cast<unsigned char>(s[3]);
  static const std::vector<uint32_t> dims_vals = {0, 1, 9, 10, 11, 27, 28, 29, 32, 5000, 5001, 60000,
                                                  0x7fffffff, 0x80000000, 0xffffffff, 784, 16384, 65536};
  if (k < 10) {
    s[r.below(3)] = static_cast<char>(r.pick(std::vector<int>{0, 1, 8, 9, 0x0B, 0x0C, 0x0D, 0x0E, 0xff}));
  } else if (k < 20) {  // ndims
    s[3] = static_cast<char>(r.pick(std::vector<int>{0, 1, 2, 3, 4, 255}));
  } else if (k < 45 && ndims > 0) {  // a dimension
    const size_t i = r.below(ndims);
    const uint32_t d = r.pick(dims_vals);
    for (int b = 0; b < 4; ++b) s[4 + 4 * i + b] = static_cast<char>((d >> (24 - 8 * b)) & 0xff);
  } else if (k < 60) {  // payload shorter or longer
    if (r.chance(50)) s.resize(r.below(s.size() + 1));
    else s.append(r.chance(90) ? 1 + r.below(100) : (size_t(1) << 20) + 1 + r.below(2), '\0');
  } else if (k < 70 && labels && s.size() > 8) {
    s[8 + r.below(s.size() - 8)] = static_cast<char>(10 + r.below(246));
  } else if (k < 78) {
    mutate_bytes(s, r, 4);
  }
  // The container.
  const uint64_t c = r.below(100);
  *gz = c >= 45;
  if (!*gz) return s;
  std::string z = gzip(s, static_cast<int>(r.below(10)));
  if (c < 55) {  // truncated
    z.resize(r.below(z.size()));
  } else if (c < 62) {  // trailing garbage
    z += r.chance(50) ? std::string(1 + r.below(16), '\0') : std::string("garbage\n");
  } else if (c < 68) {  // a second member (valid gzip, more data)
    z += gzip(r.chance(50) ? std::string(1 + r.below(100), '\0') : s);
  } else if (c < 74) {  // a bomb: a small file that inflates to megabytes past the payload
    std::string bomb = s;
    bomb.append((size_t(1) << 20) * (2 + r.below(7)), '\0');
    z = gzip(bomb, 9);
  } else if (c < 82 && z.size() > 20) {  // corrupt compressed bytes
    mutate_bytes(z, r, 3);
  } else if (c < 85) {
    z = gzip("");
  }
  return z;
}

}  // namespace

IdxPair mutate_idx_pair(const IdxPair& base, Rng& r) {
  IdxPair p = base;
  const uint64_t which = r.below(10);  // 0-5 images, 6-8 labels, 9 both
  if (which <= 5 || which == 9) p.images = mutate_one_idx(base.images, false, r, &p.images_gz);
  if (which >= 6) p.labels = mutate_one_idx(base.labels, true, r, &p.labels_gz);
  if (r.chance(3)) std::swap(p.images, p.labels), std::swap(p.images_gz, p.labels_gz);
  return p;
}

std::string base_cifar(int records) {
  std::string s;
  for (int i = 0; i < records; ++i) {
    s.push_back(static_cast<char>(i % 10));
    for (int k = 0; k < 3072; ++k) s.push_back(static_cast<char>((k * 13 + i) % 256));
  }
  return s;
}

std::string mutate_cifar(const std::string& base, Rng& r) {
  std::string s = base;
  const uint64_t k = r.below(100);
  if (k < 30) s[3073 * r.below(s.size() / 3073)] = static_cast<char>(10 + r.below(246));
  else if (k < 55) s.resize(r.below(s.size() + 1));
  else if (k < 70) s.append(1 + r.below(3073), 'x');
  else mutate_bytes(s, r, 4);
  if (r.chance(40)) {
    std::string z = gzip(s);
    if (r.chance(30)) z.resize(r.below(z.size()));
    return z;
  }
  return s;
}

}  // namespace fuzz
