// Shared pieces of the fuzz suite (test_fuzz): a reproducible random stream per case, file helpers,
// directory snapshots for the "nothing written on exit 2" contract, and failure bookkeeping.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace fuzz {

// splitmix64: every case draws from its own stream, seeded by (run seed, target, case index), so a
// single case reproduces alone: test_fuzz --only TARGET --case K --seed S.
class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed) {}
  uint64_t next() {
    uint64_t z = (s_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  uint64_t below(uint64_t n) { return n == 0 ? 0 : next() % n; }
  bool chance(unsigned percent) { return below(100) < percent; }
  template <class T>
  const T& pick(const std::vector<T>& v) { return v[below(v.size())]; }

 private:
  uint64_t s_;
};

uint64_t case_seed(uint64_t run_seed, const std::string& target, uint64_t index);

// Files.
std::string read_bytes(const std::string& path);
void write_bytes(const std::string& path, const std::string& bytes);
// A fresh directory under $L2O_FUZZ_TMP, else /dev/shm when it has room, else $TMPDIR or /tmp.
std::string make_temp_dir(const std::string& tag);
// Whether that scratch space is memory (tmpfs): on a disk, creating, truncating and fsyncing files
// costs milliseconds, and main runs fewer cases of the targets that do it.
bool scratch_in_memory();
void remove_tree(const std::string& path);
void copy_tree(const std::string& from, const std::string& to);

// What a directory holds, for the "nothing written" check: per relative path its type, size,
// content hash, inode and modification time (so a file replaced by identical bytes still shows).
struct Entry {
  char type = '?';  // 'f' file, 'd' directory, 'l' link, 'o' other
  uint64_t size = 0, hash = 0, inode = 0;
  int64_t mtime_ns = 0;
  bool operator==(const Entry& o) const {
    return type == o.type && size == o.size && hash == o.hash && inode == o.inode && mtime_ns == o.mtime_ns;
  }
};
using Snapshot = std::map<std::string, Entry>;
Snapshot snapshot(const std::string& root);  // empty when root does not exist
// Human-readable differences ("" when equal), ignoring the paths in `ignore` (relative, e.g. "run/.lock").
std::string diff_snapshots(const Snapshot& before, const Snapshot& after, const std::vector<std::string>& ignore);
// Paths of "*.tmp.<digits>" files under root (left-over atomic-write temporaries).
std::vector<std::string> temp_leftovers(const std::string& root);

// Failure bookkeeping shared by both modes.
// Failures are grouped by a signature (the message without numbers and quoted values): the first
// two of each kind are printed in full, the rest counted, and the summary lists every kind once.
struct Report {
  int failures = 0;
  struct Kind {
    int count = 0;
    std::string first;  // "target case K: message"
  };
  std::map<std::string, Kind> kinds;
  void fail(const std::string& target, uint64_t index, uint64_t seed, const std::string& what);
  void summary(uint64_t seed) const;
};

// The index of the case being run (set by main; for targets that walk a fixed list of cases).
extern uint64_t g_case_index;

// What the signal handlers print when a case crashes or hangs in-process.
void set_current_case(const char* target, uint64_t index, uint64_t seed);
void install_crash_handlers();

// Cuts long text for one-line messages.
std::string clip(const std::string& s, size_t max = 300);

}  // namespace fuzz
