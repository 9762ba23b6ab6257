#include "engine/atomic_file.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <sys/stat.h>
#include <unistd.h>

#include "kernels/common.h"

namespace l2o {

namespace {

std::string os_error(const std::string& what, const std::string& path) {
  return what + " " + path + ": " + std::strerror(errno);
}

}  // namespace

void write_file_atomic(const std::string& path, const std::string& bytes) {
  // The pid suffix keeps concurrent writers (e.g. two runs sharing a dir) from clobbering each other's temp.
  const std::string tmp = path + ".tmp." + std::to_string(static_cast<long>(::getpid()));
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) throw Error(os_error("cannot open for writing", tmp));
  // Keep the first failure's errno: later calls (fclose, remove) may overwrite it.
  int err = 0;
  if (!bytes.empty() && std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size()) err = errno ? errno : EIO;
  if (!err && std::fflush(f) != 0) err = errno;
  // fsync before rename: otherwise a power loss can leave the renamed file empty.
  if (!err && ::fsync(::fileno(f)) != 0) err = errno;
  if (std::fclose(f) != 0 && !err) err = errno;
  if (err) {
    std::remove(tmp.c_str());
    throw Error("cannot write " + path + " (via " + tmp + "): " + std::strerror(err));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string msg = os_error("cannot rename " + tmp + " to", path);
    std::remove(tmp.c_str());
    throw Error(msg);
  }
}

std::string read_file(const std::string& path, size_t max_bytes) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw InputError(os_error("cannot read", path));
  struct stat st;
  if (::fstat(::fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
    std::fclose(f);
    throw InputError(path + ": not a regular file");
  }
  if (static_cast<uint64_t>(st.st_size) > max_bytes) {
    std::fclose(f);
    throw InputError(path + ": " + std::to_string(st.st_size) + " bytes, over the limit of " +
                     std::to_string(max_bytes) + " for this kind of file");
  }
  std::string out;
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0 && out.size() <= max_bytes) out.append(buf, n);
  const bool bad = std::ferror(f) != 0;
  std::fclose(f);
  if (bad) throw InputError(os_error("error reading", path));
  return out;
}

void append_line(const std::string& path, const std::string& line) {
  std::FILE* f = std::fopen(path.c_str(), "ab");
  if (!f) throw Error(os_error("cannot open for appending", path));
  std::string s = line;
  s.push_back('\n');
  // One fwrite per line so a reader tailing the file sees whole lines.
  bool ok = std::fwrite(s.data(), 1, s.size(), f) == s.size();
  ok = ok && std::fflush(f) == 0;
  const bool closed = std::fclose(f) == 0;
  if (!ok || !closed) throw Error(os_error("cannot append to", path));
}

}  // namespace l2o
