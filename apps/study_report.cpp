#include "apps/study_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "apps/pictures.h"
#include "core/error.h"
#include "core/loss_spec.h"
#include "nets/checkpoint.h"

namespace ednn::study {
namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

namespace {

constexpr const char* kMaeAxis = "MAE (field units)";
constexpr const char* kSourcesAxis = "Number of sources n";

std::string read_file(const fs::path& path) { return read_text_file(path.string(), "the run output"); }

// Full precision, so the table holds exactly the doubles infer wrote.
std::string number(double v) {
  if (!std::isfinite(v)) return "";
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}
// Four significant digits, for the report's tables.
std::string short4(double v) {
  if (!std::isfinite(v)) return "-";
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

RegionMae region_block(const json& block, const std::string& where) {
  RegionMae m;
  for (int r = 0; r < nets::kRegionCount; ++r) {
    const char* name = nets::region_name(r);
    EDNN_CHECK(block.contains(name), where, ": region '", name, "' is missing");
    const json& v = block[name]["mae"];
    m[std::size_t(r)] = v.is_number() ? v.get<double>() : NAN;
  }
  return m;
}

// ---- the paper's codenames (Section 4, Tables 2-8) ------------------------------------------------

// The loss part: E (exponential prefactor) or S (step) with 1 (MAE), 2 (MSE), H (Huber) or IH
// (inverse Huber), N (no prefactor) likewise; T-k for a schedule that toggles
// every k epochs, R for one that draws the loss at random each epoch.
std::string loss_code(const Settings& model) {
  if (model.count("loss-toggle")) return "T-" + model.at("toggle-every");
  if (model.count("loss-random")) return "R";
  const LossSpec spec = parse_loss(model.count("loss") ? model.at("loss") : "mae");
  static const char* metric_code[] = {"1", "2", "H", "IH"};
  const int m = int(spec.metric);
  switch (spec.prefactor) {
    case LossPrefactor::none: return std::string("N") + metric_code[m];
    case LossPrefactor::step: return std::string("S") + metric_code[m];
    default: return std::string("E") + metric_code[m];
  }
}

// Every model setting of the study (the settings but fraction, subset, train-n, seed and where it
// ran) named once: its loss code, and where two settings would share one, "E1 (2)", "E1 (3)" in the
// order first met. Also the index that picks its colour and marker in every figure.
struct ModelNames {
  std::map<Settings, std::string> code;
  std::map<Settings, int> index;
  std::vector<Settings> order;
  explicit ModelNames(const std::vector<RunResult>& results) {
    std::map<std::string, int> uses;
    for (const auto& r : results) {
      const Settings m = r.run->model_settings();
      if (code.count(m)) continue;
      const std::string base = loss_code(m);
      const int k = ++uses[base];
      code[m] = k == 1 ? base : base + " (" + std::to_string(k) + ")";
      index[m] = int(order.size());
      order.push_back(m);
    }
  }
  const std::string& of(const RunSpec& run) const { return code.at(run.model_settings()); }
  // A figure's colours and markers: the model's rank, in the study's order, among the models that
  // figure shows. The palette has 8 colours and a study more models, so a study-wide index would
  // give two models of one figure the same colour.
  template <typename Map>
  int slot(const Settings& m, const Map& shown) const {
    return int(std::count_if(shown.begin(), shown.end(), [&](const auto& o) { return index.at(o.first) < index.at(m); }));
  }
  template <typename Map>
  io::Colour colour(const Settings& m, const Map& shown) const { return io::series_colour(slot(m, shown)); }
  template <typename Map>
  io::Marker marker(const Settings& m, const Map& shown) const { return io::series_marker(slot(m, shown)); }
};

// The training fraction as the paper writes it before the loss code: 1 / fraction when that is a
// whole number ("80" for 1.25%, "4" for 25%), else the percentage ("30%").
std::string fraction_code(double fraction) {
  const double inverse = 1 / fraction;
  if (std::abs(inverse - std::round(inverse)) < 1e-6) return std::to_string(std::llround(inverse));
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g%%", 100 * fraction);
  return buf;
}

std::string percent(double fraction) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g%%", 100 * fraction);
  return buf;
}

// "Set A", "Set B" ...: the paper's names of disjoint training subsets.
std::string set_name(int subset) {
  return subset < 26 ? std::string("Set ") + char('A' + subset) : "Subset " + std::to_string(subset);
}

// The average of the per-n MAEs of one region (Fig. 14's "averaged over number of sources").
double mean_over_n(const RunResult& r, int region) {
  std::vector<double> v;
  for (const auto& [n, m] : r.mae_by_n) v.push_back(m[std::size_t(region)]);
  return mean_std(v).mean;
}

// A figure of one panel per region, three to a row.
io::Figure region_figure(const std::string& title, const std::function<io::PlotPanel(int)>& panel) {
  io::Figure f;
  f.title = title;
  for (int r = 0; r < nets::kRegionCount; ++r) f.panels.push_back(panel(r));
  return f;
}

struct Writer {
  fs::path out;
  std::vector<std::string> written;
  std::ostringstream md;
  // stem.pdf, stem.svg and stem.png, the PNG shown in the report with links to the vector files.
  void figure(const io::Figure& f, const std::string& stem, const std::string& caption) {
    for (const auto& path : io::write_figure(f, (out / stem).string())) written.push_back(path);
    md << "![" << caption << "](" << stem << ".png)\n\n*" << caption << "* ([PDF](" << stem << ".pdf), [SVG](" << stem
       << ".svg))\n\n";
  }
};

// A markdown table: header row, then rows.
void md_table(std::ostringstream& md, const std::vector<std::string>& header,
              const std::vector<std::vector<std::string>>& rows) {
  auto line = [&](const std::vector<std::string>& cells) {
    md << "|";
    for (const auto& c : cells) md << " " << c << " |";
    md << "\n";
  };
  line(header);
  md << "|";
  for (std::size_t i = 0; i < header.size(); ++i) md << " --- |";
  md << "\n";
  for (const auto& r : rows) line(r);
  md << "\n";
}

}  // namespace

// ---- numbers ------------------------------------------------------------------------------------

MeanStd mean_std(const std::vector<double>& values) {
  MeanStd m;
  double sum = 0;
  for (double v : values)
    if (std::isfinite(v)) {
      sum += v;
      ++m.count;
    }
  if (m.count == 0) {
    m.mean = m.std = NAN;
    return m;
  }
  m.mean = sum / m.count;
  if (m.count > 1) {
    double ss = 0;
    for (double v : values)
      if (std::isfinite(v)) ss += (v - m.mean) * (v - m.mean);
    m.std = std::sqrt(ss / (m.count - 1));
  }
  return m;
}

LogFit fit_log10(const std::vector<double>& x, const std::vector<double>& y) {
  EDNN_CHECK(x.size() == y.size(), "fit_log10: ", x.size(), " x values but ", y.size(), " y values");
  LogFit f;
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (!(x[i] > 0) || !std::isfinite(y[i])) continue;
    const double u = std::log10(x[i]);
    sx += u;
    sy += y[i];
    sxx += u * u;
    sxy += u * y[i];
    ++f.points;
  }
  if (f.points < 2) return LogFit{NAN, NAN, NAN, f.points};
  const double n = f.points, det = n * sxx - sx * sx;
  if (det == 0) return LogFit{sy / n, 0, NAN, f.points};
  f.b = (n * sxy - sx * sy) / det;
  f.a = (sy - f.b * sx) / n;
  double ss_res = 0, ss_tot = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (!(x[i] > 0) || !std::isfinite(y[i])) continue;
    const double fit = f.a + f.b * std::log10(x[i]);
    ss_res += (y[i] - fit) * (y[i] - fit);
    ss_tot += (y[i] - sy / n) * (y[i] - sy / n);
  }
  f.r2 = ss_tot > 0 ? 1 - ss_res / ss_tot : NAN;
  return f;
}

