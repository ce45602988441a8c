// The CUDA SOR kernel (solver/sor_kernel.cu) against the CPU solver. Built twice: linked with
// ednn_solver_kernels_emu it runs the kernel bodies on the CPU through kernels/simt.h (under the
// forward, reverse and random thread orders, which must all give the same bits: the kernel has no
// races); linked with ednn_solver_kernels_cuda (test solver_sor_kernel_gpu) it runs on the GPU.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "core/error.h"
#include "kernels/simt_host.h"
#include "solver/solver.h"
#include "solver/sor_cuda.h"

using namespace ednn::solver;

namespace {

struct Batch {
  std::vector<float> inputs;
  int size = 0;
};

Batch render_batch(const SolverConfig& c, int size, std::uint64_t seed) {
  Batch b;
  b.size = size;
  const size_t pixels = static_cast<size_t>(c.L) * c.L;
  b.inputs.resize(size * pixels);
  for (int s = 0; s < size; ++s)
    render_input(c, sample_sources(c, seed, s, 1 + (3 * s) % c.max_sources),
                 std::span(b.inputs).subspan(s * pixels, pixels));
  return b;
}

std::vector<float> solve_on_device(const SolverConfig& c, const Batch& b, std::vector<SolveStats>& stats) {
  simt::DeviceBuffer<float> inputs(b.inputs), targets(b.inputs.size());
  stats.assign(static_cast<size_t>(b.size), SolveStats{});
  solve_batch_device(c, b.size, inputs.data(), targets.data(), stats);
  return targets.download();
}

}  // namespace

TEST_CASE("solver_sor_kernel: agrees with the CPU solver, both models, even and odd L") {
  INFO(simt::device_description());
  for (SourceModel model : {SourceModel::clamp, SourceModel::production}) {
    for (int L : {32, 33}) {
      CAPTURE(L);
      CAPTURE(to_string(model));
      SolverConfig c;
      c.L = L;
      c.model = model;
      c.max_sources = 6;
      const Batch b = render_batch(c, 3, 21);
      std::vector<SolveStats> device_stats;
      const std::vector<float> device = solve_on_device(c, b, device_stats);
      std::vector<float> host(b.inputs.size());
      std::vector<SolveStats> host_stats(3);
      solve_batch(c, 3, b.inputs, host, host_stats);
      double worst = 0;
      for (size_t p = 0; p < host.size(); ++p) worst = std::max(worst, double(std::abs(host[p] - device[p])));
      CHECK(worst <= 2e-4);
      for (int s = 0; s < 3; ++s) {
        CHECK(device_stats[s].residual <= c.tol);
        CHECK(std::abs(device_stats[s].sweeps - host_stats[s].sweeps) <= 0.1 * host_stats[s].sweeps + 2);
        const size_t pixels = static_cast<size_t>(L) * L;
        CHECK(relative_residual(c, std::span(b.inputs).subspan(s * pixels, pixels),
                                std::span(device).subspan(s * pixels, pixels)) <= 2 * c.tol + 1e-6);
      }
    }
  }
}

TEST_CASE("solver_sor_kernel: the same bits under every thread order, and non-convergence is an error") {
  SolverConfig c;
  c.L = 24;
  c.max_sources = 4;
  const Batch b = render_batch(c, 2, 5);
  std::vector<SolveStats> stats;
  simt::set_schedule(simt::Schedule::forward);
  const std::vector<float> forward = solve_on_device(c, b, stats);
  simt::set_schedule(simt::Schedule::reverse);
  CHECK(solve_on_device(c, b, stats) == forward);
  simt::set_schedule(simt::Schedule::random, 7);
  CHECK(solve_on_device(c, b, stats) == forward);
  simt::set_schedule(simt::Schedule::forward);
  c.max_sweeps = 2;
  CHECK_THROWS_AS(solve_on_device(c, b, stats), ednn::Error);
}
