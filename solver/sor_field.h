// The CPU solver's working state, shared by the SOR sweeps (solver/sor_cpu.cpp) and the
// certificate of a field (solver/certificate.cpp), so that both apply one discretisation.
//
// The field, its per-pixel relaxation factors and (production model) its source term live in the
// red-black layout of solver/red_black_layout.h. The 5-point stencil of a pixel is one function,
// neighbour_sum: with a = D / (4D + gamma) and gs_p = a * neighbour_sum + rhs_p, the residual of
// the discrete equations of SPEC section 1 on a free pixel is r_p = (4D + gamma) (u_p - gs_p).
#pragma once
#include <cmath>
#include <span>
#include <vector>

#include "core/error.h"
#include "solver/red_black_layout.h"
#include "solver/solver.h"

namespace ednn::solver {

// The field and its per-pixel coefficients in the red-black layout.
struct RedBlackField : RedBlackLayout {
  std::vector<double> u[2];          // the field, per colour
  std::vector<double> relax[2];      // w_p: omega on free pixels, 0 on clamped ones
  std::vector<double> rhs[2];        // production model only: gamma x / (4D + gamma), times a scale

  RedBlackField(int L_, bool with_rhs) : RedBlackLayout(L_) {
    for (int c = 0; c < 2; ++c) {
      u[c].assign(colour_size(), 0.0);
      relax[c].assign(colour_size(), 0.0);
      if (with_rhs) rhs[c].assign(colour_size(), 0.0);
    }
  }
};

// The 5-point stencil: the sum of the four neighbours of pixel q of a row of one colour, given the
// other colour's pointers for that row as red_black_layout.h defines them (left = row(i) + p - 1,
// up = row(i - 1), down = row(i + 1)). Ghosts are zero: the absorbing boundary.
inline double neighbour_sum(const double* __restrict left, const double* __restrict up,
                            const double* __restrict down, int q) {
  return left[q] + left[q + 1] + up[q] + down[q];
}

// Sets up the problem of input image x [L, L] (finite, >= 0): free pixels get relax = omega;
// in the clamp model pixels with x > 0 are sources, fixed to x with relax 0; in the production
// model every pixel is free and rhs = rhs_scale * gamma x / (4D + gamma). Free pixels start at
// start_scale * start (zero when start is empty).
inline void load_problem(RedBlackField& f, const SolverConfig& config, std::span<const float> input,
                         std::span<const float> start, double start_scale, double omega, double rhs_scale,
                         const char* who) {
  const int L = f.L;
  const bool production = config.model == SourceModel::production;
  const double source_scale = rhs_scale * config.gamma / (4.0 * config.D + config.gamma);
  for (int i = 0; i < L; ++i)
    for (int j = 0; j < L; ++j) {
      const int c = f.colour_of(i, j);
      const std::size_t a = f.at(i, j), p = static_cast<std::size_t>(i) * L + j;
      const double x = input[p];
      EDNN_CHECK(std::isfinite(x) && x >= 0, who, ": input pixel (", i, ", ", j, ") = ", x,
                 ", expected a finite value >= 0");
      if (!production && x > 0) {
        f.u[c][a] = x;  // clamped source pixel
        continue;
      }
      f.relax[c][a] = omega;
      if (production) f.rhs[c][a] = source_scale * x;
      if (!start.empty()) f.u[c][a] = start_scale * double(start[p]);
    }
}

}  // namespace ednn::solver
