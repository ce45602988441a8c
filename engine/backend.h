// Backend: the raw operations, one set per device, chosen in one place (backend_for).
//
// These compute values only; they know nothing about autograd. engine/functional.h wraps them
// into differentiable operations. The CPU backend (cpu/) handles float32 and float64; the
// CUDA backend (engine/cuda_backend.cpp, calling kernels/) handles float32. Every function checks
// nothing that functional.h has already checked, and allocates its outputs on the input's device.
#pragma once
#include <vector>

#include "core/adam_math.h"      // AdamConfig
#include "core/conv_epilogue.h"
#include "core/geometry.h"
#include "core/loss_spec.h"
#include "engine/tensor.h"

namespace ednn {

struct BatchNormSaved {  // what batch norm's backward needs from its training forward pass
  Tensor mean;           // [C] batch mean
  Tensor invstd;         // [C] 1 / sqrt(biased batch variance + eps)
};

class Backend {
public:
  virtual ~Backend() = default;

  // ---- elementwise and reductions ----
  virtual void fill(Tensor& t, double value) = 0;
  virtual void axpy(Tensor& y, const Tensor& x, double alpha) = 0;        // y += alpha x
  virtual Tensor scale(const Tensor& x, const Tensor& scalar) = 0;        // x * scalar[0] (scalar on device)
  virtual Tensor dot(const Tensor& a, const Tensor& b) = 0;               // [1] = sum(a * b)
  virtual Tensor sum_per_channel(const Tensor& x) = 0;                    // [N, C, H, W] -> [C]
  virtual void add_per_channel(Tensor& y, const Tensor& bias) = 0;        // y[n, c, :, :] += bias[c]

  // ---- convolution (geometry from conv2d_geometry; bias may be undefined) ----
  // y = epilogue(conv2d(x, w) + bias).
  virtual Tensor conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias, const ConvGeometry& g,
                                const ConvEpilogue& epilogue = {}) = 0;
  // dx = epilogue(backward_data(dy, w) + bias), bias [C_in]: with bias and epilogue, the whole
  // forward pass of a transposed convolution layer (as in Caffe).
  // dy_scale > 1: dy is given at 1 / dy_scale of g's output size and is read through nearest
  // upsampling by dy_scale (an Upsample layer fused into the transposed convolution after it; the
  // CUDA kernels never write the upsampled tensor, the CPU makes it). Powers of two.
  virtual Tensor conv2d_backward_data(const Tensor& dy, const Tensor& w, const ConvGeometry& g,
                                      const Tensor& bias = Tensor(), const ConvEpilogue& epilogue = {},
                                      int dy_scale = 1) = 0;
  virtual Tensor conv2d_backward_weight(const Tensor& x, const Tensor& dy, const ConvGeometry& g,
                                        int dy_scale = 1) = 0;

  // ---- pooling and upsampling ----
  virtual Tensor avg_pool2d_forward(const Tensor& x, const PoolGeometry& g) = 0;
  virtual Tensor avg_pool2d_backward(const Tensor& dy, const PoolGeometry& g) = 0;
  virtual Tensor upsample_nearest2d_forward(const Tensor& x, int scale) = 0;
  virtual Tensor upsample_nearest2d_backward(const Tensor& dy, int scale) = 0;

  // ---- batch norm over (N, H, W) per channel ----
  // Training: normalises with the batch statistics (biased variance) and updates the running
  // statistics in place: running = (1 - momentum) running + momentum batch (unbiased variance).
  virtual Tensor batch_norm2d_train_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                            Tensor& running_mean, Tensor& running_var, double momentum,
                                            double eps, BatchNormSaved& saved) = 0;
  virtual Tensor batch_norm2d_eval_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                           const Tensor& running_mean, const Tensor& running_var,
                                           double eps) = 0;
  // dx, dgamma, dbeta from the training forward pass's saved statistics.
  virtual void batch_norm2d_backward(const Tensor& dy, const Tensor& x, const Tensor& gamma,
                                     const BatchNormSaved& saved, Tensor& dx, Tensor& dgamma,
                                     Tensor& dbeta) = 0;

  // ---- activation ----
  virtual Tensor leaky_relu_forward(const Tensor& x, double slope) = 0;
  // dx = dy where x > 0, else slope dy. With slope > 0, y = leaky_relu(x) has the sign of x, so
  // the forward's output may stand in for x: that is how the fused convolutions' backward works
  // without keeping the pre-activation (engine/functional.cpp).
  virtual Tensor leaky_relu_backward(const Tensor& dy, const Tensor& x, double slope) = 0;

  // ---- loss: value [1] and d(value)/d(prediction) in one pass ----
  virtual Tensor weighted_loss(const Tensor& prediction, const Tensor& target, const LossSpec& spec,
                               Tensor& grad_prediction) = 0;

  // ---- optimiser: one Adam step over all parameters (step counts from 1) ----
  virtual void adam_step(std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                         std::vector<Tensor>& exp_avg, std::vector<Tensor>& exp_avg_sq,
                         const AdamConfig& config, long step) = 0;
};

// The backend for a device; throws a clear error for cuda when ednn was built without it.
Backend& backend_for(Device device);

Backend& cpu_backend();
#if EDNN_WITH_CUDA
Backend& cuda_backend();
#endif

}  // namespace ednn
