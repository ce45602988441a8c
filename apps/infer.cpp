// infer: runs a trained ED-CNN on an HDF5 file of inputs (or on a list of sources), writes the
// predictions, and with targets the metrics of SPEC section 7, plots and picture panels.
//
//   infer --checkpoint DIR/best.safetensors --data FILE.h5 --device cpu --out DIR2
//   infer --checkpoint FILE --sources sources.csv --out DIR2
//
// A checkpoint without ednn's metadata (a state_dict PyTorch saved) needs --preset or --L.
//
// Outputs in DIR2: predictions.h5 (`predictions` float32 [N, 1, L, L], `indices` into the data
// file; file attributes: the checkpoint and this run's provenance), metrics.csv and metrics.json
// (overall and per number of sources; regions sources, field, all, R1, R2, R3; with the baselines
// "predict the input" and "predict zeros"), mae_vs_n.{pdf,svg,png} (one panel per region),
// sample_<i>.{pdf,svg,png} (input, target, prediction and |error| of the first --pictures samples,
// each with its colour bar), timing.json.
// --certify adds per-sample columns to predictions.h5 (the prediction's residual, relative_residual,
// error_bound and error_bound_through_certified; the certified field's, the prediction after
// --certify-sweeps smoothing sweeps, as `certified` with certified_residual, certified_error_bound,
// certify_seconds; with targets target_error_bound and each one's bound against the target, actual
// max error and MAE) and their summaries to metrics.json; --polish TOL adds `polished`, SOR from the
// certified field, and the sweeps and seconds against a cold start;
// --compare-solver adds the break-even accounting of apps/break_even.h to timing.json and metrics.json.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <nlohmann/json.hpp>

#include "apps/break_even.h"
#include "apps/cli.h"
#include "apps/h5_io.h"
#include "apps/numerics_options.h"
#include "apps/pictures.h"
#include "apps/progress.h"
#include "apps/sources_file.h"
#include "engine/autograd.h"
#include "engine/device.h"
#include "core/error.h"
#include "nets/checkpoint.h"
#include "nets/ednn_cnn.h"
#include "nets/metrics.h"
#include "nets/run_settings.h"
#include "solver/certificate.h"

using namespace ednn;
namespace fs = std::filesystem;

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// The process's peak resident memory (the kernel's high-water mark), in MiB.
double peak_memory_mib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return double(usage.ru_maxrss) / 1024.0;  // Linux reports KiB
}

// ---- certified predictions (--certify, --polish; SPEC section 3.1) ----
// For each prediction v: its residual under the solver's own discretisation and the guaranteed
// bound on its largest pointwise error against the exact discrete solution (solver/certificate.h).
// That bound is loose for an error that is rough on the pixel scale, as a network's is, so the
// certified field is w = v after K smoothing sweeps of the solver's iteration (--certify-sweeps,
// --certify-omega; K = 0: w = v), with its own bound, and v gets the bound through w as well,
// max|v - w| + bound(w). With targets: the stored target's own certificate, the bounds against the
// target (each plus the target's), and the actual max error and MAE of v and w. With --polish: SOR
// from w until the certified bound is at most TOL, against a cold start (from zero) on the same
// input to the same bound. Per-sample values go to predictions.h5 as they come, the summaries to
// metrics.json and timing.json.
struct CertifyOptions {
  int sweeps = 0;                     // smoothing sweeps K
  double omega = 1.0;                 // their relaxation factor; 0: the solver's own
  std::optional<double> polish_tol;
};

class Certifier {
public:
  Certifier(const solver::SolverConfig& solver, bool targets, const CertifyOptions& options, io::PredictionsWriter& file)
      : solver_(solver), targets_(targets), options_(options), file_(file) {
    file.add_column("residual", "max_p |r_p| of the prediction over the free rows of the solver's discrete equations, "
                                "(4D + gamma) v_p - D sum v_q - b_p (SPEC 3.1)");
    file.add_column("relative_residual", "residual / ((4D + gamma) max v): the solver's normalisation, as the data "
                                         "files' residual column");
    file.add_column("error_bound", "guaranteed max_p |prediction - u*| against the exact discrete solution u*, from "
                                   "the prediction's own residual (SPEC 3.1)");
    file.add_column("error_bound_through_certified", "guaranteed max_p |prediction - u*| through the certified field "
                                                     "w: max_p |prediction - w| + certified_error_bound (SPEC 3.1)");
    if (options.sweeps > 0)
      file.add_images("certified", "the certified field: the prediction after certify_sweeps smoothing sweeps of the "
                                   "solver's red-black iteration (SPEC 3.1)");
    file.add_column("certified_residual", "max_p |r_p| of the certified field (the prediction when certify_sweeps = 0)");
    file.add_column("certified_error_bound", "guaranteed max_p |certified - u*| (SPEC 3.1)");
    file.add_column("certify_seconds", "seconds of the smoothing sweeps (one thread)");
    if (targets) {
      file.add_column("target_error_bound", "the stored target's own guaranteed max_p |target - u*|");
      file.add_column("error_bound_vs_target", "min(error_bound, error_bound_through_certified) + target_error_bound: "
                                               "guaranteed max_p |prediction - target|");
      file.add_column("max_error", "actual max_p |prediction - target|");
      file.add_column("mae", "actual mean_p |prediction - target|");
      file.add_column("certified_error_bound_vs_target", "certified_error_bound + target_error_bound: guaranteed "
                                                         "max_p |certified - target|");
      file.add_column("certified_max_error", "actual max_p |certified - target|");
      file.add_column("certified_mae", "actual mean_p |certified - target|");
    }
    if (options.polish_tol) {
      file.add_images("polished", "SOR from the certified field until its certified error bound is at most the "
                                  "polish tolerance");
      file.add_column("polish_sweeps", "SOR sweeps from the certified field to the polish tolerance");
      file.add_column("polish_seconds", "seconds of those sweeps (one thread)");
      file.add_column("polished_error_bound", "guaranteed max_p |polished - u*|");
      file.add_column("cold_sweeps", "SOR sweeps from zero (the solver's start) to the same bound");
      file.add_column("cold_seconds", "seconds of those sweeps (one thread)");
    }
  }

