// Checkpoints: save then load gives identical weights; the file reads back through an independent
// safetensors reader written here; bad files give errors naming the file and the problem.
#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include <map>
#include <nlohmann/json.hpp>

#include "engine/optim.h"
#include "nets/checkpoint.h"
#include "nets/ednn_cnn.h"
#include "tests/test_helpers.h"

using namespace ednn;
using namespace ednn::nets;
namespace fs = std::filesystem;

namespace {

using ednn::test::read_bytes;
using ednn::test::write_bytes;
fs::path temp_dir(const std::string& name) { return ednn::test::fresh_temp_dir(name); }


// A minimal safetensors reader, independent of nets/checkpoint.cpp: the header length as 8
// little-endian bytes, the JSON, offsets relative to the end of the header, F32 little-endian.
struct MiniTensor {
  std::string name, dtype;
  std::vector<std::int64_t> shape;
  std::vector<float> values;
};
struct MiniFile {
  std::vector<MiniTensor> tensors;  // in header order
  std::map<std::string, std::string> metadata;
  std::uint64_t header_len = 0;
};
MiniFile mini_read(const fs::path& p) {
  const std::string bytes = read_bytes(p);
  REQUIRE(bytes.size() >= 8);
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[std::size_t(i)]);
  MiniFile f;
  f.header_len = n;
  REQUIRE(8 + n <= bytes.size());
  const auto header = nlohmann::ordered_json::parse(bytes.substr(8, n));
  for (auto& [key, value] : header.items()) {
    if (key == "__metadata__") {
      for (auto& [k, v] : value.items()) f.metadata[k] = v.get<std::string>();
      continue;
    }
    MiniTensor t;
    t.name = key;
    t.dtype = value["dtype"].get<std::string>();
    t.shape = value["shape"].get<std::vector<std::int64_t>>();
    const auto begin = value["data_offsets"][0].get<std::uint64_t>(), end = value["data_offsets"][1].get<std::uint64_t>();
    REQUIRE(8 + n + end <= bytes.size());
    REQUIRE((end - begin) % 4 == 0);
    t.values.resize((end - begin) / 4);
    for (std::size_t i = 0; i < t.values.size(); ++i) {
      std::uint32_t u = 0;
      for (int b = 3; b >= 0; --b) u = (u << 8) | static_cast<unsigned char>(bytes[8 + n + begin + 4 * i + std::size_t(b)]);
      std::memcpy(&t.values[i], &u, 4);
    }
    f.tensors.push_back(std::move(t));
  }
  return f;
}

}  // namespace

TEST_CASE("checkpoint: save then load gives identical weights, and an independent reader agrees") {
  const fs::path dir = temp_dir("ckpt");
  const fs::path file = dir / "model.safetensors";
  auto a = build_ednn(preset_config("tiny"), 1);
  // Give the batch norm buffers values that differ from their initial ones.
  a->state()[4].tensor->fill(0.25);
  save_model(file.string(), *a, {{"preset", "tiny"}, {"L", "64"}, {"c0", "4"}, {"loss", "mae"}, {"transform", "none"}});
  CHECK_FALSE(fs::exists(dir / "model.safetensors.tmp"));

  auto b = build_ednn(preset_config("tiny"), 2);  // different initial weights
  const Metadata meta = load_model(file.string(), *b);
  CHECK(meta.at("preset") == "tiny");
  CHECK(meta.at("engine_version") == EDNN_VERSION);
  auto sa = a->state(), sb = b->state();
  REQUIRE(sa.size() == sb.size());
  for (std::size_t i = 0; i < sa.size(); ++i) {
    CAPTURE(sa[i].name);
    CHECK(sa[i].tensor->to_vector() == sb[i].tensor->to_vector());
    CHECK(sb[i].tensor->requires_grad() == sa[i].trainable);
  }

  MiniFile mini = mini_read(file);
  CHECK(mini.header_len % 8 == 0);
  CHECK(mini.metadata.at("L") == "64");
  // PyTorch's state_dict order: the batch norm's int64 count right after its running variance.
  REQUIRE(mini.tensors.size() == sa.size() + 1);
  CHECK(mini.tensors[6].name == "1.num_batches_tracked");
  CHECK(mini.tensors[6].dtype == "I64");
  CHECK(mini.tensors[6].shape.empty());
  CHECK(mini.tensors[6].values == std::vector<float>{0.0f, 0.0f});  // int64 0, read as two words
  mini.tensors.erase(mini.tensors.begin() + 6);
  for (std::size_t i = 0; i < sa.size(); ++i) {
    CAPTURE(sa[i].name);
    CHECK(mini.tensors[i].name == sa[i].name);  // layer order
    CHECK(mini.tensors[i].dtype == "F32");
    CHECK(mini.tensors[i].shape == sa[i].tensor->shape());
    const auto expected = sa[i].tensor->to_vector();
    std::vector<double> got(mini.tensors[i].values.begin(), mini.tensors[i].values.end());
    CHECK(got == expected);
  }
  fs::remove_all(dir);
}

