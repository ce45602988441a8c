// The frame every program (apps/ and bench/) runs in: one command-line parser, one --help, one
// --version, one way to report errors and one set of exit statuses.
//
//   --name value, --name=value   an option's value (a value never starts with "--"; use = for one that does)
//   --flag, --flag=true|false|1|0|yes|no
//   --                           the end of the options: what follows are arguments
//   -h, --help                   the options and their defaults, wrapped to the terminal; exit 0
//   --version                    "<program> (ednn <version>, git <commit>)"; exit 0
//
// Each option is declared with its kind, and its value is checked when the command line is read:
// an integer must be all digits and inside its declared range (checked before it is converted, so
// 4294967297 is refused, not wrapped), a number must parse completely and be finite, a choice must
// be one of its words. Anything wrong is a UsageError.
//
// Exit statuses (run_main): 0 success, 1 an error while running, 2 a bad command line (UsageError),
// 130 interrupted by Ctrl-C (the programs that stop cleanly on it return 130 themselves; the
// others end by the signal, which a shell reports as 130). An error is one line on stderr,
// "<program>: error: <message>".
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"

namespace ednn::io {

// A bad command line: exit status 2.
class UsageError : public Error {
public:
  using Error::Error;
};

class Cli {
public:
  // about: what the program does and how it is called, shown by --help under the usage line.
  // Paragraphs are separated by blank lines and re-wrapped; a line that starts with a space (an
  // example command) keeps its own line, and continues indented when it is too long.
  Cli(std::string program, std::string about);

  // Declarations. default_value "" means none: get() is then "" and has() tells whether it was given.
  void option(const std::string& name, const std::string& value_name, const std::string& help,
              const std::string& default_value = "");
  void choice_option(const std::string& name, const std::vector<std::string>& choices, const std::string& help,
                     const std::string& default_value = "");
  void integer_option(const std::string& name, const std::string& value_name, const std::string& help,
                      const std::string& default_value, std::int64_t min, std::int64_t max);
  void unsigned_option(const std::string& name, const std::string& value_name, const std::string& help,
                       const std::string& default_value);  // 0 .. 2^64 - 1 (seeds)
  void number_option(const std::string& name, const std::string& value_name, const std::string& help,
                     const std::string& default_value = "");  // finite
  void flag(const std::string& name, const std::string& help);
  // The program takes one bare argument, which gives option `name` its value (study FILE.json).
  void positional(const std::string& name);

  // Reads argv. Returns false when --help or --version was given (anywhere before "--"): its text
  // is printed on stdout (by rank 0 alone under an MPI launcher) and the program should return 0.
  // Throws UsageError for an unknown option, a missing or bad value, a value on a flag other than
  // true|false|1|0|yes|no, or an unexpected argument.
  bool parse(int argc, char** argv);

  bool has(const std::string& name) const;  // given on the command line (a flag: given and true)
  bool given(const std::string& name) const;  // given on the command line in any form (a flag: =false too)
  std::string get(const std::string& name) const;  // the value given, or the default
  std::int64_t integer(const std::string& name) const;
  std::uint64_t unsigned_integer(const std::string& name) const;
  double number(const std::string& name) const;

  std::string help(int width) const;  // every line at most `width` columns (width >= 20)
  const std::string& program() const { return program_; }

private:
  enum class Kind { text, choice, integer, unsigned_integer, number, flag };
  struct Opt {
    Kind kind = Kind::text;
    std::string value_name, help, def;
    std::vector<std::string> choices;
    std::int64_t min = 0, max = 0;
  };
  void declare(const std::string& name, Opt opt);
  void check_value(const std::string& name, const Opt& o, const std::string& value) const;  // throws UsageError
  const Opt& declared(const std::string& name, Kind kind) const;
  std::string program_, about_;
  std::vector<std::string> order_, positionals_;
  std::map<std::string, Opt> opts_;
  std::map<std::string, std::string> given_;
};

// "<program> (ednn <version>, git <short commit>)": the version of CMake's project(), the commit
// of the source tree when it was built ("unknown" outside a git checkout).
std::string version_text(const std::string& program);

// Where a result came from, for what a program writes beside its numbers (infer's metrics, timing
// and predictions, study's runs.json): ednn_version, git_commit, command (the command line, each
// argument quoted for a POSIX shell where it needs it) and date (UTC, ISO 8601), in that order.
std::vector<std::pair<std::string, std::string>> provenance(int argc, char** argv);

// The width help and progress lines fit in: $COLUMNS when set to a number, else the terminal's
// (when fd is one), else 80; never less than 20.
int terminal_width(int fd);

// `text` broken at spaces into lines of at most `width` columns: the first line starts with
// `first_indent` spaces, the others with `indent`. A word longer than a line is cut.
std::vector<std::string> wrap(const std::string& text, int width, int first_indent, int indent);

// Runs a program's body and turns what it throws into one line on stderr, "<program>: error:
// <message>" (a message that already starts with "<program>: " is not prefixed twice), and an
// exit status: 2 for a UsageError, 1 for any other error. Errors are caught once, here, not in
// the program's code. A bad command line is the same on every rank of an MPI job: only the
// launcher's rank 0 prints it. Any other error in a job of several processes (engine/communicator.h)
// stops every rank, naming this one.
int run_main(const char* program, int (*body)(int, char**), int argc, char** argv);

}  // namespace ednn::io
