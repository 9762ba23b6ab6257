// Shared by CPU and CUDA code: the host/device qualifier and the error type.
#pragma once
#include <cmath>
#include <sstream>
#include <stdexcept>
#include <string>

#if defined(__CUDACC__)
#define L2O_HD __host__ __device__ __forceinline__
#else
#define L2O_HD inline
#endif

namespace l2o {

// Unqualified math in templates must pick the float overloads for T = float (on the host and,
// through CUDA's std:: overloads, on the device) instead of the C library's double functions.
using std::asinh;
using std::exp;
using std::fabs;
using std::log;
using std::sqrt;
using std::tanh;

// Every library error is an l2o::Error; tools map it to exit codes. Library code never exits.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// User-facing input error (bad spec, bad file, bad flag): tools exit with code 2.
class InputError : public Error {
 public:
  using Error::Error;
};

[[noreturn]] inline void fail_check(const char* file, int line, const char* expr, const std::string& msg) {
  std::ostringstream os;
  os << file << ":" << line << ": check failed: " << expr;
  if (!msg.empty()) os << " (" << msg << ")";
  throw Error(os.str());
}

}  // namespace l2o

// Internal invariant: throws l2o::Error with file, line and the failing statement.
#define L2O_CHECK(cond, msg)                                                    \
  do {                                                                          \
    if (!(cond)) {                                                              \
      std::ostringstream l2o_os_;                                               \
      l2o_os_ << msg;                                                           \
      ::l2o::fail_check(__FILE__, __LINE__, #cond, l2o_os_.str());              \
    }                                                                           \
  } while (0)
