// Strict JSON run specs (DESIGN.md convention 10): typed getters with defaults that are
// written back (so the saved spec is fully resolved), range checks, and unknown keys
// reported with their JSON path and a "did you mean" suggestion.
#pragma once
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace l2o {

// A view on one JSON object, e.g. "$.learner.lstm". Copies and child views share the json
// and the record of which keys were read (kept per object path), so a component may take a
// node twice and finish() still sees every read.
class SpecNode {
 public:
  // `j` must be an object (null becomes {}); it must outlive the node.
  SpecNode(nlohmann::json& j, std::string path = "$");

  static constexpr double kInf = std::numeric_limits<double>::infinity();

  // Optional getters return the default when the key is absent (or null) and write it back.
  double number(const std::string& key, double def, double min = -kInf, double max = kInf);
  double number(const std::string& key);  // required
  int64_t integer(const std::string& key, int64_t def, int64_t min = INT64_MIN, int64_t max = INT64_MAX);
  int64_t integer(const std::string& key);  // required
  bool boolean(const std::string& key, bool def);
  std::string string(const std::string& key, const std::string& def);
  std::string string(const std::string& key);  // required
  std::string choice(const std::string& key, const std::string& def, const std::vector<std::string>& allowed);
  std::vector<int64_t> int_list(const std::string& key, const std::vector<int64_t>& def, int64_t min, int64_t max);
  std::vector<double> number_list(const std::string& key, const std::vector<double>& def, double min, double max);

  SpecNode child(const std::string& key);  // object child; created as {} when absent
  std::vector<SpecNode> children_array(const std::string& key);  // array of objects, paths "$.x[2]"; [] when absent
  bool has(const std::string& key) const;  // present and not null; does not count as a read

  const std::string& path() const { return path_; }
  nlohmann::json& raw() { return *j_; }

  // Every key of this object must have been read by now; otherwise InputError
  // "$.training.epcohs: unknown key (did you mean \"epochs\"?)".
  void finish();

 private:
  using ReadKeys = std::map<std::string, std::set<std::string>>;  // object path -> keys read
  SpecNode(nlohmann::json& j, std::string path, std::shared_ptr<ReadKeys> read);
  // Marks `key` read and returns its value, or nullptr when absent/null.
  nlohmann::json* lookup(const std::string& key);
  std::string key_path(const std::string& key) const { return path_ + "." + key; }

  nlohmann::json* j_;
  std::string path_;
  std::shared_ptr<ReadKeys> read_;
};

// Limits on JSON the tools read. nlohmann's parser and dump() recurse per nesting level, so
// the depth is checked by an iterative scan before any parse.
constexpr size_t kMaxSpecBytes = size_t(4) << 20;  // specs, checkpoint metadata values
constexpr int kMaxJsonDepth = 64;
constexpr size_t kMaxEchoChars = 80;  // keys and values quoted in messages are cut to this

// InputError "<origin>: ..." when `text` is over max_bytes, nested deeper than max_depth
// (brackets outside strings) or holds a NUL byte (nlohmann stops reading at one).
void check_json_limits(const char* text, size_t size, const std::string& origin, size_t max_bytes,
                       int max_depth = kMaxJsonDepth);

// Parses JSON text after check_json_limits. A syntax error or a duplicate key is an InputError:
// "<origin>: invalid JSON at line L, column C: ..." / "<origin>: duplicate key \"lr\" in $.training".
nlohmann::json parse_json_text(const std::string& text, const std::string& origin,
                               size_t max_bytes = kMaxSpecBytes);
// The same, keeping object members in file order (safetensors headers).
nlohmann::ordered_json parse_json_text_ordered(const std::string& text, const std::string& origin,
                                               size_t max_bytes);

// `s` cut to `max` characters (at a UTF-8 boundary) with "..." appended when longer.
std::string clip_text(const std::string& s, size_t max = kMaxEchoChars);
// A JSON value for a message, e.g. "[1,2,3]", built only up to `max` characters and cut there.
std::string dump_clipped(const nlohmann::json& v, size_t max = kMaxEchoChars);
std::string dump_clipped(const nlohmann::ordered_json& v, size_t max = kMaxEchoChars);

// Applies a command-line override "a.b.c=value" (array elements by index: "stages.2=500").
// The value is parsed as JSON when it parses, else taken as a string; missing objects are created.
void apply_override(nlohmann::json& j, const std::string& assignment);

// Optimal-string-alignment edit distance (a transposition counts 1); used for suggestions.
size_t edit_distance(const std::string& a, const std::string& b);

}  // namespace l2o
