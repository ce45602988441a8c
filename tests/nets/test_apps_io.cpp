// The programs' shared pieces and the programs themselves on bad input: missing, truncated and
// non-HDF5 data files, wrong data set names/shapes, NaN inputs, an L that does not match the
// checkpoint, another preset's checkpoint, unwritable outputs. Each error names the file and the
// problem, the programs exit non-zero, and earlier outputs stay intact.
#include <doctest/doctest.h>

#include <hdf5.h>
#include <hdf5_hl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "apps/h5_io.h"
#include "apps/sources_file.h"
#include "core/error.h"
#include "nets/checkpoint.h"
#include "nets/ednn_cnn.h"
#include "solver/datagen.h"
#include "tests/solver/direct_solve.h"
#include "tests/test_helpers.h"

using namespace ednn;
namespace fs = std::filesystem;

namespace {

using ednn::test::read_bytes;
fs::path temp_dir(const std::string& name) { return ednn::test::fresh_temp_dir(name); }


// Writes an HDF5 file with a float32 data set `name` of shape dims filled with `value`.
void write_h5(const fs::path& path, const char* name, std::vector<hsize_t> dims, float value) {
  const hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  REQUIRE(f >= 0);
  const hid_t s = H5Screate_simple(int(dims.size()), dims.data(), nullptr);
  const hid_t d = H5Dcreate2(f, name, H5T_IEEE_F32LE, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  hsize_t n = 1;
  for (auto v : dims) n *= v;
  std::vector<float> data(n, value);
  H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, data.data());
  H5Dclose(d);
  H5Sclose(s);
  H5Fclose(f);
}

using Run = ednn::test::CommandResult;
Run run(const std::string& command, const fs::path& log) { return ednn::test::run_command(command, log); }

// A datagen file at L = 64 for the programs to train on.
void write_l64_data(const std::string& path, int max_sources, int per_n, double test_fraction, std::uint64_t seed) {
  dataset::DatagenOptions g;
  g.out = path;
  g.solver.L = 64;
  g.solver.max_sources = max_sources;
  g.per_n = per_n;
  g.test_fraction = test_fraction;
  g.seed = seed;
  dataset::run_datagen(g);
}

// A whole data set of an HDF5 file, as doubles (any numeric type).
std::vector<double> read_all(const std::string& path, const char* name) {
  const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  REQUIRE(f >= 0);
  const hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
  REQUIRE(d >= 0);
  const hid_t space = H5Dget_space(d);
  std::vector<double> values(std::size_t(H5Sget_simple_extent_npoints(space)));
  H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data());
  H5Sclose(space);
  H5Dclose(d);
  H5Fclose(f);
  return values;
}

}  // namespace

TEST_CASE("apps io: plain HDF5 inputs, bad files") {
  const fs::path dir = temp_dir("h5");
  SUBCASE("missing") {
    CHECK_THROWS_WITH_AS(io::PlainH5Store((dir / "none.h5").string()), doctest::Contains("does not exist"), Error);
  }
  SUBCASE("not HDF5 and truncated") {
    std::ofstream(dir / "text.h5") << "just some text, not HDF5";
    CHECK_THROWS_WITH_AS(io::PlainH5Store((dir / "text.h5").string()), doctest::Contains("not an HDF5 file"), Error);
    write_h5(dir / "good.h5", "inputs", {2, 1, 32, 32}, 0.5f);
    const std::string bytes = read_bytes(dir / "good.h5");
    std::ofstream(dir / "cut.h5", std::ios::binary) << bytes.substr(0, bytes.size() / 3);
    CHECK_THROWS_AS(io::PlainH5Store((dir / "cut.h5").string()), Error);
  }
  SUBCASE("wrong names, shapes and values") {
    write_h5(dir / "names.h5", "images", {2, 1, 32, 32}, 0.5f);
    CHECK_THROWS_WITH_AS(io::PlainH5Store((dir / "names.h5").string()),
                         doctest::Contains("data set 'inputs' is missing"), Error);
    write_h5(dir / "shape.h5", "inputs", {2, 32, 32}, 0.5f);
    CHECK_THROWS_WITH_AS(io::PlainH5Store((dir / "shape.h5").string()),
                         doctest::Contains("has shape [2, 32, 32], expected [N, 1, L, L]"), Error);
    write_h5(dir / "nan.h5", "inputs", {2, 1, 32, 32}, NAN);
    io::PlainH5Store nan((dir / "nan.h5").string());
    std::vector<float> x(32 * 32);
    const std::int64_t idx = 1;
    CHECK_THROWS_WITH_AS(nan.read({&idx, 1}, x.data(), nullptr, nullptr),
                         doctest::Contains("inputs of sample 1 has a non-finite value"), Error);
  }
  fs::remove_all(dir);
}

