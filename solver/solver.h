// Ground truth for the ED-CNN: random sources (SPEC section 2) and the steady state of the
// screened diffusion equation around them (SPEC sections 1 and 3), on the CPU.
//
// The physics. On an L x L lattice with absorbing ghost cells outside (u = 0), every free pixel p
// satisfies the 5-point equation
//     (4D + gamma) u_p - D * sum_{q ~ p} u_q = b_p
// with b = 0 in the `clamp` model (source pixels are fixed to the input image x and are not
// unknowns) and b = gamma * x in the `production` model (every pixel is free; the target is then
// u / max(u)).
//
// The solver. Red-black SOR: pixel (i, j) is red when i + j is even; a sweep relaxes all red free
// pixels, then all black ones,
//     u_p <- u_p + omega * ((D * sum_{q ~ p} u_q + b_p) / (4D + gamma) - u_p),
// with omega = 2 / (1 + sqrt(1 - rho^2)), rho = 4D cos(pi / (L + 1)) / (4D + gamma) the spectral
// radius of the Jacobi iteration (about 1.93 at L = 512), unless overridden. It stops once the
// residual r_p = (4D + gamma) u_p - D * sum u_q - b_p of the discrete equations satisfies
//     max_p |r_p| <= tol * (4D + gamma) * max_p u_p,
// and fails (ednn::Error) if that takes more than max_sweeps sweeps. SolveStats::residual is the
// dimensionless max_p |r_p| / ((4D + gamma) max_p u_p) of the returned field.
//
// The samples. A sample is a pure function of (seed, index, n): n disks of radius R
// (dx^2 + dy^2 <= R^2) with centres uniform in [R, L-1-R]^2, source 0 with value 1 and the others
// uniform in (0, 1]; the input image is the sum of value * disk, divided by its maximum. The
// random numbers come from a counter-based generator keyed by (seed, index): no hidden state, so
// any batching, thread count, device or resume point gives the same bits.
//
// Layouts: images are row-major [L, L] floats, pixel (row y, column x) at y * L + x; a batch is
// [B, 1, L, L]. Source::x is the column and Source::y the row of the centre.
//
// Threads: solve_batch() gives each OpenMP thread whole samples (dynamic schedule) when the batch
// has two or more; a lone sample (solve(), or a batch of one) spreads its rows over the threads
// only from L = 1024 up (see sor_cpu.cpp for why). The result never depends on either choice.
// The same solver as a batched CUDA kernel: solver/sor_cuda.h; either one behind one interface,
// for callers that choose the device at run time: solver/batch_solver.h.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ednn::solver {

enum class SourceModel { clamp, production };

// "clamp" or "production"; anything else is an error naming the accepted values.
SourceModel parse_source_model(std::string_view name);
const char* to_string(SourceModel model);

struct SolverConfig {
  int L = 512;                        // lattice side
  double D = 1.0;                     // diffusion constant
  double gamma = 1.0 / 400.0;         // decay rate; diffusion length sqrt(D / gamma) = 20
  int radius = 5;                     // source disk radius R
  SourceModel model = SourceModel::clamp;
  double tol = 1e-6;                  // relative residual tolerance, in (0, 1)
  double omega = 0.0;                 // over-relaxation factor; 0 means optimal_omega(L, D, gamma)
  int max_sweeps = 20000;             // iteration cap; exceeding it is an error
  int min_sources = 1;                // range of the number of sources per sample
  int max_sources = 20;
};

// Throws ednn::Error naming the bad field: L too small for the radius, D or gamma <= 0, tol
// outside (0, 1), omega outside [0, 2), max_sweeps < 1, a bad source range.
void validate(const SolverConfig& config);

// rho = 4D cos(pi / (L + 1)) / (4D + gamma), omega = 2 / (1 + sqrt(1 - rho^2)).
double optimal_omega(int L, double D, double gamma);
// config.omega when set, optimal_omega otherwise.
double effective_omega(const SolverConfig& config);

struct Source {
  float x = 0, y = 0;  // centre: column, row (integers stored as float, as in the HDF5 layout)
  float value = 0;     // in (0, 1]
};

struct SolveStats {
  int sweeps = 0;         // full red-black sweeps performed
  double residual = 0.0;  // max|r| / ((4D + gamma) max u) of the returned field
  double error_bound = 0.0;  // solve_from to an error bound: the returned field's certified
                             // max|u - u*| (solver/certificate.h); 0 otherwise
};

