// One writer per run directory: an exclusive flock on DIR/.lock held for the life of the object
// (the kernel releases it when the process dies, so a killed run never leaves a stale lock).
#pragma once
#include <string>

namespace l2o {

class RunDirLock {
 public:
  // Creates DIR/.lock if needed and locks it without waiting. Throws InputError naming the
  // directory (and the holder's pid when known) if another process holds it.
  explicit RunDirLock(const std::string& dir);
  ~RunDirLock();
  RunDirLock(const RunDirLock&) = delete;
  RunDirLock& operator=(const RunDirLock&) = delete;

 private:
  int fd_ = -1;
};

// Removes the `*.tmp.<pid>` files that writes interrupted by a kill left in `dir` (not recursive).
// Call only while holding the directory's lock. Returns how many it removed.
int remove_stale_temp_files(const std::string& dir);

}  // namespace l2o
