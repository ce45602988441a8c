// Red-black SOR against a banded direct solve of the same system, the residual criterion, the
// physics (symmetry, decay), determinism across threads and batching, and bad input.
#include <doctest/doctest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/error.h"
#include "solver/solver.h"
#include "tests/solver/direct_solve.h"

using namespace ednn::solver;
using ednn::solver::testing::direct_solve;
using ednn::solver::testing::max_abs_difference;

namespace {

SolverConfig small_config(int L, SourceModel model, double tol) {
  SolverConfig c;
  c.L = L;
  c.model = model;
  c.tol = tol;
  return c;
}

std::vector<float> render(const SolverConfig& c, const std::vector<Source>& sources) {
  std::vector<float> x(static_cast<size_t>(c.L) * c.L);
  render_input(c, sources, x);
  return x;
}

// Residual of the discrete equations, written out independently of the library: returns
// max|r| / ((4D + gamma) max u) over the unknowns. A production target is u / max(u), so its source
// term is gamma x / max(u), with max(u) recovered from the pixel where x = 1.
double residual_in_test(const SolverConfig& c, const std::vector<float>& x, const std::vector<float>& u) {
  const int L = c.L;
  auto at = [&](int i, int j) { return i < 0 || j < 0 || i >= L || j >= L ? 0.0 : double(u[i * L + j]); };
  auto operator_at = [&](int i, int j) {
    return (4 * c.D + c.gamma) * at(i, j) - c.D * (at(i - 1, j) + at(i + 1, j) + at(i, j - 1) + at(i, j + 1));
  };
  double source_scale = 1.0;
  if (c.model == SourceModel::production) {
    const int peak = int(std::max_element(x.begin(), x.end()) - x.begin());
    source_scale = operator_at(peak / L, peak % L) / (c.gamma * x[peak]);
  }
  double max_r = 0, max_u = 0;
  for (int i = 0; i < L; ++i)
    for (int j = 0; j < L; ++j) {
      max_u = std::max(max_u, at(i, j));
      const double xp = x[i * L + j];
      if (c.model == SourceModel::clamp && xp > 0) continue;
      const double b = c.model == SourceModel::production ? source_scale * c.gamma * xp : 0.0;
      max_r = std::max(max_r, std::abs(operator_at(i, j) - b));
    }
  return max_r / ((4 * c.D + c.gamma) * max_u);
}

}  // namespace

TEST_CASE("solver_sor: matches a banded direct solve at small L, several layouts, both models") {
  struct Layout {
    const char* name;
    int L;
    std::vector<Source> sources;
  };
  const std::vector<Layout> layouts = {
      {"centred single", 21, {{10, 10, 1.0f}}},
      {"corner-touching", 16, {{5, 5, 1.0f}, {10, 10, 0.5f}}},
      {"overlapping", 24, {{8, 8, 1.0f}, {12, 10, 0.7f}, {15, 17, 0.2f}}},
      {"odd L, edge", 27, {{5, 21, 1.0f}, {21, 5, 0.9f}}},
      {"many", 32, {}},
  };
  for (SourceModel model : {SourceModel::clamp, SourceModel::production}) {
    for (const Layout& layout : layouts) {
      CAPTURE(layout.name);
      CAPTURE(to_string(model));
      SolverConfig c = small_config(layout.L, model, 1e-10);
      const std::vector<Source> sources =
          layout.sources.empty() ? sample_sources(c, 7, 3, 12) : layout.sources;
      const std::vector<float> x = render(c, sources);
      std::vector<float> u(x.size());
      const SolveStats stats = solve(c, x, u);
      CHECK(stats.sweeps > 0);
      CHECK(stats.residual <= 1e-10);
      CHECK(max_abs_difference(direct_solve(c, x), u) <= 1e-5);
    }
  }
}

TEST_CASE("solver_sor: default tolerance at L = 128 agrees with the direct solve to 1e-4") {
  SolverConfig c = small_config(128, SourceModel::clamp, 1e-6);
  const std::vector<float> x = render(c, sample_sources(c, 11, 0, 20));
  std::vector<float> u(x.size());
  solve(c, x, u);
  CHECK(max_abs_difference(direct_solve(c, x), u) <= 1e-4);
}

