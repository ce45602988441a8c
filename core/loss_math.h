// The pointwise maths of the weighted losses (SPEC section 5), shared by the CPU loop and the
// CUDA kernel so the two cannot drift apart. See core/loss_spec.h for the definitions.
//
// For one pixel with prediction p and target y, d = p - y:
//   term     = P * m(d)
//   d term/dp = P * m'(d) + dP/dp * m(d)      (dP/dp is non-zero only for exp on the prediction:
//                                              P = exp(-(1 - |p|)/w), dP/dp = P sign(p) / w)
// m'(0) is taken as 0 for mae and berhu (the subgradient PyTorch uses for |d|).
#pragma once
#include <cmath>

#include "core/host_device.h"
#include "core/loss_spec.h"

namespace ednn {

// The loss options as plain numbers, cheap to pass to a kernel by value.
struct LossParams {
  int metric;     // LossMetric
  int prefactor;  // LossPrefactor
  double w, a, b, delta;
};

inline LossParams loss_params(const LossSpec& s) {
  return {int(s.metric), int(s.prefactor), s.w, s.a, s.b, s.delta};
}

template <class T>
EDNN_HOST_DEVICE inline T loss_sign(T v) {
  return v > T(0) ? T(1) : (v < T(0) ? T(-1) : T(0));
}

// Returns the pixel's loss term and writes its derivative with respect to the prediction.
template <class T>
EDNN_HOST_DEVICE inline T loss_term(T p, T y, const LossParams& lp, T* dterm_dp) {
  const T d = p - y, ad = d < T(0) ? -d : d, delta = T(lp.delta);
  T m, dm;
  switch (lp.metric) {
    case int(LossMetric::mae): m = ad; dm = loss_sign(d); break;
    case int(LossMetric::mse): m = d * d; dm = T(2) * d; break;
    case int(LossMetric::huber):
      if (ad <= delta) { m = T(0.5) * d * d; dm = d; }
      else { m = delta * (ad - T(0.5) * delta); dm = delta * loss_sign(d); }
      break;
    default:  // berhu
      if (ad <= delta) { m = ad; dm = loss_sign(d); }
      else { m = (d * d + delta * delta) / (T(2) * delta); dm = d / delta; }
      break;
  }
  T P = T(1), dP = T(0);
  switch (lp.prefactor) {
    case int(LossPrefactor::exp_target): P = std::exp(-(T(1) - y) / T(lp.w)); break;
    case int(LossPrefactor::exp_prediction): {
      const T ap = p < T(0) ? -p : p;
      P = std::exp(-(T(1) - ap) / T(lp.w));
      dP = P * loss_sign(p) / T(lp.w);
      break;
    }
    case int(LossPrefactor::step): P = T(1) + T(lp.a) * std::tanh(T(lp.b) * y); break;
    default: break;
  }
  *dterm_dp = P * dm + dP * m;
  return P * m;
}

}  // namespace ednn
