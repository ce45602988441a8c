#include "apps/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>

#include "apps/cli.h"

namespace ednn::io {

std::string format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  const long t = std::lround(s);
  char text[32];
  if (t >= 3600) std::snprintf(text, sizeof text, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
  else std::snprintf(text, sizeof text, "%ld:%02ld", t / 60, t % 60);
  return text;
}

std::string progress_line(const std::string& label, std::int64_t done, std::int64_t total, const std::string& unit,
                          double rate, double seconds, bool final, const std::string& extra) {
  constexpr int kWidth = 24;
  const int filled = total > 0 ? int(kWidth * std::clamp<std::int64_t>(done, 0, total) / total) : 0;
  const std::string bar = std::string(std::size_t(filled), '#') + std::string(std::size_t(kWidth - filled), '.');
  const double left = rate > 0 ? double(total - done) / rate : NAN;
  char counts[160];
  std::snprintf(counts, sizeof counts, " %lld/%lld %.1f %s/s ", (long long)done, (long long)total, rate, unit.c_str());
  return label + " [" + bar + "]" + counts + (final ? "in " + format_duration(seconds) : "ETA " + format_duration(left)) +
         extra;
}

ProgressBar::ProgressBar(bool enabled)
    : enabled_(enabled), tty_(::isatty(STDERR_FILENO) != 0), start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

void ProgressBar::start(const std::string& label, std::int64_t total, const std::string& unit) {
  start(label, total, unit, 0, 0);
}

void ProgressBar::start(const std::string& label, std::int64_t total, const std::string& unit,
                        std::int64_t done_before, double seconds_ago) {
  label_ = label;
  unit_ = unit;
  extra_.clear();
  total_ = total;
  done_ = done_before_ = done_before;
  started_ = true;
  drawn_ = false;
  last_tenth_ = total > 0 ? int(10 * done_before / total) : 0;
  last_draw_ = std::chrono::steady_clock::now();
  start_ = last_draw_ - std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                            std::chrono::duration<double>(std::max(seconds_ago, 0.0)));
}

double ProgressBar::seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void ProgressBar::update(std::int64_t done, const std::string& extra) {
  done_ = done;
  extra_ = extra;
  if (!enabled_ || !started_ || (total_ > 0 && done_ >= total_)) return;  // finish() draws the last line
  const auto now = std::chrono::steady_clock::now();
  const double since_draw = std::chrono::duration<double>(now - last_draw_).count();
  if (tty_) {
    if (drawn_ && since_draw < 0.25) return;
  } else {
    const int tenth = total_ > 0 ? int(10 * done_ / total_) : 0;
    if (tenth == last_tenth_ && since_draw < 30) return;
    last_tenth_ = tenth;
  }
  last_draw_ = now;
  draw(false);
}

void ProgressBar::finish(const std::string& extra) {
  if (!extra.empty()) extra_ = extra;
  if (enabled_ && started_) draw(true);
  started_ = false;
}

void ProgressBar::print(std::FILE* stream, const std::string& text) {
  const bool redraw = enabled_ && started_ && tty_ && drawn_;
  if (redraw) {
    std::fputs("\r\033[K", stderr);
    std::fflush(stderr);
  }
  std::fprintf(stream, "%s\n", text.c_str());
  std::fflush(stream);
  if (redraw) draw(false);
}

void ProgressBar::draw(bool final) {
  const double t = seconds();
  const double rate = t > 0 ? double(done_ - done_before_) / t : 0;
  std::string line = progress_line(label_, done_, total_, unit_, rate, t, final, extra_);
  if (tty_) {
    // A line longer than the terminal would wrap, and "\r" would then redraw only its last row.
    const std::size_t width = std::size_t(terminal_width(STDERR_FILENO));
    if (line.size() >= width) line.resize(width - 1);
    std::fprintf(stderr, "\r\033[K%s%s", line.c_str(), final ? "\n" : "");
  } else {
    std::fprintf(stderr, "%s\n", line.c_str());
  }
  std::fflush(stderr);
  drawn_ = !final;
}

}  // namespace ednn::io
