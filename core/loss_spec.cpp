#include "core/loss_spec.h"

#include <cmath>
#include <cstdlib>
#include <map>
#include <set>
#include <sstream>

#include "core/error.h"

namespace ednn {

static const char* kValidForms =
    "valid forms: <metric> or <prefactor>-<metric>, optionally followed by ':key=value,...'; "
    "metric: mae, mse, huber, berhu; prefactor: exp, step; keys: w (exp), on=target|prediction (exp), "
    "a, b (step), delta (huber, berhu). Examples: mae, exp-mae:w=1, exp-mae:w=1,on=prediction, "
    "step-mae:a=4000,b=10, exp-berhu:w=1,delta=0.02";

[[noreturn]] static void bad(const std::string& text, const std::string& why) {
  fail("loss '", text, "': ", why, "; ", kValidForms);
}

LossSpec parse_loss(const std::string& text) {
  LossSpec spec;
  const auto colon = text.find(':');
  const std::string head = text.substr(0, colon);
  const std::string options = colon == std::string::npos ? "" : text.substr(colon + 1);

  std::string metric = head;
  const auto dash = head.find('-');
  if (dash != std::string::npos) {
    const std::string pre = head.substr(0, dash);
    metric = head.substr(dash + 1);
    if (pre == "exp") spec.prefactor = LossPrefactor::exp_target;
    else if (pre == "step") spec.prefactor = LossPrefactor::step;
    else bad(text, "unknown prefactor '" + pre + "'");
  }
  if (metric == "mae") spec.metric = LossMetric::mae;
  else if (metric == "mse") spec.metric = LossMetric::mse;
  else if (metric == "huber") spec.metric = LossMetric::huber;
  else if (metric == "berhu") spec.metric = LossMetric::berhu;
  else bad(text, "unknown metric '" + metric + "'");

  std::stringstream ss(options);
  std::string item;
  std::set<std::string> seen;  // a key given twice is a typo, not "the last one wins"
  while (!options.empty() && std::getline(ss, item, ',')) {
    const auto eq = item.find('=');
    if (eq == std::string::npos) bad(text, "option '" + item + "' is not key=value");
    const std::string key = item.substr(0, eq), value = item.substr(eq + 1);
    if (!seen.insert(key).second) bad(text, "option '" + key + "' is given twice");
    const bool is_exp = spec.prefactor == LossPrefactor::exp_target;
    if (key == "on") {
      if (!is_exp) bad(text, "'on' applies to the exp prefactor only");
      if (value == "prediction") spec.prefactor = LossPrefactor::exp_prediction;
      else if (value != "target") bad(text, "on=" + value + " (expected target or prediction)");
      continue;
    }
    char* end = nullptr;
    const double v = std::strtod(value.c_str(), &end);
    if (value.empty() || *end != '\0') bad(text, "value of '" + key + "' is not a number: '" + value + "'");
    if (!std::isfinite(v)) bad(text, "value of '" + key + "' is not finite: '" + value + "'");
    const bool exp_any = is_exp || spec.prefactor == LossPrefactor::exp_prediction;
    if (key == "w" && exp_any) {
      if (!(v > 0)) bad(text, "w must be positive");
      spec.w = v;
    } else if (key == "a" && spec.prefactor == LossPrefactor::step) {
      if (!(v >= 0)) bad(text, "a must be non-negative");
      spec.a = v;
    } else if (key == "b" && spec.prefactor == LossPrefactor::step) {
      if (!(v >= 0)) bad(text, "b must be non-negative");
      spec.b = v;
    } else if (key == "delta" && (spec.metric == LossMetric::huber || spec.metric == LossMetric::berhu)) {
      if (!(v > 0)) bad(text, "delta must be positive");
      spec.delta = v;
    } else {
      bad(text, "option '" + key + "' does not apply to this loss");
    }
  }
  return spec;
}

std::string LossSpec::text() const {
  static const char* metrics[] = {"mae", "mse", "huber", "berhu"};
  std::ostringstream os;
  if (prefactor == LossPrefactor::exp_target || prefactor == LossPrefactor::exp_prediction) os << "exp-";
  if (prefactor == LossPrefactor::step) os << "step-";
  os << metrics[int(metric)];
  std::string sep = ":";
  auto opt = [&](const char* k, auto v) { os << sep << k << '=' << v; sep = ","; };
  if (prefactor == LossPrefactor::exp_target || prefactor == LossPrefactor::exp_prediction) opt("w", w);
  if (prefactor == LossPrefactor::exp_prediction) opt("on", "prediction");
  if (prefactor == LossPrefactor::step) { opt("a", a); opt("b", b); }
  if (metric == LossMetric::huber || metric == LossMetric::berhu) opt("delta", delta);
  return os.str();
}

}  // namespace ednn
