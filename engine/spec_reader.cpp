#include "engine/spec_reader.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "kernels/common.h"

namespace l2o {

using nlohmann::json;

namespace {

// Keys and values come from untrusted text: quoted ones are cut to kMaxEchoChars.
std::string quote(const std::string& s) { return "\"" + clip_text(s) + "\""; }

// Shortest %g form that reads back exactly, so messages show what the user wrote.
std::string fmt_number(double x) {
  if (std::isinf(x)) return x > 0 ? "inf" : "-inf";
  char buf[40];
  for (int prec = 6; prec <= 17; ++prec) {
    std::snprintf(buf, sizeof buf, "%.*g", prec, x);
    if (std::strtod(buf, nullptr) == x) break;
  }
  return buf;
}

std::string fmt_int(int64_t x, bool is_bound) {
  if (is_bound && x == INT64_MAX) return "inf";
  if (is_bound && x == INT64_MIN) return "-inf";
  return std::to_string(x);
}

// "string \"abc\"", "number 1.5", "null"; long values are cut so messages stay one line.
std::string describe(const json& v) {
  if (v.is_null()) return "null";
  return std::string(v.type_name()) + " " + dump_clipped(v, 60);
}

template <class J>
void dump_into(const J& v, std::string& out, size_t limit, int depth) {
  constexpr auto replace = J::error_handler_t::replace;  // a cut may split a UTF-8 sequence
  if (out.size() > limit) return;
  if (depth > kMaxJsonDepth) {
    out += "...";
  } else if (v.is_object()) {
    out += '{';
    for (auto it = v.begin(); it != v.end() && out.size() <= limit; ++it) {
      if (it != v.begin()) out += ',';
      out += J(clip_text(it.key(), limit)).dump(-1, ' ', false, replace) + ':';
      dump_into(it.value(), out, limit, depth + 1);
    }
    out += '}';
  } else if (v.is_array()) {
    out += '[';
    for (auto it = v.begin(); it != v.end() && out.size() <= limit; ++it) {
      if (it != v.begin()) out += ',';
      dump_into(*it, out, limit, depth + 1);
    }
    out += ']';
  } else if (v.is_string()) {
    out += J(clip_text(v.template get_ref<const std::string&>(), limit)).dump(-1, ' ', false, replace);
  } else {
    out += v.dump();
  }
}

std::string line_col(const char* text, size_t pos) {
  size_t line = 1, line_start = 0;
  for (size_t i = 0; i < pos; ++i)
    if (text[i] == '\n') ++line, line_start = i + 1;
  return "line " + std::to_string(line) + ", column " + std::to_string(pos - line_start + 1);
}

std::string fmt_bytes(size_t n) {
  if (n >= (size_t(1) << 20) && n % (size_t(1) << 20) == 0) return std::to_string(n >> 20) + " MiB";
  return std::to_string(n) + " bytes";
}

[[noreturn]] void type_error(const std::string& where, const std::string& expected, const json& v) {
  throw InputError(where + ": expected " + expected + ", got " + describe(v));
}

[[noreturn]] void range_error(const std::string& where, const std::string& value, const std::string& lo,
                              const std::string& hi) {
  throw InputError(where + ": " + value + " is out of range [" + lo + ", " + hi + "]");
}

double to_number(const json& v, const std::string& where, double min, double max) {
  if (!v.is_number()) type_error(where, "a number", v);
  const double x = v.get<double>();
  if (!(x >= min && x <= max)) range_error(where, fmt_number(x), fmt_number(min), fmt_number(max));
  return x;
}

int64_t to_integer(const json& v, const std::string& where, int64_t min, int64_t max) {
  auto out_of_range = [&](const std::string& shown) {
    range_error(where, shown, fmt_int(min, true), fmt_int(max, true));
  };
  int64_t x = 0;
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    if (u > uint64_t(INT64_MAX)) out_of_range(std::to_string(u));
    x = static_cast<int64_t>(u);
  } else if (v.is_number_integer()) {
    x = v.get<int64_t>();
  } else if (v.is_number_float()) {
    // 1e3 is an integer to a user; 1.5 is not.
    const double d = v.get<double>();
    if (!std::isfinite(d) || std::floor(d) != d) type_error(where, "an integer", v);
    if (d < -9223372036854775808.0 || d >= 9223372036854775808.0) out_of_range(fmt_number(d));
    x = static_cast<int64_t>(d);
  } else {
    type_error(where, "an integer", v);
  }
  if (x < min || x > max) out_of_range(std::to_string(x));
  return x;
}

// Closest candidate within edit distance 2 (and shorter than the key, so "x" does not suggest "lr").
std::string closest(const std::string& key, const std::set<std::string>& candidates) {
  std::string best;
  size_t best_d = 3;
  for (const auto& c : candidates) {
    if (key.size() > c.size() + 2 || c.size() > key.size() + 2) continue;  // too far; skips the O(n*m) table
    const size_t d = edit_distance(key, c);
    if (d < best_d && d < key.size()) best = c, best_d = d;
  }
  return best;
}

}  // namespace

