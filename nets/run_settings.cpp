#include "nets/run_settings.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>

#include "core/error.h"

namespace ednn::nets {

std::string number_text(double value) {
  char text[64];
  const auto result = std::to_chars(text, text + sizeof text, value);
  return std::string(text, result.ptr);
}

namespace {

// Reads one key of a checkpoint's metadata, with the checkpoint and the key named in every error.
class Reader {
public:
  Reader(const Metadata& m, const std::string& file) : m_(m), file_(file) {}
  bool has(const char* key) const { return m_.count(key) > 0; }
  const std::string& text(const char* key) const {
    auto it = m_.find(key);
    EDNN_CHECK(it != m_.end(), "checkpoint ", file_, ": metadata '", key, "' is missing (not written by train?)");
    return it->second;
  }
  double number(const char* key) const {
    const std::string& v = text(key);
    double value = 0;
    const auto [end, error] = std::from_chars(v.data(), v.data() + v.size(), value);
    EDNN_CHECK(error == std::errc() && end == v.data() + v.size() && std::isfinite(value), "checkpoint ", file_,
               ": metadata '", key, "' is '", v, "', not a number");
    return value;
  }
  std::int64_t integer(const char* key, std::int64_t min, std::int64_t max) const {
    const std::string& v = text(key);
    std::int64_t value = 0;
    const auto [end, error] = std::from_chars(v.data(), v.data() + v.size(), value);
    EDNN_CHECK(error == std::errc() && end == v.data() + v.size() && value >= min && value <= max, "checkpoint ",
               file_, ": metadata '", key, "' is '", v, "', not an integer in ", min, "..", max);
    return value;
  }
  std::uint64_t unsigned_integer(const char* key) const {
    const std::string& v = text(key);
    std::uint64_t value = 0;
    const auto [end, error] = std::from_chars(v.data(), v.data() + v.size(), value);
    EDNN_CHECK(error == std::errc() && end == v.data() + v.size(), "checkpoint ", file_, ": metadata '", key, "' is '",
               v, "', not an unsigned integer");
    return value;
  }
  bool boolean(const char* key) const {
    const std::string& v = text(key);
    EDNN_CHECK(v == "0" || v == "1", "checkpoint ", file_, ": metadata '", key, "' is '", v, "', expected 0 or 1");
    return v == "1";
  }
  template <class F>
  auto checked(const char* key, F parse) const {
    try {
      return parse(text(key));
    } catch (const Error& e) {
      fail("checkpoint ", file_, ": metadata '", key, "': ", e.what());
    }
  }

private:
  const Metadata& m_;
  const std::string& file_;
};

constexpr std::int64_t kInt = std::numeric_limits<int>::max();

}  // namespace

Metadata RunSettings::to_metadata() const {
  Metadata m{{"preset", net.preset},
             {"L", std::to_string(net.L)},
             {"c0", std::to_string(net.c0)},
             {"batch_norm", net.batch_norm ? "1" : "0"},
             {"loss", loss},
             {"transform", transform_name(transform)},
             {"seed", std::to_string(seed)},
             {"lr", number_text(lr)},
             {"batch", std::to_string(batch)},
             {"epochs", std::to_string(epochs)},  // the run's target: a resume finishes it
             {"select_on", select_on},
             {"conv_algo", conv_algo_name(numerics.conv_algo)},
             {"tf32", numerics.tf32 ? "1" : "0"},
             {"fusion", numerics.fusion ? "1" : "0"}};
  if (!loss_alt.empty()) {
    m["loss_alt"] = loss_alt;
    if (toggle_every > 0) m["toggle_every"] = std::to_string(toggle_every);
    else m["random_p"] = number_text(random_p);
  }
  if (min_steps > 0) m["min_steps"] = std::to_string(min_steps);
  if (evals > 0) m["evals"] = std::to_string(evals);
  if (log_test) m["log_test"] = "1";
  if (!data.empty()) m["data"] = data;
  if (solver) {
    m["solver_model"] = solver::to_string(solver->model);
    m["solver_D"] = number_text(solver->D);
    m["solver_gamma"] = number_text(solver->gamma);
    m["solver_radius"] = std::to_string(solver->radius);
    m["solver_tol"] = number_text(solver->tol);
    m["solver_omega"] = number_text(solver->omega);
    m["solver_max_sweeps"] = std::to_string(solver->max_sweeps);
    m["solver_min_sources"] = std::to_string(solver->min_sources);
    m["solver_max_sources"] = std::to_string(solver->max_sources);
  }
  return m;
}

RunSettings RunSettings::from_metadata(const Metadata& metadata, const std::string& file) {
  const Reader r(metadata, file);
  RunSettings s;
  s.net.preset = r.has("preset") ? r.text("preset") : "custom";
  s.net.L = int(r.integer("L", 1, kInt));
  s.net.c0 = int(r.integer("c0", 1, kInt));
  s.net.batch_norm = !r.has("batch_norm") || r.boolean("batch_norm");
  if (r.has("loss")) s.loss = r.text("loss");
  if (r.has("loss_alt")) {
    s.loss_alt = r.text("loss_alt");
    if (r.has("toggle_every")) s.toggle_every = int(r.integer("toggle_every", 1, kInt));
    if (r.has("random_p")) s.random_p = r.number("random_p");
  }
  if (r.has("transform")) s.transform = r.checked("transform", parse_transform);
  if (r.has("seed")) s.seed = r.unsigned_integer("seed");
  if (r.has("lr")) s.lr = r.number("lr");
  if (r.has("batch")) s.batch = int(r.integer("batch", 1, kInt));
  if (r.has("epochs")) s.epochs = int(r.integer("epochs", 1, kInt));
  if (r.has("min_steps")) s.min_steps = int(r.integer("min_steps", 0, kInt));
  if (r.has("select_on")) {
    s.select_on = r.text("select_on");
    EDNN_CHECK(s.select_on == "validation" || s.select_on == "test", "checkpoint ", file, ": metadata 'select_on' is '",
               s.select_on, "', expected validation or test");
  }
  if (r.has("evals")) s.evals = int(r.integer("evals", 0, kInt));
  if (r.has("log_test")) s.log_test = r.boolean("log_test");
  if (r.has("conv_algo")) s.numerics.conv_algo = r.checked("conv_algo", parse_conv_algo);
  if (r.has("tf32")) s.numerics.tf32 = r.boolean("tf32");
  if (r.has("fusion")) s.numerics.fusion = r.boolean("fusion");
  if (r.has("data")) s.data = r.text("data");
  if (r.has("solver_model")) {
    solver::SolverConfig c;
    c.L = s.net.L;
    c.model = r.checked("solver_model", [](const std::string& v) { return solver::parse_source_model(v); });
    c.D = r.number("solver_D");
    c.gamma = r.number("solver_gamma");
    c.radius = int(r.integer("solver_radius", 0, kInt));
    c.tol = r.number("solver_tol");
    c.omega = r.number("solver_omega");
    c.max_sweeps = int(r.integer("solver_max_sweeps", 1, kInt));
    c.min_sources = int(r.integer("solver_min_sources", 1, kInt));
    c.max_sources = int(r.integer("solver_max_sources", 1, kInt));
    try {
      solver::validate(c);
    } catch (const Error& e) {
      fail("checkpoint ", file, ": the recorded solver settings are invalid (", e.what(), ")");
    }
    s.solver = c;
  }
  return s;
}

int planned_epochs(const RunSettings& s, std::int64_t samples_per_epoch) {
  EDNN_CHECK(s.batch > 0 && samples_per_epoch > 0, "planned_epochs: batch ", s.batch, ", samples per epoch ",
             samples_per_epoch);
  const std::int64_t steps_per_epoch = (samples_per_epoch + s.batch - 1) / s.batch;
  const std::int64_t for_steps = (std::int64_t(s.min_steps) + steps_per_epoch - 1) / steps_per_epoch;
  EDNN_CHECK(for_steps <= kInt, "planned_epochs: ", s.min_steps, " steps need too many epochs");
  return int(std::max<std::int64_t>(s.epochs, for_steps));
}

bool evaluates_after(int epoch, int planned, int evals) {
  if (evals <= 0 || evals >= planned || epoch >= planned) return true;
  // epoch e is ceil(k planned / evals) for some k exactly when floor(e evals / planned) exceeds
  // floor((e - 1) evals / planned).
  return std::int64_t(epoch) * evals / planned > std::int64_t(epoch - 1) * evals / planned;
}

RunSettings resume_settings(const RunSettings& recorded, const RunSettings& given, const std::set<std::string>& options,
                            bool allow_other_data, const std::string& checkpoint) {
  RunSettings s = recorded;
  auto refuse = [&](const std::string& what, const std::string& was, const std::string& now, const char* why) {
    fail("train --resume: ", checkpoint, " was trained with ", what, " ", was, ", this command gives ", now, "; ", why);
  };
  for (const std::string& option : options) {
    if (option == "epochs") s.epochs = given.epochs;
    else if (option == "min-steps") s.min_steps = given.min_steps;
    else if (option == "evals") s.evals = given.evals;
    else if (option == "log-test") s.log_test = given.log_test;
    else if (option == "select-on") {
      if (given.select_on != recorded.select_on)
        refuse("--select-on", recorded.select_on, given.select_on,
               "the best checkpoint so far was chosen on that split, and a resume keeps the rule");
    } else if (option == "lr") s.lr = given.lr;
    else if (option == "batch") s.batch = given.batch;
    else if (option == "seed") s.seed = given.seed;
    else if (option == "loss") s.loss = given.loss;
    else if (option == "loss-toggle" || option == "loss-random") {
      s.loss_alt = given.loss_alt;
      s.toggle_every = given.toggle_every;
      s.random_p = given.random_p;
    } else if (option == "toggle-every") {
      if (!options.count("loss-toggle")) {
        EDNN_CHECK(recorded.toggle_every > 0, "train --resume: --toggle-every changes a toggle schedule, and ",
                   checkpoint, " has none (give --loss-toggle TEXT2 to start one)");
        s.toggle_every = given.toggle_every;
      }
    } else if (option == "random-p") {
      if (!options.count("loss-random")) {
        EDNN_CHECK(recorded.random_p > 0, "train --resume: --random-p changes a random schedule, and ", checkpoint,
                   " has none (give --loss-random TEXT2 to start one)");
        s.random_p = given.random_p;
      }
    } else if (option == "conv-algo") s.numerics.conv_algo = given.numerics.conv_algo;
    else if (option == "tf32") s.numerics.tf32 = given.numerics.tf32;
    else if (option == "no-fusion") s.numerics.fusion = given.numerics.fusion;
    else if (option == "preset") {
      if (given.net.preset != recorded.net.preset)
        refuse("preset", recorded.net.preset, given.net.preset, "a resume continues the same network");
    } else if (option == "no-batch-norm") {
      if (given.net.batch_norm != recorded.net.batch_norm)
        refuse("batch norm", recorded.net.batch_norm ? "on" : "off", given.net.batch_norm ? "on" : "off",
               "a resume continues the same network");
    } else if (option == "transform") {
      if (given.transform != recorded.transform && !allow_other_data)
        refuse("transform", transform_name(recorded.transform), transform_name(given.transform),
               "give --allow-other-data to continue on another problem anyway");
      s.transform = given.transform;
    } else if (option == "data") {
      if (given.data != recorded.data && !allow_other_data)
        refuse("data", "'" + recorded.data + "'", "'" + given.data + "'",
               "the best epoch would be chosen among MAEs of different test sets; give the same data options "
               "again, or --allow-other-data to continue on other data anyway");
      s.data = given.data;
      s.solver = given.solver;
    } else {
      fail("train --resume: --", option, " cannot be given on a resume (the run's settings come from ", checkpoint, ")");
    }
  }
  return s;
}

}  // namespace ednn::nets
