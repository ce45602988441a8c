// An independent reference for the SOR solver: builds the linear system of SPEC section 1
// directly from the input image and solves it by banded Gaussian elimination.
//
// Unknown p = i * L + j for every pixel. Free pixel: (4D + gamma) u_p - D sum_{q ~ p} u_q = b_p,
// b = gamma x (production) or 0 (clamp); clamped source pixel: u_p = x_p. The matrix is row
// diagonally dominant, so elimination without pivoting is stable; its half-bandwidth is L, so the
// cost is N L^2 = L^4 (1M operations at L = 32, 270M at L = 128).
#pragma once
#include <algorithm>
#include <cmath>
#include <vector>

#include "solver/solver.h"

namespace ednn::solver::testing {

// Returns the target image [L, L] (normalised by max u in the production model).
inline std::vector<double> direct_solve(const SolverConfig& config, const std::vector<float>& x) {
  const int L = config.L, N = L * L, B = L, W = 2 * B + 1;
  std::vector<double> band(static_cast<size_t>(N) * W, 0.0), rhs(static_cast<size_t>(N), 0.0);
  auto A = [&](int row, int col) -> double& { return band[static_cast<size_t>(row) * W + (col - row + B)]; };
  const bool production = config.model == SourceModel::production;
  for (int i = 0; i < L; ++i)
    for (int j = 0; j < L; ++j) {
      const int p = i * L + j;
      const double xp = x[static_cast<size_t>(p)];
      if (!production && xp > 0) {
        A(p, p) = 1.0;
        rhs[static_cast<size_t>(p)] = xp;
        continue;
      }
      A(p, p) = 4 * config.D + config.gamma;
      if (i > 0) A(p, p - L) = -config.D;
      if (i < L - 1) A(p, p + L) = -config.D;
      if (j > 0) A(p, p - 1) = -config.D;
      if (j < L - 1) A(p, p + 1) = -config.D;
      rhs[static_cast<size_t>(p)] = production ? config.gamma * xp : 0.0;
    }
  for (int k = 0; k < N; ++k) {
    const int last = std::min(N - 1, k + B);
    for (int r = k + 1; r <= last; ++r) {
      const double f = A(r, k) / A(k, k);
      if (f == 0.0) continue;
      for (int c = k; c <= last; ++c) A(r, c) -= f * A(k, c);
      rhs[static_cast<size_t>(r)] -= f * rhs[static_cast<size_t>(k)];
    }
  }
  std::vector<double> u(static_cast<size_t>(N));
  for (int k = N - 1; k >= 0; --k) {
    double s = rhs[static_cast<size_t>(k)];
    for (int c = k + 1; c <= std::min(N - 1, k + B); ++c) s -= A(k, c) * u[static_cast<size_t>(c)];
    u[static_cast<size_t>(k)] = s / A(k, k);
  }
  if (production) {
    const double peak = *std::max_element(u.begin(), u.end());
    for (double& v : u) v /= peak;
  }
  return u;
}

inline double max_abs_difference(const std::vector<double>& a, const std::vector<float>& b) {
  double worst = 0.0;
  for (size_t p = 0; p < a.size(); ++p) worst = std::max(worst, std::abs(a[p] - double(b[p])));
  return worst;
}

}  // namespace ednn::solver::testing
