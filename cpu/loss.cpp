// The weighted losses on the CPU: value and gradient in one pass (maths in core/loss_math.h).
#include "cpu/cpu_ops.h"
#include "core/loss_math.h"

namespace ednn::cpu {

template <class T>
double weighted_loss(const T* prediction, const T* target, T* grad, std::int64_t n, const LossSpec& spec) {
  const LossParams lp = loss_params(spec);
  const T inv_n = T(1) / T(n);
  double total = 0;
#pragma omp parallel for reduction(+ : total) schedule(static) if (worth_threads(n))
  for (std::int64_t i = 0; i < n; ++i) {
    T dterm;
    total += double(loss_term(prediction[i], target[i], lp, &dterm));
    grad[i] = dterm * inv_n;
  }
  return total / double(n);
}

template double weighted_loss<float>(const float*, const float*, float*, std::int64_t, const LossSpec&);
template double weighted_loss<double>(const double*, const double*, double*, std::int64_t, const LossSpec&);

}  // namespace ednn::cpu