TEST_CASE("solver_sor: stops on the residual criterion, and the recorded residual is the field's") {
  for (SourceModel model : {SourceModel::clamp, SourceModel::production}) {
    for (double tol : {1e-3, 1e-6}) {
      CAPTURE(tol);
      SolverConfig c = small_config(64, model, tol);
      const std::vector<float> x = render(c, sample_sources(c, 5, 1, 6));
      std::vector<float> u(x.size());
      const SolveStats stats = solve(c, x, u);
      CHECK(stats.residual <= tol);
      // The returned float field meets the criterion up to its float rounding (production: the
      // scale recovered from one pixel is itself off by up to the residual, hence 2 tol).
      const double slack = model == SourceModel::production ? 2.0 : 1.0;
      CHECK(residual_in_test(c, x, u) <= slack * tol + 1e-6);
      CHECK(relative_residual(c, x, u) <= tol + 1e-6);
      // One sweep fewer would not have met the criterion.
      if (stats.sweeps > 1) {
        SolverConfig capped = c;
        capped.max_sweeps = stats.sweeps - 1;
        CHECK_THROWS_AS(solve(capped, x, u), ednn::Error);
      }
    }
  }
  SolverConfig loose = small_config(64, SourceModel::clamp, 1e-3), tight = loose;
  tight.tol = 1e-8;
  const std::vector<float> x = render(loose, sample_sources(loose, 5, 2, 3));
  std::vector<float> u(x.size());
  CHECK(solve(loose, x, u).sweeps < solve(tight, x, u).sweeps);
}

TEST_CASE("solver_sor: omega from L, D and gamma, overridable, and the sweep count it buys") {
  CHECK(optimal_omega(512, 1.0, 1.0 / 400) == doctest::Approx(1.93).epsilon(0.005));
  SolverConfig c = small_config(128, SourceModel::clamp, 1e-6);
  CHECK(effective_omega(c) == optimal_omega(128, 1.0, 1.0 / 400));
  const std::vector<float> x = render(c, sample_sources(c, 1, 0, 4));
  std::vector<float> u(x.size());
  const int optimal_sweeps = solve(c, x, u).sweeps;
  c.omega = 1.0;  // Gauss-Seidel: much slower
  c.max_sweeps = 100000;
  CHECK(solve(c, x, u).sweeps > 3 * optimal_sweeps);
}

TEST_CASE("solver_sor: a centred source gives a field symmetric under the lattice reflections") {
  for (SourceModel model : {SourceModel::clamp, SourceModel::production}) {
    SolverConfig c = small_config(41, model, 1e-9);
    const int m = 20;
    const std::vector<float> x = render(c, {{float(m), float(m), 1.0f}});
    std::vector<float> u(x.size());
    solve(c, x, u);
    const int L = c.L;
    double worst = 0;
    for (int i = 0; i < L; ++i)
      for (int j = 0; j < L; ++j) {
        const double v = u[i * L + j];
        worst = std::max({worst, std::abs(v - u[i * L + (L - 1 - j)]), std::abs(v - u[(L - 1 - i) * L + j]),
                          std::abs(v - u[j * L + i]), std::abs(v - u[(L - 1 - j) * L + (L - 1 - i)])});
      }
    CHECK(worst <= 1e-7);
  }
}

TEST_CASE("solver_sor: the field decays monotonically away from a lone source") {
  for (SourceModel model : {SourceModel::clamp, SourceModel::production}) {
    SolverConfig c = small_config(63, model, 1e-8);
    const int cx = 20, cy = 30, L = c.L;
    const std::vector<float> x = render(c, {{float(cx), float(cy), 1.0f}});
    std::vector<float> u(x.size());
    solve(c, x, u);
    auto at = [&](int i, int j) { return u[i * L + j]; };
    for (int d = c.radius; cx + d + 1 < L; ++d) CHECK(at(cy, cx + d) > at(cy, cx + d + 1));
    for (int d = c.radius; cx - d - 1 >= 0; ++d) CHECK(at(cy, cx - d) > at(cy, cx - d - 1));
    for (int d = c.radius; cy + d + 1 < L; ++d) CHECK(at(cy + d, cx) > at(cy + d + 1, cx));
    for (int d = c.radius; cy - d - 1 >= 0; ++d) CHECK(at(cy - d, cx) > at(cy - d - 1, cx));
    for (int d = 4; cy + d + 1 < L && cx + d + 1 < L; ++d) CHECK(at(cy + d, cx + d) > at(cy + d + 1, cx + d + 1));
    for (float v : u) CHECK(v >= 0.0f);
    if (model == SourceModel::clamp) CHECK(at(cy, cx + c.radius) == 1.0f);  // clamped on the disk
  }
}

