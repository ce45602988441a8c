// The study program: its plan (a study file -> runs and command lines), the statistics behind its
// figures, checked against values worked out by hand, and the shipped smoke study end to end: the
// outputs exist, the table holds exactly what `infer` reports for the same checkpoint, a second
// call runs nothing, and a run interrupted after two of its six epochs is resumed to the very
// weights of an uninterrupted one.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "apps/study_plan.h"
#include "apps/study_report.h"
#include "nets/checkpoint.h"
#include "tests/test_helpers.h"

using namespace ednn;
namespace fs = std::filesystem;
using ednn::test::error_message;
using ednn::test::read_bytes;
using ednn::test::run_command;

namespace {

const char* kSmallStudy = R"({
  "name": "t",
  "data": {"d": {"file": "data.h5", "datagen": {"L": 64, "per-n": 8, "max-sources": 3}}},
  "train": {"preset": "tiny", "epochs": 2, "loss": "exp-mae:w=1"},
  "groups": [
    {"name": "a", "grid": {"fraction": [0.25, 1], "seed": [0, 1]}},
    {"name": "b", "set": {"fraction": 2.5e-1}, "grid": {"seed": [1, 2], "loss": ["exp-mae:w=1.0", "mse"]}},
    {"name": "c", "grid": {"train-n": [1, 2]}}
  ]
})";

const study::RunSpec& find_run(const study::Study& st, const std::string& name) {
  for (const auto& r : st.runs)
    if (r.name == name) return r;
  FAIL("no run named ", name);
  return st.runs.front();
}

// Every "--key value" of a command line, as a map (flags map to "").
std::map<std::string, std::string> options_of(const std::vector<std::string>& args) {
  std::map<std::string, std::string> m;
  for (std::size_t i = 0; i < args.size(); ++i)
    if (args[i].rfind("--", 0) == 0)
      m[args[i].substr(2)] = i + 1 < args.size() && args[i + 1].rfind("--", 0) != 0 ? args[i + 1] : "";
  return m;
}

}  // namespace

TEST_CASE("study plan: the grid, one run per setting, stable names and the command lines") {
  const study::Study st = study::parse_study(kSmallStudy, "t.json", "/out");
  // a: 2 x 2 runs; b: 2 x 2 of which (0.25, seed 1, exp-mae) is a's; c: 2.
  REQUIRE(st.runs.size() == 4 + 3 + 2);
  const auto& shared = find_run(st, "fraction-0.25__seed-1");
  CHECK(shared.groups == std::vector<std::string>{"a", "b"});
  // The study's own values are not in the names; train's defaults are filled in and spelled one way.
  const auto& mse = find_run(st, "fraction-0.25__loss-mse__seed-2");
  CHECK(mse.settings.at("loss") == "mse");
  CHECK(mse.settings.at("subset") == "0");
  CHECK(mse.settings.at("lr") == "0.0001");
  CHECK(find_run(st, "defaults").settings.at("fraction") == "1");
  const auto& cross = find_run(st, "train-n-2");
  CHECK(cross.train_n() == 2);
  CHECK(cross.model_settings() == find_run(st, "defaults").model_settings());
  CHECK(st.data.front().file == "/out/data.h5");

  const auto train = options_of(study::train_arguments(st, mse, "/out/runs/x", false));
  CHECK(train.at("out") == "/out/runs/x");
  CHECK(train.at("data") == "/out/data.h5");
  CHECK(train.at("fraction") == "0.25");
  CHECK(train.at("seed") == "2");
  CHECK(train.at("preset") == "tiny");
  const auto resume = options_of(study::train_arguments(st, mse, "/out/runs/x", true));
  CHECK(resume.at("resume") == "/out/runs/x");
  CHECK(!resume.count("out"));
  const auto infer = options_of(study::infer_arguments(st, mse, "/out/runs/x"));
  CHECK(infer.at("checkpoint") == "/out/runs/x/best.safetensors");
  CHECK(infer.at("split") == "test");
  CHECK(study::datagen_arguments(st.data.front()) ==
        std::vector<std::string>{"--out", "/out/data.h5", "--L", "64", "--per-n", "8", "--max-sources", "3"});
}

