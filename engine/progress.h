// Training progress on stderr: one redrawn line on a terminal, plain periodic lines otherwise.
#pragma once
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>

namespace l2o {

class Progress {
 public:
  Progress(bool tty, int64_t total_epochs, int64_t start_epoch)
      : tty_(tty), total_(total_epochs), start_(start_epoch), t0_(std::chrono::steady_clock::now()) {}

  // `log`: in non-terminal mode, print this update as a line.
  void update(int64_t epoch, double meta_loss, double final_loss, int64_t skipped, const std::string& note, bool log) {
    if (!tty_ && !log) return;
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
    const double rate = epoch > start_ ? (epoch - start_) / secs : 0;
    const double eta = rate > 0 ? (total_ - epoch) / rate : 0;
    char line[256];
    std::snprintf(line, sizeof line, "epoch %lld/%lld | loss %.4g | final loss %.4g | %.2f epochs/s | ETA %s%s%s",
                  static_cast<long long>(epoch), static_cast<long long>(total_), meta_loss, final_loss, rate,
                  format_duration(eta).c_str(), skipped ? (" | skipped " + std::to_string(skipped)).c_str() : "",
                  note.c_str());
    if (tty_) {
      std::fprintf(stderr, "\r\033[K%s", line);
      if (!note.empty()) std::fprintf(stderr, "\n");
    } else {
      std::fprintf(stderr, "%s\n", line);
    }
    std::fflush(stderr);
  }
  void finish() {
    if (tty_) std::fprintf(stderr, "\n");
  }

  static std::string format_duration(double s) {
    char b[32];
    if (!std::isfinite(s) || s < 0) return "?";
    if (s < 60) std::snprintf(b, sizeof b, "%.0fs", s);
    else if (s < 3600) std::snprintf(b, sizeof b, "%dm%02ds", static_cast<int>(s) / 60, static_cast<int>(s) % 60);
    else std::snprintf(b, sizeof b, "%dh%02dm", static_cast<int>(s) / 3600, (static_cast<int>(s) % 3600) / 60);
    return b;
  }

 private:
  bool tty_;
  int64_t total_, start_;
  std::chrono::steady_clock::time_point t0_;
};

}  // namespace l2o
