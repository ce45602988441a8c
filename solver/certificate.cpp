// The certificate of a field and the polish to a certified tolerance (solver/certificate.h; the
// maths in SPEC section 3.1).
#include "solver/certificate.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

#include "core/error.h"
#include "solver/sor_field.h"

namespace ednn::solver {

namespace {

// Calls fn(A v at p, gamma x_p) for every free pixel p of the field in f, where f.u holds v on
// every pixel, f.relax is nonzero on the free ones and f.rhs holds gamma x.
template <class Fn>
void for_each_free_row(const RedBlackField& f, const SolverConfig& config, Fn fn) {
  const double diag = 4.0 * config.D + config.gamma, a = config.D / diag;
  for (int i = 0; i < f.L; ++i)
    for (int c = 0; c < 2; ++c) {
      const int p = f.parity(i, c), n = f.count(i, c);
      const double* u = f.u[c].data() + f.row(i);
      const double* w = f.relax[c].data() + f.row(i);
      const double* b = f.rhs[c].data() + f.row(i);
      const double* left = f.u[1 - c].data() + f.row(i) + p - 1;
      const double* up = f.u[1 - c].data() + f.row(i - 1);
      const double* down = f.u[1 - c].data() + f.row(i + 1);
      for (int q = 0; q < n; ++q)
        if (w[q] > 0.0) fn(diag * (u[q] - a * neighbour_sum(left, up, down, q)), b[q]);
    }
}

constexpr double kFloatRounding = 1.0 / (1 << 23);  // 2^-23: twice float's unit roundoff

}  // namespace

Certificate certify(const SolverConfig& config, std::span<const float> input, std::span<const float> field) {
  validate(config);
  const int L = config.L;
  const std::size_t pixels = static_cast<std::size_t>(L) * L;
  EDNN_CHECK(input.size() == pixels && field.size() == pixels, "certify: input has ", input.size(),
             " and field ", field.size(), " pixels, expected L*L = ", pixels, " (L = ", L, ")");
  const bool production = config.model == SourceModel::production;

  // v on every pixel (sources included: their values enter the free rows' stencils), free pixels
  // marked by relax = 1, and gamma x beside them.
  RedBlackField f(L, true);
  Certificate cert;
  double field_max = -std::numeric_limits<double>::infinity();
  for (int i = 0; i < L; ++i)
    for (int j = 0; j < L; ++j) {
      const std::size_t p = static_cast<std::size_t>(i) * L + j, at = f.at(i, j);
      const int c = f.colour_of(i, j);
      const double x = input[p], v = field[p];
      EDNN_CHECK(std::isfinite(x) && x >= 0, "certify: input pixel (", i, ", ", j, ") = ", x,
                 ", expected a finite value >= 0");
      EDNN_CHECK(std::isfinite(v), "certify: field pixel (", i, ", ", j, ") = ", v, ", expected a finite value");
      f.u[c][at] = v;
      field_max = std::max(field_max, v);
      if (!production && x > 0) {
        cert.source_mismatch = std::max(cert.source_mismatch, std::abs(v - x));
        continue;
      }
      f.relax[c][at] = 1.0;
      f.rhs[c][at] = config.gamma * x;
    }

  // Production: the scale c minimising |A v - c gamma x|_2 (1 for the unnormalised solution).
  if (production) {
    double b_dot_av = 0.0, b_dot_b = 0.0;
    for_each_free_row(f, config, [&](double av, double b) {
      b_dot_av += b * av;
      b_dot_b += b * b;
    });
    cert.scale = b_dot_b > 0.0 ? b_dot_av / b_dot_b : 0.0;
    cert.peak_offset = std::abs(field_max - 1.0);
  }
  const double c = production ? cert.scale : 0.0;
  for_each_free_row(f, config, [&](double av, double b) { cert.residual = std::max(cert.residual, std::abs(av - c * b)); });

  const double diag = 4.0 * config.D + config.gamma;
  cert.relative_residual = cert.residual == 0.0 ? 0.0
                           : field_max > 0.0    ? cert.residual / (diag * field_max)
                                                : std::numeric_limits<double>::infinity();
  if (!production)
    cert.bound = std::max(cert.residual / config.gamma, cert.source_mismatch);
  else
    cert.bound = cert.scale > 0.0 ? 2.0 * cert.residual / config.gamma + cert.peak_offset
                                  : std::numeric_limits<double>::infinity();
  return cert;
}

double solver_field_bound(const SolverConfig& config, double gs_residual, double field_max) {
  const double residual = (4.0 * config.D + config.gamma) * gs_residual;  // max |r_p|
  if (config.model == SourceModel::clamp) {
    const double bound = residual / config.gamma;
    // The exact field is >= 0, so the iterate's most negative value is above -bound.
    return bound + kFloatRounding * std::max(field_max, bound);
  }
  if (!(field_max > 0.0)) return std::numeric_limits<double>::infinity();
  const double bound = 2.0 * residual / (config.gamma * field_max);
  return bound + kFloatRounding * std::max(1.0, bound);
}

SmoothStats smooth(const SolverConfig& config, std::span<const float> input, std::span<float> field, int sweeps,
                   double omega) {
  EDNN_CHECK(omega == 0 || (omega > 0 && omega < 2), "smooth: relaxation factor ", omega,
             ", expected 0 < omega < 2 (or 0 for the solver's own)");
  SolverConfig with_omega = config;
  if (omega > 0) with_omega.omega = omega;
  const auto t0 = std::chrono::steady_clock::now();
  SmoothStats result;
  result.sweeps = sweep_from(with_omega, input, field, sweeps).sweeps;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return result;
}

double bound_through(std::span<const float> field, std::span<const float> certified, double certified_bound) {
  EDNN_CHECK(field.size() == certified.size(), "bound_through: field has ", field.size(), " pixels and the certified ",
             "field ", certified.size());
  double distance = 0.0;
  for (std::size_t p = 0; p < field.size(); ++p)
    distance = std::max(distance, std::abs(double(field[p]) - double(certified[p])));
  return distance + certified_bound;
}

PolishStats polish(const SolverConfig& config, std::span<const float> input, std::span<float> field, double tol) {
  EDNN_CHECK(std::isfinite(tol) && tol > 0, "polish: tolerance ", tol, ", expected a finite value > 0");
  double output_max = config.model == SourceModel::production ? 1.0 : 0.0;
  for (float x : input) output_max = std::max(output_max, double(x));
  EDNN_CHECK(tol > 2.0 * kFloatRounding * output_max, "polish: tolerance ", tol, " is below what a float32 field ",
             "can be certified to (its rounding, ", kFloatRounding * output_max, "); ask for at least ",
             2.0 * kFloatRounding * output_max);
  const auto t0 = std::chrono::steady_clock::now();
  const SolveStats stats = solve_from(config, input, field, tol);
  PolishStats result;
  result.sweeps = stats.sweeps;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  result.bound = stats.error_bound;
  return result;
}

}  // namespace ednn::solver
