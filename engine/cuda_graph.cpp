// CapturedGraph: simt's capture around a pool of the caching allocator; CapturedTrainingStep: one
// with Adam's host count kept. See engine/cuda_graph.h.
#include "engine/cuda_graph.h"

#include <utility>

#include "core/error.h"

namespace ednn::cuda {

CapturedGraph::~CapturedGraph() { release(); }

CapturedGraph::CapturedGraph(CapturedGraph&& o) noexcept
    : graph_(std::move(o.graph_)), pool_(std::exchange(o.pool_, 0)) {}

CapturedGraph& CapturedGraph::operator=(CapturedGraph&& o) noexcept {
  if (this != &o) {
    release();
    graph_ = std::move(o.graph_);
    pool_ = std::exchange(o.pool_, 0);
  }
  return *this;
}

void CapturedGraph::release() noexcept {
  graph_ = simt::Graph();  // the graph first: then nothing will write its pool again
  if (pool_) allocator_release_graph_pool(std::exchange(pool_, 0));
}

CapturedGraph CapturedGraph::capture(const std::function<void()>& work) {
  EDNN_CHECK(!simt::capture_open(), "CapturedGraph::capture: a capture is already open");
  CapturedGraph captured;
  captured.pool_ = allocator_begin_graph_pool();
  simt::begin_capture(stream());
  try {
    work();
  } catch (...) {
    try {
      (void)simt::end_capture(stream());
    } catch (...) {  // an invalidated capture: the error that invalidated it is the one to report
    }
    allocator_end_graph_pool();
    throw;  // `captured` releases the pool
  }
  allocator_end_graph_pool();
  captured.graph_ = simt::end_capture(stream());
  return captured;
}

void CapturedGraph::replay() {
  EDNN_CHECK(!graph_.empty(), "CapturedGraph::replay: nothing was captured");
  graph_.replay(stream());
}

void CapturedTrainingStep::replay() {
  graph_.replay();
  if (!counted_) adam_->set_steps(adam_->steps() + 1);
  counted_ = false;
}

}  // namespace ednn::cuda
