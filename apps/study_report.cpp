#include "apps/study_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "apps/pictures.h"
#include "core/error.h"
#include "nets/checkpoint.h"

namespace ednn::study {
namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

namespace {

constexpr const char* kMaeAxis = "MAE (field units)";

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

// The settings whose values differ among `runs` (their "own" keys), for legends and titles.
std::vector<std::string> differing_keys(const std::vector<const RunResult*>& runs) {
  std::map<std::string, std::set<std::string>> values;
  for (const RunResult* r : runs)
    for (const auto& [k, v] : r->run->settings) values[k].insert(v);
  std::set<std::string> keys;
  for (const RunResult* r : runs)
    for (const auto& [k, v] : r->run->settings)
      if (values[k].size() > 1 || std::any_of(runs.begin(), runs.end(), [&](const RunResult* o) {
            return !o->run->settings.count(k);
          }))
        keys.insert(k);
  return {keys.begin(), keys.end()};
}

// A group of runs named by the settings of its key that differ from the other groups' keys
// ("loss=exp-mae:w=1"), or `alone` when there is one group.
template <class Map>
std::string group_label(const Settings& key, const Map& groups, const std::string& alone) {
  Settings own;
  for (const auto& [k, v] : key)
    for (const auto& [other, runs] : groups)
      if (!other.count(k) || other.at(k) != v) own[k] = v;
  return own.empty() ? alone : describe(own);
}

std::string label_of(const RunSpec& run, const std::vector<std::string>& keys) {
  Settings s;
  for (const auto& k : keys)
    if (run.settings.count(k)) s[k] = run.settings.at(k);
  return keys.empty() ? run.name : describe(s);
}

// One figure: a panel per region, each from `panel(region)`, three columns.
io::Canvas region_figure(const std::string& title, const std::function<io::Canvas(int)>& panel) {
  std::vector<io::Canvas> panels;
  for (int r = 0; r < nets::kRegionCount; ++r) panels.push_back(panel(r));
  return io::compose_grid(panels, 3, title);
}

io::PlotStyle panel_style(bool log_x = false, bool integer_x = true) {
  io::PlotStyle s;
  s.log_x = log_x;
  s.integer_x = integer_x;
  s.width = 560;
  s.height = 380;
  return s;
}

// The average of the per-n MAEs of one region (Fig. 14's "averaged over number of sources").
double mean_over_n(const RunResult& r, int region) {
  std::vector<double> v;
  for (const auto& [n, m] : r.mae_by_n) v.push_back(m[std::size_t(region)]);
  return mean_std(v).mean;
}

struct Writer {
  fs::path out;
  std::vector<std::string> written;
  std::ostringstream md;
  void png(const io::Canvas& c, const std::string& name, const std::string& caption) {
    c.write_png((out / name).string());
    written.push_back((out / name).string());
    md << "![" << caption << "](" << name << ")\n\n*" << caption << "*\n\n";
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
  // train_log.csv: the loss column is quoted and may hold commas; seconds is the second last field.
  std::istringstream log(read_file(dir / "train_log.csv"));
  std::string line;
  std::getline(log, line);  // header
  while (std::getline(log, line)) {
    if (line.empty()) continue;
    const auto last = line.rfind(','), second_last = line.rfind(',', last - 1);
    EDNN_CHECK(last != std::string::npos && second_last != std::string::npos, "study: ", (dir / "train_log.csv").string(),
               ": malformed row '", line, "'");
    r.train_seconds += std::stod(line.substr(second_last + 1, last - second_last - 1));
  }
  const fs::path metrics_path = dir / "infer" / "metrics.json";
  json m;
  try {
    m = json::parse(read_file(metrics_path));
  } catch (const json::exception& e) {
    fail("study: ", metrics_path.string(), " is not the JSON infer writes (", e.what(), ")");
  }
  EDNN_CHECK(m.contains("overall") && m.contains("per_n"), "study: ", metrics_path.string(),
             " lacks 'overall' or 'per_n'");
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
  {
    std::vector<std::vector<std::string>> rows;
    for (const auto& r : results) {
      std::vector<std::string> row{"`" + r.run->name + "`", std::to_string(r.train_samples),
                                   std::to_string(r.best_epoch) + "/" + std::to_string(r.epochs),
                                   short4(r.train_seconds)};
      for (int k = 0; k < nets::kRegionCount; ++k) row.push_back(short4(r.mae[std::size_t(k)]));
      rows.push_back(row);
    }
    std::vector<std::string> header{"run", "train samples", "best epoch", "train s"};
    for (int k = 0; k < nets::kRegionCount; ++k) header.push_back(std::string("MAE ") + nets::region_name(k));
    w.md << "## Runs\n\n";
    md_table(w.md, header, rows);
  }

  // Runs trained on every n, keyed by (data, fraction) and by (data, model settings).
  std::vector<const RunResult*> all_n_runs, single_n_runs;
  for (const auto& r : results) (r.run->train_n() == 0 ? all_n_runs : single_n_runs).push_back(&r);
  const std::vector<int> ns(all_n.begin(), all_n.end());

  // ---- Figs. 5-13: MAE vs n per training fraction ----
  std::map<std::pair<std::string, double>, std::vector<const RunResult*>> by_fraction;
  for (const RunResult* r : all_n_runs) by_fraction[{r->run->data(), r->run->fraction()}].push_back(r);
  if (!by_fraction.empty()) w.md << "## MAE against the number of sources, per training fraction (Figs. 5-13)\n\n";
  int figure = 0;
  for (const auto& [key, runs] : by_fraction) {
    ++figure;
    const auto keys = differing_keys(runs);
    std::vector<io::Series> series;
    for (std::size_t i = 0; i < runs.size(); ++i) series.push_back({label_of(*runs[i]->run, keys), {}, {}, io::palette(int(i))});
    const std::string title = "fraction " + short4(key.second) + (key.first.empty() ? "" : " data " + key.first);
    auto canvas = region_figure("MAE vs number of sources, training " + title, [&](int region) {
      auto s = series;
      for (std::size_t i = 0; i < runs.size(); ++i)
        for (const auto& [n, m] : runs[i]->mae_by_n) {
          s[i].x.push_back(n);
          s[i].y.push_back(m[std::size_t(region)]);
        }
      return io::draw_plot(s, nets::region_name(region), "number of sources n", kMaeAxis, panel_style());
    });
    w.png(canvas, "mae_vs_n_" + std::to_string(figure) + ".png",
          "MAE vs number of sources, one curve per run trained on " + title + ", one panel per region");
    std::vector<std::string> header{"n"};
    for (const RunResult* r : runs) header.push_back("`" + label_of(*r->run, keys) + "`");
    std::vector<std::vector<std::string>> rows;
    for (int n : ns) {
      std::vector<std::string> row{std::to_string(n)};
      for (const RunResult* r : runs) row.push_back(r->mae_by_n.count(n) ? short4(r->mae_by_n.at(n)[nets::kAll]) : "-");
      rows.push_back(row);
    }
    w.md << "MAE over all pixels (region `all`) per n:\n\n";
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
  for (const auto& [model, runs] : by_model_fraction) {
    const std::string key = group_label(model, by_model_fraction, "fraction=" + model.at("fraction"));
    std::map<int, std::vector<const RunResult*>> by_subset;
    for (const RunResult* r : runs) by_subset[r->run->subset()].push_back(r);
    bool repeated = false;
    for (const auto& [s, rs] : by_subset) repeated = repeated || rs.size() > 1;
    if (!repeated) continue;
    if (!seeds_header) {
      w.md << "## Fluctuations: mean +- standard deviation over seeds, per disjoint training subset (Figs. 6 and 9)\n\n";
      seeds_header = true;
    }
    ++figure;
    std::vector<std::string> header{"n"};
    std::vector<std::vector<std::string>> rows(ns.size());
    for (std::size_t i = 0; i < ns.size(); ++i) rows[i].push_back(std::to_string(ns[i]));
    auto canvas = region_figure("mean +- std over seeds: " + key, [&](int region) {
      std::vector<io::Series> series;
      int colour = 0;
      for (const auto& [subset, rs] : by_subset) {
        io::Series s{"subset " + std::to_string(subset) + " (" + std::to_string(rs.size()) + " seeds)", {}, {}, io::palette(colour++)};
        for (std::size_t i = 0; i < ns.size(); ++i) {
          std::vector<double> v;
          for (const RunResult* r : rs)
            if (r->mae_by_n.count(ns[i])) v.push_back(r->mae_by_n.at(ns[i])[std::size_t(region)]);
          const MeanStd ms = mean_std(v);
          // Each subset's bars a little to the side, so that overlapping ones stay visible.
          s.x.push_back(ns[i] + 0.15 * (colour - 1 - 0.5 * double(by_subset.size() - 1)));
          s.y.push_back(ms.mean);
          s.err.push_back(ms.std);
          if (region == nets::kAll) rows[i].push_back(short4(ms.mean) + " +- " + short4(ms.std));
        }
        if (region == nets::kAll) header.push_back(s.label);
        series.push_back(s);
      }
      return io::draw_plot(series, nets::region_name(region), "number of sources n", kMaeAxis, panel_style());
    });
    w.png(canvas, "seeds_" + std::to_string(figure) + ".png",
          "Mean +- standard deviation over seeds of runs with " + key + ", one curve per disjoint training subset");
    w.md << "Region `all`, mean +- standard deviation over seeds:\n\n";
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
            "per-n MAEs), averaged over seeds; dashed: the least-squares line a + b log10(size).\n\n";
    std::vector<std::vector<std::string>> fit_rows, point_rows;
    auto canvas = region_figure("MAE averaged over n vs training set size", [&](int region) {
      std::vector<io::Series> series;
      int colour = 0;
      for (const auto& [model_settings, sizes] : by_model_size) {
        const std::string model = group_label(model_settings, by_model_size, "all runs");
        io::Series s{model, {}, {}, io::palette(colour)};
        for (const auto& [size, rs] : sizes) {
          std::vector<double> v;
          for (const RunResult* r : rs) v.push_back(mean_over_n(*r, region));
          s.x.push_back(double(size));
          s.y.push_back(mean_std(v).mean);
          point_rows.push_back({"`" + model + "`", nets::region_name(region), std::to_string(size), short4(s.y.back())});
        }
        const LogFit f = fit_log10(s.x, s.y);
        fit_rows.push_back({"`" + model + "`", nets::region_name(region), short4(f.a), short4(f.b), short4(f.r2),
                            std::to_string(f.points)});
        // R^2 first: a long model label is cut at the legend's edge. The fit has no entry of its own.
        s.label = "R2 " + short4(f.r2) + (by_model_size.size() > 1 ? " " + model : std::string());
        io::Series line{"", {}, {}, io::palette(colour), {}, true};
        const double lo = s.x.front(), hi = s.x.back();
        for (int k = 0; k <= 20; ++k) {
          const double x = lo * std::pow(hi / lo, k / 20.0);
          line.x.push_back(x);
          line.y.push_back(f.a + f.b * std::log10(x));
        }
        series.push_back(s);
        series.push_back(line);
        ++colour;
      }
      return io::draw_plot(series, nets::region_name(region), "training samples (log)", kMaeAxis,
                           panel_style(true, false));
    });
    w.png(canvas, "size.png", "MAE averaged over the number of sources against the training set size, one panel per region");
    md_table(w.md, {"model", "region", "a", "b (per decade)", "R^2", "points"}, fit_rows);
    md_table(w.md, {"model", "region", "train samples", "MAE averaged over n"}, point_rows);
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
    const std::string model = group_label(model_settings, by_model_cross, "fraction=" + model_settings.at("fraction"));
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
    auto heat = region_figure("row-normalised MAE, trained on P x tested on M: " + model, [&](int region) {
      const CrossTable t = table_of(region);
      io::HeatMap h;
      h.title = nets::region_name(region);
      h.x_label = "trained on P sources";
      h.y_label = "tested on M";
      for (int p : t.trained) h.x_ticks.push_back(std::to_string(p));
      for (int m : t.tested) h.y_ticks.push_back(std::to_string(m));
      h.values = t.row_normalised();
      h.lo = 1;
      for (double v : h.values)
        if (std::isfinite(v)) h.lo = std::min(h.lo, v);
      h.hi = 1;
      return io::draw_heatmap(h);
    });
    w.png(heat, "cross_" + std::to_string(figure) + ".png",
          "MAE of runs trained on P sources (x) tested on M sources (y), each row divided by its maximum: " + model);
    std::vector<std::vector<std::string>> rows;
    auto means = region_figure("MAE averaged over tested M vs trained P: " + model, [&](int region) {
      const CrossTable t = table_of(region);
      const auto cm = t.column_means();
      io::Series s{"mean over M", {}, {}, io::palette(0)};
      for (std::size_t p = 0; p < t.trained.size(); ++p) {
        s.x.push_back(t.trained[p]);
        s.y.push_back(cm[p]);
      }
      const auto best = std::min_element(cm.begin(), cm.end(), [](double a, double b) {
        return std::isfinite(a) && (!std::isfinite(b) || a < b);
      });
      std::vector<std::string> row{nets::region_name(region)};
      for (double v : cm) row.push_back(short4(v));
      row.push_back(std::to_string(t.trained[std::size_t(best - cm.begin())]));
      rows.push_back(row);
      return io::draw_plot({s}, nets::region_name(region), "trained on P sources", kMaeAxis, panel_style());
    });
    w.png(means, "cross_means_" + std::to_string(figure) + ".png",
          "MAE averaged over the tested M, against the trained P: " + model);
    std::vector<std::string> header{"region"};
    for (const auto& [p, rs] : by_p) header.push_back("P = " + std::to_string(p));
    header.push_back("best P");
    md_table(w.md, header, rows);
  }

  w.md << "## Files\n\n`runs.csv`, `runs.json`: every finished run. Each run's folder `runs/<name>/` holds its "
          "checkpoints, `train_log.csv`, `train.log` (what train and infer printed) and `infer/` (metrics, plots, "
          "pictures).\n";
  nets::write_text_atomically((w.out / "report.md").string(), w.md.str());
  w.written.push_back((w.out / "report.md").string());
  return w.written;
}

}  // namespace ednn::study
