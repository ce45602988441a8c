// The commit protocol of a run directory; the why is in nets/run_directory.h.
#include "nets/run_directory.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "nets/checkpoint.h"

namespace ednn::nets {
namespace {

namespace fs = std::filesystem;

const char* const kFiles[] = {run_files::best, run_files::last, run_files::last_optim, run_files::log};
constexpr const char* kNext = ".next";
constexpr const char* kFormat = "ednn-checkpoint";

std::string in(const std::string& dir, const std::string& name) { return (fs::path(dir) / name).string(); }

// fsync of a directory makes the renames inside it durable (not only visible).
void sync_directory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return;  // best effort: visibility, which a kill needs, does not depend on it
  ::fsync(fd);
  ::close(fd);
}

struct FileStamp {
  std::uintmax_t bytes = 0;
  std::string hash;
  bool operator==(const FileStamp&) const = default;
};
FileStamp stamp_of(const std::string& path) { return {fs::file_size(path), file_hash(path)}; }

struct Record {
  int epoch = -1;
  std::map<std::string, FileStamp> files;
};

Record read_record(const std::string& dir) {
  const std::string path = in(dir, run_files::record);
  Record r;
  try {
    std::ifstream f(path);
    const nlohmann::json j = nlohmann::json::parse(f);
    EDNN_CHECK(j.at("format") == kFormat, "format is not ", kFormat);
    r.epoch = j.at("epoch").get<int>();
    for (const auto& [name, s] : j.at("files").items())
      r.files[name] = {s.at("bytes").get<std::uintmax_t>(), s.at("fnv1a64").get<std::string>()};
  } catch (const std::exception& e) {
    fail("checkpoint record ", path, " cannot be read (", e.what(), "); it is written atomically, so it was edited or "
         "damaged: the run's files cannot be vouched for");
  }
  return r;
}

}  // namespace

std::string file_hash(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  EDNN_CHECK(f, "cannot read ", path);
  std::uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a 64: offset basis, then xor and multiply per byte
  std::vector<char> buffer(1 << 20);
  while (f) {
    f.read(buffer.data(), std::streamsize(buffer.size()));
    const std::streamsize n = f.gcount();
    for (std::streamsize i = 0; i < n; ++i) {
      h ^= static_cast<unsigned char>(buffer[std::size_t(i)]);
      h *= 0x100000001b3ull;
    }
  }
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(h));
  return text;
}

void checkpoint_kill_point() {
  static const long kill_at = [] {
    const char* v = std::getenv("EDNN_CHECKPOINT_KILL_AT");
    return v ? std::atol(v) : 0L;
  }();
  static long reached = 0;
  if (kill_at > 0 && ++reached == kill_at) ::kill(::getpid(), SIGKILL);
}

bool holds_run(const std::string& dir) {
  for (const char* name : kFiles)
    if (fs::exists(in(dir, name)) || fs::exists(in(dir, std::string(name) + kNext))) return true;
  return fs::exists(in(dir, run_files::record));
}

void remove_run(const std::string& dir) {
  // The record first: without it, leftover files are an unfinished first epoch, never a committed one.
  std::error_code ec;
  fs::remove(in(dir, run_files::record), ec);
  EDNN_CHECK(!ec, "cannot remove ", in(dir, run_files::record), ": ", ec.message());
  for (const char* name : kFiles)
    for (const std::string& f : {in(dir, name), in(dir, std::string(name) + kNext)}) {
      fs::remove(f, ec);
      EDNN_CHECK(!ec, "cannot remove ", f, ": ", ec.message());
    }
}

EpochCommit::EpochCommit(std::string dir, int epoch) : dir_(std::move(dir)), epoch_(epoch) {}

std::string EpochCommit::stage(const std::string& name) {
  if (!staged_.empty()) checkpoint_kill_point();  // after the previous staged file was written
  staged_.push_back(name);
  return in(dir_, name + kNext);
}

