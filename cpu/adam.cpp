// Adam on the CPU: the update of core/adam_math.h over one parameter tensor.
#include <cmath>

#include "core/adam_math.h"
#include "cpu/cpu_ops.h"

namespace ednn::cpu {

template <class T>
void adam_step(T* param, const T* grad, T* exp_avg, T* exp_avg_sq, std::int64_t n, const AdamConfig& c, long step) {
  AdamStepParams a{c.lr, c.beta1, c.beta2, c.eps, c.weight_decay, 0.0, 0.0};
  set_bias_corrections(a, step);
#pragma omp parallel for simd schedule(static) if (worth_threads(n))
  for (std::int64_t i = 0; i < n; ++i) adam_update(param[i], grad[i], exp_avg[i], exp_avg_sq[i], a);
}

template void adam_step<float>(float*, const float*, float*, float*, std::int64_t, const AdamConfig&, long);
template void adam_step<double>(double*, const double*, double*, double*, std::int64_t, const AdamConfig&, long);

}  // namespace ednn::cpu
