#include "nets/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"

namespace ednn::nets {

using ordered_json = nlohmann::ordered_json;

static_assert(sizeof(float) == 4 && sizeof(double) == 8);

namespace {

bool little_endian() {
  const std::uint16_t one = 1;
  unsigned char first;
  std::memcpy(&first, &one, 1);
  return first == 1;
}

std::string errno_text() { return std::strerror(errno); }

// Writes all bytes or throws naming the file.
void write_all(int fd, const void* data, std::size_t bytes, const std::string& path) {
  const char* p = static_cast<const char*>(data);
  while (bytes > 0) {
    const ssize_t n = ::write(fd, p, bytes);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("write ", path, ": ", errno_text());
    }
    p += n;
    bytes -= static_cast<std::size_t>(n);
  }
}


// Writes path through path + ".tmp": `write` fills the temporary, which is fsynced (on disk before
// it takes the name), closed and renamed over path; on any failure the temporary is removed and
// path is untouched. `what` starts the errors' names ("checkpoint " or "").
void write_atomically(const std::string& path, const char* what,
                      const std::function<void(int fd, const std::string& tmp)>& write) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) fail("cannot write ", what, tmp, ": ", errno_text());
  try {
    write(fd, tmp);
    if (::fsync(fd) != 0) fail("fsync ", tmp, ": ", errno_text());
  } catch (...) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  if (::close(fd) != 0) {
    ::unlink(tmp.c_str());
    fail("close ", tmp, ": ", errno_text());
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = errno_text();
    ::unlink(tmp.c_str());
    fail("cannot rename ", tmp, " to ", path, ": ", why);
  }
}

}  // namespace

const Tensor* SafetensorsFile::find(const std::string& name) const {
  for (const auto& t : tensors)
    if (t.name == name) return &t.tensor;
  return nullptr;
}

