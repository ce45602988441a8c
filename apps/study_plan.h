// A study: many `train` + `infer` runs over a grid of settings, described by one JSON file
// (docs/STUDY.md gives the format; studies/ holds examples). This file turns the description into
// the list of runs and the exact command lines that carry them out; apps/study.cpp executes them
// and apps/study_report.h draws the comparison.
//
//   {
//     "name": "smoke",
//     "data": {"main": {"file": "data.h5",
//                       "datagen": {"L": 64, "per-n": 12, "max-sources": 4, "seed": 1}}},
//     "train": {"preset": "tiny", "epochs": 3, "batch": 8, "lr": 0.001},
//     "infer": {"pictures": 1},
//     "groups": [
//       {"name": "fractions", "grid": {"fraction": [0.25, 1], "loss": ["mae", "exp-mae:w=1"]}},
//       {"name": "seeds", "set": {"fraction": 0.25}, "grid": {"seed": [0, 1, 2]}},
//       {"name": "cross", "grid": {"train-n": [1, 2, 3, 4]}}
//     ]
//   }
//
// A run is one setting of train's options: the study's "train" values, overridden by its group's
// "set" values and one combination of its "grid" lists (the Cartesian product). Runs with the same
// settings are one run, whichever groups name it. A run's name lists the settings that differ from
// the study's "train" values ("fraction-0.25__seed-2"), so adding groups never renames a finished
// run, and its folder is OUT/runs/<name>.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace ednn::study {

// One data set: a datagen file, made by the study when "datagen" is given (datagen is resumable and
// refuses a file made with other parameters, so running it again is safe and quick).
struct DataSpec {
  std::string name;
  std::string file;                                // absolute, or resolved against the output folder
  std::vector<std::pair<std::string, std::string>> datagen;  // datagen option -> value; empty: the file must exist
};

using Settings = std::map<std::string, std::string>;  // train option (without "--") -> value text

struct RunSpec {
  std::string name;                  // folder name under OUT/runs
  Settings settings;                 // everything passed to train, study defaults included
  Settings own;                      // the settings that differ from the study's "train" values
  std::vector<std::string> groups;   // the groups that list this run
  // The values the figures group by, with train's defaults filled in.
  double fraction() const;
  int subset() const;
  int train_n() const;
  std::uint64_t seed() const;
  std::string data() const;
  // The settings that name the model being compared (loss, schedule, transform, lr, ...): all but
  // fraction, subset, train-n, seed and the run-time ones (device, tf32, cuda-graph).
  Settings model_settings() const;
};

struct Study {
  std::string name, description;
  std::string source_text;           // the study file as it was read (copied beside the outputs)
  std::vector<DataSpec> data;        // in file order; the first is the default
  Settings train_defaults;
  Settings infer_options;            // infer option -> value (batch, pictures, device, ...)
  std::vector<std::string> group_names;
  std::vector<RunSpec> runs;         // in the order the groups list them, duplicates merged

  const DataSpec& data_of(const RunSpec& run) const;
};

// Parses and checks a study file: unknown keys, empty grids, bad loss texts, unknown presets and
// data names are errors that name the file and the key. `out_dir` resolves relative data paths.
Study load_study(const std::string& path, const std::string& out_dir);
Study parse_study(const std::string& json_text, const std::string& source_name, const std::string& out_dir);

// A whole text file; throws "study: cannot read <what> <path>".
std::string read_text_file(const std::string& path, const std::string& what);

// Command lines, without the program itself. `resume`: continue the run in run_dir.
std::vector<std::string> datagen_arguments(const DataSpec& data);
std::vector<std::string> train_arguments(const Study& study, const RunSpec& run, const std::string& run_dir,
                                         bool resume);
std::vector<std::string> infer_arguments(const Study& study, const RunSpec& run, const std::string& run_dir);
// What a run's evaluation depends on: the data file, the split and the infer settings (the study's
// "infer" block, with the run's device and tf32 where it names none). Recorded beside the metrics;
// metrics made with other settings are made again.
Settings infer_settings(const Study& study, const RunSpec& run);

// "fraction=0.25 seed=2" (only the given keys, in order; empty keys list: all own settings).
std::string describe(const Settings& settings);

}  // namespace ednn::study