TEST_CASE("study plan: bad study files name the file and the key") {
  auto error = [](const std::string& text) {
    return error_message([&] { study::parse_study(text, "bad.json", "/o"); });
  };
  const std::string data = R"("data": {"d": {"file": "x.h5"}})";
  CHECK(error("{").find("bad.json: not valid JSON") != std::string::npos);
  CHECK(error("{" + data + R"(, "groups": [{"grid": {"fractoin": [1]}}]})").find("unknown train setting 'fractoin'") !=
        std::string::npos);
  CHECK(error("{" + data + R"(, "groups": [{"grid": {"loss": []}}]})").find("grid 'loss' must be a non-empty list") !=
        std::string::npos);
  CHECK(error("{" + data + R"(, "groups": [{"set": {"loss": "exp-mea"}}]})").find("loss") != std::string::npos);
  CHECK(error("{" + data + R"(, "groups": [{"set": {"seed": "one"}}]})").find("seed expects a non-negative integer") !=
        std::string::npos);
  CHECK(error("{" + data + R"(, "groups": [{"set": {"fraction": 2}}]})").find("fraction 2 outside (0, 1]") !=
        std::string::npos);
  CHECK(error("{" + data + R"(, "groups": [{"set": {"data": "other"}}]})").find("names data 'other'") !=
        std::string::npos);
  CHECK(error(R"({"groups": [{}]})").find("'data' must be an object") != std::string::npos);
}

TEST_CASE("study plan: the defaults it fills in are train's own (train --help)") {
  const ednn::test::TempDir dir("study_defaults");
  const auto help = run_command(std::string(EDNN_TRAIN_BIN) + " --help", dir.path / "help.txt");
  REQUIRE(help.status == 0);
  // A study naming nothing gets one run whose settings are the defaults filled in.
  const auto st = study::parse_study(R"({"data": {"d": {"file": "x.h5"}}, "groups": [{}]})", "d.json", "/o");
  REQUIRE(st.runs.size() == 1);
  const std::regex line(R"(--([a-z-]+) +([A-Z0-9]+|[a-z0-9|]+) .*\(default ([^)]+)\))");
  int compared = 0;
  for (std::sregex_iterator it(help.output.begin(), help.output.end(), line), end; it != end; ++it) {
    const std::string key = (*it)[1], value = (*it)[3];
    auto filled = st.runs[0].settings.find(key);
    if (filled == st.runs[0].settings.end()) continue;
    INFO(key);
    if (key == "lr") CHECK(std::stod(filled->second) == std::stod(value));
    else CHECK(filled->second == value);
    ++compared;
  }
  CHECK(compared == int(st.runs[0].settings.size()));
}

TEST_CASE("study statistics: least squares in log10, mean and spread, the cross table") {
  // y = {1, 2, 4} at log10 x = {0, 1, 2}: b = sum (u - 1)(y - 7/3) / 2 = 3/2, a = 7/3 - 3/2,
  // residuals 1/6, -1/3, 1/6: R^2 = 1 - (1/6) / (42/9) = 27/28.
  const study::LogFit f = study::fit_log10({1, 10, 100}, {1, 2, 4});
  CHECK(f.b == doctest::Approx(1.5));
  CHECK(f.a == doctest::Approx(7.0 / 3 - 1.5));
  CHECK(f.r2 == doctest::Approx(27.0 / 28));
  CHECK(f.points == 3);
  const study::LogFit exact = study::fit_log10({2, 20, 200, NAN}, {5, 3, 1, 7});  // NaN x is skipped
  CHECK(exact.points == 3);
  CHECK(exact.b == doctest::Approx(-2));
  CHECK(exact.r2 == doctest::Approx(1));

  const study::MeanStd ms = study::mean_std({1, 2, 3, 4, NAN});
  CHECK(ms.count == 4);
  CHECK(ms.mean == doctest::Approx(2.5));
  CHECK(ms.std == doctest::Approx(std::sqrt(5.0 / 3)));
  CHECK(study::mean_std({7}).std == 0);

  study::CrossTable t;
  t.trained = {1, 2, 3};
  t.tested = {1, 2};
  t.mae = {2, 4, 1,     // tested on 1
           3, NAN, 6};  // tested on 2
  const auto norm = t.row_normalised();
  CHECK(norm[0] == doctest::Approx(0.5));
  CHECK(norm[1] == doctest::Approx(1));
  CHECK(norm[2] == doctest::Approx(0.25));
  CHECK(norm[3] == doctest::Approx(0.5));
  CHECK(std::isnan(norm[4]));
  CHECK(norm[5] == doctest::Approx(1));
  const auto means = t.column_means();
  CHECK(means[0] == doctest::Approx(2.5));
  CHECK(means[1] == doctest::Approx(4));
  CHECK(means[2] == doctest::Approx(3.5));
}