TEST_CASE("checkpoint: num_batches_tracked is written as PyTorch's int64 scalar and read back; files without it load") {
  const fs::path dir = temp_dir("ckpt_count");
  auto a = build_ednn(preset_config("tiny"), 1);
  const fs::path counted = dir / "counted.safetensors";
  save_model(counted.string(), *a, {}, 123456789012LL);
  // Independently: the 8 data bytes of the I64 entry, little-endian.
  const std::string bytes = read_bytes(counted);
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[std::size_t(i)]);
  const auto header = nlohmann::ordered_json::parse(bytes.substr(8, n));
  const auto& entry = header.at("1.num_batches_tracked");
  CHECK(entry.at("dtype") == "I64");
  CHECK(entry.at("shape").empty());
  const auto begin = entry.at("data_offsets")[0].get<std::uint64_t>();
  std::int64_t value = 0;
  for (int b = 7; b >= 0; --b) value = (value << 8) | static_cast<unsigned char>(bytes[8 + n + begin + std::size_t(b)]);
  CHECK(value == 123456789012LL);

  auto b = build_ednn(preset_config("tiny"), 2);
  std::int64_t count = 0;
  load_model(counted.string(), *b, &count);
  CHECK(count == 123456789012LL);
  CHECK(b->state()[0].tensor->to_vector() == a->state()[0].tensor->to_vector());

  // A checkpoint from before the count (0.1): loads, the count unknown (-1).
  const SafetensorsFile file = read_safetensors(counted.string());
  std::vector<NamedArray> without;
  for (const auto& t : file.tensors)
    if (!t.integer) without.push_back(t);
  const fs::path old = dir / "old.safetensors";
  write_safetensors(old.string(), without, file.metadata);
  load_model(old.string(), *b, &count);
  CHECK(count == -1);

  // A float where the count belongs, and an I64 that is not a scalar: named.
  std::vector<NamedArray> wrong = without;
  wrong.push_back({"1.num_batches_tracked", Tensor::zeros({1}), std::nullopt});
  write_safetensors(old.string(), wrong, file.metadata);
  CHECK_THROWS_WITH_AS(load_model(old.string(), *b), doctest::Contains("'1.num_batches_tracked' is a float tensor"), Error);
  fs::remove_all(dir);
}

TEST_CASE("checkpoint: a state_dict without metadata gives its network by the shapes, L given") {
  const fs::path dir = temp_dir("ckpt_bare");
  NetConfig no_bn = preset_config("small");
  no_bn.batch_norm = false;
  auto net = build_ednn(no_bn, 1);
  const fs::path bare = dir / "bare.safetensors";
  save_model(bare.string(), *net, {});
  const SafetensorsHeader header = read_header(bare.string());
  CHECK(header.shapes.at("0.weight") == Shape{8, 1, 3, 3});
  NetConfig c = config_from_shapes(header.shapes, 128, bare.string());
  CHECK(c.preset == "small");
  CHECK(c.c0 == 8);
  CHECK_FALSE(c.batch_norm);
  CHECK(config_from_shapes(header.shapes, 64, bare.string()).preset == "custom");
  CHECK(config_for_state_dict(header.shapes, "", 96, bare.string()).L == 96);
  CHECK(config_for_state_dict(header.shapes, "small", 0, bare.string()).L == 128);
  CHECK_THROWS_WITH_AS(config_for_state_dict(header.shapes, "", 0, bare.string()),
                       doctest::Contains("give --preset NAME or --L N"), Error);
  CHECK_THROWS_WITH_AS(config_for_state_dict(header.shapes, "tiny", 0, bare.string()),
                       doctest::Contains("has c0 = 8"), Error);
  CHECK_THROWS_WITH_AS(config_for_state_dict(header.shapes, "small", 64, bare.string()),
                       doctest::Contains("--L 64 contradicts --preset small"), Error);
  fs::remove_all(dir);
}

