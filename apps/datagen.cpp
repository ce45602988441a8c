// datagen: writes the paper's data sets (random sources and their steady states, SPEC sections
// 1-3) to HDF5, resumably. Layout and sample ordering: solver/dataset_h5.h; the steps of a run,
// resume included: solver/datagen.h.
//
//   datagen --out data/L128.h5 --L 128 --per-n 1000 --seed 1
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <omp.h>
#include <string>
#include <string_view>

#include "engine/error.h"
#include "solver/datagen.h"

namespace {

using ednn::dataset::DatagenOptions;
using ednn::dataset::DatagenProgress;
using ednn::dataset::DatagenSummary;

constexpr const char* kUsage = R"(usage: datagen --out FILE.h5 [options]

Generates per-n samples for every number of sources n in min..max: random disks of radius R
(input image, max 1) and the steady state of D lap(u) - gamma u = 0 around them (target), solved
by red-black SOR to a relative residual tol, and writes them to FILE.h5 (HDF5, see
solver/dataset_h5.h for the layout and the ordering that makes the nested training subsets
prefixes). Writes FILE.h5.partial first; rerunning the same command after an interruption
continues it, and gives the same file as an uninterrupted run. An existing FILE.h5 made with
other parameters is never overwritten.

options (defaults in brackets):
  --out FILE.h5          output file (required)
  --L N                  lattice side [512]
  --per-n N              samples per number of sources [20000]
  --min-sources N        fewest sources [1]
  --max-sources N        most sources [20]
  --test-fraction F      fraction of each n in the test split, 0 <= F < 1 [0.2]
  --seed S               random stream (unsigned 64-bit) [0]
  --model clamp|production  source model (SPEC section 1) [clamp]
  --tol T                relative residual tolerance, 0 < T < 1 [1e-6]
  --device cpu|cuda|auto where to solve [auto = cpu]; cuda is not available in datagen yet
  --compress             shuffle + deflate the image chunks (smaller, slower)
  --D X                  diffusion constant [1]
  --gamma X              decay rate [0.0025]
  --radius R             source disk radius [5]
  --omega W              over-relaxation factor, 0 < W < 2 [optimal for L, D, gamma]
  --max-sweeps N         SOR iteration cap; exceeding it is an error [20000]
  --threads N            OpenMP threads [all]
  --batch N              samples per write + flush [about 8 MB of images]
  --stop-after N         stop after N new samples, as if interrupted (for testing resume)
  --help                 this text

exit status: 0 done (or stopped by --stop-after), 1 error, 2 bad usage, 130 interrupted by Ctrl-C.
)";

struct UsageError : ednn::Error {
  using ednn::Error::Error;
};

template <class T>
T parse_number(std::string_view option, std::string_view text) {
  T value{};
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end)
    throw UsageError(ednn::detail::concat("datagen: ", option, " expects a number, got '", text, "'"));
  return value;
}

std::atomic<bool> g_stop_requested{false};

extern "C" void on_interrupt(int) {
  if (g_stop_requested.exchange(true)) std::_Exit(130);  // second Ctrl-C: stop now
}

