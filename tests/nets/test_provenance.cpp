// Every file datagen, train and infer write names where it came from: ednn's version, the git
// commit, the command line, the date, the device and the numerics (study's runs.json: apps_study).
//   datagen  the data file's group `provenance` (text attributes)
//   train    metadata `provenance` (a JSON object) of best, last and last.optim.safetensors
//   infer    predictions.h5's file attributes, metrics.json's and timing.json's `provenance`
// Each is checked against what this test knows independently: the version CMake gave, the
// command it ran, a date of the form 2026-12-06T12:00:00Z.
#include <doctest/doctest.h>
#include <hdf5.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "nets/checkpoint.h"
#include "tests/test_helpers.h"

using namespace ednn;
namespace fs = std::filesystem;
using ednn::test::read_bytes;
using ednn::test::run_command;

namespace {

// The text attributes of an HDF5 object (the file's root, or a group), by name.
std::map<std::string, std::string> text_attributes(const fs::path& file, const char* object) {
  std::map<std::string, std::string> found;
  const hid_t f = H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  REQUIRE_MESSAGE(f >= 0, "cannot open ", file);
  const hid_t g = H5Oopen(f, object, H5P_DEFAULT);
  REQUIRE_MESSAGE(g >= 0, file, " has no ", object);
  auto add = [](hid_t location, const char* name, const H5A_info_t*, void* out) -> herr_t {
    const hid_t a = H5Aopen(location, name, H5P_DEFAULT);
    const hid_t type = H5Aget_type(a);
    if (H5Tget_class(type) == H5T_STRING && H5Tis_variable_str(type) > 0) {
      char* text = nullptr;
      if (H5Aread(a, type, &text) >= 0 && text) (*static_cast<std::map<std::string, std::string>*>(out))[name] = text;
      H5free_memory(text);
    }
    H5Tclose(type);
    H5Aclose(a);
    return 0;
  };
  H5Aiterate2(g, H5_INDEX_NAME, H5_ITER_INC, nullptr, add, &found);
  H5Oclose(g);
  H5Fclose(f);
  return found;
}

// The four every file names, and the device.
template <class Get>
void check_origin(const std::string& what, Get get, const std::string& command) {
  CAPTURE(what);
  CHECK(get("ednn_version") == EDNN_VERSION);
  CHECK(get("git_commit").size() >= 7);  // a commit, or "unknown" outside a checkout
  CHECK(get("command").find(command) != std::string::npos);
  const std::string date = get("date");
  CHECK(date.size() == 20);
  CHECK((date[4] == '-' && date[10] == 'T' && date[19] == 'Z'));
  CHECK(get("device") == "cpu");
  CHECK_FALSE(get("numerics").empty());
}

}  // namespace

TEST_CASE("provenance: every file datagen, train and infer write names version, commit, command and date") {
  ednn::test::TempDir tmp("provenance");
  const fs::path data = tmp.path / "d.h5", run = tmp.path / "run", inf = tmp.path / "inf", log = tmp.path / "log.txt";
  const std::string datagen = std::string(EDNN_DATAGEN_BIN) + " --out " + data.string() +
                              " --L 64 --max-sources 2 --per-n 5 --seed 5 --device cpu";
  auto r = run_command(datagen, log);
  INFO(r.output);
  REQUIRE(r.status == 0);
  const auto group = text_attributes(data, "provenance");
  check_origin(data.string(), [&](const char* k) { return group.count(k) ? group.at(k) : std::string(); },
               "datagen --out " + data.string());
  CHECK(group.at("ranks") == "1");

  const std::string train = std::string(EDNN_TRAIN_BIN) + " --data " + data.string() +
                            " --preset tiny --epochs 1 --batch 4 --max-steps 1 --device cpu --quiet --out " + run.string();
  r = run_command(train, log);
  REQUIRE(r.status == 0);
  for (const char* file : {"best.safetensors", "last.safetensors", "last.optim.safetensors"}) {
    const auto origin = nlohmann::json::parse(nets::read_metadata((run / file).string()).at("provenance"));
    check_origin(file, [&](const char* k) { return origin.value(k, std::string()); }, "train --data " + data.string());
  }

  const std::string infer = std::string(EDNN_INFER_BIN) + " --checkpoint " + (run / "best.safetensors").string() +
                            " --data " + data.string() + " --device cpu --quiet --pictures 0 --out " + inf.string();
  r = run_command(infer, log);
  REQUIRE(r.status == 0);
  const auto attributes = text_attributes(inf / "predictions.h5", "/");
  check_origin("predictions.h5", [&](const char* k) { return attributes.count(k) ? attributes.at(k) : std::string(); },
               "infer --checkpoint " + (run / "best.safetensors").string());
  for (const char* file : {"metrics.json", "timing.json"}) {
    const auto origin = nlohmann::json::parse(read_bytes(inf / file))["provenance"];
    check_origin(file, [&](const char* k) { return origin.value(k, std::string()); }, "infer --checkpoint");
  }
}
