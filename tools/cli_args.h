// Minimal strict command-line parsing shared by the tools: `--name value` or `--name=value`,
// repeated options collected in order, unknown options are errors (InputError -> exit 2).
#pragma once
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "kernels/common.h"

namespace l2o {

class CliArgs {
 public:
  // `valued`: options that take a value; `flags`: options that do not.
  CliArgs(int argc, char** argv, const std::set<std::string>& valued, const std::set<std::string>& flags) {
    for (int i = 1; i < argc; ++i) {
      std::string a = argv[i];
      if (a.rfind("--", 0) != 0) {
        positional_.push_back(a);
        continue;
      }
      std::string name = a.substr(2), value;
      const auto eq = name.find('=');
      const bool has_eq = eq != std::string::npos;
      if (has_eq) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
      }
      if (flags.count(name)) {
        if (has_eq) throw InputError("option --" + name + " takes no value");
        values_[name].push_back("");
      } else if (valued.count(name)) {
        if (!has_eq) {
          if (i + 1 >= argc) throw InputError("option --" + name + " needs a value");
          value = argv[++i];
        }
        values_[name].push_back(value);
      } else {
        throw InputError("unknown option --" + name + " (see --help)");
      }
    }
  }

  bool has(const std::string& name) const { return values_.count(name) > 0; }
  std::string get(const std::string& name, const std::string& def) const {
    auto it = values_.find(name);
    return it == values_.end() ? def : it->second.back();
  }
  std::vector<std::string> all(const std::string& name) const {
    auto it = values_.find(name);
    return it == values_.end() ? std::vector<std::string>{} : it->second;
  }
  // A comma-separated list, from one or several occurrences of the option.
  std::vector<std::string> list(const std::string& name) const {
    std::vector<std::string> out;
    for (const auto& v : all(name)) {
      size_t start = 0;
      for (;;) {
        size_t comma = v.find(',', start);
        std::string item = v.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        if (item.empty()) throw InputError("--" + name + ": empty element in \"" + v.substr(0, 80) + "\"");
        out.push_back(item);
        if (comma == std::string::npos) break;
        start = comma + 1;
      }
    }
    return out;
  }
  int64_t integer(const std::string& name, int64_t def, int64_t min) const {
    if (!has(name)) return def;
    const std::string v = get(name, "");
    char* end = nullptr;
    long long x = std::strtoll(v.c_str(), &end, 10);
    if (v.empty() || *end != '\0') throw InputError("--" + name + ": expected an integer, got \"" + v + "\"");
    if (x < min) throw InputError("--" + name + ": must be >= " + std::to_string(min) + ", got " + v);
    return x;
  }
  double number(const std::string& name, double def) const {
    if (!has(name)) return def;
    const std::string v = get(name, "");
    char* end = nullptr;
    double x = std::strtod(v.c_str(), &end);
    if (v.empty() || *end != '\0') throw InputError("--" + name + ": expected a number, got \"" + v + "\"");
    return x;
  }
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::map<std::string, std::vector<std::string>> values_;
  std::vector<std::string> positional_;
};

// The tools' exit-code contract in one place: 0 from `run`, 2 for bad input (InputError),
// 1 for anything else. `other_prefix` precedes the message of a non-input failure.
template <typename Run>
int run_tool(const char* tool, const char* other_prefix, Run run, int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const InputError& e) {
    std::fprintf(stderr, "%s: error: %s\n", tool, e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s%s\n", tool, other_prefix, e.what());
    return 1;
  }
}

}  // namespace l2o
