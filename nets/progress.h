// A progress bar on stderr: done/total, items/s and time left, redrawn at most every 0.25 s
// (in place on a terminal, one line every 10% otherwise).
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace ednn::nets {

class ProgressBar {
public:
  ProgressBar(std::string label, std::int64_t total, std::string unit = "samples", bool enabled = true);
  // Sets the count done and an extra text shown after the rate (e.g. the running loss).
  void update(std::int64_t done, const std::string& extra = "");
  void finish(const std::string& extra = "");  // final line, newline
  double seconds() const;

private:
  void draw(bool final);
  std::string label_, unit_, extra_;
  std::int64_t total_, done_ = 0;
  bool enabled_, tty_;
  int last_decile_ = -1;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

// "1:02:03" / "2:03"
std::string format_duration(double seconds);

}  // namespace ednn::nets
