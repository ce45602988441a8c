// The one progress bar of every program (datagen, train, infer, study), on stderr:
//
//   epoch 3/20 [##########..............] 1200/2000 315.2 samples/s ETA 0:02 loss 0.0123
//   epoch 3/20 [########################] 2000/2000 310.9 samples/s in 0:06 loss 0.0119
//
// On a terminal the line is redrawn in place, at most every 0.25 s, cut to the terminal's width;
// otherwise (a log file) one line is printed at each new tenth of the task, or after 30 s without
// one; the line of the whole task is finish()'s. Durations are "m:ss" or "h:mm:ss" everywhere
// (format_duration). The rate and the time left count only the units done since start(): a
// resumed task (datagen continuing a partial file) says how fast this run goes.
#pragma once
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

#include "nets/progress.h"

namespace ednn::io {

// "2:03", "1:02:03"; "?" for a negative or non-finite time.
std::string format_duration(double seconds);

// One line of the bar, without terminal control characters: label, bar, done/total, rate, then
// "ETA <time left>" (final: "in <time taken>"), then extra.
std::string progress_line(const std::string& label, std::int64_t done, std::int64_t total, const std::string& unit,
                          double rate, double seconds, bool final, const std::string& extra);

class ProgressBar final : public nets::Progress {
public:
  explicit ProgressBar(bool enabled = true);
  void start(const std::string& label, std::int64_t total, const std::string& unit) override;
  // A task of which done_before units were done by an earlier run, and which began seconds_ago
  // (datagen hears of its job after the first batch).
  void start(const std::string& label, std::int64_t total, const std::string& unit, std::int64_t done_before,
             double seconds_ago);
  void update(std::int64_t done, const std::string& extra) override;
  void finish(const std::string& extra) override;
  // Prints `text` and a newline on `stream` without tearing the bar: on a terminal the bar is
  // cleared first and drawn again below the text.
  void print(std::FILE* stream, const std::string& text);
  double seconds() const;  // since start()

private:
  void draw(bool final);
  std::string label_, unit_, extra_;
  std::int64_t total_ = 0, done_ = 0, done_before_ = 0;
  bool enabled_, tty_, started_ = false, drawn_ = false;
  int last_tenth_ = -1;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace ednn::io
