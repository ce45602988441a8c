// Adam over all parameters in one launch (kernels/adam.cu). Plain C++.
#pragma once
#include <vector>

#include "core/adam_math.h"
#include "kernels/simt_host.h"

namespace ednn::kernels {

// One parameter tensor and its gradient and moments (device pointers), n values each.
struct AdamTensor {
  float* param;
  const float* grad;
  float* exp_avg;
  float* exp_avg_sq;
  long n;
};

// What the kernel reads from device memory every step: the constants of the current step and
// how many steps have been taken. Kept on the device (not passed by value) so that a captured
// graph, whose kernel arguments are fixed, still takes step t + 1 on its next replay.
struct AdamDeviceState {
  AdamStepParams params;
  long step;
};

// Values per block: big enough that a block has work (64 per thread), small enough that a large
// tensor spreads over many blocks.
constexpr long adam_chunk_values = 16384;
// Tensors per launch: their table travels as a kernel argument (3 KB, under the 4 KB limit).
// More tensors take more launches.
constexpr int adam_tensors_per_launch = 64;

// The constants after `step` steps (step >= 0; at 0 the bias corrections are left 0, unused:
// adam_count_step sets them before the first update).
AdamDeviceState adam_device_state(double lr, double beta1, double beta2, double eps, double weight_decay, long step);

// state->step += 1 and the bias corrections of the new step: one thread, before adam_step.
void adam_count_step(AdamDeviceState* state, simt::Stream stream);
// One Adam step over every tensor with the constants in *state: one launch per 64 tensors.
void adam_step(const std::vector<AdamTensor>& tensors, const AdamDeviceState* state, simt::Stream stream);

}  // namespace ednn::kernels
