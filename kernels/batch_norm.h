// Batch norm over (N, H, W) per channel on the device (kernels/batch_norm.cu). Plain C++; all
// pointers are device pointers; x, y, dy, dx: [N, C, H, W] with HW = H W; per-channel arrays: [C].
#pragma once
#include "kernels/simt_host.h"

namespace ednn::kernels {

// Doubles of workspace the training forward and the backward need: 2 C S partial sums, with
// S = channel_slices(N, HW) (kernels/reduce.h). The caller owns it (no allocation inside).
long batch_norm_workspace_size(int N, int C, long HW);

// Training: batch statistics (biased variance) normalise x; saved_mean and saved_invstd keep
// them for backward; running_mean and running_var are updated in place with `momentum` (the
// variance unbiased by M / (M - 1), M = N HW).
void batch_norm2d_train_forward(const float* x, const float* gamma, const float* beta, float* running_mean,
                                float* running_var, double momentum, double eps, float* y, float* saved_mean,
                                float* saved_invstd, int N, int C, long HW, double* workspace, simt::Stream stream);
// Evaluation: y = gamma (x - running_mean) / sqrt(running_var + eps) + beta.
void batch_norm2d_eval_forward(const float* x, const float* gamma, const float* beta, const float* running_mean,
                               const float* running_var, double eps, float* y, int N, int C, long HW,
                               simt::Stream stream);
// dbeta = sum dy, dgamma = sum dy xhat, then dx (overwritten), from the training statistics.
void batch_norm2d_backward(const float* dy, const float* x, const float* gamma, const float* saved_mean,
                           const float* saved_invstd, float* dx, float* dgamma, float* dbeta, int N, int C, long HW,
                           double* workspace, simt::Stream stream);

}  // namespace ednn::kernels
