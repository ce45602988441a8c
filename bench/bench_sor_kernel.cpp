// The CUDA red-black SOR kernel (solver/sor_kernel.cu) at the paper's size: samples/s and the
// achieved bandwidth against the card's, after checking the batch against the CPU solver.
//
//   bench_sor_kernel [--L 512] [--batch 1024] [--model clamp|production] [--tol 1e-6]
//
// Check: the first 4 samples of the batch are solved on the CPU too; their targets must agree to
// 2e-4 and every sample's residual must meet the tolerance. Timing: one warm-up batch, then the
// median of 3 (each solve_batch_device call includes packing, sweeps, unpacking and the copy of
// the statistics; inputs and targets stay on the device). Bandwidth counts the minimum traffic of
// a sweep over the red-black storage: 9 bytes per pixel in the clamp model (the float field read
// and written, the byte of the free mask read; neighbours assumed cached), 12 in the production
// model (field, and the float right-hand side; no mask). (Until the mask, the weights were a
// float array: 12 and 16 bytes, the rows of RESULTS.md's first H200 run.) A second line times what datagen
// --device cuda does per batch before writing (solver/batch_solver_device.h): render the inputs on
// the host, upload, solve, download, check every residual on the host; its samples/s is the
// ceiling of datagen on this GPU without the HDF5 writes. Built only with CUDA.
#include <algorithm>
#include <cmath>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "apps/cli.h"
#include "core/error.h"
#include "kernels/simt_host.h"
#include "solver/batch_solver_device.h"
#include "solver/solver.h"
#include "solver/sor_cuda.h"

using namespace ednn::solver;

namespace {

int run(int argc, char** argv) {
  ednn::io::Cli cli("bench_sor_kernel",
                    "The CUDA red-black SOR kernel at the paper's size: samples/s and the achieved bandwidth, after "
                    "checking the batch against the CPU solver; then datagen --device cuda's whole step per batch. "
                    "Needs a GPU.\n\n"
                    "  bench_sor_kernel --L 512 --batch 1024");
  cli.integer_option("L", "N", "lattice side", "512", 1, 2147483647);
  cli.integer_option("batch", "N", "samples per launch", "1024", 1, 2147483647);
  cli.choice_option("model", {"clamp", "production"}, "source model (SPEC section 1)", "clamp");
  cli.number_option("tol", "T", "relative residual tolerance, 0 < T < 1", "1e-6");
  if (!cli.parse(argc, argv)) return 0;  // --help, --version
  SolverConfig config;
  config.L = int(cli.integer("L"));
  config.model = parse_source_model(cli.get("model"));
  config.tol = cli.number("tol");
  const int batch = int(cli.integer("batch"));
  try {
    validate(config);
  } catch (const ednn::Error& e) {
    throw ednn::io::UsageError(e.what());
  }
  std::string why;
  EDNN_CHECK(simt::device_available(&why), "bench_sor_kernel: no usable GPU: ", why);
  const size_t pixels = static_cast<size_t>(config.L) * config.L;
  std::vector<float> inputs(batch * pixels);
  for (int s = 0; s < batch; ++s)
    render_input(config, sample_sources(config, 1, s, 1 + s % 20), std::span(inputs).subspan(s * pixels, pixels));
  simt::DeviceBuffer<float> d_inputs(inputs), d_targets(inputs.size());
  std::vector<SolveStats> stats(static_cast<size_t>(batch));
  std::printf("bench_sor_kernel: %s  L=%d model=%s tol=%g batch=%d\n", simt::device_description().c_str(), config.L,
              to_string(config.model), config.tol, batch);

  solve_batch_device(config, batch, d_inputs.data(), d_targets.data(), stats);  // warm-up
  const std::vector<float> targets = d_targets.download();
  const int checked = std::min(batch, 4);
  std::vector<float> cpu(checked * pixels);
  std::vector<SolveStats> cpu_stats(static_cast<size_t>(checked));
  solve_batch(config, checked, std::span(inputs).subspan(0, checked * pixels), cpu, cpu_stats);
  double worst = 0;
  for (size_t p = 0; p < cpu.size(); ++p) worst = std::max(worst, double(std::abs(cpu[p] - targets[p])));
  double worst_residual = 0, sweeps = 0;
  for (const SolveStats& s : stats) {
    worst_residual = std::max(worst_residual, s.residual);
    sweeps += s.sweeps;
  }
  sweeps /= batch;
  std::printf("check: max |GPU - CPU| over %d samples %.2e (limit 2e-4), worst residual %.3g, mean sweeps %.1f\n",
              checked, worst, worst_residual, sweeps);
  EDNN_CHECK(worst <= 2e-4 && worst_residual <= config.tol, "bench_sor_kernel: check failed");

  std::vector<double> times;
  for (int r = 0; r < 3; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    solve_batch_device(config, batch, d_inputs.data(), d_targets.data(), stats);
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(times.begin(), times.end());
  const double t = times[1];
  const double bytes = (config.model == SourceModel::production ? 12.0 : 9.0) * pixels * sweeps * batch;
  std::printf("%-10s %12s %14s %10s\n", "L", "samples/s", "s/batch", "GB/s");
  std::printf("%-10d %12.1f %14.4f %10.1f   (H200 HBM3e: about 4800 GB/s)\n", config.L, batch / t, t, bytes / t * 1e-9);

  // datagen's whole device step, host work and copies included.
  std::vector<SampleRequest> requests(static_cast<size_t>(batch));
  for (int s = 0; s < batch; ++s) requests[static_cast<size_t>(s)] = {static_cast<std::uint64_t>(s), 1 + s % 20};
  const std::unique_ptr<BatchSolver> device = make_device_batch_solver();
  const SampleBatch warm = generate_samples(config, 1, requests, *device);  // warm-up and check
  EDNN_CHECK(warm.inputs == inputs, "bench_sor_kernel: the datagen path rendered other inputs");
  times.clear();
  for (int r = 0; r < 3; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    generate_samples(config, 1, requests, *device);
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(times.begin(), times.end());
  std::printf("%-10d %12.1f %14.4f %10s   datagen path: render + upload + solve + download + host residual check\n",
              config.L, batch / times[1], times[1], "-");
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return ednn::io::run_main("bench_sor_kernel", run, argc, argv); }
