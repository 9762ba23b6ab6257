#include "fuzz_util.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace fs = std::filesystem;

namespace fuzz {

uint64_t case_seed(uint64_t run_seed, const std::string& target, uint64_t index) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : target) h = (h ^ c) * 0x100000001b3ull;
  Rng r(run_seed ^ h);
  r.next();
  return r.next() ^ (index * 0x9e3779b97f4a7c15ull);
}

std::string read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("fuzz: cannot read " + path);
  std::ostringstream os;
  os << f.rdbuf();
  return os.str();
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) throw std::runtime_error("fuzz: cannot write " + path);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!f) throw std::runtime_error("fuzz: cannot write " + path);
}

// Scratch space: $L2O_FUZZ_TMP, else /dev/shm when it has room (memory: file creation, truncation
// and fsync there cost microseconds instead of milliseconds), else $TMPDIR or /tmp.
static fs::path scratch_root() {
  if (const char* e = std::getenv("L2O_FUZZ_TMP"); e && *e) return e;
  struct statvfs vfs;
  // A case directory holds at most a few MiB at a time; 32 MiB also fits Docker's default 64 MiB.
  if (::statvfs("/dev/shm", &vfs) == 0 && static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize >= (uint64_t(32) << 20) &&
      ::access("/dev/shm", W_OK) == 0)
    return "/dev/shm";
  return fs::temp_directory_path();
}

bool scratch_in_memory() {
  struct statfs st;
  return ::statfs(scratch_root().c_str(), &st) == 0 && (st.f_type == TMPFS_MAGIC || st.f_type == RAMFS_MAGIC);
}

std::string make_temp_dir(const std::string& tag) {
  static std::atomic<int> counter{0};
  const auto stamp = std::chrono::steady_clock::now().time_since_epoch().count();
  const fs::path p = scratch_root() /
                     ("l2o_fuzz_" + tag + "_" + std::to_string(::getpid()) + "_" + std::to_string(stamp % 1000000007) +
                      "_" + std::to_string(counter++));
  fs::create_directories(p);
  return p.string();
}

