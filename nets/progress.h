// What a long loop of nets/ (an epoch, an evaluation) tells about how far it is. nets/ only
// reports; the programs draw it (apps/progress.h, one bar for every program), and tests and other
// library callers pass nothing (a null Progress*: silent).
//
// One task at a time: start, any number of updates, finish.
#pragma once
#include <cstdint>
#include <string>

namespace ednn::nets {

class Progress {
public:
  virtual ~Progress() = default;
  // A task of `total` units (e.g. "samples") named `label` (e.g. "epoch 3/20") begins now.
  virtual void start(const std::string& label, std::int64_t total, const std::string& unit) = 0;
  // `done` of the total units are finished; `extra` is shown after the rate (e.g. " loss 0.0123").
  virtual void update(std::int64_t done, const std::string& extra) = 0;
  // The task is over, done or stopped; `extra` replaces the last update's when not empty.
  virtual void finish(const std::string& extra) = 0;
};

}  // namespace ednn::nets