  // Samples [first, first + count): inputs, targets (or null), predictions, each [count, L, L].
  void add(std::int64_t first, int count, const float* xs, const float* ys, const float* ps) {
    const std::size_t px = std::size_t(solver_.L) * solver_.L;
    Columns batch;
    std::vector<float> certified(count * px), polished(options_.polish_tol ? count * px : 0),
        cold(options_.polish_tol ? px : 0);
    for (int k = 0; k < count; ++k) {
      const std::span<const float> x(xs + k * px, px), v(ps + k * px, px);
      const std::span<float> w(certified.data() + k * px, px);
      const solver::Certificate cert = solver::certify(solver_, x, v);
      std::copy(v.begin(), v.end(), w.begin());
      solver::SmoothStats smoothing;
      if (options_.sweeps > 0) smoothing = solver::smooth(solver_, x, w, options_.sweeps, options_.omega);
      const solver::Certificate cert_w = options_.sweeps > 0 ? solver::certify(solver_, x, w) : cert;
      const double through = solver::bound_through(v, w, cert_w.bound);
      batch["residual"].push_back(cert.residual);
      batch["relative_residual"].push_back(cert.relative_residual);
      batch["error_bound"].push_back(cert.bound);
      batch["error_bound_through_certified"].push_back(through);
      batch["certified_residual"].push_back(cert_w.residual);
      batch["certified_error_bound"].push_back(cert_w.bound);
      batch["certify_seconds"].push_back(smoothing.seconds);
      if (targets_) {
        const std::span<const float> y(ys + k * px, px);
        const double target_bound = solver::certify(solver_, x, y).bound;
        const Errors of_v = errors(v, y), of_w = errors(w, y);
        batch["target_error_bound"].push_back(target_bound);
        batch["error_bound_vs_target"].push_back(std::min(cert.bound, through) + target_bound);
        batch["max_error"].push_back(of_v.max);
        batch["mae"].push_back(of_v.mean);
        batch["certified_error_bound_vs_target"].push_back(cert_w.bound + target_bound);
        batch["certified_max_error"].push_back(of_w.max);
        batch["certified_mae"].push_back(of_w.mean);
      }
      if (options_.polish_tol) {
        const std::span<float> field(polished.data() + k * px, px);
        std::copy(w.begin(), w.end(), field.begin());
        const solver::PolishStats warm = solver::polish(solver_, x, field, *options_.polish_tol);
        std::fill(cold.begin(), cold.end(), 0.0f);
        const solver::PolishStats from_zero = solver::polish(solver_, x, cold, *options_.polish_tol);
        batch["polish_sweeps"].push_back(warm.sweeps);
        batch["polish_seconds"].push_back(warm.seconds);
        batch["polished_error_bound"].push_back(warm.bound);
        batch["cold_sweeps"].push_back(from_zero.sweeps);
        batch["cold_seconds"].push_back(from_zero.seconds);
      }
    }
    for (auto& [name, values] : batch) {
      file_.write_column(name, first, count, values.data());
      auto& all = columns_[name];
      all.insert(all.end(), values.begin(), values.end());
    }
    if (options_.sweeps > 0) file_.write_images("certified", first, count, certified.data());
    if (options_.polish_tol) file_.write_images("polished", first, count, polished.data());
  }

  // The summaries for metrics.json: mean, median and max of the bounds, the fraction of samples
  // whose bound is below each threshold, and with targets how tight the bounds are (bound over
  // actual max error, per sample) and whether they held.
  nlohmann::ordered_json metrics(const std::vector<double>& thresholds, const std::string& solver_settings) const {
    nlohmann::ordered_json j;
    j["solver"] = {{"settings", solver_settings}, {"model", solver::to_string(solver_.model)}, {"D", solver_.D},
                   {"gamma", solver_.gamma}, {"L", solver_.L}};
    j["bound_is_against"] = "the exact solution of the solver's discrete equations (SPEC 3.1)";
    j["samples"] = columns_.at("error_bound").size();
    j["certify_sweeps"] = options_.sweeps;
    j["certify_omega"] = options_.omega > 0 ? options_.omega : solver::effective_omega(solver_);
    j["residual"] = summary(columns_.at("residual"));
    j["relative_residual"] = summary(columns_.at("relative_residual"));
    j["error_bound"] = summary(columns_.at("error_bound"));
    j["error_bound_through_certified"] = summary(columns_.at("error_bound_through_certified"));
    j["certified_error_bound"] = summary(columns_.at("certified_error_bound"));
    j["certify_ms_per_sample"] = 1000 * mean(columns_.at("certify_seconds"));
    nlohmann::ordered_json below = nlohmann::ordered_json::array();
    for (double t : thresholds)
      below.push_back({{"threshold", t},
                       {"prediction", fraction_below(best_prediction_bound(), t)},
                       {"certified", fraction_below(columns_.at("certified_error_bound"), t)}});
    j["error_bound_below"] = below;
    if (targets_) {
      j["target_error_bound"] = summary(columns_.at("target_error_bound"));
      j["prediction"] = tightness(columns_.at("error_bound_vs_target"), columns_.at("max_error"), columns_.at("mae"));
      j["certified"] = tightness(columns_.at("certified_error_bound_vs_target"), columns_.at("certified_max_error"),
                                 columns_.at("certified_mae"));
    }
    if (options_.polish_tol) {
      j["polish"] = {{"tolerance", *options_.polish_tol},
                     {"from", "the certified field"},
                     {"sweeps", summary(columns_.at("polish_sweeps"))},
                     {"seconds", summary(columns_.at("polish_seconds"))},
                     {"polished_error_bound", summary(columns_.at("polished_error_bound"))},
                     {"cold_sweeps", summary(columns_.at("cold_sweeps"))},
                     {"cold_seconds", summary(columns_.at("cold_seconds"))}};
    }
    return j;
  }