TEST_CASE("study: the smoke study end to end, its table equal to infer's numbers, skip and resume") {
  const ednn::test::TempDir dir("study_smoke");
  const fs::path out = dir.path / "smoke", log = dir.path / "log.txt";
  const std::string study_cmd = std::string(EDNN_STUDY_BIN) + " " + EDNN_SOURCE_DIR + "/studies/smoke.json --out " +
                                out.string() + " --jobs 2";
  auto r = run_command(study_cmd, log);
  INFO(r.output);
  REQUIRE(r.status == 0);
  const study::Study st = study::load_study(std::string(EDNN_SOURCE_DIR) + "/studies/smoke.json", out.string());

  // Every output; each figure as PDF, SVG and PNG, with the signatures of those formats.
  for (const char* name : {"runs.csv", "runs.json", "report.md", "study.json"}) CHECK_MESSAGE(fs::exists(out / name), name);
  for (const char* stem : {"size", "mae_vs_n_1", "seeds_1", "cross_1", "cross_means_1"})
    for (const char* ext : {".pdf", ".svg", ".png"}) CHECK_MESSAGE(fs::exists(out / (std::string(stem) + ext)), stem, ext);
  int figures = 0;
  for (const auto& e : fs::directory_iterator(out)) {
    if (!e.is_regular_file()) continue;
    const std::string head = read_bytes(e.path()).substr(0, 200);
    if (e.path().extension() == ".png") CHECK(head.substr(0, 8) == "\x89PNG\r\n\x1a\n");
    if (e.path().extension() == ".pdf") CHECK(head.substr(0, 5) == "%PDF-");
    if (e.path().extension() == ".svg") CHECK(head.find("<svg") != std::string::npos);
    figures += e.path().extension() == ".png";
  }
  CHECK(figures >= 5);
  const std::string report = read_bytes(out / "report.md");
  CHECK(report.find("](size.png)") != std::string::npos);
  CHECK(report.find("[PDF](size.pdf)") != std::string::npos);
  CHECK(report.find("fit R\u00b2") != std::string::npos);
  // The smoke study's models by the paper's codenames, with their key: exp-MAE on 25% is 4E1.
  CHECK(report.find("## Key to the codenames") != std::string::npos);
  CHECK(report.find("| E1 | `exp-mae:w=1` |") != std::string::npos);
  CHECK(report.find("| 4E1 |") != std::string::npos);
  // Certified predictions and break-even (the smoke study's infer settings ask for both): one row
  // per run, and every run's bound held on every test sample ("k of k").
  CHECK(report.find("## Certified predictions") != std::string::npos);
  CHECK(report.find("## Break-even") != std::string::npos);
  {
    const std::size_t from = report.find("## Certified predictions"), to = report.find("## Break-even");
    std::istringstream rows(report.substr(from, to - from));
    int certified_rows = 0;
    for (std::string row; std::getline(rows, row);) {
      const std::regex holds(R"(\| (\d+) of (\d+) \|)");
      std::smatch m;
      if (!std::regex_search(row, m, holds)) continue;
      CAPTURE(row);
      CHECK(m[1] == m[2]);
      ++certified_rows;
    }
    CHECK(certified_rows == int(st.runs.size()));
  }

  // The JSON table: one entry per run; its numbers are exactly those of infer run again, by hand,
  // on the same checkpoint and data.
  const auto table = nlohmann::json::parse(read_bytes(out / "runs.json"));
  REQUIRE(table["runs"].size() == st.runs.size());
  CHECK(table["provenance"]["command"].get<std::string>().find("study " + std::string(EDNN_SOURCE_DIR)) !=
        std::string::npos);
  CHECK_FALSE(table["provenance"]["git_commit"].get<std::string>().empty());
  CHECK_FALSE(table["provenance"]["ednn_version"].get<std::string>().empty());
  CHECK(table["provenance"]["date"].get<std::string>().size() == 20);  // 2026-12-06T12:00:00Z
  const auto& first = table["runs"][0];
  const fs::path run_dir = out / "runs" / first["run"].get<std::string>();
  // The files the study's own train and infer wrote name their commands too.
  const auto trained = nlohmann::json::parse(nets::read_metadata((run_dir / "best.safetensors").string()).at("provenance"));
  CHECK(trained["command"].get<std::string>().find("train ") != std::string::npos);
  CHECK(trained["date"].get<std::string>().size() == 20);
  const fs::path check_dir = dir.path / "infer_again";
  r = run_command(std::string(EDNN_INFER_BIN) + " --checkpoint " + (run_dir / "best.safetensors").string() + " --data " +
                      st.data.front().file + " --split test --device cpu --quiet --out " + check_dir.string(),
                  log);
  REQUIRE(r.status == 0);
  const auto metrics = nlohmann::json::parse(read_bytes(check_dir / "metrics.json"));
  for (const char* region : {"sources", "field", "all", "R1", "R2", "R3"}) {
    INFO(region);
    CHECK(first["test_mae"][region].get<double>() == metrics["overall"][region]["mae"].get<double>());
    for (const auto& [n, block] : metrics["per_n"].items())
      CHECK(first["test_mae_by_n"][n][region].get<double>() == block[region]["mae"].get<double>());
  }
  // The CSV carries the same doubles, in full.
  const std::string csv = read_bytes(out / "runs.csv");
  std::istringstream lines(csv);
  std::string header, row;
  std::getline(lines, header);
  std::getline(lines, row);
  auto column = [](const std::string& line, const std::string& name, const std::string& head) {
    std::vector<std::string> h, v;
    std::string cell;
    for (std::istringstream s(head); std::getline(s, cell, ',');) h.push_back(cell);
    for (std::istringstream s(line); std::getline(s, cell, ',');) v.push_back(cell);
    const auto at = std::find(h.begin(), h.end(), name) - h.begin();
    REQUIRE(std::size_t(at) < v.size());
    return v[std::size_t(at)];
  };
  CHECK(std::stod(column(row, "mae_all", header)) == metrics["overall"]["all"]["mae"].get<double>());
  CHECK(std::stod(column(row, "mae_R1_n3", header)) == metrics["per_n"]["3"]["R1"]["mae"].get<double>());
  CHECK(column(row, "run", header) == first["run"].get<std::string>());
  {  // every column name once (a setting and a result were both called "epochs")
    std::vector<std::string> names;
    std::string cell;
    for (std::istringstream s(header); std::getline(s, cell, ',');) names.push_back(cell);
    std::sort(names.begin(), names.end());
    CHECK(std::adjacent_find(names.begin(), names.end()) == names.end());
  }

  // Called again: nothing to do, no checkpoint touched.
  const auto stamp = fs::last_write_time(run_dir / "last.safetensors");
  r = run_command(study_cmd, log);
  REQUIRE(r.status == 0);
  CHECK(r.output.find(std::to_string(st.runs.size()) + " runs (" + std::to_string(st.runs.size()) +
                      " finished, 0 to do)") != std::string::npos);
  CHECK(fs::last_write_time(run_dir / "last.safetensors") == stamp);

  // A run stopped after 2 of its 6 epochs (train run by hand into its folder) and never
  // evaluated: the study resumes it, and its weights end bit-identical to the uninterrupted run's.
  const fs::path reference = dir.path / "reference.safetensors";
  fs::copy_file(run_dir / "last.safetensors", reference);
  const study::RunSpec* spec = nullptr;
  for (const auto& s : st.runs)
    if (s.name == first["run"].get<std::string>()) spec = &s;
  REQUIRE(spec != nullptr);
  REQUIRE(spec->settings.at("epochs") == "6");
  fs::remove_all(run_dir / "infer");
  for (const char* f : {"last.safetensors", "last.optim.safetensors", "best.safetensors", "train_log.csv",
                        "checkpoint.json"})
    fs::remove(run_dir / f);
  auto args = study::train_arguments(st, *spec, run_dir.string(), false);
  // The study gives each of its 2 jobs one thread; float sums over threads differ with their count.
  std::string train_cmd = std::string("OMP_NUM_THREADS=1 ") + EDNN_TRAIN_BIN;
  for (auto& a : args) train_cmd += " '" + (a == "6" ? std::string("2") : a) + "'";  // --epochs 6 -> 2
  r = run_command(train_cmd, log);
  REQUIRE(r.status == 0);
  REQUIRE(nets::read_metadata((run_dir / "last.safetensors").string()).at("epoch") == "2");
  r = run_command(study_cmd, log);
  REQUIRE(r.status == 0);
  CHECK(r.output.find("resume after epoch 2") != std::string::npos);
  CHECK(nets::read_metadata((run_dir / "last.safetensors").string()).at("epoch") == "6");
  // The same tensors and metadata, bit for bit, all but the provenance (another command and date).
  nets::SafetensorsFile resumed = nets::read_safetensors((run_dir / "last.safetensors").string()),
                        whole = nets::read_safetensors(reference.string());
  CHECK(resumed.metadata.erase("provenance") == 1);
  CHECK(whole.metadata.erase("provenance") == 1);
  CHECK(resumed.metadata == whole.metadata);
  REQUIRE(resumed.tensors.size() == whole.tensors.size());
  for (std::size_t i = 0; i < whole.tensors.size(); ++i) {
    CAPTURE(whole.tensors[i].name);
    CHECK(resumed.tensors[i].name == whole.tensors[i].name);
    CHECK(resumed.tensors[i].integer == whole.tensors[i].integer);
    if (whole.tensors[i].tensor.defined())
      CHECK(resumed.tensors[i].tensor.to_vector() == whole.tensors[i].tensor.to_vector());
  }
  CHECK(fs::exists(run_dir / "infer" / "metrics.json"));
}

