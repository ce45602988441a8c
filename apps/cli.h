// A small command-line parser shared by train and infer: "--name value" and "--flag" options,
// each declared with its help text, so --help lists everything the program accepts.
#pragma once
#include <map>
#include <string>
#include <vector>

namespace ednn::io {

class Cli {
public:
  Cli(std::string program, std::string usage) : program_(std::move(program)), usage_(std::move(usage)) {}
  void option(const std::string& name, const std::string& value_name, const std::string& help,
              const std::string& default_value = "");
  void flag(const std::string& name, const std::string& help);
  // Parses argv; throws ednn::Error on an unknown option or a missing value.
  void parse(int argc, char** argv);
  bool has(const std::string& name) const;  // given on the command line (flags: set)
  std::string get(const std::string& name) const;  // value or default
  double number(const std::string& name) const;
  long integer(const std::string& name) const;
  std::string help() const;

private:
  struct Opt {
    std::string value_name, help, def;
    bool is_flag = false;
  };
  std::string program_, usage_;
  std::vector<std::string> order_;
  std::map<std::string, Opt> opts_;
  std::map<std::string, std::string> given_;
};

// Runs a program's body; an exception becomes one line on stderr, "<program>: error: <message>",
// and exit status 1. Errors are caught once, here, not in the program's code. In a job of several
// processes (engine/communicator.h) the error stops every rank, with this rank named.
int run_main(const char* program, int (*body)(int, char**), int argc, char** argv);

}  // namespace ednn::io
