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
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <nlohmann/json.hpp>

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
  if (cli.has("data")) {
    // A datagen file is first checked against its own description (attributes, shapes, types,
    // ordering) and must be finished: an unfinished one's unwritten samples read as zeros.
    std::optional<dataset::DatasetInfo> datagen_info;
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
    // --compare-solver solves the data's own system (model, tolerance, omega, D, gamma) when the
    // file is a datagen file that records it; a plain inputs file gets SPEC's defaults.
    if (cli.has("compare-solver") && datagen_info) {
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
    std::string caption = "Sample " + std::to_string(indices[std::size_t(k)]) + ", n = " +
                          std::to_string(kept_n[std::size_t(k)]) + " sources";
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
  std::printf("  outputs in %s:\n", out.string().c_str());
  for (const auto& w : written) std::printf("    %s\n", w.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return ednn::io::run_main("infer", run, argc, argv); }