size_t edit_distance(const std::string& a, const std::string& b) {
  const size_t n = a.size(), m = b.size();
  std::vector<std::vector<size_t>> d(n + 1, std::vector<size_t>(m + 1));
  for (size_t i = 0; i <= n; ++i) d[i][0] = i;
  for (size_t j = 0; j <= m; ++j) d[0][j] = j;
  for (size_t i = 1; i <= n; ++i) {
    for (size_t j = 1; j <= m; ++j) {
      const size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[n][m];
}

// ---------------------------------------------------------------------------------------
SpecNode::SpecNode(json& j, std::string path) : SpecNode(j, std::move(path), std::make_shared<ReadKeys>()) {}

SpecNode::SpecNode(json& j, std::string path, std::shared_ptr<ReadKeys> read)
    : j_(&j), path_(std::move(path)), read_(std::move(read)) {
  if (j.is_null()) j = json::object();
  if (!j.is_object()) type_error(path_, "an object", j);
  (*read_)[path_];  // registers the object even when nothing is read
}

json* SpecNode::lookup(const std::string& key) {
  (*read_)[path_].insert(key);
  auto it = j_->find(key);
  if (it == j_->end()) return nullptr;
  // An explicit null is more likely a mistake than a request for the default: say so.
  if (it->is_null()) throw InputError(key_path(key) + ": null is not a value here (leave the key out for its default)");
  return &*it;
}

bool SpecNode::has(const std::string& key) const {
  auto it = j_->find(key);
  return it != j_->end() && !it->is_null();
}

double SpecNode::number(const std::string& key, double def, double min, double max) {
  if (const json* v = lookup(key)) return to_number(*v, key_path(key), min, max);
  (*j_)[key] = def;
  return to_number((*j_)[key], key_path(key), min, max);  // a bad default is caught too
}

double SpecNode::number(const std::string& key) {
  const json* v = lookup(key);
  if (!v) throw InputError(path_ + ": missing required key " + quote(key));
  return to_number(*v, key_path(key), -kInf, kInf);
}

int64_t SpecNode::integer(const std::string& key, int64_t def, int64_t min, int64_t max) {
  if (const json* v = lookup(key)) return to_integer(*v, key_path(key), min, max);
  (*j_)[key] = def;
  return to_integer((*j_)[key], key_path(key), min, max);
}

int64_t SpecNode::integer(const std::string& key) {
  const json* v = lookup(key);
  if (!v) throw InputError(path_ + ": missing required key " + quote(key));
  return to_integer(*v, key_path(key), INT64_MIN, INT64_MAX);
}

bool SpecNode::boolean(const std::string& key, bool def) {
  const json* v = lookup(key);
  if (!v) return (*j_)[key] = def, def;
  if (!v->is_boolean()) type_error(key_path(key), "true or false", *v);
  return v->get<bool>();
}

std::string SpecNode::string(const std::string& key, const std::string& def) {
  const json* v = lookup(key);
  if (!v) return (*j_)[key] = def, def;
  if (!v->is_string()) type_error(key_path(key), "a string", *v);
  return v->get<std::string>();
}

std::string SpecNode::string(const std::string& key) {
  const json* v = lookup(key);
  if (!v) throw InputError(path_ + ": missing required key " + quote(key));
  if (!v->is_string()) type_error(key_path(key), "a string", *v);
  return v->get<std::string>();
}

std::string SpecNode::choice(const std::string& key, const std::string& def,
                             const std::vector<std::string>& allowed) {
  L2O_CHECK(std::find(allowed.begin(), allowed.end(), def) != allowed.end(), "default '" << def << "' not allowed");
  const std::string s = string(key, def);
  if (std::find(allowed.begin(), allowed.end(), s) != allowed.end()) return s;
  std::string list;
  for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + quote(a);
  std::string msg = key_path(key) + ": " + quote(s) + " is not one of " + list;
  const std::string hint = closest(s, std::set<std::string>(allowed.begin(), allowed.end()));
  if (!hint.empty()) msg += " (did you mean " + quote(hint) + "?)";
  throw InputError(msg);
}

std::vector<int64_t> SpecNode::int_list(const std::string& key, const std::vector<int64_t>& def, int64_t min,
                                        int64_t max) {
  const json* v = lookup(key);
  if (!v) v = &((*j_)[key] = def);
  if (!v->is_array()) type_error(key_path(key), "an array of integers", *v);
  std::vector<int64_t> out;
  for (size_t i = 0; i < v->size(); ++i)
    out.push_back(to_integer((*v)[i], key_path(key) + "[" + std::to_string(i) + "]", min, max));
  return out;
}

std::vector<double> SpecNode::number_list(const std::string& key, const std::vector<double>& def, double min,
                                          double max) {
  const json* v = lookup(key);
  if (!v) v = &((*j_)[key] = def);
  if (!v->is_array()) type_error(key_path(key), "an array of numbers", *v);
  std::vector<double> out;
  for (size_t i = 0; i < v->size(); ++i)
    out.push_back(to_number((*v)[i], key_path(key) + "[" + std::to_string(i) + "]", min, max));
  return out;
}

SpecNode SpecNode::child(const std::string& key) {
  json* v = lookup(key);
  if (!v) v = &((*j_)[key] = json::object());  // written back: the resolved spec shows every section
  return SpecNode(*v, key_path(key), read_);
}

std::vector<SpecNode> SpecNode::children_array(const std::string& key) {
  json* v = lookup(key);
  if (!v) v = &((*j_)[key] = json::array());
  if (!v->is_array()) type_error(key_path(key), "an array of objects", *v);
  std::vector<SpecNode> out;
  for (size_t i = 0; i < v->size(); ++i)
    out.push_back(SpecNode((*v)[i], key_path(key) + "[" + std::to_string(i) + "]", read_));
  return out;
}

void SpecNode::finish() {
  const std::set<std::string>& seen = (*read_)[path_];
  std::vector<std::string> unknown;
  for (auto it = j_->begin(); it != j_->end(); ++it)
    if (!seen.count(it.key())) unknown.push_back(it.key());
  if (unknown.empty()) return;
  std::string msg = path_ + "." + clip_text(unknown[0]) + ": unknown key";
  const std::string hint = closest(unknown[0], seen);
  if (!hint.empty()) msg += " (did you mean " + quote(hint) + "?)";
  if (unknown.size() > 1) {
    constexpr size_t kListed = 10;
    msg += "; also unknown:";
    for (size_t i = 1; i < unknown.size() && i <= kListed; ++i) msg += (i > 1 ? ", " : " ") + quote(unknown[i]);
    if (unknown.size() > kListed + 1) msg += " and " + std::to_string(unknown.size() - kListed - 1) + " more";
  }
  throw InputError(msg);
}

// ---------------------------------------------------------------------------------------
// Length of the valid UTF-8 sequence starting at s[i], or 0 if it is not one.
static size_t utf8_sequence(const std::string& s, size_t i) {
  const unsigned char u = static_cast<unsigned char>(s[i]);
  const size_t len = u < 0x80 ? 1 : (u >> 5) == 0x6 ? 2 : (u >> 4) == 0xE ? 3 : (u >> 3) == 0x1E ? 4 : 0;
  if (len == 0 || i + len > s.size()) return 0;
  for (size_t k = 1; k < len; ++k)
    if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return 0;
  return len;
}

std::string clip_text(const std::string& whole, size_t max) {
  // Control characters and bytes that are not UTF-8 are shown escaped, so a message stays one
  // readable line.
  const std::string text = whole.substr(0, std::min(whole.size(), 4 * max + 4));
  std::string s;
  for (size_t i = 0; i < text.size();) {
    const unsigned char u = static_cast<unsigned char>(text[i]);
    const size_t len = utf8_sequence(text, i);
    if (len == 0 || u < 0x20 || u == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", u);
      s += buf;
      ++i;
    } else {
      s.append(text, i, len);
      i += len;
    }
  }
  if (s.size() <= max && whole.size() <= 4 * max + 4) return s;
  size_t cut = max > 3 ? std::min(max - 3, s.size()) : 0;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;  // not inside a UTF-8 sequence
  return s.substr(0, cut) + "...";
}

std::string dump_clipped(const json& v, size_t max) {
  std::string out;
  dump_into(v, out, max, 0);
  return clip_text(out, max);
}

std::string dump_clipped(const nlohmann::ordered_json& v, size_t max) {
  std::string out;
  dump_into(v, out, max, 0);
  return clip_text(out, max);
}

void check_json_limits(const char* text, size_t size, const std::string& origin, size_t max_bytes, int max_depth) {
  if (size > max_bytes)
    throw InputError(origin + ": JSON text is " + std::to_string(size) + " bytes, over the " + fmt_bytes(max_bytes) +
                     " limit");
  int depth = 0;
  bool in_string = false, escaped = false;
  for (size_t i = 0; i < size; ++i) {
    const char c = text[i];
    if (c == '\0') throw InputError(origin + ": invalid JSON at " + line_col(text, i) + ": NUL byte");
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth)
        throw InputError(origin + ": JSON nested deeper than " + std::to_string(max_depth) + " levels at " +
                         line_col(text, i));
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;  // mismatched brackets are left to the parser
    }
  }
}