void write_safetensors(const std::string& path, const std::vector<NamedArray>& tensors, const Metadata& metadata) {
  EDNN_CHECK(little_endian(), "write_safetensors: this engine writes little-endian data only");
  // Host copies first: the one visible device-to-host transfer of a checkpoint.
  std::vector<Tensor> host;
  ordered_json header = ordered_json::object();
  ordered_json meta = ordered_json::object();
  for (const auto& [k, v] : metadata) meta[k] = v;
  header["__metadata__"] = meta;
  std::size_t offset = 0;
  std::vector<std::int64_t> integers;  // stable storage for the I64 scalars' bytes
  integers.reserve(tensors.size());
  for (const auto& nt : tensors) {
    EDNN_CHECK(nt.integer || nt.tensor.defined(), "write_safetensors ", path, ": tensor '", nt.name, "' is undefined");
    EDNN_CHECK(nt.name != "__metadata__" && header.find(nt.name) == header.end(), "write_safetensors ", path,
               ": duplicate or reserved tensor name '", nt.name, "'");
    ordered_json entry;
    std::size_t bytes = 0;
    if (nt.integer) {
      integers.push_back(*nt.integer);
      bytes = sizeof(std::int64_t);
      entry["dtype"] = "I64";
      entry["shape"] = ordered_json::array();
      host.emplace_back();  // an undefined tensor marks an integer in the data loop below
    } else {
      Tensor h = nt.tensor.detach().to(Device::cpu);
      bytes = h.nbytes();
      entry["dtype"] = h.dtype() == DType::f32 ? "F32" : "F64";
      entry["shape"] = h.shape();
      host.push_back(h);
    }
    entry["data_offsets"] = {offset, offset + bytes};
    header[nt.name] = entry;
    offset += bytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  const std::uint64_t header_len = text.size();

  write_atomically(path, "checkpoint ", [&](int fd, const std::string& tmp) {
    write_all(fd, &header_len, 8, tmp);
    write_all(fd, text.data(), text.size(), tmp);
    std::size_t next_integer = 0;
    for (const auto& h : host) {
      if (h.defined()) write_all(fd, h.raw_data(), h.nbytes(), tmp);
      else write_all(fd, &integers[next_integer++], sizeof(std::int64_t), tmp);
    }
  });
}

SafetensorsFile read_safetensors(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot open checkpoint ", path, ": ", errno_text());
  in.seekg(0, std::ios::end);
  const std::uint64_t file_size = static_cast<std::uint64_t>(in.tellg());
  in.seekg(0);
  const std::string where = "checkpoint " + path;
  EDNN_CHECK(file_size >= 8, where, ": truncated or not a safetensors file (", file_size,
             " bytes, the 8-byte header length is missing)");
  std::uint64_t header_len = 0;
  in.read(reinterpret_cast<char*>(&header_len), 8);
  EDNN_CHECK(header_len >= 2 && header_len <= file_size - 8, where, ": not a safetensors file or truncated (header length ",
             header_len, " but the file has ", file_size, " bytes)");
  std::string text(header_len, '\0');
  in.read(text.data(), static_cast<std::streamsize>(header_len));
  EDNN_CHECK(in, where, ": could not read the ", header_len, "-byte header");
  ordered_json header;
  try {
    header = ordered_json::parse(text);
  } catch (const std::exception& e) {
    fail(where, ": the header is not valid JSON (corrupt file?): ", e.what());
  }
  EDNN_CHECK(header.is_object(), where, ": the header is not a JSON object");
  const std::uint64_t data_size = file_size - 8 - header_len;

  SafetensorsFile out;
  out.path = path;
  struct Entry {
    std::string name;
    DType dtype;
    bool integer;  // I64 (a scalar); dtype unused
    Shape shape;
    std::uint64_t begin, end;
  };
  std::vector<Entry> entries;
  try {
    for (auto it = header.begin(); it != header.end(); ++it) {
      if (it.key() == "__metadata__") {
        EDNN_CHECK(it.value().is_object(), where, ": __metadata__ is not an object");
        for (auto m = it.value().begin(); m != it.value().end(); ++m) {
          EDNN_CHECK(m.value().is_string(), where, ": metadata '", m.key(), "' is not a string");
          out.metadata[m.key()] = m.value().get<std::string>();
        }
        continue;
      }
      const auto& e = it.value();
      EDNN_CHECK(e.is_object() && e.contains("dtype") && e.contains("shape") && e.contains("data_offsets"), where,
                 ": tensor '", it.key(), "' lacks dtype, shape or data_offsets");
      const std::string dt = e["dtype"].get<std::string>();
      EDNN_CHECK(dt == "F32" || dt == "F64" || dt == "I64", where, ": tensor '", it.key(), "' has dtype ", dt,
                 ", this engine reads F32, F64 and I64 scalars");
      Entry en{it.key(), dt == "F64" ? DType::f64 : DType::f32, dt == "I64", {}, 0, 0};
      for (const auto& d : e["shape"]) {
        EDNN_CHECK(d.is_number_integer() && d.get<std::int64_t>() >= 0, where, ": tensor '", it.key(),
                   "' has a bad shape ", e["shape"].dump());
        en.shape.push_back(d.get<std::int64_t>());
      }
      EDNN_CHECK(!en.integer || shape_numel(en.shape) == 1, where, ": tensor '", it.key(), "' is I64 of shape ",
                 shape_str(en.shape), "; this engine reads I64 scalars only (num_batches_tracked)");
      const auto& off = e["data_offsets"];
      EDNN_CHECK(off.is_array() && off.size() == 2, where, ": tensor '", it.key(), "' has bad data_offsets");
      en.begin = off[0].get<std::uint64_t>();
      en.end = off[1].get<std::uint64_t>();
      const std::uint64_t expect =
          en.integer ? sizeof(std::int64_t) : static_cast<std::uint64_t>(shape_numel(en.shape)) * dtype_size(en.dtype);
      EDNN_CHECK(en.begin <= en.end && en.end - en.begin == expect, where, ": tensor '", it.key(), "' shape ",
                 shape_str(en.shape), " needs ", expect, " bytes but data_offsets span ", en.end - en.begin);
      EDNN_CHECK(en.end <= data_size, where, ": truncated: tensor '", it.key(), "' ends at byte ", en.end,
                 " of the data but the file holds only ", data_size, " data bytes");
      entries.push_back(std::move(en));
    }
  } catch (const nlohmann::json::exception& e) {
    fail(where, ": malformed header: ", e.what());
  }
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) { return a.begin < b.begin; });
  for (std::size_t i = 1; i < entries.size(); ++i)
    EDNN_CHECK(entries[i].begin >= entries[i - 1].end, where, ": tensors '", entries[i - 1].name, "' and '",
               entries[i].name, "' overlap");
  for (const auto& en : entries) {
    in.seekg(static_cast<std::streamoff>(8 + header_len + en.begin));
    if (en.integer) {
      std::int64_t value = 0;
      in.read(reinterpret_cast<char*>(&value), sizeof value);
      EDNN_CHECK(in, where, ": could not read tensor '", en.name, "'");
      out.tensors.push_back({en.name, Tensor(), value});
      continue;
    }
    Tensor t = Tensor::empty(en.shape, en.dtype);
    in.read(static_cast<char*>(t.raw_data()), static_cast<std::streamsize>(en.end - en.begin));
    EDNN_CHECK(in, where, ": could not read tensor '", en.name, "'");
    out.tensors.push_back({en.name, t, std::nullopt});
  }
  return out;
}