TEST_CASE("study: bad input stops before any run, and a folder made for other settings is refused") {
  const ednn::test::TempDir dir("study_bad");
  const fs::path log = dir.path / "log.txt";
  const std::string study = EDNN_STUDY_BIN;
  auto r = run_command(study + " " + (dir.path / "missing.json").string() + " --out " + (dir.path / "o").string(), log);
  CHECK(r.status == 1);
  CHECK(r.output.find("cannot read the study file") != std::string::npos);

  // A fraction too small for the data set: named before anything trains.
  ednn::test::write_bytes(dir.path / "tiny.json", R"({"data": {"d": {"file": "d.h5", "datagen":
      {"L": 64, "per-n": 4, "max-sources": 2, "test-fraction": 0.5}}}, "train": {"preset": "tiny", "epochs": 1},
      "groups": [{"grid": {"fraction": [0.1]}}]})");
  r = run_command(study + " " + (dir.path / "tiny.json").string() + " --out " + (dir.path / "o").string(), log);
  CHECK(r.status == 1);
  CHECK(r.output.find("run fraction-0.1 selects no training samples") != std::string::npos);
  CHECK(!fs::exists(dir.path / "o" / "runs" / "fraction-0.1"));

  // A run folder whose run.json records other settings is not overwritten.
  ednn::test::write_bytes(dir.path / "one.json", R"({"data": {"d": {"file": "d.h5", "datagen":
      {"L": 64, "per-n": 4, "max-sources": 2, "test-fraction": 0.5}}}, "train": {"preset": "tiny", "epochs": 1},
      "groups": [{"grid": {"seed": [3]}}]})");
  fs::create_directories(dir.path / "o" / "runs" / "seed-3");
  ednn::test::write_bytes(dir.path / "o" / "runs" / "seed-3" / "run.json", R"({"settings": {"seed": "4"}})");
  r = run_command(study + " " + (dir.path / "one.json").string() + " --out " + (dir.path / "o").string(), log);
  CHECK(r.status == 1);
  CHECK(r.output.find("holds a run with other settings") != std::string::npos);
  CHECK(read_bytes(dir.path / "o" / "runs" / "seed-3" / "run.json") == R"({"settings": {"seed": "4"}})");
}

