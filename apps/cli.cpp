#include "apps/cli.h"

#include <cstdio>
#include <exception>
#include <sstream>

#include "engine/communicator.h"
#include "engine/error.h"

namespace ednn::io {

void Cli::option(const std::string& name, const std::string& value_name, const std::string& help,
                 const std::string& def) {
  order_.push_back(name);
  opts_[name] = {value_name, help, def, false};
}
void Cli::flag(const std::string& name, const std::string& help) {
  order_.push_back(name);
  opts_[name] = {"", help, "", true};
}

void Cli::parse(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "-h") arg = "--help";
    EDNN_CHECK(arg.rfind("--", 0) == 0, program_, ": unexpected argument '", arg, "' (see --help)");
    std::string name = arg.substr(2), value;
    const auto eq = name.find('=');
    if (eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    auto it = opts_.find(name);
    EDNN_CHECK(it != opts_.end(), program_, ": unknown option --", name, " (see --help)");
    if (it->second.is_flag) {
      given_[name] = "1";
      continue;
    }
    if (eq == std::string::npos) {
      EDNN_CHECK(i + 1 < argc, program_, ": option --", name, " needs a value (", it->second.value_name, ")");
      value = argv[++i];
    }
    given_[name] = value;
  }
}

bool Cli::has(const std::string& name) const { return given_.count(name) > 0; }

std::string Cli::get(const std::string& name) const {
  auto g = given_.find(name);
  if (g != given_.end()) return g->second;
  auto o = opts_.find(name);
  EDNN_CHECK(o != opts_.end(), program_, ": internal: undeclared option --", name);
  return o->second.def;
}

double Cli::number(const std::string& name) const {
  const std::string v = get(name);
  try {
    std::size_t used = 0;
    const double d = std::stod(v, &used);
    if (used == v.size()) return d;
  } catch (const std::exception&) {
  }
  fail(program_, ": --", name, " expects a number, got '", v, "'");
}

long Cli::integer(const std::string& name) const {
  const std::string v = get(name);
  try {
    std::size_t used = 0;
    const long d = std::stol(v, &used);
    if (used == v.size()) return d;
  } catch (const std::exception&) {
  }
  fail(program_, ": --", name, " expects an integer, got '", v, "'");
}

std::string Cli::help() const {
  std::ostringstream os;
  os << usage_ << "\n\nOptions:\n";
  for (const auto& name : order_) {
    const Opt& o = opts_.at(name);
    std::string head = "  --" + name + (o.is_flag ? "" : " " + o.value_name);
    os << head;
    if (head.size() < 28) os << std::string(28 - head.size(), ' ');
    else os << "\n" << std::string(28, ' ');
    os << o.help;
    if (!o.def.empty()) os << " (default " << o.def << ")";
    os << "\n";
  }
  return os.str();
}

int run_main(const char* program, int (*body)(int, char**), int argc, char** argv) {
  try {
    return body(argc, argv);
  } catch (const std::exception& e) {
    // In a job of several processes the others would wait for this one in their next collective:
    // stop them all, naming this rank.
    if (Communicator* job = active_communicator()) job->abort(std::string(program) + ": error: " + e.what());
    std::fprintf(stderr, "%s: error: %s\n", program, e.what());
  }
  return 1;
}

}  // namespace ednn::io
