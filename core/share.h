// How `total` items are split among the `size` ranks of a job: the one cut that the trainer's data
// parallelism (nets/trainer.cpp) and the data generator's shares of a batch (solver/datagen.cpp)
// both make, so that rank order is index order.
#pragma once
#include <algorithm>
#include <cstdint>

#include "core/error.h"

namespace ednn {

// The index range [first, end) of `total` items that rank `rank` of `size` takes: contiguous
// blocks, the first total % size ranks one item more (a batch's shard, a test set's share).
struct Share {
  std::int64_t first = 0, end = 0;
  std::int64_t count() const { return end - first; }
};
inline Share share_of(std::int64_t total, int rank, int size) {
  EDNN_CHECK(size > 0 && rank >= 0 && rank < size, "share_of: rank ", rank, " of ", size);
  const std::int64_t base = total / size, extra = total % size;
  Share s;
  s.first = rank * base + std::min<std::int64_t>(rank, extra);
  s.end = s.first + base + (rank < extra ? 1 : 0);
  return s;
}

}  // namespace ednn