TEST_CASE("study: a finished run is reported only if it was trained and evaluated as the study now asks") {
  const ednn::test::TempDir dir("study_record");
  const fs::path log = dir.path / "log.txt", out = dir.path / "o";
  const std::string study = EDNN_STUDY_BIN;
  auto write_study = [&](const std::string& train, const std::string& infer) {
    ednn::test::write_bytes(dir.path / "s.json", R"({"data": {"d": {"file": "d.h5", "datagen":
        {"L": 64, "per-n": 4, "max-sources": 2, "test-fraction": 0.5}}}, "train": )" + train +
                                                     R"(, "infer": )" + infer + R"(, "groups": [{"grid": {"seed": [3]}}]})");
  };
  const std::string command = study + " " + (dir.path / "s.json").string() + " --out " + out.string();
  write_study(R"({"preset": "tiny", "epochs": 1, "lr": 0.002, "batch": 4, "device": "cpu"})",
              R"({"limit": 2, "device": "cpu"})");
  auto r = run_command(command, log);
  INFO(r.output);
  REQUIRE(r.status == 0);
  const fs::path metrics = out / "runs" / "seed-3" / "infer" / "metrics.json";
  CHECK(nlohmann::json::parse(read_bytes(metrics))["samples"] == 2);

  // The infer limit removed: the run is evaluated again, on the whole test split (4 samples).
  write_study(R"({"preset": "tiny", "epochs": 1, "lr": 0.002, "batch": 4, "device": "cpu"})", R"({"device": "cpu"})");
  r = run_command(command, log);
  CAPTURE(r.output);
  REQUIRE(r.status == 0);
  CHECK(r.output.find("start seed-3: evaluate") != std::string::npos);
  CHECK(nlohmann::json::parse(read_bytes(metrics))["samples"] == 4);
  const std::string table = read_bytes(out / "runs.csv");

  // The train block's lr and batch changed: the run keeps its name, but it was trained otherwise.
  // Refused before anything runs, naming both settings; the table is not rewritten.
  write_study(R"({"preset": "tiny", "epochs": 1, "lr": 0.0001, "batch": 2, "device": "cpu"})", R"({"device": "cpu"})");
  r = run_command(command, log);
  CAPTURE(r.output);
  CHECK(r.status == 1);
  CHECK(r.output.find((out / "runs" / "seed-3").string() + " holds a run with other settings") != std::string::npos);
  CHECK(r.output.find("\"lr\":\"0.002\"") != std::string::npos);
  CHECK(r.output.find("\"lr\":\"0.0001\"") != std::string::npos);
  CHECK(read_bytes(out / "runs.csv") == table);
}

