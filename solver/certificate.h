// Certified fields: how far any field v [L, L] (a network's prediction, a stored target) can be
// from the exact solution u* of the solver's discrete equations, and SOR that repairs it to a
// guaranteed tolerance (SPEC section 3.1 derives the bound).
//
// The operator. With the source pixels of the clamp model as identity rows (u_p = x_p), the
// system A u = b of SPEC section 1 has a positive diagonal, non-positive off-diagonals, and every
// row's diagonal exceeds its off-diagonal absolute sum by m_p >= gamma on free rows (4D + gamma
// against at most 4 neighbours of weight D) and m_p = 1 on clamped rows: A is a strictly
// diagonally dominant M-matrix, A^-1 >= 0, and A 1 >= m. For any v the error e = v - u* solves
// A e = r = A v - b, so |e| <= A^-1 |r| <= max_p(|r_p| / m_p) A^-1 A 1:
//     max_p |v_p - u*_p| <= max( max_free |r_p| / gamma, max_sources |v_p - x_p| )      (clamp)
// The production model's target is u* / max(u*): with the least-squares scale c (A v ~ c gamma x)
// and B = max|A v - c gamma x| / gamma,
//     max_p |v_p - u*_p / max(u*)| <= 2 B + |max(v) - 1|                           (production)
// The bound is against the exact discrete solution, not the PDE; a stored target is itself an SOR
// solution to a tolerance, so its own certificate adds to a prediction's to bound it against the
// target.
//
// The residual is the solver's own: the field is laid out as solver/sor_field.h lays it out and
// the 5-point stencil is sor_field.h's neighbour_sum, in double.
#pragma once
#include <span>

#include "solver/solver.h"

namespace ednn::solver {

struct Certificate {
  double residual = 0.0;           // max |r_p| over the free rows, in the equation's units
                                   // ((4D + gamma) v_p - D sum v_q - b_p; production: b = c gamma x)
  double relative_residual = 0.0;  // residual / ((4D + gamma) max v): the solver's normalisation,
                                   // as the data files' `residual` column
  double source_mismatch = 0.0;    // clamp: max |v_p - x_p| over source pixels (the clamped rows)
  double peak_offset = 0.0;        // production: |max v - 1| (the target is normalised to max 1)
  double scale = 1.0;              // production: the least-squares source scale c; 1 in clamp
  double bound = 0.0;              // guaranteed max_p |v_p - u*_p| (infinite when c <= 0)
};

// The certificate of field [L, L] for input image x [L, L] under config's equations (config.L,
// D, gamma, model). Throws ednn::Error on sizes other than L * L or a non-finite pixel, naming it.
Certificate certify(const SolverConfig& config, std::span<const float> input, std::span<const float> field);

// The certified bound of the float image the CPU solver returns from its double field u, given
// max over free pixels of |u_p - gs_p| (solver/sor_field.h; clamped rows are exact) and max u:
// clamp (4D + gamma) res / gamma, production 2 (4D + gamma) res / (gamma max u) for u / max u,
// plus 2^-23 times the output's largest magnitude for its rounding to float.
double solver_field_bound(const SolverConfig& config, double gs_residual, double field_max);

// The smoothing step of a certified prediction (SPEC section 3.1): `sweeps` red-black sweeps of the
// solver's iteration (solve_from's warm start: sources reset to the input) from `field`, in place,
// with relaxation factor omega (1: Gauss-Seidel, which removes an error's pixel-scale components
// within a few sweeps; 0: the solver's own, which does not). What is left is smooth, and its
// bound about 2D / (K gamma) times its actual error after K sweeps, where a network's raw error
// has up to 4D / gamma; the bound of whatever field results stays rigorous.
struct SmoothStats {
  int sweeps = 0;
  double seconds = 0.0;
};
SmoothStats smooth(const SolverConfig& config, std::span<const float> input, std::span<float> field, int sweeps,
                   double omega);

// A bound on field v's distance to u* through a field w whose bound is known (the triangle
// inequality): max_p |v_p - w_p| + w_bound. With w = v smoothed, this is the raw prediction's
// certificate that stays close to its actual error once w's bound is small.
double bound_through(std::span<const float> field, std::span<const float> certified, double certified_bound);

struct PolishStats {
  int sweeps = 0;
  double seconds = 0.0;
  double bound = 0.0;  // the returned field's certified max|u - u*|, <= the tolerance
};

// SOR from `field` (in: the start, e.g. a prediction, or zeros for the solver's cold start; out:
// the polished field) until its certified bound is at most tol: solve_from with an error bound.
// tol must exceed the float rounding of the output (2^-23 max|u|, about 1.2e-7 for max 1).
PolishStats polish(const SolverConfig& config, std::span<const float> input, std::span<float> field, double tol);

}  // namespace ednn::solver
