// What a study shows: the table of every finished run and the paper's comparisons, drawn as figures
// (apps/pictures.h: each as PDF, SVG and PNG) and gathered in a report.md beside the numbers behind
// them and a key to the models' codenames.
//
// Models are named by the paper's codenames (Section 4, Tables 2-8): 1 / training fraction, then the
// loss (80E1: exp-MAE on 1.25%; 4T-5: the toggled losses on 25%; 4R: the random schedule), one colour
// and marker per model in every figure. Figures (one panel per region of SPEC section 7: sources,
// field, all, regions 1-3; MAE in units of the field, whose sources hold values up to 1; one legend
// per figure, below its panels):
//   mae_vs_n_<k>     Figs. 5, 7, 8, 10-13: MAE against the number of sources n, one figure per
//                    (data, training fraction), one curve per model trained on all n at it (training
//                    set A), the mean over its seeds with +- one standard deviation as bars.
//   seeds_<k>        Figs. 6 and 9: the mean +- standard deviation over seeds of runs that differ
//                    only in their seed, one curve per disjoint training set (A, B, C).
//   size             Fig. 14: MAE averaged over n (the mean of the per-n MAEs) against the training
//                    set size, log axis, one series per model (mean +- std over seeds, set A), with
//                    the least-squares line a + b log10(size) dashed and its R² under each panel's title.
//   cross_<k>        Fig. 16: runs trained on one number of sources P (x axis) tested on each M
//                    (y axis), each row (fixed M) divided by its maximum, as in the paper.
//   cross_means_<k>  Fig. 17: each trained P's MAE averaged over the tested M, against P (bars: the
//                    spread over seeds).
#pragma once
#include <array>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "apps/study_logs.h"
#include "apps/study_plan.h"
#include "nets/metrics.h"

namespace ednn::study {

using RegionMae = std::array<double, nets::kRegionCount>;  // NaN: the region is empty

// A finished run: its settings, how it trained, and its test metrics as infer wrote them.
struct RunResult {
  const RunSpec* run = nullptr;
  std::string dir;
  std::int64_t train_samples = 0;
  int epochs = 0, best_epoch = 0;
  double train_seconds = 0;          // the sum of train_log.csv's per-epoch training seconds
  LogSummary log;                    // train_log.csv: the selection rules and the plateau (apps/study_logs.h)
  // From infer's outputs when the study asked for them (infer settings certify, compare-solver):
  // metrics.json's `certificate` and timing.json's `break_even` blocks, as infer wrote them; null
  // otherwise.
  nlohmann::ordered_json certificate, break_even;
  RegionMae mae{};                   // over all test samples
  std::map<int, RegionMae> mae_by_n;  // per number of sources
};

// Reads run_dir/{last.optim.safetensors, train_log.csv, infer/metrics.json}; throws naming the file
// when one is missing or malformed.
RunResult read_run_result(const RunSpec& run, const std::string& run_dir, std::int64_t train_samples);

// One CSV field as RFC 4180 writes it: quoted when it holds a comma, a quote or a line break, with
// each quote inside doubled.
std::string csv_field(const std::string& text);

// The least-squares line y = a + b log10(x) and its coefficient of determination.
struct LogFit {
  double a = 0, b = 0, r2 = 0;
  int points = 0;
};
LogFit fit_log10(const std::vector<double>& x, const std::vector<double>& y);

// Mean and sample standard deviation (n - 1; 0 for one value). NaNs are skipped.
struct MeanStd {
  double mean = 0, std = 0;
  int count = 0;
};
MeanStd mean_std(const std::vector<double>& values);

// The cross table of Figs. 16 and 17: rows M (tested on), columns P (trained on), MAE of one region.
struct CrossTable {
  std::vector<int> trained;   // P, ascending
  std::vector<int> tested;    // M, ascending
  std::vector<double> mae;    // [tested.size() x trained.size()], NaN where missing
  double at(std::size_t m, std::size_t p) const { return mae[m * trained.size() + p]; }
  // Each row divided by its maximum (the paper's normalisation).
  std::vector<double> row_normalised() const;
  // Per trained P: the mean over the tested M of the raw MAE.
  std::vector<double> column_means() const;
};

// Writes OUT/runs.csv, OUT/runs.json (with `provenance`: the study's version, commit, command and
// date, io::provenance), the figures and OUT/report.md (each atomically); returns the paths written.
std::vector<std::string> write_report(const Study& study, const std::vector<RunResult>& results,
                                      const std::string& out_dir, const std::vector<std::string>& unfinished,
                                      const std::vector<std::pair<std::string, std::string>>& provenance = {});

}  // namespace ednn::study