std::string format_duration(double seconds) {
  const long s = static_cast<long>(seconds + 0.5);
  char text[32];
  std::snprintf(text, sizeof text, "%02ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
  return text;
}

// A progress bar on stderr: redrawn in place on a terminal, one line every 10 s otherwise.
class ProgressBar {
public:
  void operator()(const DatagenProgress& p) {
    const bool tty = isatty(STDERR_FILENO);
    const bool last = p.done == p.total;
    if (!last && p.seconds - last_print_ < (tty ? 0.2 : 10.0)) return;
    last_print_ = p.seconds;
    const double rate = p.seconds > 0 ? p.done_this_run / p.seconds : 0.0;
    const double eta = rate > 0 ? (p.total - p.done) / rate : 0.0;
    constexpr int width = 30;
    const int filled = static_cast<int>(width * static_cast<double>(p.done) / p.total);
    std::string bar(static_cast<size_t>(filled), '#');
    bar.resize(width, '.');
    std::fprintf(stderr, "%s[%s] %5.1f%%  %lld/%lld  %.1f samples/s  ETA %s%s", tty ? "\r" : "", bar.c_str(),
                 100.0 * p.done / p.total, static_cast<long long>(p.done), static_cast<long long>(p.total), rate,
                 format_duration(eta).c_str(), tty && !last ? "" : "\n");
    std::fflush(stderr);
  }

private:
  double last_print_ = -1e9;
};

DatagenOptions parse_options(int argc, char** argv) {
  DatagenOptions o;
  o.solver = ednn::solver::SolverConfig{};
  for (int a = 1; a < argc; ++a) {
    const std::string_view opt = argv[a];
    if (opt == "--help" || opt == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    }
    if (opt == "--compress") {
      o.compress = true;
      continue;
    }
    if (a + 1 >= argc) throw UsageError(ednn::detail::concat("datagen: ", opt, " needs a value (see --help)"));
    const std::string_view value = argv[++a];
    if (opt == "--out") o.out = value;
    else if (opt == "--L") o.solver.L = parse_number<int>(opt, value);
    else if (opt == "--per-n") o.per_n = parse_number<int>(opt, value);
    else if (opt == "--min-sources") o.solver.min_sources = parse_number<int>(opt, value);
    else if (opt == "--max-sources") o.solver.max_sources = parse_number<int>(opt, value);
    else if (opt == "--test-fraction") o.test_fraction = parse_number<double>(opt, value);
    else if (opt == "--seed") o.seed = parse_number<std::uint64_t>(opt, value);
    else if (opt == "--model") o.solver.model = ednn::solver::parse_source_model(value);
    else if (opt == "--tol") o.solver.tol = parse_number<double>(opt, value);
    else if (opt == "--D") o.solver.D = parse_number<double>(opt, value);
    else if (opt == "--gamma") o.solver.gamma = parse_number<double>(opt, value);
    else if (opt == "--radius") o.solver.radius = parse_number<int>(opt, value);
    else if (opt == "--omega") o.solver.omega = parse_number<double>(opt, value);
    else if (opt == "--max-sweeps") o.solver.max_sweeps = parse_number<int>(opt, value);
    else if (opt == "--threads") omp_set_num_threads(parse_number<int>(opt, value));
    else if (opt == "--batch") o.batch = parse_number<int>(opt, value);
    else if (opt == "--stop-after") o.stop_after = parse_number<std::int64_t>(opt, value);
    else if (opt == "--device") {
      if (value == "cuda")
        ednn::fail("datagen: --device cuda: datagen has no GPU path yet (the CUDA SOR kernel, solver/sor_cuda.h, "
                   "is not wired into datagen; not built with CUDA / no GPU solver here); use --device cpu");
      if (value != "cpu" && value != "auto")
        throw UsageError(ednn::detail::concat("datagen: --device '", value, "', expected cpu, cuda or auto"));
    } else {
      throw UsageError(ednn::detail::concat("datagen: unknown option '", opt, "' (see --help)"));
    }
  }
  if (o.out.empty()) throw UsageError("datagen: --out FILE.h5 is required (see --help)");
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    DatagenOptions options = parse_options(argc, argv);
    ednn::solver::validate(options.solver);
    options.stop_requested = &g_stop_requested;
    std::signal(SIGINT, on_interrupt);
    std::signal(SIGTERM, on_interrupt);
    const auto& s = options.solver;
    std::fprintf(stderr,
                 "datagen: %s  L=%d  n=%d..%d  per-n=%d  test-fraction=%g  seed=%llu  model=%s  tol=%g  "
                 "omega=%.5f  device=cpu  threads=%d%s\n",
                 options.out.c_str(), s.L, s.min_sources, s.max_sources, options.per_n, options.test_fraction,
                 static_cast<unsigned long long>(options.seed), ednn::solver::to_string(s.model), s.tol,
                 ednn::solver::effective_omega(s), omp_get_max_threads(), options.compress ? "  compressed" : "");
    ProgressBar progress;
    const DatagenSummary summary = ednn::dataset::run_datagen(
        options, std::ref(progress), [](const std::string& w) { std::fprintf(stderr, "%s\n", w.c_str()); });
    if (summary.was_already_finished) {
      std::fprintf(stderr, "datagen: %s is already complete with these parameters; nothing to do\n",
                   summary.path.c_str());
    } else if (summary.resumed_from > 0) {
      std::fprintf(stderr, "datagen: resumed after %lld samples already in the partial file\n",
                   static_cast<long long>(summary.resumed_from));
    }
    std::fprintf(stderr,
                 "datagen: %lld samples in the file (%lld generated now in %.1f s, %.1f samples/s), mean sweeps "
                 "%.1f, worst relative residual %.3g\n",
                 static_cast<long long>(summary.samples), static_cast<long long>(summary.generated), summary.seconds,
                 summary.seconds > 0 ? summary.generated / summary.seconds : 0.0, summary.mean_sweeps,
                 summary.worst_residual);
    if (!summary.finished) {
      std::fprintf(stderr, "datagen: stopped early; the samples so far are in %s; run the same command again to "
                           "continue\n", summary.path.c_str());
      return g_stop_requested.load() ? 130 : 0;
    }
    std::printf("%s\n", summary.path.c_str());
    std::fprintf(stderr, "datagen: data set written to %s\n", summary.path.c_str());
    return 0;
  } catch (const UsageError& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}
