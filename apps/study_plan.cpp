#include "apps/study_plan.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "core/error.h"
#include "core/loss_spec.h"
#include "nets/ednn_cnn.h"
#include "nets/metrics.h"

namespace ednn::study {
namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

namespace {

// train's options that a study may set, in the order a run's name lists them. Flags take true/false.
const std::vector<std::string> kTrainKeys = {"data",   "preset",    "fraction", "subset",      "train-n",
                                             "loss",   "loss-toggle", "toggle-every", "loss-random", "random-p",
                                             "transform", "lr",     "batch",    "epochs",      "min-steps",
                                             "seed",   "select-on", "evals",    "log-test",    "device",
                                             "conv-algo", "tf32",   "no-fusion", "cuda-graph"};
const std::set<std::string> kTrainFlags = {"tf32", "no-fusion", "cuda-graph", "log-test"};
// Keys that do not change what is learnt: where it runs, how many kernels it launches for the
// same values (fusion and CUDA graphs are exact), and whether the test split is logged beside the
// validation split that selects. conv-algo and tf32 change the rounding of every
// product, so they are settings of the model like the loss.
const std::set<std::string> kRunTimeKeys = {"device", "no-fusion", "cuda-graph", "log-test"};
const std::set<std::string> kInferKeys = {"batch", "pictures", "device", "tf32", "limit", "certify", "compare-solver"};
const std::set<std::string> kInferFlags = {"tf32", "certify", "compare-solver"};

// train's defaults (apps/train.cpp; a test compares them with `train --help`) for the settings that
// decide what a run learns, filled in so that a run spelled with or without them is one run.
const std::map<std::string, std::string> kTrainDefaults = {
    {"preset", "small"}, {"fraction", "1"}, {"subset", "0"}, {"train-n", "0"}, {"loss", "mae"},
    {"transform", "none"}, {"lr", "1e-4"}, {"batch", "50"}, {"epochs", "100"}, {"seed", "0"},
    {"min-steps", "0"}, {"select-on", "auto"}, {"evals", "0"}};
const std::set<std::string> kIntegerKeys = {"subset", "train-n", "batch", "epochs", "seed", "toggle-every",
                                            "min-steps", "evals"};
const std::set<std::string> kRealKeys = {"fraction", "lr", "random-p"};
const std::set<std::string> kLossKeys = {"loss", "loss-toggle", "loss-random"};

// One spelling per value: integers in decimal, reals as %.12g, losses in parse_loss's canonical text.
std::string canonical(const std::string& key, const std::string& value, const std::string& where) {
  try {
    std::size_t used = 0;
    if (kIntegerKeys.count(key)) {
      const unsigned long long v = std::stoull(value, &used);
      EDNN_CHECK(used == value.size() && value.find('-') == std::string::npos, "");
      return std::to_string(v);
    }
    if (kRealKeys.count(key)) {
      const double v = std::stod(value, &used);
      EDNN_CHECK(used == value.size(), "");
      char buf[40];
      std::snprintf(buf, sizeof buf, "%.12g", v);
      return buf;
    }
  } catch (const std::exception&) {
    fail(where, ": ", key, " expects a ", kIntegerKeys.count(key) ? "non-negative integer" : "number", ", got '", value,
         "'");
  }
  if (kLossKeys.count(key)) {
    try {
      return parse_loss(value).text();
    } catch (const Error& e) {
      fail(where, ": ", key, ": ", e.what());
    }
  }
  return value;
}

// The settings with train's defaults filled in and every value in its canonical spelling.
Settings completed(Settings s, const std::string& where) {
  for (const auto& [k, v] : kTrainDefaults) s.emplace(k, v);
  if (s.count("loss-toggle")) s.emplace("toggle-every", "1");
  if (s.count("loss-random")) s.emplace("random-p", "0.5");
  for (auto& [k, v] : s) v = canonical(k, v, where);
  return s;
}

// A JSON scalar as option text: strings as they are, numbers as JSON writes them (0.0125, 4000).
std::string value_text(const json& v, const std::string& where) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  if (v.is_number_integer() || v.is_number_unsigned()) return v.dump();
  if (v.is_number_float()) {
    std::ostringstream s;
    s.precision(12);
    s << v.get<double>();
    return s.str();
  }
  fail(where, ": expected a string, number or boolean, got ", v.dump());
}

void check_train_key(const std::string& key, const std::string& where) {
  if (std::find(kTrainKeys.begin(), kTrainKeys.end(), key) == kTrainKeys.end()) {
    std::string known;
    for (const auto& k : kTrainKeys) known += (known.empty() ? "" : ", ") + k;
    fail(where, ": unknown train setting '", key, "' (known: ", known, ")");
  }
}

// Letters, digits and . = + - stay; everything else becomes '_'.
std::string folder_safe(const std::string& s) {
  std::string r = s;
  for (char& c : r)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '=' && c != '+' && c != '-') c = '_';
  return r;
}

