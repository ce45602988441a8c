// The weighted losses of SPEC section 5, described by a short text.
//
//   loss = mean over pixels i of  P_i * m(d_i),   d = y_hat - y
//   metric m:     mae |d|;  mse d^2;  huber  d^2/2 if |d| <= delta else delta (|d| - delta/2);
//                 berhu (the paper's inverse Huber, as its code implements it)
//                        |d| if |d| <= delta else (d^2 + delta^2) / (2 delta)
//   prefactor P:  none 1;  exp  exp(-(1 - t) / w) with t = y (target, default) or t = |y_hat|
//                 (prediction, the authors' code; the gradient then flows through P too);
//                 step  1 + a tanh(b y)
//
// Texts: "<metric>", "<prefactor>-<metric>" and options after a colon, e.g.
//   mae   mse   huber:delta=1   exp-mae:w=1   exp-mae:w=1,on=prediction
//   step-mae:a=4000,b=10   exp-berhu:w=1,delta=0.02   step-huber:a=4000,b=10,delta=0.5
#pragma once
#include <string>

namespace ednn {

enum class LossMetric { mae, mse, huber, berhu };
enum class LossPrefactor { none, exp_target, exp_prediction, step };

struct LossSpec {
  LossMetric metric = LossMetric::mae;
  LossPrefactor prefactor = LossPrefactor::none;
  double w = 1.0;        // exp: width of the weight
  double a = 4000.0;     // step: height
  double b = 10.0;       // step: steepness
  double delta = 1.0;    // huber, berhu: where the two branches meet
  std::string text() const;  // the canonical text, parseable by parse_loss
};

// Parses a loss text; a bad text throws an ednn::Error that lists the valid forms.
LossSpec parse_loss(const std::string& text);

}  // namespace ednn
