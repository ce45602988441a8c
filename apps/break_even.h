// Break-even accounting for a surrogate: after how many solves the network (alone, or followed by
// SOR polish to the solver's tolerance) has paid for the data it was trained on and its training.
//
// A surrogate costs C = data generation + training seconds once, then s_net (or s_net + s_polish)
// per sample; the solver costs s_solver per sample. After k solves the surrogate is ahead when
//     C + k s_surrogate <= k s_solver,   i.e.   k >= C / (s_solver - s_surrogate),
// and never when s_surrogate >= s_solver. infer --compare-solver fills it in (apps/infer.cpp); the
// study report can call it with the numbers of its runs.
#pragma once
#include <optional>
#include <string>

namespace ednn::io {

struct BreakEvenInputs {
  double solver_seconds = 0;          // per sample, cold start (the solver's normal use)
  double network_seconds = 0;         // per sample
  std::optional<double> polish_seconds;  // per sample, SOR from the prediction to the solver's tolerance
  double data_seconds = 0;            // generating the training data (all its samples)
  std::string data_source;            // how data_seconds was obtained, in words
  std::optional<double> training_seconds;  // from the run's train_log.csv, when it is there
  std::string training_source;        // where training_seconds came from, or why it is missing
};

struct BreakEven {
  double upfront_seconds = 0;  // data + training (training counted 0 when unknown)
  // Solves after which each surrogate is ahead; empty when it never is (no faster than the solver).
  std::optional<double> network_solves;
  std::optional<double> polished_solves;
};

BreakEven break_even(const BreakEvenInputs& in);

// One paragraph for people: the per-sample seconds, what the upfront cost holds, the two counts.
std::string describe(const BreakEvenInputs& in, const BreakEven& out);

// The `seconds` column of a train_log.csv summed over its epochs (training time, evaluation
// excluded); empty when the file is missing, with why in `why`. A file without the column is an error.
std::optional<double> training_seconds_from_log(const std::string& path, std::string& why);

}  // namespace ednn::io