std::string get_or(const Settings& s, const std::string& key, const std::string& fallback) {
  auto it = s.find(key);
  return it == s.end() ? fallback : it->second;
}

void append(std::vector<std::string>& args, std::initializer_list<std::string> more) {
  args.insert(args.end(), more.begin(), more.end());
}

}  // namespace

double RunSpec::fraction() const { return std::stod(get_or(settings, "fraction", "1")); }
int RunSpec::subset() const { return std::stoi(get_or(settings, "subset", "0")); }
int RunSpec::train_n() const { return std::stoi(get_or(settings, "train-n", "0")); }
std::uint64_t RunSpec::seed() const { return std::stoull(get_or(settings, "seed", "0")); }
std::string RunSpec::data() const { return get_or(settings, "data", ""); }

Settings RunSpec::model_settings() const {
  Settings m;
  for (const auto& [k, v] : settings)
    if (k != "fraction" && k != "subset" && k != "train-n" && k != "seed" && !kRunTimeKeys.count(k)) m[k] = v;
  return m;
}

const DataSpec& Study::data_of(const RunSpec& run) const {
  const std::string name = run.data();
  if (name.empty()) return data.front();
  for (const auto& d : data)
    if (d.name == name) return d;
  fail("study ", this->name, ": run ", run.name, " names data '", name, "', which the study does not define");
}

std::string describe(const Settings& settings) {
  std::string s;
  for (const auto& [k, v] : settings) s += (s.empty() ? "" : " ") + k + "=" + v;
  return s.empty() ? "defaults" : s;
}