void remove_tree(const std::string& path) {
  std::error_code ec;
  // A fuzz case may leave a directory without write permission; make it removable first.
  fs::remove_all(path, ec);
  if (ec && fs::exists(path)) {
    for (auto it = fs::recursive_directory_iterator(path, fs::directory_options::skip_permission_denied, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
      fs::permissions(it->path(), fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(path, ec);
  }
}

void copy_tree(const std::string& from, const std::string& to) {
  fs::copy(from, to, fs::copy_options::recursive | fs::copy_options::copy_symlinks);
}

namespace {

uint64_t hash_file(const std::string& path, uint64_t size) {
  if (size > (uint64_t(64) << 20)) return size;  // big files: size only
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return 1;
  uint64_t h = 0xcbf29ce484222325ull;
  char buf[1 << 15];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0)
    for (size_t i = 0; i < n; ++i) h = (h ^ static_cast<unsigned char>(buf[i])) * 0x100000001b3ull;
  std::fclose(f);
  return h;
}

void walk(const std::string& root, const std::string& rel, Snapshot& out) {
  const std::string path = rel.empty() ? root : root + "/" + rel;
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return;
  Entry e;
  e.size = static_cast<uint64_t>(st.st_size);
  e.inode = static_cast<uint64_t>(st.st_ino);
  e.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  if (S_ISREG(st.st_mode)) {
    e.type = 'f';
    e.hash = hash_file(path, e.size);
  } else if (S_ISDIR(st.st_mode)) {
    e.type = 'd';
    e.size = 0;
    e.mtime_ns = 0;  // a directory's mtime changes when anything inside does; its entries show that
  } else if (S_ISLNK(st.st_mode)) {
    e.type = 'l';
  } else {
    e.type = 'o';
  }
  out[rel.empty() ? "." : rel] = e;
  if (e.type != 'd') return;
  std::error_code ec;
  for (const auto& d : fs::directory_iterator(path, ec)) {
    const std::string name = d.path().filename().string();
    walk(root, rel.empty() ? name : rel + "/" + name, out);
  }
}

}  // namespace

Snapshot snapshot(const std::string& root) {
  Snapshot s;
  walk(root, "", s);
  return s;
}

std::string diff_snapshots(const Snapshot& before, const Snapshot& after, const std::vector<std::string>& ignore) {
  auto ignored = [&](const std::string& p) {
    for (const auto& i : ignore)
      if (p == i) return true;
    return false;
  };
  std::string out;
  auto add = [&](const std::string& s) {
    if (out.size() < 600) out += (out.empty() ? "" : "; ") + s;
  };
  for (const auto& [p, e] : after) {
    if (ignored(p)) continue;
    auto it = before.find(p);
    if (it == before.end()) add("created " + p);
    else if (!(it->second == e)) {
      const Entry& b = it->second;
      if (b.type != e.type) add("changed type of " + p);
      else if (b.size != e.size || b.hash != e.hash) add("rewrote " + p + " (" + std::to_string(b.size) + " -> " + std::to_string(e.size) + " bytes)");
      else add("replaced " + p + " with identical bytes");
    }
  }
  for (const auto& [p, e] : before)
    if (!ignored(p) && !after.count(p)) add("removed " + p);
  return out;
}

std::vector<std::string> temp_leftovers(const std::string& root) {
  std::vector<std::string> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    const std::string name = it->path().filename().string();
    const auto pos = name.rfind(".tmp.");
    if (pos == std::string::npos || pos + 5 >= name.size()) continue;
    if (name.find_first_not_of("0123456789", pos + 5) == std::string::npos) out.push_back(it->path().string());
  }
  return out;
}

namespace {
std::string signature(const std::string& target, const std::string& what) {
  std::string s = target + ": ";
  bool quoted = false;
  for (size_t i = 0; i < what.size() && s.size() < 170; ++i) {
    const char c = what[i];
    if (c == '\'' || c == '"') {
      quoted = !quoted;
      s += c;
    } else if (quoted) {
      continue;
    } else if (c >= '0' && c <= '9') {
      if (s.back() != '#') s += '#';
    } else if (c == '[') {
      break;  // "[mutated FILE]", "[json.exception...": the kind is named before
    } else {
      s += c;
    }
  }
  return s;
}
}  // namespace

void Report::fail(const std::string& target, uint64_t index, uint64_t seed, const std::string& what) {
  ++failures;
  Kind& k = kinds[signature(target, what)];
  if (++k.count > 2) return;
  const bool corpus = target.rfind("corpus/", 0) == 0;
  if (k.count == 1) k.first = (corpus ? target : target + " case " + std::to_string(index)) + ": " + clip(what, 400);
  if (corpus) {
    std::printf("FAIL %s: %s\n     file: test/fuzz/%s\n", target.c_str(), what.c_str(), target.c_str());
    std::fflush(stdout);
    return;
  }
  std::printf("FAIL %s case %llu (seed %llu): %s\n     reproduce: test_fuzz --only %s --case %llu --seed %llu --dump DIR\n",
              target.c_str(), static_cast<unsigned long long>(index), static_cast<unsigned long long>(seed),
              what.c_str(), target.c_str(), static_cast<unsigned long long>(index),
              static_cast<unsigned long long>(seed));
  std::fflush(stdout);
}

void Report::summary(uint64_t seed) const {
  if (kinds.empty()) return;
  std::printf("test_fuzz: %d failure(s) of %zu kind(s) (seed %llu):\n", failures, kinds.size(),
              static_cast<unsigned long long>(seed));
  for (const auto& [sig, k] : kinds) std::printf("  %4d x  %s\n", k.count, k.first.c_str());
}

uint64_t g_case_index = 0;

// ---- crash and hang reporting (in-process cases) ----------------------------------------------
namespace {
char g_target[64] = "none";
volatile uint64_t g_index = 0, g_seed = 0;

void put(const char* s) {
  const size_t n = std::strlen(s);
  if (::write(1, s, n) < 0) {
  }
}

void put_u64(uint64_t v) {
  char buf[24];
  int i = 23;
  buf[i] = '\0';
  do {
    buf[--i] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v && i > 0);
  put(buf + i);
}

void on_fatal(int sig) {
  put(sig == SIGALRM ? "\nFAIL (hang: no answer within the case time limit) " : "\nFAIL (crash: signal ");
  if (sig != SIGALRM) {
    put_u64(static_cast<uint64_t>(sig));
    put(") ");
  }
  put("in target ");
  put(g_target);
  put(" case ");
  put_u64(g_index);
  put(" (seed ");
  put_u64(g_seed);
  put(")\n     reproduce: test_fuzz --only ");
  put(g_target);
  put(" --case ");
  put_u64(g_index);
  put(" --seed ");
  put_u64(g_seed);
  put(" --dump DIR\n");
  ::signal(SIGABRT, SIG_DFL);
  ::signal(sig, SIG_DFL);
  ::raise(sig == SIGALRM ? SIGABRT : sig);
}
}  // namespace

void set_current_case(const char* target, uint64_t index, uint64_t seed) {
  std::snprintf(g_target, sizeof g_target, "%s", target);
  g_index = index;
  g_seed = seed;
}

void install_crash_handlers() {
  // Its own stack, so a stack overflow (deep recursion) is reported too.
  static std::vector<char> alt(1 << 16);
  stack_t ss{};
  ss.ss_sp = alt.data();
  ss.ss_size = alt.size();
  ::sigaltstack(&ss, nullptr);
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGALRM}) {
    struct sigaction sa {};
    sa.sa_handler = on_fatal;
    sa.sa_flags = SA_ONSTACK | SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    ::sigaction(sig, &sa, nullptr);
  }
}

std::string clip(const std::string& s, size_t max) {
  std::string out;
  for (char c : s.size() > max ? s.substr(0, max) : s) out += (c == '\n' ? '|' : c);
  if (s.size() > max) out += "...(" + std::to_string(s.size()) + " chars)";
  return out;
}

}  // namespace fuzz