namespace {

template <class J>
J parse_strict(const std::string& text, const std::string& origin, size_t max_bytes) {
  check_json_limits(text.data(), text.size(), origin, max_bytes);
  // nlohmann silently keeps one of duplicate keys; a strict reader must reject them.
  // The callback tracks the open containers to name the object holding the duplicate.
  struct Frame {
    bool object;
    std::set<std::string> keys;
    std::string key;   // current member key (objects)
    size_t index = 0;  // current element index (arrays)
  };
  std::vector<Frame> stack;
  auto where = [&]() {
    std::string p = "$";
    for (size_t i = 0; i + 1 < stack.size(); ++i)
      p += stack[i].object ? "." + clip_text(stack[i].key) : "[" + std::to_string(stack[i].index) + "]";
    return clip_text(p, 4 * kMaxEchoChars);
  };
  auto element_done = [&]() {
    if (!stack.empty() && !stack.back().object) ++stack.back().index;
  };
  using Event = typename J::parse_event_t;
  typename J::parser_callback_t cb = [&](int, Event ev, J& parsed) {
    switch (ev) {
      case Event::object_start: stack.push_back({true, {}, {}, 0}); break;
      case Event::array_start: stack.push_back({false, {}, {}, 0}); break;
      case Event::key: {
        Frame& f = stack.back();
        f.key = parsed.template get<std::string>();
        if (!f.keys.insert(f.key).second)
          throw InputError(origin + ": duplicate key " + quote(f.key) + " in " + where());
        break;
      }
      case Event::object_end:
      case Event::array_end:
        stack.pop_back();
        element_done();
        break;
      case Event::value: element_done(); break;
    }
    return true;
  };
  try {
    return J::parse(text, cb);
  } catch (const nlohmann::json::parse_error& e) {
    // e.byte is 1-based and points at the offending character.
    const size_t pos = std::min(e.byte == 0 ? 0 : e.byte - 1, text.size());
    std::string what = e.what();
    const size_t p = what.find(": ", what.find("parse error"));
    if (p != std::string::npos) what = what.substr(p + 2);
    throw InputError(origin + ": invalid JSON at " + line_col(text.data(), pos) + ": " +
                     clip_text(what, 2 * kMaxEchoChars));
  } catch (const nlohmann::json::exception& e) {  // e.g. out_of_range: a number such as 1e400
    throw InputError(origin + ": invalid JSON: " + clip_text(e.what(), 2 * kMaxEchoChars));
  }
}

}  // namespace