void EpochCommit::commit() {
  if (!staged_.empty()) checkpoint_kill_point();  // after the last staged file was written
  // 2. The record: every file as it will be once the staged ones are in place.
  nlohmann::ordered_json files = nlohmann::ordered_json::object();
  for (const char* name : kFiles) {
    const bool staged = std::find(staged_.begin(), staged_.end(), name) != staged_.end();
    const std::string path = staged ? in(dir_, std::string(name) + kNext) : in(dir_, name);
    if (!fs::exists(path)) continue;  // e.g. no best.safetensors before the first finite MAE
    const FileStamp s = stamp_of(path);
    files[name] = {{"bytes", s.bytes}, {"fnv1a64", s.hash}};
  }
  const nlohmann::ordered_json record = {{"format", kFormat}, {"epoch", epoch_}, {"files", files}};
  write_text_atomically(in(dir_, run_files::record), record.dump(2) + "\n");
  sync_directory(dir_);
  std::error_code ec;
  checkpoint_kill_point();
  // 3. Apply.
  for (const std::string& name : staged_) {
    fs::rename(in(dir_, name + kNext), in(dir_, name), ec);
    EDNN_CHECK(!ec, "cannot rename ", in(dir_, name + kNext), " to ", in(dir_, name), ": ", ec.message());
    checkpoint_kill_point();
  }
  sync_directory(dir_);
  staged_.clear();
}

std::vector<std::string> Recovery::report(const std::string& program, const std::string& dir) const {
  std::vector<std::string> lines;
  for (const std::string& f : rolled_forward)
    lines.push_back(program + ": " + dir + ": completed the interrupted commit of epoch " + std::to_string(epoch) +
                    " (" + f + ")");
  for (const std::string& f : discarded)
    lines.push_back(program + ": " + dir + ": removed " + f + ", left by an epoch that was never committed");
  return lines;
}

Recovery recover(const std::string& dir) {
  Recovery result;
  if (!fs::exists(in(dir, run_files::record))) {
    // No epoch committed under the protocol: staged files are an unfinished first epoch.
    for (const char* name : kFiles)
      if (fs::remove(in(dir, std::string(name) + kNext))) result.discarded.push_back(std::string(name) + kNext);
    // A directory from before the protocol: its model and optimiser state must be of one epoch.
    const std::string last = in(dir, run_files::last), optim = in(dir, run_files::last_optim);
    if (fs::exists(last) && fs::exists(optim)) {
      const Metadata m = read_metadata(last), o = read_metadata(optim);
      const std::string a = m.count("epoch") ? m.at("epoch") : "?", b = o.count("epoch") ? o.at("epoch") : "?";
      EDNN_CHECK(a == b, "run directory ", dir, ": ", last, " is of epoch ", a, " but ", optim, " of epoch ", b,
                 "; they do not belong together (written before checkpoints were committed as one unit, and "
                 "interrupted between the two): this run cannot be resumed exactly");
    }
    return result;
  }
  const Record record = read_record(dir);
  result.epoch = record.epoch;
  for (const char* name : kFiles) {
    const std::string next = in(dir, std::string(name) + kNext);
    if (!fs::exists(next)) continue;
    const auto it = record.files.find(name);
    if (it != record.files.end() && stamp_of(next) == it->second) {
      std::error_code ec;
      fs::rename(next, in(dir, name), ec);
      EDNN_CHECK(!ec, "cannot rename ", next, " to ", in(dir, name), ": ", ec.message());
      result.rolled_forward.push_back(name);
    } else {
      fs::remove(next);
      result.discarded.push_back(std::string(name) + kNext);
    }
  }
  sync_directory(dir);
  for (const auto& [name, expected] : record.files) {
    const std::string path = in(dir, name);
    EDNN_CHECK(fs::exists(path), "run directory ", dir, ": ", path, " is missing, but ", in(dir, run_files::record),
               " records it for epoch ", record.epoch);
    EDNN_CHECK(stamp_of(path) == expected, "run directory ", dir, ": ", path, " is not the file committed for epoch ",
               record.epoch, " (", in(dir, run_files::record), " records ", expected.bytes, " bytes, FNV-1a ",
               expected.hash, "); it does not belong with the run's other files (copied from another run or "
               "edited?), so the run cannot be resumed exactly");
  }
  return result;
}

}  // namespace ednn::nets