SafetensorsHeader read_header(const std::string& path) {
  // The header alone; the tensors' bytes are not read.
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot open checkpoint ", path, ": ", errno_text());
  in.seekg(0, std::ios::end);
  const std::uint64_t file_size = static_cast<std::uint64_t>(in.tellg());
  in.seekg(0);
  EDNN_CHECK(file_size >= 8, "checkpoint ", path, ": truncated or not a safetensors file");
  std::uint64_t header_len = 0;
  in.read(reinterpret_cast<char*>(&header_len), 8);
  EDNN_CHECK(header_len >= 2 && header_len <= file_size - 8, "checkpoint ", path,
             ": not a safetensors file or truncated (header length ", header_len, ", file size ", file_size, ")");
  std::string text(header_len, '\0');
  in.read(text.data(), static_cast<std::streamsize>(header_len));
  SafetensorsHeader out;
  try {
    const auto header = ordered_json::parse(text);
    for (auto it = header.begin(); it != header.end(); ++it) {
      if (it.key() == "__metadata__") {
        for (auto m = it.value().begin(); m != it.value().end(); ++m) out.metadata[m.key()] = m.value().get<std::string>();
        continue;
      }
      Shape shape;
      for (const auto& d : it.value().at("shape")) shape.push_back(d.get<std::int64_t>());
      out.shapes[it.key()] = shape;
    }
  } catch (const nlohmann::json::exception& e) {
    fail("checkpoint ", path, ": malformed header (corrupt file?): ", e.what());
  }
  return out;
}

Metadata read_metadata(const std::string& path) { return read_header(path).metadata; }

namespace {

// Compares the file's tensors with the expected names and shapes; throws listing every difference.
// `optional_integers` names I64 scalars the file may hold or lack (num_batches_tracked).
void check_same_layout(const SafetensorsFile& file, const std::vector<std::pair<std::string, Tensor*>>& expected,
                       const std::string& what, const std::vector<std::string>& optional_integers = {}) {
  std::ostringstream diff;
  int problems = 0;
  auto note = [&](const std::string& s) {
    if (problems++ < 12) diff << "\n  " << s;
  };
  for (const auto& [name, t] : expected) {
    const Tensor* f = file.find(name);
    if (f && !f->defined()) {
      note("'" + name + "': file has an I64 scalar, the " + what + " expects F32 or F64 " + shape_str(t->shape()));
      continue;
    }
    if (!f) {
      note("missing tensor '" + name + "' " + shape_str(t->shape()));
      continue;
    }
    if (f->shape() != t->shape())
      note("'" + name + "': file has shape " + shape_str(f->shape()) + ", the " + what + " expects " +
           shape_str(t->shape()));
  }
  for (const auto& ft : file.tensors) {
    bool known = false, integer = false;
    for (const auto& e : expected) known = known || e.first == ft.name;
    for (const auto& n : optional_integers) integer = integer || n == ft.name;
    if (integer && !ft.integer) note("'" + ft.name + "' is a float tensor; PyTorch's and ednn's are I64 scalars");
    if (!known && !integer)
      note("unexpected tensor '" + ft.name + "' " + (ft.integer ? std::string("I64 scalar") : shape_str(ft.tensor.shape())));
  }
  if (problems > 0) {
    std::string preset;
    auto it = file.metadata.find("preset");
    if (it != file.metadata.end()) preset = " (file preset " + it->second + ")";
    fail("checkpoint ", file.path, preset, " does not match the ", what, ": ", problems, " difference(s):",
         diff.str(), problems > 12 ? "\n  ..." : "");
  }
}

void assign(Tensor& dst, const Tensor& src) {
  // Into the existing tensor, keeping its dtype, device and requires_grad.
  Tensor converted = src.dtype() == dst.dtype() ? src : src.to_dtype(dst.dtype());
  dst.detach().copy_from(converted);
}

}  // namespace

std::string batches_tracked_name(const std::string& running_var_name) {
  const std::string suffix = "running_var";
  EDNN_CHECK(running_var_name.size() >= suffix.size() &&
                 running_var_name.compare(running_var_name.size() - suffix.size(), suffix.size(), suffix) == 0,
             "batches_tracked_name: '", running_var_name, "' is not a running_var");
  return running_var_name.substr(0, running_var_name.size() - suffix.size()) + "num_batches_tracked";
}

