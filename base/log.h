// Messages from the library to the person running a tool: notes, warnings, progress lines.
// Library code (base/ kernels/ nn/ data/ analysis/) never writes to stderr itself; it calls these,
// and the tool owns where they go (set_log_sink, e.g. to silence or collect them). The default sink
// writes each message as one line on stderr, prefixed by its level ("note: ", "warning: "; info
// lines carry their own label), and progress lines as they come (they bring their own \r and \n).
#pragma once
#include <unistd.h>

#include <cstdarg>
#include <cstdio>
#include <functional>
#include <mutex>
#include <string>

namespace cvg {

enum class LogLevel { progress, info, note, warning };
using LogSink = std::function<void(LogLevel, const std::string&)>;

namespace log_detail {
inline void to_stderr(LogLevel level, const std::string& msg) {
  static bool bar_open = false;  // a progress line redrawn in place (no \n yet) is on the terminal
  if (level == LogLevel::progress) {
    std::fputs(msg.c_str(), stderr);
    bar_open = !msg.empty() && msg.back() != '\n';
  } else {
    if (bar_open) std::fputs("\r\033[K", stderr), bar_open = false;  // the message replaces it; the next update redraws it
    const char* prefix = level == LogLevel::note ? "note: " : level == LogLevel::warning ? "warning: " : "";
    std::fprintf(stderr, "%s%s\n", prefix, msg.c_str());
  }
  std::fflush(stderr);
}
struct State {
  std::mutex mu;
  LogSink sink = to_stderr;
  bool terminal = isatty(2);
};
inline State& state() {
  static State s;
  return s;
}
}  // namespace log_detail

// Sends every later message to `sink` (an empty one restores stderr). `terminal`: whether progress
// lines may redraw in place (\r), as on a terminal; otherwise they come as plain lines.
inline void set_log_sink(LogSink sink, bool terminal = false) {
  auto& s = log_detail::state();
  std::lock_guard<std::mutex> lock(s.mu);
  s.terminal = sink ? terminal : isatty(2);
  s.sink = sink ? std::move(sink) : LogSink(log_detail::to_stderr);
}
inline bool log_is_terminal() { return log_detail::state().terminal; }

inline void log_message(LogLevel level, const std::string& msg) {
  auto& s = log_detail::state();
  std::lock_guard<std::mutex> lock(s.mu);
  s.sink(level, msg);
}
// printf into a std::string, for messages with numbers.
__attribute__((format(printf, 1, 2))) inline std::string strprintf(const char* fmt, ...) {
  va_list ap, ap2;
  va_start(ap, fmt);
  va_copy(ap2, ap);
  const int n = std::vsnprintf(nullptr, 0, fmt, ap);
  va_end(ap);
  std::string out(n > 0 ? n : 0, '\0');
  if (n > 0) std::vsnprintf(out.data(), out.size() + 1, fmt, ap2);
  va_end(ap2);
  return out;
}

inline void log_info(const std::string& msg) { log_message(LogLevel::info, msg); }
inline void log_note(const std::string& msg) { log_message(LogLevel::note, msg); }
inline void log_warning(const std::string& msg) { log_message(LogLevel::warning, msg); }

}  // namespace cvg
