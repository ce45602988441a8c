// Helpers shared by the test suites: fresh temporary directories, whole-file reads and writes,
// a command's exit status and output, and the message of an expected error.
#pragma once
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "core/error.h"

namespace ednn::test {

// An empty directory <tmp>/ednn_test_<name>_<pid>; a leftover from an earlier run is removed first.
inline std::filesystem::path fresh_temp_dir(const std::string& name) {
  namespace fs = std::filesystem;
  fs::path d = fs::temp_directory_path() / ("ednn_test_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

// A fresh temporary directory of its own for each instance, removed when it goes out of scope.
struct TempDir {
  std::filesystem::path path;
  explicit TempDir(const std::string& name = "dir") {
    static int counter = 0;
    path = fresh_temp_dir(name + "_" + std::to_string(counter++));
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};

inline std::string read_bytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

inline void write_bytes(const std::filesystem::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), std::streamsize(bytes.size()));
}

// A shell command's exit status and everything it printed (stdout and stderr, through `log`).
struct CommandResult {
  int status;
  std::string output;
};
inline CommandResult run_command(const std::string& command, const std::filesystem::path& log) {
  const int rc = std::system((command + " > '" + log.string() + "' 2>&1").c_str());
  return {WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, read_bytes(log)};
}

// The message of the ednn::Error that f() throws, or "(no error)" when it returns normally.
template <class F>
std::string error_message(F&& f) {
  try {
    f();
  } catch (const ednn::Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace ednn::test