namespace {
bool is_running_var(const std::string& name) {
  const std::string suffix = "running_var";
  return name == suffix || (name.size() > suffix.size() && name.compare(name.size() - suffix.size() - 1,
                                                                        suffix.size() + 1, "." + suffix) == 0);
}
}  // namespace

void save_model(const std::string& path, Module& net, const Metadata& metadata, std::int64_t batches_tracked) {
  std::vector<NamedArray> tensors;
  for (auto& s : net.state()) {
    tensors.push_back({s.name, *s.tensor, std::nullopt});
    if (is_running_var(s.name)) tensors.push_back({batches_tracked_name(s.name), Tensor(), batches_tracked});
  }
  Metadata meta = metadata;
  meta.emplace("format", "ednn-ed-cnn");
  meta.emplace("engine_version", EDNN_VERSION);
  write_safetensors(path, tensors, meta);
}

Metadata load_model(const std::string& path, Module& net, std::int64_t* batches_tracked) {
  const SafetensorsFile file = read_safetensors(path);
  std::vector<std::pair<std::string, Tensor*>> expected;
  std::vector<std::string> counts;
  for (auto& s : net.state()) {
    expected.emplace_back(s.name, s.tensor);
    if (is_running_var(s.name)) counts.push_back(batches_tracked_name(s.name));
  }
  check_same_layout(file, expected, "network", counts);
  for (const auto& [name, t] : expected) assign(*t, *file.find(name));
  if (batches_tracked) {
    *batches_tracked = -1;
    for (const auto& ft : file.tensors)
      for (const auto& n : counts)
        if (ft.name == n) *batches_tracked = std::max(*batches_tracked, *ft.integer);
  }
  return file.metadata;
}

std::string optimizer_path(const std::string& model_path) {
  const std::string ext = ".safetensors";
  if (model_path.size() > ext.size() && model_path.compare(model_path.size() - ext.size(), ext.size(), ext) == 0)
    return model_path.substr(0, model_path.size() - ext.size()) + ".optim" + ext;
  return model_path + ".optim";
}

void save_optimizer(const std::string& path, Module& net, Adam& adam, Metadata metadata) {
  std::vector<NamedArray> tensors;
  std::vector<std::string> names;
  for (auto& s : net.state())
    if (s.trainable) names.push_back(s.name);
  EDNN_CHECK(names.size() == adam.exp_avg().size(), "save_optimizer: the optimiser holds ", adam.exp_avg().size(),
             " tensors, the network ", names.size());
  for (std::size_t i = 0; i < names.size(); ++i) tensors.push_back({"exp_avg." + names[i], adam.exp_avg()[i], std::nullopt});
  for (std::size_t i = 0; i < names.size(); ++i) tensors.push_back({"exp_avg_sq." + names[i], adam.exp_avg_sq()[i], std::nullopt});
  metadata["step"] = std::to_string(adam.steps());
  metadata["format"] = "ednn-adam";
  metadata.emplace("engine_version", EDNN_VERSION);
  write_safetensors(path, tensors, metadata);
}

Metadata load_optimizer(const std::string& path, Module& net, Adam& adam) {
  const SafetensorsFile file = read_safetensors(path);
  std::vector<std::pair<std::string, Tensor*>> expected;
  std::vector<std::string> names;
  for (auto& s : net.state())
    if (s.trainable) names.push_back(s.name);
  EDNN_CHECK(names.size() == adam.exp_avg().size(), "load_optimizer: the optimiser holds ", adam.exp_avg().size(),
             " tensors, the network ", names.size());
  for (std::size_t i = 0; i < names.size(); ++i) expected.emplace_back("exp_avg." + names[i], &adam.exp_avg()[i]);
  for (std::size_t i = 0; i < names.size(); ++i) expected.emplace_back("exp_avg_sq." + names[i], &adam.exp_avg_sq()[i]);
  check_same_layout(file, expected, "optimiser state");
  for (const auto& [name, t] : expected) assign(*t, *file.find(name));
  auto it = file.metadata.find("step");
  EDNN_CHECK(it != file.metadata.end(), "optimiser state ", path, ": metadata 'step' is missing");
  try {
    adam.set_steps(std::stol(it->second));
  } catch (const std::exception&) {
    fail("optimiser state ", path, ": metadata step '", it->second, "' is not a number");
  }
  return file.metadata;
}

void write_text_atomically(const std::string& path, const std::string& text) {
  write_atomically(path, "", [&](int fd, const std::string& tmp) { write_all(fd, text.data(), text.size(), tmp); });
}

}  // namespace ednn::nets