TEST_CASE("apps io: the predictions file's extra columns and images carry labels and descriptions") {
  const fs::path dir = temp_dir("io_extra");
  const std::string path = (dir / "p.h5").string();
  {
    io::PredictionsWriter w(path, 3, 8);
    w.add_column("bound", "guaranteed max error");
    w.add_images("polished", "the polished field");
    CHECK_THROWS_WITH_AS(w.add_column("bound", "again"), doctest::Contains("data set bound declared twice"), Error);
    const std::vector<float> images(3 * 64, 0.5f), polished(3 * 64, 0.75f);
    const std::vector<std::int64_t> indices{7, 8, 9};
    const std::vector<double> bounds{0.125, 0.25, 0.5};
    w.write(0, 3, images.data(), indices.data());
    w.write_images("polished", 0, 3, polished.data());
    CHECK_THROWS_WITH_AS(w.finish("ckpt"), doctest::Contains("0 of 3 samples of bound written"), Error);
    w.write_column("bound", 0, 2, bounds.data());
    w.write_column("bound", 2, 1, bounds.data() + 2);
    CHECK_THROWS_WITH_AS(w.write_column("polished", 0, 1, bounds.data()), doctest::Contains("holds images"), Error);
    w.finish("ckpt");
  }
  const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  REQUIRE(f >= 0);
  const hid_t d = H5Dopen2(f, "bound", H5P_DEFAULT);
  std::vector<double> back(3);
  H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, back.data());
  CHECK(back == std::vector<double>{0.125, 0.25, 0.5});
  char label[16] = {};
  REQUIRE(H5DSget_label(d, 0, label, sizeof label) > 0);
  CHECK(std::string(label) == "sample");
  CHECK(H5Aexists(d, "description") > 0);
  const hid_t img = H5Dopen2(f, "polished", H5P_DEFAULT);
  std::vector<float> pix(3 * 64);
  H5Dread(img, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, pix.data());
  CHECK(pix == std::vector<float>(3 * 64, 0.75f));
  H5Dclose(img);
  H5Dclose(d);
  H5Fclose(f);
  fs::remove_all(dir);
}

TEST_CASE("apps io: predictions and sources files") {
  const fs::path dir = temp_dir("io");
  std::vector<float> p(2 * 32 * 32, 0.25f);
  io::write_predictions((dir / "p.h5").string(), p, 2, 32, {3, 4}, "ckpt");
  {
    const hid_t f = H5Fopen((dir / "p.h5").c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    REQUIRE(f >= 0);
    const hid_t d = H5Dopen2(f, "predictions", H5P_DEFAULT);
    const hid_t s = H5Dget_space(d);
    hsize_t dims[4];
    REQUIRE(H5Sget_simple_extent_ndims(s) == 4);
    H5Sget_simple_extent_dims(s, dims, nullptr);
    CHECK(dims[0] == 2);
    CHECK(dims[1] == 1);
    CHECK(dims[3] == 32);
    std::vector<float> back(p.size());
    H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, back.data());
    CHECK(back == p);
    char label[16] = {};  // the axes by name, as in datagen's files
    REQUIRE(H5DSget_label(d, 3, label, sizeof label) > 0);
    CHECK(std::string(label) == "x");
    H5Sclose(s);
    H5Dclose(d);
    H5Fclose(f);
  }
  // An unwritable destination: an error naming it, the earlier file intact.
  const std::string before = read_bytes(dir / "p.h5");
  std::ofstream(dir / "plain_file") << "x";
  CHECK_THROWS_WITH_AS(io::write_predictions((dir / "plain_file" / "p.h5").string(), p, 2, 32, {3, 4}, "c"),
                       doctest::Contains("cannot write predictions"), Error);
  CHECK(read_bytes(dir / "p.h5") == before);

  // Sources files.
  solver::SolverConfig sc;
  sc.L = 64;
  std::ofstream(dir / "s.csv") << "x,y,value\n10,20,1\n30,40,0.5\n";
  const auto csv = io::read_sources_file((dir / "s.csv").string(), sc);
  REQUIRE(csv.size() == 2);
  CHECK(csv[1].x == 30);
  CHECK(csv[1].value == 0.5f);
  std::ofstream(dir / "s.json") << R"({"sources": [{"x": 10, "y": 20, "value": 1}, [30, 40, 0.5]]})";
  CHECK(io::read_sources_file((dir / "s.json").string(), sc).size() == 2);
  std::ofstream(dir / "bad.csv") << "2,20,1\n";
  CHECK_THROWS_WITH_AS(io::read_sources_file((dir / "bad.csv").string(), sc), doctest::Contains("inside the 64 x 64"),
                       Error);
  // Strict CSV: a first line that is not the header is an error, not a header dropped in silence;
  // trailing fields and fractional centres are errors too (the centre was truncated before).
  for (const auto& [text, says] : std::vector<std::pair<std::string, std::string>>{
           {"10;20;1\n30,40,0.5\n", "line 1 is not 'x,y,value' (three numbers, or the header x,y,value): 10;20;1"},
           {"x,y,v\n30,40,0.5\n", "line 1 is not"},
           {"x,y,value\n30,40,0.5,7\n", "line 2 is not 'x,y,value' (three numbers): 30,40,0.5,7"},
           {"30.5,40,0.5\n", "source 1 at (30.5, 40) is not on a lattice site"}}) {
    CAPTURE(text);
    std::ofstream(dir / "strict.csv", std::ios::trunc) << text;
    CHECK_THROWS_WITH_AS(io::read_sources_file((dir / "strict.csv").string(), sc), doctest::Contains(says.c_str()), Error);
  }
  std::ofstream(dir / "ok.csv", std::ios::trunc) << "# two sources\n x , y , value \r\n10,20,1\r\n\n30,40,0.5\n";
  CHECK(io::read_sources_file((dir / "ok.csv").string(), sc).size() == 2);
  fs::remove_all(dir);
}