std::vector<double> CrossTable::row_normalised() const {
  std::vector<double> out(mae.size(), NAN);
  for (std::size_t m = 0; m < tested.size(); ++m) {
    double hi = 0;
    for (std::size_t p = 0; p < trained.size(); ++p)
      if (std::isfinite(at(m, p))) hi = std::max(hi, at(m, p));
    for (std::size_t p = 0; p < trained.size(); ++p)
      if (std::isfinite(at(m, p)) && hi > 0) out[m * trained.size() + p] = at(m, p) / hi;
  }
  return out;
}

std::vector<double> CrossTable::column_means() const {
  std::vector<double> out;
  for (std::size_t p = 0; p < trained.size(); ++p) {
    std::vector<double> col;
    for (std::size_t m = 0; m < tested.size(); ++m) col.push_back(at(m, p));
    out.push_back(mean_std(col).mean);
  }
  return out;
}

// ---- one run ------------------------------------------------------------------------------------

RunResult read_run_result(const RunSpec& run, const std::string& run_dir, std::int64_t train_samples) {
  RunResult r;
  r.run = &run;
  r.dir = run_dir;
  r.train_samples = train_samples;
  const fs::path dir = run_dir;
  const std::string optim = (dir / "last.optim.safetensors").string();
  const nets::Metadata meta = nets::read_metadata(optim);
  try {
    r.epochs = std::stoi(meta.at("epoch"));
    r.best_epoch = std::stoi(meta.at("best_epoch"));
  } catch (const std::exception&) {
    fail("study: ", optim, " lacks the metadata 'epoch' and 'best_epoch' that train writes");
  }
  r.log = read_log_summary((dir / "train_log.csv").string());
  r.train_seconds = r.log.train_seconds;
  const fs::path metrics_path = dir / "infer" / "metrics.json";
  json m;
  try {
    m = json::parse(read_file(metrics_path));
  } catch (const json::exception& e) {
    fail("study: ", metrics_path.string(), " is not the JSON infer writes (", e.what(), ")");
  }
  EDNN_CHECK(m.contains("overall") && m.contains("per_n"), "study: ", metrics_path.string(),
             " lacks 'overall' or 'per_n'");
  if (m.contains("certificate")) r.certificate = m["certificate"];
  const fs::path timing_path = dir / "infer" / "timing.json";
  if (fs::exists(timing_path)) {
    try {
      const json t = json::parse(read_file(timing_path));
      if (t.contains("break_even")) r.break_even = t["break_even"];
    } catch (const json::exception& e) {
      fail("study: ", timing_path.string(), " is not the JSON infer writes (", e.what(), ")");
    }
  }
  r.mae = region_block(m["overall"], metrics_path.string());
  for (const auto& [n, block] : m["per_n"].items()) r.mae_by_n[std::stoi(n)] = region_block(block, metrics_path.string());
  return r;
}