TEST_CASE("checkpoint: optimiser state round trip") {
  const fs::path dir = temp_dir("optim");
  auto net = build_ednn(preset_config("tiny"), 1);
  Adam adam(net->parameters(), AdamConfig{1e-3});
  adam.set_steps(17);
  adam.exp_avg()[3].fill(0.5);
  adam.exp_avg_sq()[5].fill(0.125);
  const std::string path = optimizer_path((dir / "last.safetensors").string());
  CHECK(path == (dir / "last.optim.safetensors").string());
  save_optimizer(path, *net, adam, {{"epoch", "4"}});
  Adam other(net->parameters(), AdamConfig{1e-3});
  const Metadata m = load_optimizer(path, *net, other);
  CHECK(m.at("epoch") == "4");
  CHECK(other.steps() == 17);
  CHECK(other.exp_avg()[3].to_vector() == adam.exp_avg()[3].to_vector());
  CHECK(other.exp_avg_sq()[5].to_vector() == adam.exp_avg_sq()[5].to_vector());
  fs::remove_all(dir);
}

TEST_CASE("checkpoint: bad files name the file and the problem, and leave the network intact") {
  const fs::path dir = temp_dir("bad");
  const fs::path file = dir / "tiny.safetensors";
  auto tiny = build_ednn(preset_config("tiny"), 1);
  save_model(file.string(), *tiny, {{"preset", "tiny"}});
  const std::string good = read_bytes(file);

  auto small = build_ednn(preset_config("small"), 3);
  const auto before = small->state()[0].tensor->to_vector();
  SUBCASE("another preset") {
    CHECK_THROWS_WITH_AS(load_model(file.string(), *small),
                         doctest::Contains((file.string() + " (file preset tiny) does not match the network").c_str()), Error);
    try {
      load_model(file.string(), *small);
    } catch (const Error& e) {
      CHECK(std::string(e.what()).find("'0.weight': file has shape [4, 1, 3, 3], the network expects [8, 1, 3, 3]") !=
            std::string::npos);
    }
    CHECK(small->state()[0].tensor->to_vector() == before);
  }
  SUBCASE("truncated") {
    write_bytes(file, good.substr(0, good.size() - 100));
    CHECK_THROWS_WITH_AS(load_model(file.string(), *tiny), doctest::Contains("truncated"), Error);
    write_bytes(file, good.substr(0, 5));
    CHECK_THROWS_WITH_AS(load_model(file.string(), *tiny), doctest::Contains(file.string().c_str()), Error);
  }
  SUBCASE("corrupt header") {
    std::string bad = good;
    bad[8] = '#';  // the header's opening brace
    write_bytes(file, bad);
    CHECK_THROWS_WITH_AS(load_model(file.string(), *tiny), doctest::Contains("not valid JSON"), Error);
    write_bytes(file, "this is not a checkpoint at all, just some text");
    CHECK_THROWS_WITH_AS(load_model(file.string(), *tiny), doctest::Contains("not a safetensors file"), Error);
  }
  SUBCASE("missing file") {
    CHECK_THROWS_WITH_AS(load_model((dir / "nope.safetensors").string(), *tiny),
                         doctest::Contains("cannot open checkpoint"), Error);
  }
  SUBCASE("unwritable directory keeps the earlier file") {
    const fs::path ro = dir / "readonly";
    fs::create_directories(ro);
    save_model((ro / "m.safetensors").string(), *tiny, {});
    const std::string earlier = read_bytes(ro / "m.safetensors");
    fs::permissions(ro, fs::perms::owner_read | fs::perms::owner_exec);
    if (::geteuid() == 0) {
      // root ignores permissions: write into a path under a regular file instead.
      CHECK_THROWS_WITH_AS(save_model((file / "x.safetensors").string(), *tiny, {}),
                           doctest::Contains("cannot write checkpoint"), Error);
    } else {
      CHECK_THROWS_WITH_AS(save_model((ro / "m.safetensors").string(), *small, {}),
                           doctest::Contains("cannot write checkpoint"), Error);
    }
    fs::permissions(ro, fs::perms::owner_all);
    CHECK(read_bytes(ro / "m.safetensors") == earlier);
  }
  fs::remove_all(dir);
}
