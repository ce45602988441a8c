// Helpers shared by the engine tests: seeded random tensors and the central-difference gradient check.
#pragma once
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <random>
#include <vector>

#include "engine/autograd.h"
#include "engine/functional.h"
#include "engine/tensor.h"

namespace ednn::test {

// Uniform values in [lo, hi), seeded; requires_grad as asked.
inline Tensor random_tensor(const Shape& shape, std::uint64_t seed, DType dtype = DType::f64, double lo = -1,
                            double hi = 1, bool requires_grad = false) {
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<double> dist(lo, hi);
  std::vector<double> v(static_cast<std::size_t>(shape_numel(shape)));
  for (auto& x : v) x = dist(gen);
  Tensor t = Tensor::from_vector(v, shape);
  if (dtype == DType::f32) t = t.to_dtype(DType::f32);
  if (requires_grad) t.set_requires_grad(true);
  return t;
}

inline double max_abs_diff(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  auto va = a.to_vector(), vb = b.to_vector();
  double m = 0;
  for (std::size_t i = 0; i < va.size(); ++i) m = std::max(m, std::abs(va[i] - vb[i]));
  return m;
}

// Checks the autograd gradient of the scalar f(inputs) with respect to every input that requires
// a gradient against central differences (in float64), as Caffe's GradientChecker does:
//   |analytic - numeric| <= tol * max(|analytic|, |numeric|, 1).
// `skip(input_index, element_index)` excludes points at a kink (e.g. leaky ReLU at 0).
inline void check_gradients(const std::function<Tensor(std::vector<Tensor>&)>& f, std::vector<Tensor> inputs,
                            double step = 1e-6, double tol = 1e-6,
                            const std::function<bool(std::size_t, std::int64_t)>& skip = nullptr) {
  for (auto& t : inputs) t.zero_grad();
  Tensor out = f(inputs);
  REQUIRE(out.numel() == 1);
  out.backward();
  int checked = 0;
  for (std::size_t k = 0; k < inputs.size(); ++k) {
    Tensor& in = inputs[k];
    if (!in.requires_grad()) continue;
    REQUIRE(in.dtype() == DType::f64);
    Tensor analytic = in.grad();
    REQUIRE_MESSAGE(analytic.defined(), "no gradient reached input ", k);
    const double* ga = analytic.data<double>();
    double* x = in.data<double>();
    for (std::int64_t i = 0; i < in.numel(); ++i) {
      if (skip && skip(k, i)) continue;
      const double saved = x[i];
      double plus, minus;
      {
        NoGradGuard ng;
        x[i] = saved + step;
        plus = f(inputs).item();
        x[i] = saved - step;
        minus = f(inputs).item();
      }
      x[i] = saved;
      const double numeric = (plus - minus) / (2 * step);
      const double scale = std::max({std::abs(ga[i]), std::abs(numeric), 1.0});
      INFO("input ", k, " element ", i, ": analytic ", ga[i], " numeric ", numeric);
      CHECK(std::abs(ga[i] - numeric) <= tol * scale);
      ++checked;
    }
  }
  CHECK(checked > 0);
}

}  // namespace ednn::test