Study parse_study(const std::string& text, const std::string& source, const std::string& out_dir) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::parse_error& e) {
    fail("study ", source, ": not valid JSON (", e.what(), ")");
  }
  EDNN_CHECK(j.is_object(), "study ", source, ": expected a JSON object at the top");
  for (const auto& [k, v] : j.items())
    EDNN_CHECK(k == "name" || k == "description" || k == "data" || k == "train" || k == "infer" || k == "groups" ||
                   k == "comment",
               "study ", source, ": unknown key '", k, "' (known: name, description, data, train, infer, groups)");
  Study st;
  st.source_text = text;
  st.name = j.value("name", fs::path(source).stem().string());
  st.description = j.value("description", "");

  // ---- data sets ----
  EDNN_CHECK(j.contains("data") && j["data"].is_object() && !j["data"].empty(), "study ", source,
             ": 'data' must be an object naming at least one data set, e.g. {\"main\": {\"file\": \"data.h5\"}}");
  for (const auto& [name, d] : j["data"].items()) {
    const std::string where = "study " + source + ": data '" + name + "'";
    EDNN_CHECK(d.is_object() && d.contains("file") && d["file"].is_string(), where,
               ": expected an object with a \"file\" path");
    DataSpec spec;
    spec.name = name;
    fs::path file = d["file"].get<std::string>();
    spec.file = (file.is_absolute() ? file : fs::path(out_dir) / file).lexically_normal().string();
    for (const auto& [k, v] : d.items()) {
      if (k == "file") continue;
      EDNN_CHECK(k == "datagen" && v.is_object(), where, ": unknown key '", k, "' (known: file, datagen)");
      for (const auto& [opt, value] : v.items()) {
        EDNN_CHECK(opt != "out", where, ": datagen's --out is the data set's \"file\"");
        spec.datagen.emplace_back(opt, value_text(value, where + " datagen " + opt));
      }
    }
    st.data.push_back(spec);
  }

  // ---- defaults ----
  if (j.contains("train")) {
    EDNN_CHECK(j["train"].is_object(), "study ", source, ": 'train' must be an object of train settings");
    for (const auto& [k, v] : j["train"].items()) {
      check_train_key(k, "study " + source + ": train");
      st.train_defaults[k] = value_text(v, "study " + source + ": train " + k);
    }
  }
  if (j.contains("infer")) {
    EDNN_CHECK(j["infer"].is_object(), "study ", source, ": 'infer' must be an object of infer settings");
    for (const auto& [k, v] : j["infer"].items()) {
      EDNN_CHECK(kInferKeys.count(k), "study ", source, ": infer: unknown setting '", k,
                 "' (known: batch, pictures, device, tf32, limit, certify, compare-solver)");
      st.infer_options[k] = value_text(v, "study " + source + ": infer " + k);
    }
  }

  // ---- groups: the grid of runs ----
  EDNN_CHECK(j.contains("groups") && j["groups"].is_array() && !j["groups"].empty(), "study ", source,
             ": 'groups' must be a non-empty list of {\"name\", \"set\", \"grid\"} objects");
  const Settings study_defaults = completed(st.train_defaults, "study " + source + ": train");
  std::map<std::string, std::size_t> run_by_name;
  for (std::size_t g = 0; g < j["groups"].size(); ++g) {
    const json& group = j["groups"][g];
    const std::string gname = group.is_object() ? group.value("name", "group" + std::to_string(g + 1))
                                                : "group" + std::to_string(g + 1);
    const std::string where = "study " + source + ": group '" + gname + "'";
    EDNN_CHECK(group.is_object(), where, ": expected an object");
    EDNN_CHECK(std::find(st.group_names.begin(), st.group_names.end(), gname) == st.group_names.end(), where,
               ": two groups have this name");
    st.group_names.push_back(gname);
    for (const auto& [k, v] : group.items())
      EDNN_CHECK(k == "name" || k == "set" || k == "grid" || k == "comment", where, ": unknown key '", k,
                 "' (known: name, set, grid)");
    Settings fixed;
    if (group.contains("set")) {
      EDNN_CHECK(group["set"].is_object(), where, ": 'set' must be an object of train settings");
      for (const auto& [k, v] : group["set"].items()) {
        check_train_key(k, where + " set");
        fixed[k] = value_text(v, where + " set " + k);
      }
    }
    std::vector<std::pair<std::string, std::vector<std::string>>> axes;
    if (group.contains("grid")) {
      EDNN_CHECK(group["grid"].is_object(), where, ": 'grid' must be an object of lists");
      for (const auto& [k, v] : group["grid"].items()) {
        check_train_key(k, where + " grid");
        EDNN_CHECK(v.is_array() && !v.empty(), where, ": grid '", k, "' must be a non-empty list");
        EDNN_CHECK(!fixed.count(k), where, ": '", k, "' is both in 'set' and in 'grid'");
        std::vector<std::string> values;
        for (const auto& x : v) values.push_back(value_text(x, where + " grid " + k));
        axes.emplace_back(k, values);
      }
    }
    // The Cartesian product, the last axis fastest.
    std::vector<std::size_t> at(axes.size(), 0);
    for (;;) {
      RunSpec run;
      run.settings = st.train_defaults;
      for (const auto& [k, v] : fixed) run.settings[k] = v;
      for (std::size_t a = 0; a < axes.size(); ++a) run.settings[axes[a].first] = axes[a].second[at[a]];
      run.settings = completed(run.settings, where);
      std::string name;
      for (const auto& key : kTrainKeys) {
        auto it = run.settings.find(key);
        if (it == run.settings.end()) continue;
        auto def = study_defaults.find(key);
        if (def != study_defaults.end() && def->second == it->second) continue;
        run.own[key] = it->second;
        name += (name.empty() ? "" : "__") + key + "-" + it->second;
      }
      run.name = name.empty() ? "defaults" : folder_safe(name);
      auto found = run_by_name.find(run.name);
      if (found == run_by_name.end()) {
        run.groups.push_back(gname);
        run_by_name[run.name] = st.runs.size();
        st.runs.push_back(run);
      } else {
        RunSpec& same = st.runs[found->second];
        EDNN_CHECK(same.settings == run.settings, where, ": run ", run.name, " is named like another run with other settings");
        if (std::find(same.groups.begin(), same.groups.end(), gname) == same.groups.end()) same.groups.push_back(gname);
      }
      std::size_t a = axes.size();
      while (a > 0 && ++at[a - 1] == axes[a - 1].second.size()) at[--a] = 0;
      if (a == 0) break;
    }
  }

  // ---- what can be checked before anything runs (numbers and losses were, by canonical) ----
  for (const RunSpec& run : st.runs) {
    const std::string where = "study " + source + ": run " + run.name;
    try {
      const DataSpec& data = st.data_of(run);
      const nets::NetConfig net = nets::preset_config(run.settings.at("preset"));
      for (const auto& [option, value] : data.datagen)
        EDNN_CHECK(option != "L" || std::stoi(value) == net.L, "preset ", net.preset, " takes L = ", net.L,
                   " but data '", data.name, "' is made with L = ", value);
      const double f = run.fraction();
      EDNN_CHECK(f > 0 && f <= 1, "fraction ", f, " outside (0, 1]");
      // What train would refuse only when the run starts, hours into the study.
      auto number = [&](const char* key) { return std::stod(run.settings.at(key)); };
      EDNN_CHECK(number("epochs") >= 1, "epochs ", run.settings.at("epochs"), ", expected at least 1");
      EDNN_CHECK(number("batch") >= 1, "batch ", run.settings.at("batch"), ", expected at least 1");
      EDNN_CHECK(number("lr") > 0 && std::isfinite(number("lr")), "lr ", run.settings.at("lr"), ", expected > 0");
      if (run.settings.count("transform")) nets::parse_transform(run.settings.at("transform"));
      for (const auto& [k, v] : run.settings)
        EDNN_CHECK(!kTrainFlags.count(k) || v == "true" || v == "false", k, " takes true or false, got ", v);
    } catch (const Error& e) {
      fail(where, ": ", e.what());
    }
  }
  return st;
}

