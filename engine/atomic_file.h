// Small file helpers: atomic replace (so a crash never leaves a half-written
// checkpoint or spec), whole-file read, and line append for metrics.jsonl.
#pragma once
#include <cstddef>
#include <string>

namespace l2o {

// Writes `bytes` to `path.tmp.<pid>`, fsyncs, then renames over `path`.
// Throws l2o::Error naming the path and the OS reason.
void write_file_atomic(const std::string& path, const std::string& bytes);

// Reads the whole file. A missing or unreadable file, one that is not a regular file (a directory,
// a device, a FIFO) or one over max_bytes is an InputError naming the path; nothing is read first.
std::string read_file(const std::string& path, size_t max_bytes = size_t(256) << 20);

// Appends `line` + '\n' and flushes (one JSON object per line for metrics.jsonl).
void append_line(const std::string& path, const std::string& line);

}  // namespace l2o
