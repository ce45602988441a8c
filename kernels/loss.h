// The weighted losses of SPEC section 5 on the device (kernels/loss.cu). Plain C++; device
// pointers; the options travel as core/loss_math.h's LossParams (by value, into the kernel).
#pragma once
#include "core/loss_math.h"
#include "kernels/simt_host.h"

namespace ednn::kernels {

// Floats of workspace weighted_loss needs for n pixels: one partial sum per block (at most 1024).
long weighted_loss_workspace_size(long n);

// value[0] = 1/n sum_i P_i m(d_i) and grad[i] = d value / d prediction[i], in one pass over the
// pixels; the value stays on the device (no copy to the host). prediction, target, grad: [n],
// value: [1], workspace: [weighted_loss_workspace_size(n)]. n >= 1.
void weighted_loss(const float* prediction, const float* target, float* grad, long n, const LossParams& params,
                   float* value, float* workspace, simt::Stream stream);

}  // namespace ednn::kernels