// ---- the report ---------------------------------------------------------------------------------

std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

// ---- certified predictions and break-even (infer --certify, --compare-solver) ----

// One table row per run whose evaluation certified its predictions (SPEC 3.1) or timed the solver
// against the network (apps/break_even.h); nothing when none did.
void write_certificate_section(std::ostream& md, const std::vector<RunResult>& results) {
  auto at = [](const json& j, std::initializer_list<const char*> path) -> const json* {
    const json* p = &j;
    for (const char* k : path) {
      if (!p->is_object() || !p->contains(k)) return nullptr;
      p = &(*p)[k];
    }
    return p->is_null() ? nullptr : p;
  };
  auto cell = [&](const json& j, std::initializer_list<const char*> path, const char* format) {
    const json* v = at(j, path);
    if (!v || !v->is_number()) return std::string("-");
    char text[64];
    std::snprintf(text, sizeof text, format, v->get<double>());
    return std::string(text);
  };
  bool any_certificate = false, any_break_even = false;
  for (const auto& r : results) {
    any_certificate = any_certificate || !r.certificate.is_null();
    any_break_even = any_break_even || !r.break_even.is_null();
  }
  if (any_certificate) {
    md << "## Certified predictions (infer --certify, SPEC section 3.1)\n\nEach test prediction's guaranteed bound on "
          "its largest pointwise error against the exact solution of the solver's equations, through the certified "
          "field (the prediction after the smoothing sweeps), plus the target's own bound; the actual largest error; "
          "their ratio (mean and largest over the test samples); on how many samples the bound held; and the MAE of "
          "the prediction and of the certified field.\n\n";
    md << "| run | bound (mean) | actual max error (mean) | bound / actual (mean) | bound / actual (max) | holds | MAE "
          "| certified field MAE | sweeps | ms per sample |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | "
          "---: | ---: |\n";
    for (const auto& r : results) {
      if (r.certificate.is_null()) continue;
      const json& c = r.certificate;
      const json* holds = at(c, {"prediction", "bound_holds"});
      const json* samples = at(c, {"prediction", "samples"});
      md << "| " << r.run->name << " | " << cell(c, {"prediction", "error_bound_vs_target", "mean"}, "%.4g") << " | "
         << cell(c, {"prediction", "max_error", "mean"}, "%.4g") << " | "
         << cell(c, {"prediction", "bound_over_max_error", "mean"}, "%.3g") << " | "
         << cell(c, {"prediction", "bound_over_max_error", "max"}, "%.3g") << " | "
         << (holds && samples ? std::to_string(holds->get<long long>()) + " of " + std::to_string(samples->get<long long>())
                              : std::string("-"))
         << " | " << cell(c, {"prediction", "mae", "mean"}, "%.4f") << " | " << cell(c, {"certified", "mae", "mean"}, "%.4f")
         << " | " << cell(c, {"certify_sweeps"}, "%.0f") << " | " << cell(c, {"certify_ms_per_sample"}, "%.2f") << " |\n";
    }
    md << "\n";
  }
  if (any_break_even) {
    md << "## Break-even: the network against the solver (infer --compare-solver)\n\nMilliseconds per test sample "
          "for the solver from zero, the network, and the network followed by SOR polish to the solver's tolerance, "
          "on the machine that evaluated the run; the upfront cost (generating the training data and training); and "
          "after how many solves each surrogate has paid for it (\"never\": it is not faster per sample).\n\n";
    md << "| run | solver ms | network ms | network + polish ms | upfront s | network pays off after | network + polish "
          "pays off after |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n";
    for (const auto& r : results) {
      if (r.break_even.is_null()) continue;
      const json& b = r.break_even;
      auto solves = [&](const char* key) {
        const json* v = at(b, {key});
        return v ? cell(b, {key}, "%.0f") : std::string("never");
      };
      md << "| " << r.run->name << " | " << cell(b, {"solver_ms_per_sample"}, "%.2f") << " | "
         << cell(b, {"network_ms_per_sample"}, "%.2f") << " | " << cell(b, {"network_plus_polish_ms_per_sample"}, "%.2f")
         << " | " << cell(b, {"upfront_seconds"}, "%.0f") << " | " << solves("network_pays_off_after_solves") << " | "
         << solves("network_plus_polish_pays_off_after_solves") << " |\n";
    }
    md << "\n";
  }
}

