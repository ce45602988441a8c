#include "nets/progress.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>

namespace ednn::nets {

std::string format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  const long t = std::lround(s);
  char buf[32];
  if (t >= 3600) std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
  else std::snprintf(buf, sizeof buf, "%ld:%02ld", t / 60, t % 60);
  return buf;
}

ProgressBar::ProgressBar(std::string label, std::int64_t total, std::string unit, bool enabled)
    : label_(std::move(label)), unit_(std::move(unit)), total_(total), enabled_(enabled),
      tty_(::isatty(STDERR_FILENO) != 0), start_(std::chrono::steady_clock::now()), last_draw_(start_) {}

double ProgressBar::seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void ProgressBar::update(std::int64_t done, const std::string& extra) {
  done_ = done;
  extra_ = extra;
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  if (tty_) {
    if (std::chrono::duration<double>(now - last_draw_).count() < 0.25) return;
  } else {
    const int decile = total_ > 0 ? int(10 * done_ / total_) : 0;
    if (decile == last_decile_) return;
    last_decile_ = decile;
  }
  last_draw_ = now;
  draw(false);
}

void ProgressBar::finish(const std::string& extra) {
  if (!extra.empty()) extra_ = extra;
  if (enabled_) draw(true);
}

void ProgressBar::draw(bool final) {
  const double t = seconds();
  const double rate = t > 0 ? double(done_) / t : 0;
  const double left = rate > 0 ? double(total_ - done_) / rate : NAN;
  const int width = 24;
  const int filled = total_ > 0 ? int(width * std::min<std::int64_t>(done_, total_) / total_) : 0;
  std::string bar(filled, '#');
  bar.append(width - filled, '.');
  std::fprintf(stderr, "%s%s [%s] %lld/%lld %.1f %s/s %s %s%s", tty_ ? "\r\033[K" : "", label_.c_str(), bar.c_str(),
               (long long)done_, (long long)total_, rate, unit_.c_str(),
               final ? ("in " + format_duration(t)).c_str() : ("ETA " + format_duration(left)).c_str(),
               extra_.c_str(), (final || !tty_) ? "\n" : "");
  std::fflush(stderr);
}

}  // namespace ednn::nets
