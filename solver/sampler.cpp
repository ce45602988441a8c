// The source sampler of SPEC section 2 and the batch generator built on it.
//
// Sample `index` of stream `seed` with n sources: for s = 0 .. n-1, column and row of the centre
// uniform in [R, L-1-R] (the disk dx^2 + dy^2 <= R^2 stays inside), value 1 for s = 0 and uniform
// in (0, 1] otherwise, all drawn in that order from CounterRng(seed, index, kSourcesTag, domain). The input
// image is x = sum_s value_s * disk_s / max(sum), accumulated in double in source order and
// rounded once to float.
#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "solver/counter_rng.h"
#include "solver/solver.h"

namespace ednn::solver {
namespace {
constexpr std::uint64_t kSourcesTag = 1;  // stream of centres and values
constexpr std::uint64_t kCountTag = 2;    // stream of the number of sources
}  // namespace

std::vector<Source> sample_sources(const SolverConfig& config, SampleStream stream,
                                   std::uint64_t index, int n) {
  validate(config);
  EDNN_CHECK(n >= 1 && n <= config.max_sources, "sample_sources: ", n,
             " sources requested, expected 1 .. max_sources = ", config.max_sources);
  CounterRng rng(stream.seed, index, kSourcesTag, static_cast<std::uint64_t>(stream.domain));
  const std::uint64_t centre_range = static_cast<std::uint64_t>(config.L - 2 * config.radius);
  std::vector<Source> sources(static_cast<size_t>(n));
  for (int s = 0; s < n; ++s) {
    Source& src = sources[static_cast<size_t>(s)];
    src.x = static_cast<float>(config.radius + static_cast<int>(rng.uniform_below(centre_range)));
    src.y = static_cast<float>(config.radius + static_cast<int>(rng.uniform_below(centre_range)));
    src.value = s == 0 ? 1.0f : static_cast<float>(rng.uniform_open_closed());
  }
  return sources;
}

int sample_source_count(const SolverConfig& config, SampleStream stream, std::uint64_t index) {
  validate(config);
  CounterRng rng(stream.seed, index, kCountTag, static_cast<std::uint64_t>(stream.domain));
  const auto range = static_cast<std::uint64_t>(config.max_sources - config.min_sources + 1);
  return config.min_sources + static_cast<int>(rng.uniform_below(range));
}

void render_input(const SolverConfig& config, std::span<const Source> sources,
                  std::span<float> image) {
  validate(config);
  const int L = config.L, R = config.radius;
  EDNN_CHECK(image.size() == static_cast<size_t>(L) * L, "render_input: image has ", image.size(),
             " pixels, expected L*L = ", static_cast<size_t>(L) * L);
  std::vector<double> sum(image.size(), 0.0);
  for (const Source& src : sources) {
    const int cx = static_cast<int>(src.x), cy = static_cast<int>(src.y);
    EDNN_CHECK(cx >= R && cx <= L - 1 - R && cy >= R && cy <= L - 1 - R,
               "render_input: source centre (", cx, ", ", cy, ") puts its disk of radius ", R,
               " outside the ", L, "x", L, " lattice");
    for (int dy = -R; dy <= R; ++dy)
      for (int dx = -R; dx <= R; ++dx)
        if (dx * dx + dy * dy <= R * R)
          sum[static_cast<size_t>(cy + dy) * L + (cx + dx)] += static_cast<double>(src.value);
  }
  const double peak = sources.empty() ? 0.0 : *std::max_element(sum.begin(), sum.end());
  const double scale = peak > 0.0 ? 1.0 / peak : 0.0;
  for (size_t p = 0; p < image.size(); ++p) image[p] = static_cast<float>(sum[p] * scale);
}

SampleBatch render_samples(const SolverConfig& config, SampleStream stream,
                           std::span<const SampleRequest> requests) {
  validate(config);
  const int B = static_cast<int>(requests.size());
  const size_t pixels = static_cast<size_t>(config.L) * config.L;
  SampleBatch batch;
  batch.L = config.L;
  batch.max_sources = config.max_sources;
  batch.inputs.assign(B * pixels, 0.0f);
  batch.targets.assign(B * pixels, 0.0f);
  batch.n_sources.resize(static_cast<size_t>(B));
  batch.sources.assign(static_cast<size_t>(B) * config.max_sources, Source{});
  batch.stats.resize(static_cast<size_t>(B));
  // Every sample is a pure function of its request: threads change nothing but the speed.
#pragma omp parallel for schedule(dynamic) if (B > 1)
  for (int b = 0; b < B; ++b) {
    const SampleRequest& req = requests[static_cast<size_t>(b)];
    const std::vector<Source> sources = sample_sources(config, stream, req.index, req.n_sources);
    std::copy(sources.begin(), sources.end(),
              batch.sources.begin() + static_cast<std::ptrdiff_t>(b) * config.max_sources);
    batch.n_sources[static_cast<size_t>(b)] = req.n_sources;
    render_input(config, sources, std::span<float>(batch.inputs).subspan(b * pixels, pixels));
  }
  return batch;
}

SampleBatch generate_samples(const SolverConfig& config, SampleStream stream,
                             std::span<const SampleRequest> requests) {
  SampleBatch batch = render_samples(config, stream, requests);
  solve_batch(config, batch.size(), batch.inputs, batch.targets, batch.stats);
  return batch;
}

}  // namespace ednn::solver
