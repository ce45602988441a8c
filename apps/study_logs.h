// What a run's train_log.csv says about its selection rule and its budget, for the study's report.
//
// A run that selects its best checkpoint on the validation split and logs the test split beside it
// (train --select-on validation --log-test) records, at every evaluation, both MAEs over all
// pixels. From that one log come the two numbers the paper's rule and the honest rule report:
//   - validation rule: the test MAE at the epoch of lowest validation MAE (what infer then measures
//     on best.safetensors, up to the order of float sums);
//   - paper's rule: the lowest test MAE over the evaluations (the epoch is chosen on the very set
//     it is reported on, so this is never larger).
// And whether the run had plateaued: the validation rule's test MAE had training stopped at the
// last evaluation at or before 80% of the epochs, against the end. A relative change under 5% says
// the last fifth of the budget changed the reported number little (issue 22's criterion).
#pragma once
#include <string>
#include <vector>

namespace ednn::study {

struct Evaluation {
  int epoch = 0;
  double validation_mae = 0, test_mae = 0;  // NaN where the split was not evaluated
};

struct LogSummary {
  std::vector<Evaluation> evaluations;  // the evaluated epochs, in order
  int epochs = 0;                       // the last epoch in the log
  double train_seconds = 0;             // sum of the seconds column
  bool has_both = false;                // validation and test MAE at every evaluation
  // With has_both:
  int validation_best_epoch = 0;
  double test_at_validation_best = 0;   // the validation rule's report
  int test_best_epoch = 0;
  double test_best = 0;                 // the paper's rule's report
  int plateau_epoch = 0;                // the last evaluation at or before 80% of the epochs
  double test_at_plateau = 0;           // the validation rule's report had the run stopped there
  double plateau_change() const;        // |test_at_validation_best / test_at_plateau - 1|
  double rule_gain() const;             // 1 - test_best / test_at_validation_best: how much the paper's rule flatters
};

// Parses a train_log.csv (the header train writes; quoted loss texts may hold commas). `path`
// names the file in errors.
LogSummary summarise_log(const std::string& text, const std::string& path);
LogSummary read_log_summary(const std::string& path);

// The report's section on both: a summary (how much the paper's rule lowers the reported test MAE:
// median, mean, largest; runs whose last fifth changed it by 5% or more) and one table row per run.
// Runs without both MAEs in their logs are left out, and said so.
struct NamedLog {
  std::string run;
  LogSummary log;
};
std::string selection_section(const std::vector<NamedLog>& runs);

}  // namespace ednn::study