  // For timing.json: the smoothing sweeps, and the polish against the cold start, per sample.
  nlohmann::ordered_json timing() const {
    nlohmann::ordered_json j = {{"certify_sweeps", options_.sweeps},
                                {"certify_ms_per_sample", 1000 * mean(columns_.at("certify_seconds"))}};
    if (options_.polish_tol) {
      const double warm = mean(columns_.at("polish_seconds")), cold = mean(columns_.at("cold_seconds"));
      j["polish"] = {{"tolerance", *options_.polish_tol}, {"from", "the certified field"},
                     {"polish_ms_per_sample", 1000 * warm}, {"cold_start_ms_per_sample", 1000 * cold},
                     {"polish_sweeps_mean", mean(columns_.at("polish_sweeps"))},
                     {"cold_start_sweeps_mean", mean(columns_.at("cold_sweeps"))}, {"cold_over_polish", cold / warm}};
    }
    return j;
  }

  void print() const {
    auto line = [](const char* what, const nlohmann::ordered_json& b) {
      std::printf("  %s: mean %.4g, median %.4g, max %.4g\n", what, b["mean"].get<double>(), b["median"].get<double>(),
                  b["max"].get<double>());
    };
    line("certified error bound of the predictions (vs the exact discrete solution)", summary(best_prediction_bound()));
    if (options_.sweeps > 0) {
      char what[160];
      std::snprintf(what, sizeof what, "certified error bound after %d smoothing sweeps (%.3f ms/sample)", options_.sweeps,
                    1000 * mean(columns_.at("certify_seconds")));
      line(what, summary(columns_.at("certified_error_bound")));
    }
    if (targets_) {
      auto against = [](const char* what, const nlohmann::ordered_json& t) {
        std::printf("  %s vs the target: bound / actual max error mean %.3g, median %.3g, max %.3g; MAE %.4g; bound "
                    "holds on %lld of %lld samples\n",
                    what, t["bound_over_max_error"]["mean"].get<double>(), t["bound_over_max_error"]["median"].get<double>(),
                    t["bound_over_max_error"]["max"].get<double>(), t["mae"]["mean"].get<double>(),
                    t["bound_holds"].get<long long>(), t["samples"].get<long long>());
      };
      against("prediction", tightness(columns_.at("error_bound_vs_target"), columns_.at("max_error"), columns_.at("mae")));
      if (options_.sweeps > 0)
        against("certified ", tightness(columns_.at("certified_error_bound_vs_target"), columns_.at("certified_max_error"),
                                        columns_.at("certified_mae")));
    }
    if (options_.polish_tol)
      std::printf("  polish to %.3g: %.1f sweeps, %.3f ms/sample from the certified field; %.1f sweeps, %.3f ms from "
                  "zero\n",
                  *options_.polish_tol, mean(columns_.at("polish_sweeps")), 1000 * mean(columns_.at("polish_seconds")),
                  mean(columns_.at("cold_sweeps")), 1000 * mean(columns_.at("cold_seconds")));
  }

private:
  using Columns = std::map<std::string, std::vector<double>>;
  struct Errors {
    double max = 0, mean = 0;
  };
  static Errors errors(std::span<const float> field, std::span<const float> target) {
    Errors e;
    for (std::size_t p = 0; p < field.size(); ++p) {
      const double d = std::abs(double(field[p]) - double(target[p]));
      e.max = std::max(e.max, d);
      e.mean += d;
    }
    e.mean /= double(field.size());
    return e;
  }
  // The prediction's bound: the smaller of its own and the one through the certified field.
  std::vector<double> best_prediction_bound() const {
    std::vector<double> b = columns_.at("error_bound");
    const auto& through = columns_.at("error_bound_through_certified");
    for (std::size_t i = 0; i < b.size(); ++i) b[i] = std::min(b[i], through[i]);
    return b;
  }
  // How a bound against the target compares with the actual error, sample by sample.
  static nlohmann::ordered_json tightness(const std::vector<double>& bound, const std::vector<double>& actual,
                                          const std::vector<double>& mae) {
    std::vector<double> ratio;
    long long holds = 0;
    for (std::size_t i = 0; i < actual.size(); ++i) {
      holds += actual[i] <= bound[i];
      if (actual[i] > 0) ratio.push_back(bound[i] / actual[i]);
    }
    nlohmann::ordered_json j;
    j["error_bound_vs_target"] = summary(bound);
    j["max_error"] = summary(actual);
    j["mae"] = summary(mae);
    j["bound_over_max_error"] = ratio.empty() ? nlohmann::ordered_json() : summary(ratio);
    j["bound_holds"] = holds;
    j["samples"] = (long long)actual.size();
    j["fraction_bound_holds"] = double(holds) / double(actual.size());
    return j;
  }
  static double mean(const std::vector<double>& v) {
    double s = 0;
    for (double x : v) s += x;
    return v.empty() ? NAN : s / double(v.size());
  }
  static nlohmann::ordered_json summary(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    const double median = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
    return {{"mean", mean(v)}, {"median", median}, {"max", v.back()}};
  }
  static double fraction_below(const std::vector<double>& v, double t) {
    return double(std::count_if(v.begin(), v.end(), [t](double x) { return x < t; })) / double(v.size());
  }
  solver::SolverConfig solver_;
  bool targets_;
  CertifyOptions options_;
  io::PredictionsWriter& file_;
  Columns columns_;
};