TEST_CASE("apps: train and infer end to end on the tiny preset, and their bad inputs") {
  const fs::path dir = temp_dir("programs");
  const std::string data = (dir / "d64.h5").string();
  write_l64_data(data, 4, 5, 0.2, 3);
  const fs::path log = dir / "log.txt";
  const std::string train = EDNN_TRAIN_BIN, infer = EDNN_INFER_BIN;

  Run r = run(train + " --data " + data + " --preset tiny --epochs 1 --batch 4 --lr 1e-3 --device cpu --quiet --out " +
                  (dir / "run").string(),
              log);
  INFO(r.output);
  REQUIRE(r.status == 0);
  const fs::path best = dir / "run" / "best.safetensors";
  REQUIRE(fs::exists(best));
  CHECK(r.output.find("best checkpoint: " + best.string()) != std::string::npos);

  r = run(infer + " --checkpoint " + best.string() + " --data " + data +
              " --split test --device cpu --quiet --pictures 1 --compare-solver --out " + (dir / "inf").string(),
          log);
  INFO(r.output);
  REQUIRE(r.status == 0);
  // The figures as PDF, SVG and PNG (apps/pictures.h; tests/nets/test_pictures.cpp checks their contents).
  for (const char* f : {"predictions.h5", "metrics.csv", "metrics.json", "sample_0.pdf", "sample_0.svg", "sample_0.png",
                        "mae_vs_n.pdf", "mae_vs_n.svg", "mae_vs_n.png"})
    CHECK(fs::exists(dir / "inf" / f));
  CHECK(r.output.find("predict the input") != std::string::npos);
  const std::string metrics_before = read_bytes(dir / "inf" / "metrics.json");

  // Bad inputs: a message naming the file and the problem, a non-zero exit, earlier outputs intact.
  std::ofstream(dir / "text.h5") << "not hdf5";
  r = run(infer + " --checkpoint " + best.string() + " --data " + (dir / "text.h5").string() + " --out " +
              (dir / "inf").string(), log);
  CHECK(r.status != 0);
  CHECK(r.output.find((dir / "text.h5").string() + ": not an HDF5 file") != std::string::npos);

  r = run(train + " --data " + (dir / "missing.h5").string() + " --preset tiny --out " + (dir / "run2").string(), log);
  CHECK(r.status != 0);
  CHECK(r.output.find("missing.h5") != std::string::npos);

  r = run(train + " --data " + data + " --preset small --epochs 1 --out " + (dir / "run2").string(), log);
  CHECK(r.status != 0);
  CHECK(r.output.find("has L = 64 but preset small expects L = 128") != std::string::npos);

  // A checkpoint of another preset (small, L 128) on L = 64 data; then a truncated checkpoint.
  auto small = nets::build_ednn(nets::preset_config("small"), 0);
  nets::save_model((dir / "small.safetensors").string(), *small, {{"preset", "small"}, {"L", "128"}, {"c0", "8"}});
  r = run(infer + " --checkpoint " + (dir / "small.safetensors").string() + " --data " + data + " --out " +
              (dir / "inf").string(), log);
  CHECK(r.status != 0);
  CHECK(r.output.find("has L = 64 but checkpoint") != std::string::npos);
  const std::string bytes = read_bytes(best);
  std::ofstream(dir / "cut.safetensors", std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  r = run(infer + " --checkpoint " + (dir / "cut.safetensors").string() + " --data " + data + " --out " +
              (dir / "inf").string(), log);
  CHECK(r.status != 0);
  CHECK(r.output.find("cut.safetensors: truncated") != std::string::npos);

  // An output directory that cannot be created.
  r = run(infer + " --checkpoint " + best.string() + " --data " + data + " --out " + (dir / "text.h5" / "sub").string(),
          log);
  CHECK(r.status != 0);
  CHECK(r.output.find("cannot create output directory") != std::string::npos);
  CHECK(read_bytes(dir / "inf" / "metrics.json") == metrics_before);
  fs::remove_all(dir);
}

TEST_CASE("apps: infer --certify and --polish on a tiny model: the bounds hold against a direct solve and are tight") {
  const fs::path dir = temp_dir("certify");
  const std::string data = (dir / "d64.h5").string();
  write_l64_data(data, 3, 10, 0.4, 5);  // 18 train, 12 test samples
  const fs::path log = dir / "log.txt";
  const std::string train = EDNN_TRAIN_BIN, infer = EDNN_INFER_BIN;
  // Trained until it beats the trivial predictors, so its error is a network's: rough on the
  // pixel scale, the case where the raw residual bound is vacuous (SPEC 3.1).
  Run r = run(train + " --data " + data + " --preset tiny --epochs 8 --batch 3 --lr 3e-3 --device cpu --quiet --out " +
                  (dir / "run").string(), log);
  REQUIRE(r.status == 0);
  const std::string best = (dir / "run" / "best.safetensors").string();
  const double tol = 0.05;
  const std::string common = infer + " --checkpoint " + best + " --data " + data +
                             " --split test --device cpu --quiet --pictures 0 --certify ";
  r = run(common + "--polish 0.05 --compare-solver --out " + (dir / "inf").string(), log);  // the default sweeps
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK(r.output.find("break-even: per sample: solver") != std::string::npos);
  r = run(common + "--certify-sweeps 0 --out " + (dir / "raw").string(), log);  // the raw prediction only
  REQUIRE(r.status == 0);

  // Every test sample against the exact discrete solution of its input (banded direct solve).
  const std::string file = (dir / "inf" / "predictions.h5").string(), raw_file = (dir / "raw" / "predictions.h5").string();
  const auto predictions = read_all(file, "predictions"), certified = read_all(file, "certified"),
             polished = read_all(file, "polished");
  const auto bound = read_all(file, "error_bound"), through = read_all(file, "error_bound_through_certified"),
             certified_bound = read_all(file, "certified_error_bound"),
             polished_bound = read_all(file, "polished_error_bound");
  const auto indices = read_all(file, "indices"), polish_sweeps = read_all(file, "polish_sweeps");
  const auto raw_bound = read_all(raw_file, "error_bound"), raw_certified_bound = read_all(raw_file, "certified_error_bound");
  const auto metrics = nlohmann::json::parse(read_bytes(dir / "inf" / "metrics.json"));
  const int K = metrics["certificate"]["certify_sweeps"].get<int>();
  const double gamma = metrics["certificate"]["solver"]["gamma"].get<double>(),
               D = metrics["certificate"]["solver"]["D"].get<double>();
  REQUIRE(K > 0);
  const dataset::DatasetReader reader(data);
  const int L = 64, px = L * L;
  REQUIRE(indices.size() == 12);
  double worst_prediction = 0, worst_certified = 0, best_raw = 1e30;
  for (std::size_t k = 0; k < indices.size(); ++k) {
    CAPTURE(k);
    std::vector<float> x(px);
    reader.read_input(std::int64_t(indices[k]), x);
    const std::vector<double> exact = solver::testing::direct_solve(reader.info().solver, x);
    double error = 0, certified_error = 0, polished_error = 0;
    for (int p = 0; p < px; ++p) {
      error = std::max(error, std::abs(predictions[k * px + p] - exact[std::size_t(p)]));
      certified_error = std::max(certified_error, std::abs(certified[k * px + p] - exact[std::size_t(p)]));
      polished_error = std::max(polished_error, std::abs(polished[k * px + p] - exact[std::size_t(p)]));
    }
    // K = 0: the raw prediction's bound holds, and is its only one.
    CHECK(raw_bound[k] == bound[k]);
    CHECK(raw_certified_bound[k] == raw_bound[k]);
    CHECK(error <= raw_bound[k]);
    // The default sweeps: both bounds hold for the certified field and for the prediction.
    CHECK(certified_error <= certified_bound[k]);
    CHECK(error <= through[k]);
    CHECK(polished_error <= polished_bound[k]);
    CHECK(polished_bound[k] <= tol);
    CHECK(polish_sweeps[k] >= 0);
    best_raw = std::min(best_raw, raw_bound[k] / error);
    worst_prediction = std::max(worst_prediction, std::min(bound[k], through[k]) / error);
    worst_certified = std::max(worst_certified, certified_bound[k] / certified_error);
  }
  MESSAGE("bound / actual max error against the direct solve: raw prediction at least ", best_raw, "; after ", K,
          " sweeps at most ", worst_certified, " (certified field), ", worst_prediction, " (prediction, through it)");
  // Not vacuous: the prediction's bound within 10 times its actual error on every sample, and the
  // certified field's within three times SPEC 3.1's estimate 2D / (K gamma); the raw bound was not (at
  // the default K = 50 and this model, measured: 7.7, 30.6 against 48, and at least 133).
  CHECK(worst_prediction < 10.0);
  CHECK(worst_certified < 3 * 2 * D / (K * gamma));
  CHECK(best_raw > 50.0);
  CHECK(metrics["certificate"]["prediction"]["fraction_bound_holds"].get<double>() == 1.0);
  CHECK(metrics["certificate"]["certified"]["fraction_bound_holds"].get<double>() == 1.0);
  CHECK(metrics["certificate"]["error_bound"]["max"].get<double>() == *std::max_element(bound.begin(), bound.end()));
  CHECK(metrics["certificate"]["certified_error_bound"]["max"].get<double>() ==
        *std::max_element(certified_bound.begin(), certified_bound.end()));
  CHECK(metrics.contains("break_even"));

  // Bad input: a message naming the option or the sample and the file.
  r = run(infer + " --checkpoint " + best + " --data " + data + " --certify-thresholds 0.1,x --out " +
              (dir / "inf2").string(), log);
  CHECK(r.status == 2);
  CHECK(r.output.find("--certify-thresholds: 'x' in '0.1,x' is not a number > 0") != std::string::npos);
  r = run(infer + " --checkpoint " + best + " --data " + data + " --certify --certify-omega 2 --out " +
              (dir / "inf2").string(), log);
  CHECK(r.status == 2);
  CHECK(r.output.find("--certify-omega expects a relaxation factor in (0, 2)") != std::string::npos);
  r = run(infer + " --checkpoint " + best + " --data " + data + " --polish 1e-12 --quiet --out " +
              (dir / "inf2").string(), log);
  CHECK(r.status == 1);
  CHECK(r.output.find("below what a float32 field can be certified to") != std::string::npos);
  CHECK(r.output.find("d64.h5") != std::string::npos);
  fs::remove_all(dir);
}

TEST_CASE("apps: train --resume without --epochs finishes the run that was asked for") {
  const fs::path dir = temp_dir("resume_target");
  const std::string data = (dir / "d64.h5").string(), out = (dir / "run").string();
  write_l64_data(data, 2, 4, 0.25, 5);
  const fs::path log = dir / "log.txt", last = dir / "run" / "last.safetensors";
  const std::string train = EDNN_TRAIN_BIN, common = " --data " + data + " --device cpu --quiet --max-steps 1";

  // A 3-epoch run stopped after its first epoch (the time limit ends it as a kill after a saved
  // epoch would).
  Run r = run(train + common + " --preset tiny --batch 4 --lr 1e-3 --epochs 3 --time-limit 1e-6 --out " + out, log);
  INFO(r.output);
  REQUIRE(r.status == 0);
  REQUIRE(nets::read_metadata(last.string()).at("epoch") == "1");
  CHECK(nets::read_metadata(last.string()).at("epochs") == "3");

  // Resumed without --epochs: it runs to the 3 epochs asked for, not to --epochs' default (100).
  r = run(train + common + " --resume " + out, log);
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK(nets::read_metadata(last.string()).at("epoch") == "3");
  CHECK(r.output.find("train: done, 3 epochs") != std::string::npos);

  // --epochs on a resume still overrides the stored target, and becomes the new one.
  r = run(train + common + " --epochs 4 --resume " + out, log);
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK(nets::read_metadata(last.string()).at("epoch") == "4");
  CHECK(nets::read_metadata(last.string()).at("epochs") == "4");
}
