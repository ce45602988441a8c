// Adam's options, and one Adam update of one value, PyTorch semantics, shared by the CPU loop
// (cpu/adam.cpp) and the CUDA kernel (kernels/adam.cu).
//
//   g <- g + weight_decay * p                    (L2 penalty, optional)
//   m <- beta1 m + (1 - beta1) g                 v <- beta2 v + (1 - beta2) g^2
//   p <- p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
// eps is added after the square root and the bias corrections, exactly as torch.optim.Adam.
#pragma once
#include <cmath>

#include "core/host_device.h"

namespace ednn {

struct AdamConfig {  // torch.optim.Adam's options (engine/optim.h, the backends, the kernels)
  double lr = 1e-4, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.0;
};

struct AdamStepParams {  // the per-step constants, computed once per step
  double lr, beta1, beta2, eps, weight_decay;
  double step_size;         // lr / (1 - beta1^t)
  double inv_sqrt_bias2;    // 1 / sqrt(1 - beta2^t)
};

// Sets the bias corrections of step t (counting from 1). Shared by the host and the CUDA
// backend's one-thread kernel that advances the step count on the device.
EDNN_HOST_DEVICE inline void set_bias_corrections(AdamStepParams& a, long t) {
  a.step_size = a.lr / (1.0 - std::pow(a.beta1, double(t)));
  a.inv_sqrt_bias2 = 1.0 / std::sqrt(1.0 - std::pow(a.beta2, double(t)));
}

template <class T>
EDNN_HOST_DEVICE inline void adam_update(T& p, T g, T& m, T& v, const AdamStepParams& a) {
  if (a.weight_decay != 0.0) g += T(a.weight_decay) * p;
  m = T(a.beta1) * m + (T(1) - T(a.beta1)) * g;
  v = T(a.beta2) * v + (T(1) - T(a.beta2)) * g * g;
  p -= T(a.step_size) * m / (std::sqrt(v) * T(a.inv_sqrt_bias2) + T(a.eps));
}

}  // namespace ednn