json parse_json_text(const std::string& text, const std::string& origin, size_t max_bytes) {
  return parse_strict<json>(text, origin, max_bytes);
}

nlohmann::ordered_json parse_json_text_ordered(const std::string& text, const std::string& origin, size_t max_bytes) {
  return parse_strict<nlohmann::ordered_json>(text, origin, max_bytes);
}

void apply_override(json& j, const std::string& assignment) {
  const std::string flag = "--set " + clip_text(assignment);
  const size_t eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0) throw InputError(flag + ": expected KEY=VALUE");
  const std::string key = assignment.substr(0, eq), text = assignment.substr(eq + 1);
  check_json_limits(text.data(), text.size(), flag, kMaxSpecBytes);
  // JSON when it parses (numbers, booleans, null, arrays, objects, "quoted"), else a bare string.
  json value = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) value = text;

  std::vector<std::string> parts;
  for (size_t start = 0;;) {
    const size_t dot = key.find('.', start);
    parts.push_back(key.substr(start, dot - start));
    if (parts.back().empty()) throw InputError(flag + ": empty component in key " + quote(key));
    if (dot == std::string::npos) break;
    start = dot + 1;
    if (parts.size() >= size_t(kMaxJsonDepth))
      throw InputError(flag + ": key has more than " + std::to_string(kMaxJsonDepth) + " components");
  }
  json* node = &j;
  std::string path = "$";
  for (size_t i = 0; i < parts.size(); ++i) {
    const std::string& part = parts[i];
    json* next = nullptr;
    if (node->is_array()) {
      const bool digits = std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
      if (!digits) throw InputError(flag + ": " + clip_text(path) + " is an array; " + quote(part) + " is not an index");
      const size_t idx = std::strtoull(part.c_str(), nullptr, 10);
      if (part.size() > 9 || idx >= node->size())
        throw InputError(flag + ": index " + clip_text(part) + " is out of range for " + clip_text(path) + " (" +
                         std::to_string(node->size()) + " elements)");
      next = &(*node)[idx];
      path += "[" + part + "]";
    } else {
      if (node->is_null()) *node = json::object();  // intermediate objects are created
      if (!node->is_object())
        throw InputError(flag + ": " + clip_text(path) + " is " + describe(*node) + ", not an object");
      next = &(*node)[part];
      path += "." + part;
    }
    node = next;
  }
  *node = std::move(value);
}

}  // namespace l2o
