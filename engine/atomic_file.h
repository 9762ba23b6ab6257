// Small file helpers: atomic replace (so a crash never leaves a half-written
// checkpoint or spec), whole-file read, and line append for metrics.jsonl.
#pragma once
#include <string>

namespace l2o {

// Writes `bytes` to `path.tmp.<pid>`, fsyncs, then renames over `path`.
// Throws l2o::Error naming the path and the OS reason.
void write_file_atomic(const std::string& path, const std::string& bytes);

// Reads the whole file. A missing/unreadable file is an InputError naming the path.
std::string read_file(const std::string& path);

// Appends `line` + '\n' and flushes (one JSON object per line for metrics.jsonl).
void append_line(const std::string& path, const std::string& line);

}  // namespace l2o