TEST_CASE("solver_sor: bit-identical for any thread count and batching") {
  SolverConfig c = small_config(96, SourceModel::clamp, 1e-6);
  const int B = 5;
  std::vector<SampleRequest> requests;
  for (int b = 0; b < B; ++b) requests.push_back({static_cast<std::uint64_t>(40 + b), 1 + 4 * b});
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  const SampleBatch one_thread = generate_samples(c, 99, requests);
  omp_set_num_threads(2);
  const SampleBatch two_threads = generate_samples(c, 99, requests);
  REQUIRE(one_thread.targets.size() == two_threads.targets.size());
  CHECK(std::memcmp(one_thread.inputs.data(), two_threads.inputs.data(), one_thread.inputs.size() * 4) == 0);
  CHECK(std::memcmp(one_thread.targets.data(), two_threads.targets.data(), one_thread.targets.size() * 4) == 0);
  const size_t pixels = static_cast<size_t>(c.L) * c.L;
  for (int b = 0; b < B; ++b) {
    // One sample at a time against its place in the batch.
    const SampleBatch single = generate_samples(c, 99, std::span(requests).subspan(b, 1));
    CHECK(std::memcmp(single.targets.data(), one_thread.targets.data() + b * pixels, pixels * 4) == 0);
    CHECK(single.stats[0].sweeps == one_thread.stats[b].sweeps);
    CHECK(single.stats[0].residual == one_thread.stats[b].residual);
  }
  // L = 1024: a lone sample spreads its rows over the threads; the same bits as on one thread.
  SolverConfig large = small_config(1024, SourceModel::clamp, 1e-4);
  std::vector<float> x(static_cast<size_t>(1024) * 1024), rows_threaded(x.size()), one(x.size());
  render_input(large, sample_sources(large, 3, 0, 20), x);
  const SolveStats threaded_stats = solve(large, x, rows_threaded);
  omp_set_num_threads(1);
  const SolveStats one_stats = solve(large, x, one);
  omp_set_num_threads(saved);
  CHECK(rows_threaded == one);
  CHECK(threaded_stats.sweeps == one_stats.sweeps);
}

TEST_CASE("solver_sor: bad input is an error that names the problem") {
  SolverConfig c = small_config(32, SourceModel::clamp, 1e-6);
  std::vector<float> x(32 * 32, 0.0f), u(32 * 32);
  auto message_of = [](auto&& call) -> std::string {
    try {
      call();
    } catch (const ednn::Error& e) {
      return e.what();
    }
    return "(no error)";
  };
  SolverConfig bad = c;
  bad.L = 10;
  CHECK(message_of([&] { validate(bad); }).find("too small for source radius") != std::string::npos);
  bad = c;
  bad.D = 0;
  CHECK(message_of([&] { validate(bad); }).find("D = 0") != std::string::npos);
  bad = c;
  bad.gamma = -1;
  CHECK(message_of([&] { validate(bad); }).find("gamma = -1") != std::string::npos);
  for (double tol : {0.0, 1.0, -1e-6, 2.0}) {
    bad = c;
    bad.tol = tol;
    CHECK(message_of([&] { solve(bad, x, u); }).find("expected 0 < tol < 1") != std::string::npos);
  }
  bad = c;
  bad.omega = 2.0;
  CHECK_THROWS_AS(validate(bad), ednn::Error);
  CHECK(message_of([&] { sample_sources(c, 1, 0, 21); }).find("21 sources requested") != std::string::npos);
  CHECK_THROWS_AS(sample_sources(c, 1, 0, 0), ednn::Error);
  bad = c;
  bad.L = 11;
  bad.max_sources = 2;  // a disk of radius 5 fits in only one place
  CHECK(message_of([&] { validate(bad); }).find("more than the 1 centres") != std::string::npos);
  CHECK_THROWS_AS(parse_source_model("diffuse"), ednn::Error);
  std::vector<float> wrong(10);
  CHECK(message_of([&] { solve(c, wrong, u); }).find("expected L*L = 1024") != std::string::npos);
  x[5] = -1.0f;
  CHECK_THROWS_AS(solve(c, x, u), ednn::Error);
  // Non-convergence is an error, never a silently stored sample.
  x = render(c, {{16, 16, 1.0f}});
  bad = c;
  bad.max_sweeps = 3;
  CHECK(message_of([&] { solve(bad, x, u); }).find("no convergence after 3 sweeps") != std::string::npos);
  std::vector<SolveStats> stats(1);
  CHECK(message_of([&] { solve_batch(bad, 1, x, u, stats); }).find("sample 0 of 1") != std::string::npos);
}
