// Synchronised batch norm: the training forward and backward of batch_norm2d with the statistics
// of the whole data-parallel batch, every rank holding a share of it (engine/communicator.h), as
// PyTorch's SyncBatchNorm. Evaluation is plain batch_norm2d (the running statistics).
//
// With M_r = N_r H W values of channel c on rank r and M = sum_r M_r, each rank's local mean m_r
// and biased variance v_r (from the backend's own training forward) give the batch's
//   mean = sum_r M_r m_r / M        var = sum_r M_r (v_r + m_r^2) / M - mean^2
// (one all-reduce of 3C sums), and y = gamma (x - mean) / sqrt(var + eps) + beta is the backend's
// evaluation forward with those statistics. The running statistics take the batch's mean and its
// unbiased variance var M / (M - 1), on every rank alike.
//
// Backward, with xhat = (x - mean) invstd and the sums over the whole batch:
//   dbeta = sum dy      dgamma = sum dy xhat      dx = gamma invstd (dy - dbeta / M - xhat dgamma / M)
// The backend's backward with the batch's mean and invstd gives the rank's dbeta_r, dgamma_r and
// dx_r = gamma invstd (dy - dbeta_r / M_r - xhat dgamma_r / M_r); one all-reduce of 2C sums gives
// dbeta and dgamma, and
//   dx = dx_r + gamma invstd (a + xhat b),   a = dbeta_r / M_r - dbeta / M,  b = dgamma_r / M_r - dgamma / M
// is added as a per-channel affine map of x (the backend's evaluation forward with mean 0, var 1,
// eps 0). dgamma_r and dbeta_r are returned as the parameters' gradients: the gradient all-reduce of
// the training step sums them into the batch's.
//
// `counted`: false for a rank whose share of the batch is empty (it steps on a stand-in sample of
// weight 0): its values are left out of the statistics (M_r = 0), and its dy is zero.
#pragma once
#include "engine/communicator.h"
#include "engine/tensor.h"

namespace ednn {

Tensor sync_batch_norm2d(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& running_mean,
                         Tensor& running_var, double momentum, double eps, Communicator& comm, bool counted = true);

}  // namespace ednn
