// A one-line progress bar with rate and ETA, drawn through the log (base/log.h: stderr unless the
// tool set a sink). On a terminal it redraws in place; when stderr is a file or pipe (CI, logs) or
// the sink is not a terminal it prints a plain line every ~10% instead.
#pragma once
#include <chrono>
#include <cstdio>
#include <string>

#include "base/log.h"

namespace cvg {

class Progress {
 public:
  Progress(std::string label, long long total, const char* unit = "it")
      : label_(std::move(label)), unit_(unit), total_(total), tty_(log_is_terminal()), start_(now()) {}

  // `done` units of `total` are finished; `items` is what the rate counts (e.g. images); `extra` is
  // appended (loss, accuracy).
  void update(long long done, double items, const std::string& extra = "") {
    double t = seconds();
    bool last = done >= total_;
    if (tty_) {
      if (!last && t - last_draw_ < 0.1) return;
    } else {
      long long step = total_ / 10 > 0 ? total_ / 10 : 1;
      if (!last && done / step == last_decile_) return;
      last_decile_ = done / step;
    }
    last_draw_ = t;
    double rate = t > 0 ? items / t : 0;
    double eta = done > 0 ? t * (double)(total_ - done) / done : 0;
    const int width = 24;
    int fill = total_ > 0 ? (int)(width * (double)done / total_) : width;
    std::string bar(fill, '#');
    bar.resize(width, '.');
    log_message(LogLevel::progress,
                strprintf("%s%s [%s] %lld/%lld %s %.0f %s/s ETA %s%s", tty_ ? "\r\033[K" : "", label_.c_str(), bar.c_str(), done,
                          total_, extra.c_str(), rate, unit_, fmt_time(eta).c_str(), (tty_ && !last) ? "" : "\n"));
  }
  double seconds() const { return std::chrono::duration<double>(now() - start_).count(); }
  static std::string fmt_time(double s) {
    char buf[32];
    if (s >= 3600)
      std::snprintf(buf, sizeof buf, "%dh%02dm", (int)s / 3600, ((int)s / 60) % 60);
    else if (s >= 60)
      std::snprintf(buf, sizeof buf, "%dm%02ds", (int)s / 60, (int)s % 60);
    else
      std::snprintf(buf, sizeof buf, "%.0fs", s);
    return buf;
  }

 private:
  static std::chrono::steady_clock::time_point now() { return std::chrono::steady_clock::now(); }
  std::string label_;
  const char* unit_;
  long long total_;
  bool tty_;
  std::chrono::steady_clock::time_point start_;
  double last_draw_ = -1;
  long long last_decile_ = -1;
};

}  // namespace cvg