// "0.001,0.01,0.1" -> {0.001, 0.01, 0.1}; each a finite number > 0.
std::vector<double> parse_thresholds(const std::string& text) {
  std::vector<double> out;
  std::stringstream cells(text);
  for (std::string cell; std::getline(cells, cell, ',');) {
    char* end = nullptr;
    const double t = std::strtod(cell.c_str(), &end);
    if (cell.empty() || *end != '\0' || !std::isfinite(t) || t <= 0)
      throw io::UsageError("--certify-thresholds: '" + cell + "' in '" + text + "' is not a number > 0");
    out.push_back(t);
  }
  if (out.empty()) throw io::UsageError("--certify-thresholds: no thresholds in '" + text + "'");
  return out;
}

// ---- break-even (--compare-solver): SOR from each prediction to the solver's own tolerance ----
// Wall seconds per sample of solve_from on the first M inputs, whole samples per thread, as
// solve_batch times the cold solves beside it.
double polish_to_solver_tolerance_seconds(const solver::SolverConfig& sc, std::int64_t M, std::int64_t px,
                                          const std::vector<float>& inputs, const std::vector<float>& predictions) {
  std::vector<float> fields(predictions.begin(), predictions.begin() + M * px);
  std::vector<std::string> errors(static_cast<std::size_t>(M));
  const double t0 = now_s();
#pragma omp parallel for schedule(dynamic, 1)
  for (std::int64_t m = 0; m < M; ++m) {
    try {
      solver::solve_from(sc, std::span<const float>(inputs.data() + m * px, std::size_t(px)),
                         std::span<float>(fields.data() + m * px, std::size_t(px)));
    } catch (const std::exception& e) {
      errors[std::size_t(m)] = e.what();
    }
  }
  const double seconds = now_s() - t0;
  for (std::int64_t m = 0; m < M; ++m)
    EDNN_CHECK(errors[std::size_t(m)].empty(), "infer: polish of sample ", m, " to the solver's tolerance: ",
               errors[std::size_t(m)]);
  return seconds / double(M);
}

// The break-even inputs of --compare-solver: the solver's and the network's seconds per sample
// measured here, polish to the solver's tolerance on the same inputs, the data file's samples
// times the measured solve time (no data file records its generation time), and the training time
// from train_log.csv beside the checkpoint when it is there.
io::BreakEvenInputs break_even_for(const solver::SolverConfig& sc, std::int64_t M, std::int64_t px,
                                   const std::vector<float>& inputs, const std::vector<float>& predictions,
                                   double solver_ms, double net_ms, const std::optional<dataset::DatasetInfo>& info,
                                   const fs::path& train_log) {
  io::BreakEvenInputs in;
  in.solver_seconds = solver_ms / 1000;
  in.network_seconds = net_ms / 1000;
  in.polish_seconds = polish_to_solver_tolerance_seconds(sc, M, px, inputs, predictions);
  if (info) {
    in.data_seconds = double(info->size()) * in.solver_seconds;
    in.data_source = std::to_string(info->size()) + " samples of the data file x the solve time measured here";
  } else {
    in.data_seconds = 0;
    in.data_source = "unknown: not a datagen file, counted 0";
  }
  std::string why;
  in.training_seconds = io::training_seconds_from_log(train_log.string(), why);
  in.training_source = why;
  return in;
}