TEST_CASE("study: its edges: dry run and report-only write nothing of the runs', bad runs stop it first, SIGTERM stops the children") {
  const ednn::test::TempDir dir("study_edges");
  const fs::path log = dir.path / "log.txt", out = dir.path / "o";
  const std::string study = EDNN_STUDY_BIN;
  auto write_study = [&](const std::string& train, const std::string& grid) {
    ednn::test::write_bytes(dir.path / "s.json", R"({"data": {"d": {"file": "d.h5", "datagen":
        {"L": 64, "per-n": 4, "max-sources": 2, "test-fraction": 0.5}}}, "train": )" + train +
                                                     R"(, "groups": [{"grid": )" + grid + "}]}");
  };
  const std::string command = study + " " + (dir.path / "s.json").string() + " --out " + out.string();

  // A dry run creates nothing; report-only makes no data and says so, and writes no study.json.
  write_study(R"({"preset": "tiny", "epochs": 1, "device": "cpu"})", R"({"seed": [3, 4]})");
  auto r = run_command(command + " --dry-run", log);
  CAPTURE(r.output);
  CHECK(r.status == 0);
  CHECK(!fs::exists(out));
  r = run_command(command + " --report-only", log);
  CAPTURE(r.output);
  CHECK(r.status == 0);
  CHECK(r.output.find("does not exist yet (--report-only makes none)") != std::string::npos);
  CHECK(!fs::exists(out / "study.json"));
  CHECK(!fs::exists(out / "d.h5"));

  // Runs that train would refuse are found before the first one starts: epochs 0 in the second run,
  // a preset whose L is not the data's.
  write_study(R"({"preset": "tiny", "device": "cpu"})", R"({"epochs": [1, 0]})");
  r = run_command(command, log);
  CAPTURE(r.output);
  CHECK(r.status == 1);
  CHECK(r.output.find("run epochs-0: epochs 0, expected at least 1") != std::string::npos);
  CHECK(!fs::exists(out / "runs" / "epochs-1" / "best.safetensors"));
  write_study(R"({"preset": "small", "epochs": 1, "device": "cpu"})", R"({"seed": [3]})");
  r = run_command(command, log);
  CAPTURE(r.output);
  CHECK(r.status == 1);
  CHECK(r.output.find("preset small takes L = 128 but data 'd' is made with L = 64") != std::string::npos);

  // SIGTERM to the study's process alone (what a scheduler sends): the study forwards it, and no
  // child trains on after the study has stopped.
  write_study(R"({"preset": "tiny", "epochs": 1000000, "device": "cpu"})", R"({"seed": [5]})");
  const fs::path pid_file = dir.path / "pid";
  // (trai[n] matches train's command line but not this shell's own, which holds the pattern.)
  r = run_command("{ (" + command + " & echo $! > " + pid_file.string() + "; wait $!) > " +
                      (dir.path / "study.txt").string() + " 2>&1 & sleep 0.5; for i in $(seq 1 200); do [ -s " +
                      (out / "runs" / "seed-5" / "train.log").string() + " ] && break; sleep 0.1; done; sleep 1; " +
                      "pgrep -f 'bin/trai[n] .*runs/seed-5' > /dev/null && echo TRAINING; pid=$(cat " + pid_file.string() +
                      "); kill -TERM $pid; for i in $(seq 1 100); do kill -0 $pid 2> /dev/null || break; sleep 0.1; done; "
                      "sleep 0.5; pgrep -f 'bin/trai[n] .*runs/seed-5' > /dev/null && echo STILL_RUNNING || echo ALL_STOPPED; "
                      // on a regression, nothing is left behind to train forever
                      "pkill -9 -f 'bin/trai[n] .*runs/seed-5'; kill -9 $pid 2> /dev/null; true; }",
                  log);
  CAPTURE(r.output);
  CHECK(r.output.find("TRAINING") != std::string::npos);  // the child was there to be stopped
  CHECK(r.output.find("ALL_STOPPED") != std::string::npos);
  CHECK(read_bytes(dir.path / "study.txt").find("study: interrupted") != std::string::npos);
}

TEST_CASE("study: runs.csv fields as RFC 4180 writes them, and one column per name") {
  CHECK(study::csv_field("mae") == "mae");
  CHECK(study::csv_field("exp-mae:w=1,on=prediction") == "\"exp-mae:w=1,on=prediction\"");
  CHECK(study::csv_field("say \"hi\"") == "\"say \"\"hi\"\"\"");
  CHECK(study::csv_field("two\nlines") == "\"two\nlines\"");
}