// Which random stream samples come from: a seed in a domain. Data files (datagen) draw from the
// data domain; train --online from the online domain, whose streams no data file's seed can
// reproduce (solver/counter_rng.h says why), so fresh training samples never repeat a test sample.
// A bare seed means the data domain.
enum class SampleDomain : std::uint64_t { data = 0, online = 1 };
struct SampleStream {
  std::uint64_t seed = 0;
  SampleDomain domain = SampleDomain::data;
  SampleStream(std::uint64_t seed_, SampleDomain domain_ = SampleDomain::data) : seed(seed_), domain(domain_) {}
};

// The n sources of sample `index` of `stream`. n must be in [1, config.max_sources].
std::vector<Source> sample_sources(const SolverConfig& config, SampleStream stream,
                                   std::uint64_t index, int n);

// A number of sources uniform in [min_sources, max_sources] for sample `index`, drawn from a
// stream independent of sample_sources' (for training on freshly generated samples).
int sample_source_count(const SolverConfig& config, SampleStream stream, std::uint64_t index);

// Renders the input image x [L, L]: sum of value * disk over the sources, divided by its maximum.
void render_input(const SolverConfig& config, std::span<const Source> sources,
                  std::span<float> image);

// Solves for the target of one input image x [L, L] (pixels > 0 are sources in the clamp model)
// and writes it to target [L, L]. Throws ednn::Error when the solve does not converge.
SolveStats solve(const SolverConfig& config, std::span<const float> input, std::span<float> target);

// SOR warm-started: `field` [L, L] holds the start (a network's prediction, say, as a normalised
// target) and receives the solution. Source pixels (clamp) are reset to the input first; in the
// production model the start is rescaled to the unnormalised field by the least-squares source
// scale of solver/certificate.h. Stops by the solver's rule (config.tol) when error_bound is 0,
// otherwise once the certified bound of the returned float field (SPEC section 3.1, float rounding
// included) is at most error_bound; a start that already meets the rule takes 0 sweeps. Throws as
// solve does after config.max_sweeps sweeps.
SolveStats solve_from(const SolverConfig& config, std::span<const float> input, std::span<float> field,
                      double error_bound = 0.0);

// Exactly `sweeps` red-black sweeps from `field`, warm-started as solve_from (sources reset to the
// input, production rescaled and the result normalised), with relaxation factor
// effective_omega(config), and no stopping rule: the smoothing step of a certified prediction
// (solver/certificate.h). Returns the sweeps and the relative residual of the result.
SolveStats sweep_from(const SolverConfig& config, std::span<const float> input, std::span<float> field, int sweeps);

// Solves `batch` samples: inputs and targets [batch, 1, L, L], stats [batch].
void solve_batch(const SolverConfig& config, int batch, std::span<const float> inputs,
                 std::span<float> targets, std::span<SolveStats> stats);

// The relative residual max|r| / ((4D + gamma) max u) of a field u [L, L] for input x, in double
// (certify(...).relative_residual of solver/certificate.h).
// In the production model the field may be a normalised target u / max(u): the source term is
// then rescaled by the least-squares factor that best fits the field (1 for an unnormalised u).
double relative_residual(const SolverConfig& config, std::span<const float> input,
                         std::span<const float> field);

// What one generated sample is: which stream index and how many sources.
struct SampleRequest {
  std::uint64_t index = 0;
  int n_sources = 1;
};

// A batch of generated samples, laid out as the HDF5 data set stores them.
struct SampleBatch {
  int L = 0;
  int max_sources = 0;
  std::vector<float> inputs;           // [B, 1, L, L]
  std::vector<float> targets;          // [B, 1, L, L]
  std::vector<std::int32_t> n_sources; // [B]
  std::vector<Source> sources;         // [B, max_sources], unused rows zero
  std::vector<SolveStats> stats;       // [B]
  int size() const { return static_cast<int>(n_sources.size()); }
};

// Samples the sources and renders the inputs; targets are zero and stats empty, for a solver to
// fill (solve_batch here, or solve_batch_device of solver/sor_cuda.h). Inputs are rendered on the
// host whatever solves them, so they are the same bits on every device.
SampleBatch render_samples(const SolverConfig& config, SampleStream stream,
                           std::span<const SampleRequest> requests);

// render_samples, then solve_batch on the CPU: the one call the trainer needs to make fresh
// samples on the fly, and what datagen stores with --device cpu.
SampleBatch generate_samples(const SolverConfig& config, SampleStream stream,
                             std::span<const SampleRequest> requests);

}  // namespace ednn::solver