int run(int argc, char** argv) {
  io::Cli cli("infer",
              "Runs a trained ED-CNN and measures it against the solver's ground truth.\n\n"
              "  infer --checkpoint FILE.safetensors --data FILE.h5 --device cpu --out DIR\n"
              "  infer --checkpoint FILE.safetensors --sources sources.json|csv --out DIR\n\n"
              "Writes DIR/predictions.h5 (predictions [N, 1, L, L] float32), and with targets "
              "DIR/metrics.csv, DIR/metrics.json and the figures DIR/mae_vs_n.{pdf,svg,png} and "
              "DIR/sample_<i>.{pdf,svg,png}.");
  constexpr std::int64_t kInt = 2147483647;  // the options read into an int
  cli.option("checkpoint", "FILE", "model file written by train (e.g. DIR/best.safetensors), or a state_dict saved "
             "by PyTorch with safetensors (then give --preset or --L); required");
  cli.option("preset", "NAME", "for a checkpoint without ednn metadata (a PyTorch state_dict): the preset whose "
             "lattice side L the network runs at (paper, small, tiny); with metadata it must agree");
  cli.integer_option("L", "N", "for a checkpoint without ednn metadata: the lattice side (a multiple of 32); with "
                     "metadata it must agree", "", 32, 1 << 16);
  cli.option("data", "FILE.h5", "inputs [N, 1, L, L] float32; targets, n_sources, split used when present");
  cli.option("sources", "FILE", "build one input from sources (JSON or CSV rows x,y,value); its target is solved");
  cli.choice_option("split", {"all", "train", "test", "validation"},
                    "the samples used (train, test or validation need a 'split' data set; codes 0, 1, 2)", "all");
  cli.integer_option("limit", "N", "use only the first N selected samples (0: all)", "0", 0, INT64_MAX);
  cli.option("out", "DIR", "output directory; required");
  cli.option("device", "DEV", "cpu, cuda, cuda:N (card N) or auto", "auto");
  io::add_numerics_options(cli);  // default: the checkpoint's
  cli.integer_option("batch", "B", "samples per forward pass", "16", 1, kInt);
  cli.integer_option("pictures", "K", "picture panels for the first K samples", "4", 0, INT64_MAX);
  cli.flag("compare-solver", "also time the SOR solver on the same inputs (CPU, with the data file's solver settings "
           "when it has them) and report the ratio");
  cli.flag("certify", "certify every prediction: its residual under the solver's discretisation and a guaranteed "
           "bound on its largest pointwise error (SPEC section 3.1), in predictions.h5 and metrics.json");
  cli.option("certify-thresholds", "LIST", "with --certify: report the fraction of samples whose bound is below each",
             "0.001,0.01,0.1");
  cli.integer_option("certify-sweeps", "K", "with --certify: the certified field is the prediction after K smoothing "
                     "sweeps of the solver's red-black iteration (0: the prediction itself; SPEC section 3.1)",
                     "50", 0, kInt);
  cli.number_option("certify-omega", "W", "the smoothing sweeps' relaxation factor, in (0, 2); 1 is Gauss-Seidel, "
                    "0 the solver's own (which damps rough errors slowly)", "1");
  cli.number_option("polish", "TOL", "SOR from each certified field until its certified error bound is at most TOL, "
                    "against a cold start on the same input (implies --certify); the fields go to predictions.h5 as "
                    "`polished`");
  cli.flag("overwrite", "replace the results that --out DIR holds (without it such a directory is refused)");
  cli.flag("quiet", "no progress bar");
  if (!cli.parse(argc, argv)) return 0;  // --help, --version
  if (!cli.has("checkpoint")) throw io::UsageError("--checkpoint FILE is required (see --help)");
  if (!cli.has("out")) throw io::UsageError("--out DIR is required (see --help)");
  if (cli.has("data") == cli.has("sources"))
    throw io::UsageError("give exactly one of --data FILE.h5 and --sources FILE");
  const std::string ckpt = cli.get("checkpoint");
  const fs::path out = cli.get("out");
  const Device device = parse_device(cli.get("device"));
  const int batch = int(cli.integer("batch"));
  const bool certify = cli.has("certify") || cli.has("polish");
  const std::vector<double> certify_thresholds = parse_thresholds(cli.get("certify-thresholds"));
  CertifyOptions certify_options;
  certify_options.sweeps = int(cli.integer("certify-sweeps"));
  certify_options.omega = cli.number("certify-omega");
  if (!(certify_options.omega == 0 || (certify_options.omega > 0 && certify_options.omega < 2)))
    throw io::UsageError("--certify-omega expects a relaxation factor in (0, 2) or 0 (the solver's own), got " +
                         cli.get("certify-omega"));
  if (cli.has("polish")) {
    certify_options.polish_tol = cli.number("polish");
    if (!(*certify_options.polish_tol > 0))
      throw io::UsageError("--polish expects a tolerance > 0, got " + cli.get("polish"));
  }

  // ---- the network, configured from the checkpoint's record (nets/run_settings.h) ----
  EDNN_CHECK(fs::exists(ckpt), "infer: checkpoint ", ckpt, " does not exist");
  // A file without ednn's metadata (a state_dict PyTorch saved) gives the widths by its shapes and
  // the lattice side by --preset or --L; its other settings are the defaults (no transform, float).
  const nets::SafetensorsHeader header = nets::read_header(ckpt);
  const std::string asked_preset = cli.has("preset") ? cli.get("preset") : std::string();
  const int asked_L = cli.has("L") ? int(cli.integer("L")) : 0;
  nets::RunSettings trained;
  if (header.metadata.count("L")) {
    trained = nets::RunSettings::from_metadata(header.metadata, ckpt);
    const int L_asked = asked_preset.empty() ? asked_L : nets::preset_config(asked_preset).L;
    EDNN_CHECK(L_asked == 0 || L_asked == trained.net.L, "infer: checkpoint ", ckpt, " records L = ", trained.net.L,
               " (preset ", trained.net.preset, "), the command line asks for L = ", L_asked);
  } else {
    trained.net = nets::config_for_state_dict(header.shapes, asked_preset, asked_L, ckpt);
    std::printf("infer: %s has no ednn metadata (a PyTorch state_dict?): c0 %d%s from its shapes, L %d from --%s\n",
                ckpt.c_str(), trained.net.c0, trained.net.batch_norm ? "" : " without batch norm", trained.net.L,
                asked_preset.empty() ? "L" : "preset");
  }
  const nets::NetConfig& cfg = trained.net;
  const nets::Transform transform = trained.transform;
  // The numerics the network was trained with, unless the command line says otherwise.
  const Numerics numerics = io::numerics_from(cli, trained.numerics);
  set_numerics(numerics);
  if (numerics.tf32 && device != Device::cuda)
    std::fprintf(stderr, "infer: TF32 applies to the cuda device only; the cpu computes in float\n");
  auto net = nets::build_ednn(cfg, 0);
  nets::load_model(ckpt, *net);
  net->to(device);
  net->eval();
  const int L = cfg.L;
  const std::int64_t px = std::int64_t(L) * L;

  // ---- the samples ----
  std::unique_ptr<nets::SampleStore> store;
  std::vector<std::int64_t> indices;
  // The solver for --sources and --compare-solver: the one the network's data was solved with, as
  // its checkpoint records it; SPEC's defaults for a checkpoint that predates the record.
  solver::SolverConfig sc;
  std::string solver_settings = "SPEC's default";
  if (trained.solver) {
    sc = *trained.solver;
    solver_settings = "the training data's (checkpoint)";
  }
  sc.L = L;
  std::optional<dataset::DatasetInfo> datagen_info;  // the data file's record, when it is a datagen file
  if (cli.has("data")) {
    // A datagen file is first checked against its own description (attributes, shapes, types,
    // ordering) and must be finished: an unfinished one's unwritten samples read as zeros.
    if (dataset::is_datagen_file(cli.get("data"))) datagen_info = dataset::DatasetReader(cli.get("data")).info();
    auto plain = std::make_unique<io::PlainH5Store>(cli.get("data"));
    EDNN_CHECK(plain->L() == L, "infer: data ", cli.get("data"), " has L = ", plain->L(), " but checkpoint ", ckpt,
               " (preset ", cfg.preset, ") expects L = ", L);
    const std::string split = cli.get("split");
    EDNN_CHECK(split == "all" || plain->has_split(), "infer: --split ", split, " but data ", cli.get("data"),
               " has no 'split' data set");
    for (std::int64_t i = 0; i < plain->size(); ++i)
      if (split == "all" || plain->split(i) == (split == "train" ? 0 : split == "test" ? 1 : 2)) indices.push_back(i);
    EDNN_CHECK(!indices.empty(), "infer: --split ", split, " selects no sample of data ", cli.get("data"),
               split == "validation" ? " (made without datagen --validation-fraction)" : "");
    store = std::move(plain);
    // --compare-solver solves, and --certify and --polish certify against, the data's own system
    // (model, tolerance, omega, D, gamma) when the file is a datagen file that records it; a plain
    // inputs file gets the checkpoint's record, or SPEC's defaults.
    if ((cli.has("compare-solver") || certify) && datagen_info) {
      sc = datagen_info->solver;
      solver_settings = "the data file's";
    }
  } else {
    // More sources than the network saw are allowed (it is a question worth asking), but said.
    const auto sources = io::read_sources_file(cli.get("sources"), sc);
    std::printf("infer: target of %s solved with %s solver settings: model %s, D %g, gamma %g, radius %d, tol %g\n",
                cli.get("sources").c_str(), solver_settings.c_str(), solver::to_string(sc.model), sc.D, sc.gamma,
                sc.radius, sc.tol);
    if (int(sources.size()) > sc.max_sources)
      std::printf("infer: %zu sources, more than the %d the network was trained with\n", sources.size(), sc.max_sources);
    auto mem = std::make_unique<nets::MemoryStore>(L, cli.get("sources"));
    mem->inputs.resize(std::size_t(px));
    mem->targets.resize(std::size_t(px));
    solver::render_input(sc, sources, mem->inputs);
    solver::solve(sc, mem->inputs, mem->targets);
    mem->n_sources = {int(sources.size())};
    indices = {0};
    store = std::move(mem);
  }
  const long limit = cli.integer("limit");
  if (limit > 0 && std::int64_t(indices.size()) > limit) indices.resize(std::size_t(limit));
  EDNN_CHECK(!indices.empty(), "infer: no samples selected from ", store->name());
  const std::int64_t N = std::int64_t(indices.size());
  const bool targets = store->has_targets();

  // ---- the output directory, checked before the work ----
  // Results already there are replaced only on request: a second evaluation never silently takes
  // the place of the first (as train refuses a folder that holds a run).
  for (const char* result : {"metrics.json", "predictions.h5"})
    EDNN_CHECK(cli.has("overwrite") || !fs::exists(out / result), "infer: ", out.string(), " holds the results of an "
               "earlier evaluation (", (out / result).string(), "); replace them with --overwrite, or choose another --out");
  std::error_code ec;
  fs::create_directories(out, ec);
  if (ec) fail("infer: cannot create output directory ", out.string(), ": ", ec.message());
  {
    const fs::path probe = out / ".write_test";
    std::ofstream f(probe);
    if (!f) fail("infer: output directory ", out.string(), " is not writable");
    f.close();
    fs::remove(probe, ec);
  }

  // ---- inference, streamed ----
  // One batch at a time: its predictions go to the file and its errors into running sums at once.
  // Only the first `kept` samples stay in memory, for the pictures and the solver comparison, so
  // memory does not grow with N (the sample numbers, 8 bytes each, aside).
  const long pictures = std::max(0L, std::min<long>(cli.integer("pictures"), long(N)));
  const std::int64_t solver_samples = cli.has("compare-solver") ? std::min<std::int64_t>(N, 64) : 0;
  const std::int64_t kept = std::max<std::int64_t>(pictures, solver_samples);
  std::vector<float> kept_inputs(std::size_t(kept * px)), kept_targets(targets ? std::size_t(kept * px) : 0),
      kept_predictions(std::size_t(kept * px));
  std::vector<int> kept_n(static_cast<std::size_t>(kept));
  std::vector<float> xs(std::size_t(std::int64_t(batch) * px)), ys(targets ? xs.size() : 0), ps(xs.size()),
      zeros(std::size_t(px), 0.0f);
  std::vector<int> ns(static_cast<std::size_t>(batch));
  nets::MetricsTable model, as_input, as_zero;
  io::PredictionsWriter predictions_file((out / "predictions.h5").string(), N, L);
  std::optional<Certifier> certifier;
  if (certify) certifier.emplace(sc, targets, certify_options, predictions_file);
  double net_seconds = 0;
  std::int64_t timed = 0;
  io::ProgressBar bar(!cli.has("quiet"));
  bar.start("infer", N, "samples");
  {
    NoGradGuard no_grad;
    for (std::int64_t first = 0; first < N; first += batch) {
      const int count = int(std::min<std::int64_t>(batch, N - first));
      store->read(std::span<const std::int64_t>(indices.data() + first, std::size_t(count)), xs.data(),
                  targets ? ys.data() : nullptr, ns.data());
      Tensor host = Tensor::empty({count, 1, L, L});
      std::memcpy(host.data<float>(), xs.data(), std::size_t(count * px) * sizeof(float));
      nets::apply_transform(transform, host.data<float>(), count * px);
      const double t0 = now_s();
      Tensor pred = net->forward(host.to(device));
      device_synchronize(device);
      const double t1 = now_s();
      if (first > 0 || N <= batch) {  // the first batch warms up (allocations), unless it is the only one
        net_seconds += t1 - t0;
        timed += count;
      }
      Tensor back = pred.to(Device::cpu);
      std::memcpy(ps.data(), back.data<float>(), std::size_t(count * px) * sizeof(float));
      nets::invert_transform(transform, ps.data(), count * px);
      predictions_file.write(first, count, ps.data(), indices.data() + first);
      if (certifier) {
        try {
          certifier->add(first, count, xs.data(), targets ? ys.data() : nullptr, ps.data());
        } catch (const std::exception& e) {
          fail("infer --certify: samples ", indices[std::size_t(first)], " .. ", indices[std::size_t(first + count - 1)],
               " of ", store->name(), ": ", e.what());
        }
      }
      if (targets)
        for (int k = 0; k < count; ++k) {
          const float* xk = xs.data() + k * px;
          const float* yk = ys.data() + k * px;
          const int n = ns[std::size_t(k)];
          model.add(n, xk, yk, ps.data() + k * px, px);
          as_input.add(n, xk, yk, xk, px);
          as_zero.add(n, xk, yk, zeros.data(), px);
        }
      const int keep = int(std::max<std::int64_t>(0, std::min<std::int64_t>(count, kept - first)));
      if (keep > 0) {
        std::copy_n(xs.begin(), keep * px, kept_inputs.begin() + first * px);
        std::copy_n(ps.begin(), keep * px, kept_predictions.begin() + first * px);
        if (targets) std::copy_n(ys.begin(), keep * px, kept_targets.begin() + first * px);
        std::copy_n(ns.begin(), keep, kept_n.begin() + first);
      }
      bar.update(first + count, "");
    }
  }
  bar.finish("");
  const double net_ms = timed > 0 ? 1000 * net_seconds / double(timed) : NAN;
  // Where these results came from, in each file infer writes (the command, its version and date).
  const auto origin = io::run_provenance(argc, argv, device, numerics);
  nlohmann::ordered_json provenance = nlohmann::ordered_json::object();
  for (const auto& [key, value] : origin) provenance[key] = value;
  predictions_file.finish(ckpt, origin);

  // ---- the solver on the same inputs ----
  double solver_ms = NAN;
  std::optional<io::BreakEvenInputs> break_even_inputs;
  if (solver_samples > 0) {
    const std::int64_t M = solver_samples;
    std::vector<float> solved(std::size_t(M * px));
    std::vector<solver::SolveStats> stats(static_cast<std::size_t>(M));
    const double t0 = now_s();
    solver::solve_batch(sc, int(M), std::span<const float>(kept_inputs.data(), std::size_t(M * px)), solved, stats);
    solver_ms = 1000 * (now_s() - t0) / double(M);
    std::printf("infer: solver (red-black SOR, cpu, %s settings: model %s, tol %g) on the first %lld inputs: "
                "%.3f ms/sample\n",
                solver_settings.c_str(), solver::to_string(sc.model), sc.tol, (long long)M, solver_ms);
    break_even_inputs = break_even_for(sc, M, px, kept_inputs, kept_predictions, solver_ms, net_ms, datagen_info,
                                       fs::path(ckpt).parent_path() / "train_log.csv");
  }

  // ---- metrics, plots, pictures ----
  std::vector<std::string> written{(out / "predictions.h5").string()};
  nlohmann::ordered_json timing;
  timing["device"] = device_name(device);
  timing["tf32"] = device == Device::cuda && numerics.tf32;
  timing["conv_algo"] = conv_algo_name(numerics.conv_algo);
  timing["fusion"] = numerics.fusion;
  timing["network_ms_per_sample"] = std::isfinite(net_ms) ? nlohmann::ordered_json(net_ms) : nlohmann::ordered_json();
  timing["network_batch"] = batch;
  if (std::isfinite(solver_ms)) {
    timing["solver_ms_per_sample"] = solver_ms;
    timing["solver_device"] = "cpu";
    timing["solver_over_network"] = solver_ms / net_ms;
  }
  std::optional<io::BreakEven> break_even;
  if (break_even_inputs && std::isfinite(net_ms)) {
    break_even = io::break_even(*break_even_inputs);
    const io::BreakEvenInputs& b = *break_even_inputs;
    auto solves = [](const std::optional<double>& k) {
      return k ? nlohmann::ordered_json(std::ceil(*k)) : nlohmann::ordered_json();
    };
    timing["break_even"] = {{"solver_ms_per_sample", 1000 * b.solver_seconds},
                            {"network_ms_per_sample", 1000 * b.network_seconds},
                            {"network_plus_polish_ms_per_sample", 1000 * (b.network_seconds + *b.polish_seconds)},
                            {"polish_ms_per_sample", 1000 * *b.polish_seconds},
                            {"polish_to", "the solver's tolerance (relative residual <= tol)"},
                            {"data_seconds", b.data_seconds},
                            {"data_source", b.data_source},
                            {"training_seconds", b.training_seconds ? nlohmann::ordered_json(*b.training_seconds)
                                                                    : nlohmann::ordered_json()},
                            {"training_source", b.training_source},
                            {"upfront_seconds", break_even->upfront_seconds},
                            {"network_pays_off_after_solves", solves(break_even->network_solves)},
                            {"network_plus_polish_pays_off_after_solves", solves(break_even->polished_solves)}};
  }
  if (certifier) timing["certificate"] = certifier->timing();
  timing["peak_memory_mib"] = peak_memory_mib();
  timing["provenance"] = provenance;
  nets::write_text_atomically((out / "timing.json").string(), timing.dump(2) + "\n");
  written.push_back((out / "timing.json").string());

  if (targets) {
    nlohmann::ordered_json extra;
    extra["checkpoint"] = ckpt;
    extra["data"] = store->name();
    extra["split"] = cli.has("data") ? cli.get("split") : std::string("sources file");
    extra["samples"] = N;
    extra["baseline_mae_all_predict_input"] = as_input.overall.mae(nets::kAll);
    extra["baseline_mae_all_predict_zeros"] = as_zero.overall.mae(nets::kAll);
    if (certifier) extra["certificate"] = certifier->metrics(certify_thresholds, solver_settings);
    if (break_even) extra["break_even"] = timing["break_even"];
    extra["provenance"] = provenance;
    nets::write_text_atomically((out / "metrics.csv").string(), model.csv());
    nets::write_text_atomically((out / "metrics.json").string(), model.json(extra.dump()));
    written.push_back((out / "metrics.csv").string());
    written.push_back((out / "metrics.json").string());

    // MAE against the number of sources: one panel per region, the model beside the two baselines.
    if (model.per_n.size() > 1 || model.per_n.begin()->first > 0) {
      io::Figure fig;
      fig.title = "MAE against the number of sources";
      for (int r = 0; r < nets::kRegionCount; ++r) {
        io::PlotPanel panel;
        panel.title = io::region_title(r);
        panel.x = {"Number of sources n", false, true};
        panel.y = {"MAE", false, false};
        io::Series s{"Model", {}, {}, {}, io::series_colour(0), io::series_marker(0)},
            si{"Baseline: predict the input", {}, {}, {}, io::series_colour(1), io::series_marker(1)},
            sz{"Baseline: predict zeros", {}, {}, {}, io::series_colour(2), io::series_marker(2)};
        for (const auto& [n, e] : model.per_n) {
          s.x.push_back(n);
          s.y.push_back(e.mae(r));
          si.x.push_back(n);
          si.y.push_back(as_input.per_n.at(n).mae(r));
          sz.x.push_back(n);
          sz.y.push_back(as_zero.per_n.at(n).mae(r));
        }
        panel.series = {s, si, sz};
        fig.panels.push_back(panel);
      }
      fig.caption = "Outside the sources the input is zero, so there the two baselines coincide and one line "
                    "hides the other.";
      for (const auto& path : io::write_figure(fig, (out / "mae_vs_n").string())) written.push_back(path);
    }
  }
  // Pictures: input, target, prediction (on the prediction's colour range, so that they compare) and
  // |error| on its own, each with a colour bar.
  for (long k = 0; k < pictures; ++k) {
    const float* xk = kept_inputs.data() + k * px;
    const float* pk = kept_predictions.data() + k * px;
    double hi = 1, lo = 0;
    for (std::int64_t i = 0; i < px; ++i) {
      hi = std::max(hi, double(pk[i]));
      lo = std::min(lo, double(pk[i]));
    }
    auto image = [&](const std::string& title, const float* values, double from, double to) {
      io::GridPanel g;
      g.title = title;
      g.bar_label = title == "|Error|" ? "|prediction \u2212 target|" : "Field value";
      g.rows = g.columns = L;
      g.values.assign(values, values + px);
      g.lo = from;
      g.hi = to;
      return g;
    };
    io::Figure fig;
    fig.columns = 4;
    fig.panels.push_back(image("Input", xk, lo, hi));
    const int sources = kept_n[std::size_t(k)];
    std::string caption = "Sample " + std::to_string(indices[std::size_t(k)]) + ", " + std::to_string(sources) +
                          (sources == 1 ? " source" : " sources");
    if (targets) {
      const float* yk = kept_targets.data() + k * px;
      std::vector<float> err(static_cast<std::size_t>(px));
      double emax = 0, esum = 0;
      for (std::int64_t i = 0; i < px; ++i) {
        err[std::size_t(i)] = std::abs(pk[i] - yk[i]);
        emax = std::max(emax, double(err[std::size_t(i)]));
        esum += err[std::size_t(i)];
      }
      fig.panels.push_back(image("Target", yk, lo, hi));
      fig.panels.push_back(image("Prediction", pk, lo, hi));
      fig.panels.push_back(image("|Error|", err.data(), 0, emax > 0 ? emax : 1));
      caption += ", MAE " + io::number_text(esum / double(px)) + ", largest |error| " + io::number_text(emax);
    } else {
      fig.panels.push_back(image("Prediction", pk, lo, hi));
    }
    fig.caption = caption;
    for (const auto& path : io::write_figure(fig, (out / ("sample_" + std::to_string(k))).string()))
      written.push_back(path);
  }

  // ---- the report ----
  std::printf("infer: %lld samples of %s with %s (preset %s, L %d) on %s; %s\n", (long long)N, store->name().c_str(),
              ckpt.c_str(), cfg.preset.c_str(), L, device_name(device),
              device == Device::cuda ? numerics.describe().c_str() : "float32 on the cpu");
  if (targets) {
    const double m = model.overall.mae(nets::kAll), bi = as_input.overall.mae(nets::kAll),
                 bz = as_zero.overall.mae(nets::kAll);
    std::printf("  MAE over all pixels: model %.6g | predict the input %.6g (model/baseline %.3f) | "
                "predict zeros %.6g (model/baseline %.3f)\n",
                m, bi, m / bi, bz, m / bz);
    std::printf("  MAE by region:");
    for (int r = 0; r < nets::kRegionCount; ++r) std::printf("  %s %.4g", nets::region_name(r), model.overall.mae(r));
    std::printf("\n");
  }
  std::printf("  network: %.3f ms/sample on %s (batch %d)\n", net_ms, device_name(device), batch);
  if (std::isfinite(solver_ms))
    std::printf("  solver:  %.3f ms/sample on cpu -> the network is %.2fx %s than the solver\n", solver_ms,
                solver_ms >= net_ms ? solver_ms / net_ms : net_ms / solver_ms,
                solver_ms >= net_ms ? "faster" : "slower");
  if (certifier) certifier->print();
  if (break_even) std::printf("  break-even: %s\n", io::describe(*break_even_inputs, *break_even).c_str());
  std::printf("  outputs in %s:\n", out.string().c_str());
  for (const auto& w : written) std::printf("    %s\n", w.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return ednn::io::run_main("infer", run, argc, argv); }
