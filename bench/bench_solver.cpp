// Red-black SOR on the CPU at the paper's size: per-sample time, sweeps, achieved bandwidth.
//
//   bench_solver [--L 512] [--samples 8] [--seed 1] [--model clamp|production] [--tol 1e-6]
//                [--write-sample FILE.bin]
//
// Each sample is checked before it counts: its residual is recomputed from the returned field
// (relative_residual) and must meet the tolerance. Bandwidth is the minimum traffic of a sweep
// over the red-black storage: per pixel the field is read and written (16 bytes) and the
// relaxation weight read (8 bytes) -- neighbours are assumed to hit cache -- so
// bytes = 24 L^2 sweeps (+ 32 L^2 for production, which also reads the source term).
// Two timings: one sample at a time (solve(); its rows spread over the threads only from
// L = 1024, see solver/sor_cpu.cpp) and a batch with one sample per thread (solve_batch), which
// is how datagen and the trainer's fresh samples run.
// --write-sample writes L, the input and the target of sample 0 as raw float32 for
// bench/compare_scipy.py.
#include <omp.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "apps/cli.h"
#include "core/error.h"
#include "solver/solver.h"

using namespace ednn::solver;

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

int run(int argc, char** argv) {
  ednn::io::Cli cli("bench_solver",
                    "Red-black SOR on the CPU at the paper's size: per-sample time, sweeps, achieved bandwidth; "
                    "every sample's residual is checked first.\n\n"
                    "  bench_solver --L 512 --samples 8\n"
                    "  python3 bench/compare_scipy.py --bench build/bin/bench_solver --L 512");
  cli.integer_option("L", "N", "lattice side", "512", 1, 2147483647);
  cli.integer_option("samples", "N", "samples solved (n = 1 + s % 20 sources)", "8", 1, 2147483647);
  cli.unsigned_option("seed", "S", "random stream of the sources", "1");
  cli.choice_option("model", {"clamp", "production"}, "source model (SPEC section 1)", "clamp");
  cli.number_option("tol", "T", "relative residual tolerance, 0 < T < 1", "1e-6");
  cli.option("write-sample", "FILE.bin", "write L, the model, the input and the target of sample 0 (float32) for "
             "bench/compare_scipy.py");
  if (!cli.parse(argc, argv)) return 0;  // --help, --version
  SolverConfig config;
  config.L = int(cli.integer("L"));
  config.model = parse_source_model(cli.get("model"));
  config.tol = cli.number("tol");
  const int samples = int(cli.integer("samples"));
  const std::uint64_t seed = cli.unsigned_integer("seed");
  const std::string write_sample = cli.get("write-sample");
  try {
    validate(config);
  } catch (const ednn::Error& e) {
    throw ednn::io::UsageError(e.what());
  }
  const int L = config.L;
  const size_t pixels = static_cast<size_t>(L) * L;
  std::vector<SampleRequest> requests;
  for (int s = 0; s < samples; ++s) requests.push_back({static_cast<std::uint64_t>(s), 1 + s % 20});

  // Inputs rendered once; solves timed separately.
  std::vector<float> inputs(samples * pixels), targets(samples * pixels);
  for (int s = 0; s < samples; ++s) {
    const auto sources = sample_sources(config, seed, requests[s].index, requests[s].n_sources);
    render_input(config, sources, std::span(inputs).subspan(s * pixels, pixels));
  }
  const double bytes_per_pixel_sweep = config.model == SourceModel::production ? 32.0 : 24.0;
  std::printf("bench_solver: L=%d model=%s tol=%g omega=%.5f threads=%d samples=%d\n", L,
              to_string(config.model), config.tol, effective_omega(config), omp_get_max_threads(),
              samples);

  // Warm-up, also the correctness check of every sample.
  std::vector<SolveStats> stats(static_cast<size_t>(samples));
  solve_batch(config, samples, inputs, targets, stats);
  double worst = 0;
  long total_sweeps = 0;
  for (int s = 0; s < samples; ++s) {
    const double r = relative_residual(config, std::span(inputs).subspan(s * pixels, pixels),
                                       std::span(targets).subspan(s * pixels, pixels));
    EDNN_CHECK(r <= 2 * config.tol + 1e-6, "bench_solver: sample ", s, " has residual ", r);
    worst = std::max(worst, r);
    total_sweeps += stats[static_cast<size_t>(s)].sweeps;
  }
  std::printf("check: every sample's recomputed residual <= tol (worst %.3g); mean sweeps %.1f\n",
              worst, double(total_sweeps) / samples);

  std::printf("%-28s %12s %8s %12s\n", "mode", "s/sample", "sweeps", "GB/s");
  {  // one sample at a time
    long sweeps = 0;
    const auto t0 = std::chrono::steady_clock::now();
    for (int s = 0; s < samples; ++s)
      sweeps += solve(config, std::span(inputs).subspan(s * pixels, pixels),
                      std::span(targets).subspan(s * pixels, pixels)).sweeps;
    const double t = seconds_since(t0);
    std::printf("%-28s %12.4f %8.1f %12.2f\n", "one sample at a time", t / samples,
                double(sweeps) / samples, bytes_per_pixel_sweep * pixels * sweeps / t * 1e-9);
  }
  {  // batch, one sample per thread
    const auto t0 = std::chrono::steady_clock::now();
    solve_batch(config, samples, inputs, targets, stats);
    const double t = seconds_since(t0);
    long sweeps = 0;
    for (const SolveStats& st : stats) sweeps += st.sweeps;
    std::printf("%-28s %12.4f %8.1f %12.2f\n", "batch, sample per thread", t / samples,
                double(sweeps) / samples, bytes_per_pixel_sweep * pixels * sweeps / t * 1e-9);
  }
  if (!write_sample.empty()) {
    std::FILE* f = std::fopen(write_sample.c_str(), "wb");
    EDNN_CHECK(f, "bench_solver: cannot write ", write_sample);
    const std::int32_t header[2] = {L, config.model == SourceModel::production ? 1 : 0};
    std::fwrite(header, sizeof header, 1, f);
    std::fwrite(inputs.data(), sizeof(float), pixels, f);
    std::fwrite(targets.data(), sizeof(float), pixels, f);
    std::fclose(f);
    std::printf("wrote sample 0 (L, model, input, target as float32) to %s\n", write_sample.c_str());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return ednn::io::run_main("bench_solver", run, argc, argv); }