std::string read_text_file(const std::string& path, const std::string& what) {
  std::ifstream in(path);
  EDNN_CHECK(in.good(), "study: cannot read ", what, " ", path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

Study load_study(const std::string& path, const std::string& out_dir) {
  return parse_study(read_text_file(path, "the study file"), path, out_dir);
}

std::vector<std::string> datagen_arguments(const DataSpec& data) {
  std::vector<std::string> args{"--out", data.file};
  for (const auto& [k, v] : data.datagen) {
    if (v == "false") continue;
    args.push_back("--" + k);
    if (v != "true") args.push_back(v);
  }
  return args;
}

std::vector<std::string> train_arguments(const Study& study, const RunSpec& run, const std::string& run_dir,
                                         bool resume) {
  std::vector<std::string> args{resume ? "--resume" : "--out", run_dir, "--data", study.data_of(run).file, "--quiet"};
  for (const auto& [k, v] : run.settings) {
    if (k == "data") continue;
    if (kTrainFlags.count(k)) {
      if (v == "true") args.push_back("--" + k);
      continue;
    }
    append(args, {"--" + k, v});
  }
  return args;
}

Settings infer_settings(const Study& study, const RunSpec& run) {
  Settings options = study.infer_options;
  if (!options.count("device") && run.settings.count("device")) options["device"] = run.settings.at("device");
  if (!options.count("tf32") && run.settings.count("tf32")) options["tf32"] = run.settings.at("tf32");
  return options;
}

std::vector<std::string> infer_arguments(const Study& study, const RunSpec& run, const std::string& run_dir) {
  const fs::path dir = run_dir;
  std::vector<std::string> args{"--checkpoint", (dir / "best.safetensors").string(), "--data", study.data_of(run).file,
                                "--split",      "test",  "--out", (dir / "infer").string(), "--quiet",
                                "--overwrite"};  // a run is evaluated again when it trained further
  for (const auto& [k, v] : infer_settings(study, run)) {
    if (kInferFlags.count(k)) {
      if (v == "true") args.push_back("--" + k);
      continue;
    }
    append(args, {"--" + k, v});
  }
  return args;
}

}  // namespace ednn::study
