#include "engine/backend.h"

#include <fstream>

#include "kernels/common.h"
#include "kernels/device.h"
#include "optimizees/cuda_optimizees.h"

namespace l2o {

std::string cpu_build_isa() {
#if defined(__AVX512F__)
  std::string isa = "AVX-512";
#elif defined(__AVX2__)
  std::string isa = "AVX2";
#elif defined(__AVX__)
  std::string isa = "AVX";
#elif defined(__SSE2__)
  std::string isa = "SSE2";
#else
  std::string isa = "scalar";
#endif
#if defined(__FMA__)
  isa += "+FMA";
#endif
  return isa;
}

std::string cpu_model_name() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) != 0) continue;
    const size_t colon = line.find(':');
    if (colon == std::string::npos) break;
    const size_t start = line.find_first_not_of(" \t", colon + 1);
    return start == std::string::npos ? "unknown" : line.substr(start);
  }
  return "unknown";
}

ResolvedBackend resolve_backend(const std::string& requested, const ProblemConfig& problem) {
  ResolvedBackend r;
  r.device = "cpu";
  if (requested == "cpu") return r;
  if (requested != "cuda" && requested != "auto")
    throw InputError("unknown backend \"" + requested + "\" (expected cpu, cuda or auto)");
  const DeviceInfo d = query_cuda_device();
  std::string why;
  if (!d.available) {
    if (requested == "cuda") throw InputError("backend \"cuda\" requested but " + d.reason);
    r.note = "auto: CPU backend (" + d.reason + ")";
    return r;
  }
  if (!cuda_supports_problem(problem, &why)) {
    if (requested == "cuda") throw InputError("backend \"cuda\": " + why + "; use --backend cpu");
    r.note = "auto: CPU backend (" + why + ")";
    return r;
  }
  r.kind = Backend::cuda;
  r.device = d.name + " (sm_" + std::to_string(d.cc_major) + std::to_string(d.cc_minor) + ", " +
             std::to_string(d.memory_bytes >> 30) + " GiB)";
  if (requested == "auto") r.note = "auto: CUDA backend on " + r.device;
  return r;
}

}  // namespace l2o