std::vector<std::string> write_report(const Study& study, const std::vector<RunResult>& results,
                                      const std::string& out_dir, const std::vector<std::string>& unfinished,
                                      const std::vector<std::pair<std::string, std::string>>& provenance) {
  Writer w;
  w.out = out_dir;
  std::set<int> all_n;
  for (const auto& r : results)
    for (const auto& [n, m] : r.mae_by_n) all_n.insert(n);
  std::set<std::string> all_keys;
  for (const auto& r : results)
    for (const auto& [k, v] : r.run->settings) all_keys.insert(k);

  // ---- runs.csv and runs.json ----
  {
    std::ostringstream csv;
    csv << "run,groups";
    for (const auto& k : all_keys) csv << "," << k;
    // "epochs" is a setting (the target); what was trained is "epochs_trained": one name, one column.
    csv << ",train_samples,epochs_trained,best_epoch,train_seconds";
    for (int r = 0; r < nets::kRegionCount; ++r) csv << ",mae_" << nets::region_name(r);
    for (int n : all_n)
      for (int r = 0; r < nets::kRegionCount; ++r) csv << ",mae_" << nets::region_name(r) << "_n" << n;
    csv << "\n";
    json runs = json::array();
    for (const auto& r : results) {
      std::string groups;
      for (const auto& g : r.run->groups) groups += (groups.empty() ? "" : ";") + g;
      csv << csv_field(r.run->name) << "," << csv_field(groups);
      json j;
      j["run"] = r.run->name;
      j["groups"] = r.run->groups;
      json settings = json::object();
      for (const auto& k : all_keys) {
        const std::string v = r.run->settings.count(k) ? r.run->settings.at(k) : "";
        csv << "," << csv_field(v);
        if (!v.empty()) settings[k] = v;
      }
      j["settings"] = settings;
      csv << "," << r.train_samples << "," << r.epochs << "," << r.best_epoch << "," << number(r.train_seconds);
      j["train_samples"] = r.train_samples;
      j["epochs_trained"] = r.epochs;
      j["best_epoch"] = r.best_epoch;
      j["train_seconds"] = r.train_seconds;
      if (r.log.has_both)  // train --select-on validation --log-test: both rules from one log
        j["selection"] = {{"validation_best_epoch", r.log.validation_best_epoch},
                          {"test_mae_validation_rule", r.log.test_at_validation_best},
                          {"test_best_epoch", r.log.test_best_epoch},
                          {"test_mae_paper_rule", r.log.test_best},
                          {"plateau_epoch", r.log.plateau_epoch},
                          {"test_mae_at_plateau", r.log.test_at_plateau}};
      auto region_json = [](const RegionMae& m) {
        json o = json::object();
        for (int k = 0; k < nets::kRegionCount; ++k)
          o[nets::region_name(k)] = std::isfinite(m[std::size_t(k)]) ? json(m[std::size_t(k)]) : json(nullptr);
        return o;
      };
      for (int k = 0; k < nets::kRegionCount; ++k) csv << "," << number(r.mae[std::size_t(k)]);
      for (int n : all_n)
        for (int k = 0; k < nets::kRegionCount; ++k)
          csv << "," << (r.mae_by_n.count(n) ? number(r.mae_by_n.at(n)[std::size_t(k)]) : "");
      csv << "\n";
      j["test_mae"] = region_json(r.mae);
      json by_n = json::object();
      for (const auto& [n, m] : r.mae_by_n) by_n[std::to_string(n)] = region_json(m);
      j["test_mae_by_n"] = by_n;
      j["dir"] = r.dir;
      runs.push_back(j);
    }
    json doc;
    doc["study"] = study.name;
    doc["runs"] = runs;
    doc["unfinished"] = unfinished;
    json origin = json::object();
    for (const auto& [key, value] : provenance) origin[key] = value;
    doc["provenance"] = origin;
    nets::write_text_atomically((w.out / "runs.csv").string(), csv.str());
    nets::write_text_atomically((w.out / "runs.json").string(), doc.dump(2) + "\n");
    w.written.push_back((w.out / "runs.csv").string());
    w.written.push_back((w.out / "runs.json").string());
  }

  w.md << "# Study `" << study.name << "`\n\n";
  if (!study.description.empty()) w.md << study.description << "\n\n";
  w.md << results.size() << " finished runs";
  if (!unfinished.empty()) {
    w.md << "; not finished yet (left out below): ";
    for (std::size_t i = 0; i < unfinished.size(); ++i) w.md << (i ? ", " : "") << "`" << unfinished[i] << "`";
  }
  w.md << ". Every number is a test-split MAE as `infer` measures it (SPEC section 7), in units of the field "
          "(source values are at most 1). The full table, every region x n, is in `runs.csv` and `runs.json`.\n\n";
  const ModelNames names(results);
  {
    std::vector<std::vector<std::string>> rows;
    for (const auto& r : results) {
      const std::string code = r.run->train_n() > 0 ? "P = " + std::to_string(r.run->train_n())
                                                    : fraction_code(r.run->fraction()) + names.of(*r.run);
      std::vector<std::string> row{"`" + r.run->name + "`", code, std::to_string(r.train_samples),
                                   std::to_string(r.best_epoch) + "/" + std::to_string(r.epochs),
                                   short4(r.train_seconds)};
      for (int k = 0; k < nets::kRegionCount; ++k) row.push_back(short4(r.mae[std::size_t(k)]));
      rows.push_back(row);
    }
    std::vector<std::string> header{"run", "code", "train samples", "best epoch", "train s"};
    for (int k = 0; k < nets::kRegionCount; ++k) header.push_back(std::string("MAE ") + nets::region_name(k));
    w.md << "## Runs\n\n";
    md_table(w.md, header, rows);
  }
  {
    // The key to the figures' names: the paper's codenames, 1/fraction then the loss code.
    w.md << "## Key to the codenames\n\nAs in the paper's Tables 2-8: the number in front is 1 / training fraction (80 "
            "= 1.25%, 4 = 25%, 1 = 100%), then the loss: E = exponential prefactor, S = step prefactor, with 1 = MAE, "
            "2 = MSE, H = Huber, IH = inverse Huber (N: no prefactor, so N1 is the plain MAE); T-k toggles two losses every k epochs, R draws one at random each "
            "epoch. Runs trained on one number of sources P are named by P.\n\n";
    std::vector<std::vector<std::string>> rows;
    for (const Settings& m : names.order) {
      std::set<std::string> fractions;
      int runs = 0;
      std::set<std::uint64_t> seeds;
      std::set<int> trained_n;
      for (const auto& r : results)
        if (r.run->model_settings() == m) {
          ++runs;
          fractions.insert(percent(r.run->fraction()));
          seeds.insert(r.run->seed());
          if (r.run->train_n() > 0) trained_n.insert(r.run->train_n());
        }
      std::string schedule = "-";
      if (m.count("loss-toggle")) schedule = "toggles with `" + m.at("loss-toggle") + "` every " + m.at("toggle-every") + " epochs";
      if (m.count("loss-random")) schedule = "`" + m.at("loss-random") + "` with probability " + m.at("random-p") + " each epoch";
      Settings other;  // what else sets the model apart from the study's other models
      for (const auto& [k, v] : m)
        if (k != "loss" && k != "loss-toggle" && k != "toggle-every" && k != "loss-random" && k != "random-p" &&
            std::any_of(names.order.begin(), names.order.end(), [&](const Settings& o) { return !o.count(k) || o.at(k) != v; }))
          other[k] = v;
      std::string at;
      for (const auto& f : fractions) at += (at.empty() ? "" : ", ") + f;
      if (!trained_n.empty()) at += " (one n each: P = " + std::to_string(*trained_n.begin()) + ".." + std::to_string(*trained_n.rbegin()) + ")";
      rows.push_back({names.code.at(m), "`" + (m.count("loss") ? m.at("loss") : std::string("mae")) + "`", schedule,
                      other.empty() ? "-" : describe(other), at, std::to_string(runs) + " (" + std::to_string(seeds.size()) + (seeds.size() == 1 ? " seed)" : " seeds)")});
    }
    md_table(w.md, {"code", "loss", "schedule", "other settings", "training fractions", "runs"}, rows);
  }

  // Runs trained on every n, keyed by (data, fraction) and by (data, model settings).
  std::vector<const RunResult*> all_n_runs, single_n_runs;
  for (const auto& r : results) (r.run->train_n() == 0 ? all_n_runs : single_n_runs).push_back(&r);
  const std::vector<int> ns(all_n.begin(), all_n.end());
  auto data_note = [&](const std::string& data) { return data.empty() ? std::string() : ", data " + data; };

  // ---- Figs. 5-13: MAE vs n per training fraction, mean +- std over seeds per model ----
  std::map<std::pair<std::string, double>, std::map<Settings, std::vector<const RunResult*>>> by_fraction;
  for (const RunResult* r : all_n_runs)
    if (r->run->subset() == 0) by_fraction[{r->run->data(), r->run->fraction()}][r->run->model_settings()].push_back(r);
  if (!by_fraction.empty())
    w.md << "## MAE against the number of sources, per training fraction (Figs. 5-13)\n\nEach point: the mean over the "
            "seeds of a model (training subset A); bars: one standard deviation either side, where there are several "
            "seeds.\n\n";
  int figure = 0;
  for (const auto& [key, models] : by_fraction) {
    ++figure;
    const std::string where = percent(key.second) + " of the training data" + data_note(key.first);
    std::vector<std::string> header{"n"};
    std::vector<std::vector<std::string>> rows(ns.size());
    for (std::size_t i = 0; i < ns.size(); ++i) rows[i].push_back(std::to_string(ns[i]));
    auto fig = region_figure("MAE against the number of sources, " + where, [&](int region) {
      io::PlotPanel p;
      p.title = io::region_title(region);
      p.x = {kSourcesAxis, false, true};
      p.y = {kMaeAxis, false, false};
      for (const auto& [model, rs] : models) {
        const std::string code = fraction_code(key.second) + names.code.at(model);
        io::Series s{rs.size() > 1 ? code + " (" + std::to_string(rs.size()) + " seeds)" : code, {}, {}, {},
                     names.colour(model, models), names.marker(model, models)};
        for (std::size_t i = 0; i < ns.size(); ++i) {
          std::vector<double> v;
          for (const RunResult* r : rs)
            if (r->mae_by_n.count(ns[i])) v.push_back(r->mae_by_n.at(ns[i])[std::size_t(region)]);
          const MeanStd ms = mean_std(v);
          s.x.push_back(ns[i]);
          s.y.push_back(ms.mean);
          s.err.push_back(ms.count > 1 ? ms.std : 0);
          if (region == nets::kAll) rows[i].push_back(ms.count > 1 ? short4(ms.mean) + " ± " + short4(ms.std) : short4(ms.mean));
        }
        if (region == nets::kAll) header.push_back(code);
        p.series.push_back(s);
      }
      return p;
    });
    fig.caption = "Points: the mean over seeds (training set A); bars: \u00b1 one standard deviation over seeds, where "
                  "there are several.";
    w.figure(fig, "mae_vs_n_" + std::to_string(figure),
             "MAE against the number of sources, one curve per model trained on " + where + ", one panel per region");
    w.md << "Region `all` per n (mean ± standard deviation over seeds):\n\n";
    md_table(w.md, header, rows);
  }

  // ---- Figs. 6 and 9: mean +- std over seeds, one curve per disjoint subset ----
  std::map<Settings, std::vector<const RunResult*>> by_model_fraction;
  for (const RunResult* r : all_n_runs) {
    Settings key = r->run->model_settings();
    key["fraction"] = r->run->settings.at("fraction");
    by_model_fraction[key].push_back(r);
  }
  bool seeds_header = false;
  figure = 0;
  for (const auto& [key, runs] : by_model_fraction) {
    const double fraction = runs.front()->run->fraction();
    const std::string code = fraction_code(fraction) + names.of(*runs.front()->run);
    std::map<int, std::vector<const RunResult*>> by_subset;
    for (const RunResult* r : runs) by_subset[r->run->subset()].push_back(r);
    bool repeated = false;
    for (const auto& [s, rs] : by_subset) repeated = repeated || rs.size() > 1;
    if (!repeated || by_subset.size() < 2) continue;  // one set: the MAE-vs-n figure shows its spread
    if (!seeds_header) {
      w.md << "## Fluctuations: mean ± standard deviation over seeds, per disjoint training subset (Figs. 6 and 9)\n\n";
      seeds_header = true;
    }
    ++figure;
    std::vector<std::string> header{"n"};
    std::vector<std::vector<std::string>> rows(ns.size());
    for (std::size_t i = 0; i < ns.size(); ++i) rows[i].push_back(std::to_string(ns[i]));
    const std::string where = code + " on disjoint " + percent(fraction) + " training sets" + data_note(runs.front()->run->data());
    auto fig = region_figure("Seeds and training sets: " + where, [&](int region) {
      io::PlotPanel p;
      p.title = io::region_title(region);
      p.x = {kSourcesAxis, false, true};
      p.y = {kMaeAxis, false, false};
      int colour = 0;
      for (const auto& [subset, rs] : by_subset) {
        io::Series s{set_name(subset) + " (" + std::to_string(rs.size()) + " seeds)", {}, {}, {},
                     io::series_colour(colour), io::series_marker(colour)};
        ++colour;
        for (std::size_t i = 0; i < ns.size(); ++i) {
          std::vector<double> v;
          for (const RunResult* r : rs)
            if (r->mae_by_n.count(ns[i])) v.push_back(r->mae_by_n.at(ns[i])[std::size_t(region)]);
          const MeanStd ms = mean_std(v);
          // Each set's bars a little to the side, so that overlapping ones stay visible.
          s.x.push_back(ns[i] + 0.15 * (colour - 1 - 0.5 * double(by_subset.size() - 1)));
          s.y.push_back(ms.mean);
          s.err.push_back(ms.std);
          if (region == nets::kAll) rows[i].push_back(short4(ms.mean) + " ± " + short4(ms.std));
        }
        if (region == nets::kAll) header.push_back(s.label);
        p.series.push_back(s);
      }
      return p;
    });
    w.figure(fig, "seeds_" + std::to_string(figure),
             "Mean ± standard deviation over seeds of " + where + ", one curve per training set");
    w.md << "Region `all`, mean ± standard deviation over seeds:\n\n";
    md_table(w.md, header, rows);
  }

  // ---- Fig. 14: MAE averaged over n against the training set size ----
  std::map<Settings, std::map<std::int64_t, std::vector<const RunResult*>>> by_model_size;
  for (const RunResult* r : all_n_runs)
    if (r->run->subset() == 0) by_model_size[r->run->model_settings()][r->train_samples].push_back(r);
  for (auto it = by_model_size.begin(); it != by_model_size.end();)
    it = it->second.size() < 2 ? by_model_size.erase(it) : std::next(it);
  if (!by_model_size.empty()) {
    w.md << "## MAE against the training set size (Fig. 14)\n\nEach point: the MAE averaged over n (the mean of the "
            "per-n MAEs), then the mean ± standard deviation over seeds; dashed: the least-squares line "
            "a + b log10(size) through the means, whose coefficient of determination R² each panel states under its "
            "title (the fit's R², not the region R2). Models trained at only two sizes get no fit: a line through two "
            "points fits them exactly.\n\n";
    std::vector<std::vector<std::string>> fit_rows, point_rows;
    auto fig = region_figure("MAE averaged over the number of sources against the training set size", [&](int region) {
      io::PlotPanel p;
      p.title = io::region_title(region);
      p.x = {"Training samples", true, false};
      p.y = {kMaeAxis, false, false};
      // A line through two points fits them exactly (R² = 1 whatever they are), so only models
      // with three sizes or more get a fit; the others are drawn as points joined by a line.
      std::string fits;
      const auto fitted = std::count_if(by_model_size.begin(), by_model_size.end(),
                                        [](const auto& m) { return m.second.size() >= 3; });
      for (const auto& [model, sizes] : by_model_size) {
        const std::string code = names.code.at(model);
        io::Series s{code, {}, {}, {}, names.colour(model, by_model_size), names.marker(model, by_model_size)};
        for (const auto& [size, rs] : sizes) {
          std::vector<double> v;
          for (const RunResult* r : rs) v.push_back(mean_over_n(*r, region));
          const MeanStd ms = mean_std(v);
          s.x.push_back(double(size));
          s.y.push_back(ms.mean);
          s.err.push_back(ms.count > 1 ? ms.std : 0);
          point_rows.push_back({code, nets::region_name(region), std::to_string(size), short4(ms.mean),
                                ms.count > 1 ? short4(ms.std) : "-", std::to_string(ms.count)});
        }
        p.series.push_back(s);
        if (sizes.size() < 3) continue;
        const LogFit f = fit_log10(s.x, s.y);
        fit_rows.push_back({code, nets::region_name(region), short4(f.a), short4(f.b), short4(f.r2), std::to_string(f.points)});
        char r2[32];
        std::snprintf(r2, sizeof r2, "%.2f", f.r2);
        fits += (fits.empty() ? "" : ", ") + (fitted > 1 ? code + " " : std::string()) + r2;
        io::Series line{code + ": fit a + b log\u2081\u2080(size)", {}, {}, {}, names.colour(model, by_model_size), io::Marker::none, true};
        const double lo = s.x.front(), hi = s.x.back();
        for (int k = 0; k <= 20; ++k) {
          const double x = lo * std::pow(hi / lo, k / 20.0);
          line.x.push_back(x);
          line.y.push_back(f.a + f.b * std::log10(x));
        }
        p.series.push_back(line);
      }
      if (fitted > 0) p.subtitle = (fitted > 1 ? "Fit R\u00b2: " : "Fit R\u00b2 = ") + fits;
      return p;
    });
    fig.caption = "Points: mean over seeds of the MAE averaged over n; bars: \u00b1 one standard deviation over seeds; "
                  "dashed: fit a + b log\u2081\u2080(size) (three sizes or more).";
    w.figure(fig, "size", "MAE averaged over the number of sources against the training set size, one panel per region");
    md_table(w.md, {"model", "region", "a", "b (per decade)", "fit R²", "points"}, fit_rows);
    md_table(w.md, {"model", "region", "train samples", "MAE averaged over n", "std over seeds", "seeds"}, point_rows);
  }

  // ---- Figs. 16 and 17: trained on n = P, tested on n = M ----
  std::map<Settings, std::vector<const RunResult*>> by_model_cross;
  for (const RunResult* r : single_n_runs) {
    Settings key = r->run->model_settings();
    key["fraction"] = r->run->settings.at("fraction");
    by_model_cross[key].push_back(r);
  }
  figure = 0;
  for (const auto& [model_settings, runs] : by_model_cross) {
    const std::string model = fraction_code(runs.front()->run->fraction()) + names.of(*runs.front()->run);
    std::map<int, std::vector<const RunResult*>> by_p;
    for (const RunResult* r : runs) by_p[r->run->train_n()].push_back(r);
    if (by_p.size() < 2) continue;
    if (figure == 0) w.md << "## Trained on P sources, tested on M (Figs. 16 and 17)\n\n";
    ++figure;
    auto table_of = [&](int region) {
      CrossTable t;
      for (const auto& [p, rs] : by_p) t.trained.push_back(p);
      t.tested = ns;
      for (int m : ns)
        for (const auto& [p, rs] : by_p) {
          std::vector<double> v;
          for (const RunResult* r : rs)
            if (r->mae_by_n.count(m)) v.push_back(r->mae_by_n.at(m)[std::size_t(region)]);
          t.mae.push_back(mean_std(v).mean);
        }
      return t;
    };
    io::Figure heat;
    heat.title = "MAE of models trained on P sources, tested on M, each row divided by its maximum: " + model;
    for (int region = 0; region < nets::kRegionCount; ++region) {
      const CrossTable t = table_of(region);
      io::GridPanel h;
      h.title = io::region_title(region);
      h.x_label = "Trained on P sources";
      h.y_label = "Tested on M sources";
      h.bar_label = "MAE \u00f7 row maximum";
      for (int p : t.trained) h.x_ticks.push_back(std::to_string(p));
      for (int m : t.tested) h.y_ticks.push_back(std::to_string(m));
      h.rows = int(t.tested.size());
      h.columns = int(t.trained.size());
      h.values = t.row_normalised();
      h.lo = 1;
      for (double v : h.values)
        if (std::isfinite(v)) h.lo = std::min(h.lo, v);
      h.hi = 1;
      heat.panels.push_back(h);
    }
    w.figure(heat, "cross_" + std::to_string(figure),
             "MAE of runs trained on P sources (x) tested on M sources (y), each row divided by its maximum: " + model);
    std::vector<std::vector<std::string>> rows;
    auto means = region_figure("MAE averaged over the tested M against the trained P: " + model, [&](int region) {
      const CrossTable t = table_of(region);
      const auto cm = t.column_means();
      io::PlotPanel p;
      p.title = io::region_title(region);
      p.x = {"Trained on P sources", false, true};
      p.y = {kMaeAxis, false, false};
      // The spread: the standard deviation over seeds of each run's own mean over M.
      io::Series s{"Mean over the tested M (± std over seeds)", {}, {}, {}, io::series_colour(0), io::series_marker(0)};
      std::vector<std::string> row{nets::region_name(region)};
      for (std::size_t k = 0; k < t.trained.size(); ++k) {
        std::vector<double> per_run;
        for (const RunResult* r : by_p.at(t.trained[k])) {
          std::vector<double> v;
          for (int m : ns)
            if (r->mae_by_n.count(m)) v.push_back(r->mae_by_n.at(m)[std::size_t(region)]);
          per_run.push_back(mean_std(v).mean);
        }
        const MeanStd spread = mean_std(per_run);
        s.x.push_back(t.trained[k]);
        s.y.push_back(cm[k]);
        s.err.push_back(spread.count > 1 ? spread.std : 0);
        row.push_back(spread.count > 1 ? short4(cm[k]) + " ± " + short4(spread.std) : short4(cm[k]));
      }
      const auto best = std::min_element(cm.begin(), cm.end(), [](double a, double b) {
        return std::isfinite(a) && (!std::isfinite(b) || a < b);
      });
      row.push_back(std::to_string(t.trained[std::size_t(best - cm.begin())]));
      rows.push_back(row);
      if (std::none_of(s.err.begin(), s.err.end(), [](double e) { return e > 0; })) s.label = "Mean over the tested M";
      p.series.push_back(s);
      return p;
    });
    w.figure(means, "cross_means_" + std::to_string(figure), "MAE averaged over the tested M, against the trained P: " + model);
    std::vector<std::string> header{"region"};
    for (const auto& [p, rs] : by_p) header.push_back("P = " + std::to_string(p));
    header.push_back("best P");
    md_table(w.md, header, rows);
  }

  write_certificate_section(w.md, results);
  {
    std::vector<NamedLog> logs;
    for (const auto& r : results) logs.push_back({r.run->name, r.log});
    w.md << selection_section(logs);
  }

  w.md << "## Files\n\n`runs.csv`, `runs.json`: every finished run. Each run's folder `runs/<name>/` holds its "
          "checkpoints, `train_log.csv`, `train.log` (what train and infer printed) and `infer/` (metrics and "
          "figures). Every figure is written as PDF and SVG (vector, for papers) and PNG (twice the nominal size).\n";
  nets::write_text_atomically((w.out / "report.md").string(), w.md.str());
  w.written.push_back((w.out / "report.md").string());
  return w.written;
}

}  // namespace ednn::study
