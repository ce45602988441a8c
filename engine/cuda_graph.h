// A CUDA graph of engine work: a training step recorded once, then replayed with one launch.
//
// A small network's step is a couple of hundred launches of small kernels (the `small` preset:
// about 150); the host spends microseconds on each, and the GPU waits between them. A graph
// hands the driver the whole step at once: one launch, no gaps.
//
// What capture means for the code that runs under it (engine/cuda_device.h, kernels/simt_host.h):
//   - Nothing runs. Every kernel, memset and device copy queued on cuda::stream() is recorded
//     with its arguments: the same pointers and scalars at every replay.
//   - Nothing may wait for the device or copy from the host: Tensor::item(), Tensor::to(cpu),
//     a host -> device upload are errors (on a GPU they invalidate the capture; the emulation
//     refuses them at the call). So the loss value is read after a replay, not during capture.
//   - Memory allocated or freed during the capture belongs to the graph's pool (see
//     engine/cuda_device.h): the tensors the step creates (its activations, gradients, the loss
//     tensor) get the same addresses at every replay, and nothing else is handed those blocks
//     while the graph lives.
//   - What the step reads from outside (the input batch, the parameters, Adam's moments and its
//     state on the device) must stay where it is while the graph lives; to feed a new batch,
//     copy it into the same input tensor before replaying (Tensor::copy_from).
//   - Adam keeps its step count and bias corrections on the device, so replays take successive
//     steps. The host's count (Adam::steps, saved in checkpoints) does not see them:
//     CapturedTrainingStep below keeps it. Adam needs one eager step before a capture (it writes
//     its device state from the host then).
#pragma once
#include <cstddef>
#include <functional>

#include "engine/cuda_device.h"
#include "engine/optim.h"

namespace ednn::cuda {

class CapturedGraph {
public:
  CapturedGraph() = default;
  ~CapturedGraph();
  CapturedGraph(CapturedGraph&& o) noexcept;
  CapturedGraph& operator=(CapturedGraph&& o) noexcept;

  // Runs `work` with cuda::stream() capturing and returns what it queued, which has not run.
  // If `work` throws, or does what a capture cannot record, the capture is closed, its pool
  // released, and the error rethrown.
  static CapturedGraph capture(const std::function<void()>& work);

  // Queues the recorded work on cuda::stream() (asynchronous, as a kernel launch is).
  void replay();
  bool empty() const { return graph_.empty(); }
  std::size_t node_count() const { return graph_.node_count(); }

private:
  void release() noexcept;
  simt::Graph graph_;
  GraphPool pool_ = 0;  // 0: none
};

// A training step captured once and replayed: `step` ends with adam.step(). At capture,
// Adam::step counts the step it records, which the first replay takes; each later replay
// advances adam's host count itself, so Adam::steps stays the number of steps taken.
class CapturedTrainingStep {
public:
  CapturedTrainingStep(Adam& adam, const std::function<void()>& step)
      : adam_(&adam), graph_(CapturedGraph::capture(step)) {}
  void replay();
  std::size_t node_count() const { return graph_.node_count(); }

private:
  Adam* adam_;
  CapturedGraph graph_;
  bool counted_ = true;  // the capture counted the step the next replay takes
};

}  // namespace ednn::cuda
