// Red-black SOR on the CPU (SPEC section 3), and the configuration checks shared by the solver.
//
// Free pixel p, neighbours q (absorbing ghosts outside the lattice are 0), a = D / (4D + gamma):
//     gs_p = a * sum_q u_q + rhs_p,   rhs_p = gamma x_p / (4D + gamma) (production) or 0 (clamp)
//     u_p <- u_p + w_p (gs_p - u_p),  w_p = omega on free pixels, 0 on clamped sources
//     r_p = (4D + gamma) (u_p - gs_p), converged when max_p |u_p - gs_p| <= tol * max_p u_p.
//
// Layout: solver/red_black_layout.h, shared with the CUDA kernel (solver/sor_kernel.cu). The two
// colours are stored apart, so a colour's pixels in one row are contiguous and both passes are
// unit-stride loops that vectorise.
//
// Convergence check for free: after the black pass no black pixel changes until the next red
// pass, so the black residual (4D + gamma)(u_new - gs) of the current state comes out of the
// black pass itself. When it meets the tolerance, one read-only pass computes the exact residual
// over both colours, and only that decides.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <exception>
#include <limits>

#include "core/error.h"
#include "solver/certificate.h"
#include "solver/sor_field.h"
#include "solver/solver.h"

namespace ednn::solver {

SourceModel parse_source_model(std::string_view name) {
  if (name == "clamp") return SourceModel::clamp;
  if (name == "production") return SourceModel::production;
  fail("source model '", name, "' is unknown, expected clamp or production");
}

const char* to_string(SourceModel model) {
  return model == SourceModel::clamp ? "clamp" : "production";
}

void validate(const SolverConfig& c) {
  EDNN_CHECK(c.radius >= 0, "solver config: radius ", c.radius, " must be >= 0");
  EDNN_CHECK(c.L >= 2 * c.radius + 1, "solver config: L = ", c.L, " is too small for source radius ",
             c.radius, ", expected L >= 2R+1 = ", 2 * c.radius + 1);
  EDNN_CHECK(std::isfinite(c.D) && c.D > 0, "solver config: D = ", c.D, ", expected D > 0");
  EDNN_CHECK(std::isfinite(c.gamma) && c.gamma > 0, "solver config: gamma = ", c.gamma,
             ", expected gamma > 0");
  EDNN_CHECK(c.tol > 0 && c.tol < 1, "solver config: tol = ", c.tol, ", expected 0 < tol < 1");
  EDNN_CHECK(c.omega == 0 || (c.omega > 0 && c.omega < 2), "solver config: omega = ", c.omega,
             ", expected 0 < omega < 2 (or 0 for the optimal value)");
  EDNN_CHECK(c.max_sweeps >= 1, "solver config: max_sweeps = ", c.max_sweeps, ", expected >= 1");
  EDNN_CHECK(c.min_sources >= 1 && c.min_sources <= c.max_sources, "solver config: sources range ",
             c.min_sources, " .. ", c.max_sources, " is empty or starts below 1");
  const long long centres = static_cast<long long>(c.L - 2 * c.radius) * (c.L - 2 * c.radius);
  EDNN_CHECK(c.max_sources <= centres, "solver config: max_sources = ", c.max_sources,
             " is more than the ", centres, " centres that keep a disk of radius ", c.radius,
             " inside L = ", c.L);
}

double optimal_omega(int L, double D, double gamma) {
  const double pi = 3.14159265358979323846;
  const double rho = 4.0 * D * std::cos(pi / (L + 1.0)) / (4.0 * D + gamma);
  return 2.0 / (1.0 + std::sqrt(1.0 - rho * rho));
}

double effective_omega(const SolverConfig& c) {
  return c.omega > 0 ? c.omega : optimal_omega(c.L, c.D, c.gamma);
}

namespace {

struct PassMax {
  double residual = 0.0;  // max |u - gs| over free pixels
  double field = 0.0;     // max u
};

// Runs row_fn(i) -> PassMax over the lattice rows, in parallel or not, and max-reduces.
template <class RowFn>
PassMax over_rows(int L, bool parallel, RowFn row_fn) {
  double residual = 0.0, field = -std::numeric_limits<double>::infinity();
#pragma omp parallel for if (parallel) schedule(static) reduction(max : residual, field)
  for (int i = 0; i < L; ++i) {
    const PassMax m = row_fn(i);
    residual = std::max(residual, m.residual);
    field = std::max(field, m.field);
  }
  return {residual, field};
}

struct Coefficients {
  double neighbour;  // a = D / (4D + gamma)
};

// One colour's relaxation: u_p <- u_p + w_p (gs_p - u_p) on every pixel of colour c. Returns the
// max |u_new - gs| and max u_new of the relaxed pixels.
template <bool kWithRhs>
PassMax relax_colour(RedBlackField& f, int c, Coefficients k, bool parallel) {
  return over_rows(f.L, parallel, [&f, c, k](int i) {
    const int p = f.parity(i, c), n = f.count(i, c);
    double* __restrict u = f.u[c].data() + f.row(i);
    const double* __restrict w = f.relax[c].data() + f.row(i);
    const double* __restrict rhs = kWithRhs ? f.rhs[c].data() + f.row(i) : nullptr;
    const double* __restrict left = f.u[1 - c].data() + f.row(i) + p - 1;
    const double* __restrict up = f.u[1 - c].data() + f.row(i - 1);
    const double* __restrict down = f.u[1 - c].data() + f.row(i + 1);
    double residual = 0.0, field = -std::numeric_limits<double>::infinity();
#pragma omp simd reduction(max : residual, field)
    for (int q = 0; q < n; ++q) {
      double gs = k.neighbour * neighbour_sum(left, up, down, q);
      if constexpr (kWithRhs) gs += rhs[q];
      const double updated = u[q] + w[q] * (gs - u[q]);
      u[q] = updated;
      const double r = w[q] > 0.0 ? std::abs(updated - gs) : 0.0;
      residual = std::max(residual, r);
      field = std::max(field, updated);
    }
    return PassMax{residual, field};
  });
}

// Read-only pass: max |u - gs| over the free pixels of both colours, and max u.
template <bool kWithRhs>
PassMax exact_residual(const RedBlackField& f, Coefficients k, bool parallel) {
  return over_rows(f.L, parallel, [&f, k](int i) {
    PassMax m{0.0, -std::numeric_limits<double>::infinity()};
    for (int c = 0; c < 2; ++c) {
      const int p = f.parity(i, c), n = f.count(i, c);
      const double* __restrict u = f.u[c].data() + f.row(i);
      const double* __restrict w = f.relax[c].data() + f.row(i);
      const double* __restrict rhs = kWithRhs ? f.rhs[c].data() + f.row(i) : nullptr;
      const double* __restrict left = f.u[1 - c].data() + f.row(i) + p - 1;
      const double* __restrict up = f.u[1 - c].data() + f.row(i - 1);
      const double* __restrict down = f.u[1 - c].data() + f.row(i + 1);
      double residual = m.residual, field = m.field;
#pragma omp simd reduction(max : residual, field)
      for (int q = 0; q < n; ++q) {
        double gs = k.neighbour * neighbour_sum(left, up, down, q);
        if constexpr (kWithRhs) gs += rhs[q];
        const double r = w[q] > 0.0 ? std::abs(u[q] - gs) : 0.0;
        residual = std::max(residual, r);
        field = std::max(field, u[q]);
      }
      m = {residual, field};
    }
    return m;
  });
}

double relative(const PassMax& m) {
  if (m.residual == 0.0) return 0.0;
  return m.field > 0.0 ? m.residual / m.field : std::numeric_limits<double>::infinity();
}

// Where a solve stops: the solver's rule, max|u - gs| <= tol * max u, or (solve_from with an error
// bound) the certified bound of the field it returns (solver/certificate.h) at most error_bound,
// or (sweep_from) after a fixed number of sweeps whatever the residual.
struct StopRule {
  const SolverConfig& config;
  double error_bound = 0.0;  // 0: the solver's rule
  int fixed_sweeps = -1;     // >= 0: exactly this many sweeps, no rule
  bool met(const PassMax& m) const {
    if (error_bound <= 0.0) return m.residual <= config.tol * m.field;
    return solver_field_bound(config, m.residual, m.field) <= error_bound;
  }
};

template <bool kWithRhs>
SolveStats sor_iterate(RedBlackField& f, const StopRule& stop, bool warm_start, bool parallel) {
  const SolverConfig& config = stop.config;
  const Coefficients k{config.D / (4.0 * config.D + config.gamma)};
  auto stats = [&](int sweep, const PassMax& all) {
    SolveStats s{sweep, relative(all)};
    if (stop.error_bound > 0.0) s.error_bound = solver_field_bound(config, all.residual, all.field);
    return s;
  };
  if (stop.fixed_sweeps >= 0) {
    for (int sweep = 1; sweep <= stop.fixed_sweeps; ++sweep) {
      relax_colour<kWithRhs>(f, 0, k, parallel);
      relax_colour<kWithRhs>(f, 1, k, parallel);
    }
    return stats(stop.fixed_sweeps, exact_residual<kWithRhs>(f, k, parallel));
  }
  // A warm start that already meets the rule takes no sweep (a polished or exact field).
  if (warm_start)
    if (const PassMax all = exact_residual<kWithRhs>(f, k, parallel); stop.met(all)) return stats(0, all);
  for (int sweep = 1; sweep <= config.max_sweeps; ++sweep) {
    relax_colour<kWithRhs>(f, 0, k, parallel);
    const PassMax black = relax_colour<kWithRhs>(f, 1, k, parallel);
    if (!stop.met(black)) continue;
    const PassMax all = exact_residual<kWithRhs>(f, k, parallel);
    if (stop.met(all)) return stats(sweep, all);
  }
  const PassMax all = exact_residual<kWithRhs>(f, k, parallel);
  if (stop.error_bound > 0.0)
    fail("sor: no convergence after ", config.max_sweeps, " sweeps at L = ", config.L, ", omega = ",
         effective_omega(config), ": certified error bound ", solver_field_bound(config, all.residual, all.field),
         " > ", stop.error_bound);
  fail("sor: no convergence after ", config.max_sweeps, " sweeps at L = ", config.L, ", omega = ",
       effective_omega(config), ": relative residual ", relative(all), " > tol ", config.tol);
}

// Solves input [L, L] into target [L, L], from `start` [L, L] (a normalised target, as solve
// returns; empty: zero, the solver's own start).
SolveStats solve_one(const SolverConfig& config, std::span<const float> input, std::span<const float> start,
                     std::span<float> target, const StopRule& stop, bool parallel) {
  const int L = config.L;
  const size_t pixels = static_cast<size_t>(L) * L;
  EDNN_CHECK(input.size() == pixels && target.size() == pixels && (start.empty() || start.size() == pixels),
             "sor solve: input has ", input.size(), ", start ", start.size(), " and target ", target.size(),
             " pixels, expected L*L = ", pixels);
  for (size_t p = 0; p < start.size(); ++p)
    EDNN_CHECK(std::isfinite(start[p]), "sor solve: start field pixel (", p / size_t(L), ", ", p % size_t(L),
               ") = ", start[p], ", expected a finite value");
  const bool production = config.model == SourceModel::production;
  // Production: the solver's field is u, not u / max(u); a start t ~ u* / max(u*) satisfies
  // A t ~ c gamma x, so u ~ t / c with c the least-squares scale of the certificate.
  double start_scale = 1.0;
  if (production && !start.empty()) {
    const double c = certify(config, input, start).scale;
    start_scale = c > 0.0 ? 1.0 / c : 0.0;
  }
  RedBlackField f(L, production);
  load_problem(f, config, input, start, start_scale, effective_omega(config), 1.0, "sor solve");

  const bool warm = !start.empty();
  const SolveStats stats = production ? sor_iterate<true>(f, stop, warm, parallel)
                                      : sor_iterate<false>(f, stop, warm, parallel);

  double scale = 1.0;
  if (production) {
    double peak = 0.0;
    for (int c = 0; c < 2; ++c) peak = std::max(peak, *std::max_element(f.u[c].begin(), f.u[c].end()));
    scale = peak > 0.0 ? 1.0 / peak : 0.0;
  }
  for (int i = 0; i < L; ++i)
    for (int j = 0; j < L; ++j)
      target[static_cast<size_t>(i) * L + j] =
          static_cast<float>(f.u[f.colour_of(i, j)][f.at(i, j)] * scale);
  return stats;
}

}  // namespace

// Spreading one sample's rows over threads costs two barriers per sweep. On the 2-core machines
// this project shares, at L = 512 that measured 0.3 to 2.9 s per sample against 0.09 to 0.28 s on
// one thread (barriers stall whenever another job takes a core), so only lattices with at least
// half a million pixels per colour pass use it.
constexpr int kRowParallelMinL = 1024;

bool rows_in_parallel(const SolverConfig& config) {
  return !omp_in_parallel() && omp_get_max_threads() > 1 && config.L >= kRowParallelMinL;
}

SolveStats solve(const SolverConfig& config, std::span<const float> input, std::span<float> target) {
  validate(config);
  const bool parallel = rows_in_parallel(config);
  return solve_one(config, input, {}, target, StopRule{config}, parallel);
}

SolveStats solve_from(const SolverConfig& config, std::span<const float> input, std::span<float> field,
                      double error_bound) {
  validate(config);
  EDNN_CHECK(std::isfinite(error_bound) && error_bound >= 0, "solve_from: error bound ", error_bound,
             ", expected a finite value >= 0 (0: the solver's tolerance)");
  const std::vector<float> start(field.begin(), field.end());
  return solve_one(config, input, start, field, StopRule{config, error_bound}, rows_in_parallel(config));
}

SolveStats sweep_from(const SolverConfig& config, std::span<const float> input, std::span<float> field, int sweeps) {
  validate(config);
  EDNN_CHECK(sweeps >= 0, "sweep_from: ", sweeps, " sweeps, expected a number >= 0");
  const std::vector<float> start(field.begin(), field.end());
  StopRule stop{config};
  stop.fixed_sweeps = sweeps;
  return solve_one(config, input, start, field, stop, rows_in_parallel(config));
}

void solve_batch(const SolverConfig& config, int batch, std::span<const float> inputs,
                 std::span<float> targets, std::span<SolveStats> stats) {
  validate(config);
  const size_t pixels = static_cast<size_t>(config.L) * config.L;
  EDNN_CHECK(batch >= 0 && inputs.size() == batch * pixels && targets.size() == batch * pixels &&
                 stats.size() == static_cast<size_t>(batch),
             "solve_batch: batch of ", batch, " samples needs inputs and targets of ", batch * pixels,
             " floats and ", batch, " stats, got ", inputs.size(), ", ", targets.size(), ", ",
             stats.size());
  const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  std::vector<std::exception_ptr> errors(static_cast<size_t>(batch));
  auto solve_sample = [&](int b, bool parallel) {
    try {
      stats[static_cast<size_t>(b)] = solve_one(config, inputs.subspan(b * pixels, pixels), {},
                                                targets.subspan(b * pixels, pixels), StopRule{config}, parallel);
    } catch (...) {
      errors[static_cast<size_t>(b)] = std::current_exception();
    }
  };
  // Whole samples per thread whenever there are two or more; a lone sample may spread its rows.
  if (threads > 1 && batch > 1) {
#pragma omp parallel for schedule(dynamic, 1)
    for (int b = 0; b < batch; ++b) solve_sample(b, false);
  } else {
    for (int b = 0; b < batch; ++b) solve_sample(b, rows_in_parallel(config));
  }
  for (int b = 0; b < batch; ++b) {
    if (!errors[static_cast<size_t>(b)]) continue;
    try {
      std::rethrow_exception(errors[static_cast<size_t>(b)]);
    } catch (const std::exception& e) {
      fail("solve_batch: sample ", b, " of ", batch, ": ", e.what());
    }
  }
}

double relative_residual(const SolverConfig& config, std::span<const float> input,
                         std::span<const float> field) {
  return certify(config, input, field).relative_residual;
}

}  // namespace ednn::solver
