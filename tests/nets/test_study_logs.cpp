// The study's reading of train_log.csv: the two selection rules and the plateau check, against
// numbers worked by hand.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>

#include "apps/study_logs.h"
#include "core/error.h"

using ednn::study::summarise_log;

namespace {
const char* kHeader = "epoch,loss,train_loss,validation_loss,validation_mae,test_loss,test_mae,samples_per_s,seconds,best\n";
}

TEST_CASE("study logs: the validation rule, the paper's rule and the plateau, worked by hand") {
  // 10 epochs, evaluated after 2, 4, 6, 8, 10. Validation is lowest at epoch 6 (0.10), where the
  // test MAE is 0.12; the test MAE is lowest at epoch 8 (0.11). The last evaluation at or before
  // 80% of the epochs is epoch 8, where the validation rule still reports epoch 6's 0.12.
  std::string log = kHeader;
  const char* rows[] = {"1,\"exp-mae:w=1\",0.3,,,,,10,1.5,0",
                        "2,\"exp-mae:w=1\",0.2,0.2,0.20,0.21,0.21,10,1.5,1",
                        "3,\"exp-mae:w=1\",0.2,,,,,10,1.5,0",
                        "4,\"exp-mae:w=1\",0.2,0.15,0.15,0.16,0.16,10,1.5,1",
                        "5,\"exp-mae:w=1\",0.2,,,,,10,1.5,0",
                        "6,\"exp-mae:w=1\",0.2,0.10,0.10,0.12,0.12,10,1.5,1",
                        "7,\"exp-mae:w=1\",0.2,,,,,10,1.5,0",
                        "8,\"exp-mae:w=1\",0.2,0.11,0.11,0.11,0.11,10,1.5,0",
                        "9,\"exp-mae:w=1\",0.2,,,,,10,1.5,0",
                        "10,\"exp-mae:w=1\",0.1,0.105,0.105,0.115,0.115,10,1.5,0"};
  for (const char* r : rows) log += std::string(r) + "\n";
  const auto s = summarise_log(log, "log.csv");
  CHECK(s.epochs == 10);
  CHECK(s.train_seconds == doctest::Approx(15));
  REQUIRE(s.evaluations.size() == 5);
  CHECK(s.has_both);
  CHECK(s.validation_best_epoch == 6);
  CHECK(s.test_at_validation_best == 0.12);
  CHECK(s.test_best_epoch == 8);
  CHECK(s.test_best == 0.11);
  CHECK(s.rule_gain() == doctest::Approx(1 - 0.11 / 0.12));
  CHECK(s.plateau_epoch == 8);
  CHECK(s.test_at_plateau == 0.12);
  CHECK(s.plateau_change() == 0);

  // Still improving at the end: the plateau point reports epoch 4's 0.16, the end epoch 10's.
  std::string improving = kHeader;
  improving += "4,\"mae\",0.2,0.15,0.15,0.16,0.16,10,1,0\n5,\"mae\",0.2,0.09,0.09,0.10,0.10,10,1,0\n";
  const auto t = summarise_log(improving, "log.csv");
  CHECK(t.plateau_epoch == 4);
  CHECK(t.test_at_plateau == 0.16);
  CHECK(t.test_at_validation_best == 0.10);
  CHECK(t.plateau_change() == doctest::Approx(1 - 0.10 / 0.16));
}

TEST_CASE("study logs: a log of the paper's rule alone has no comparison; a quoted loss with commas parses") {
  std::string log = kHeader;
  log += "1,\"step-mae:a=4000,b=10\",0.3,,,0.2,0.2,10,2,1\n2,\"step-mae:a=4000,b=10\",0.3,,,0.19,0.19,10,2,1\n";
  const auto s = summarise_log(log, "log.csv");
  CHECK(s.epochs == 2);
  CHECK(s.train_seconds == doctest::Approx(4));
  CHECK(s.evaluations.size() == 2);
  CHECK_FALSE(s.has_both);
  CHECK(std::isnan(s.evaluations[0].validation_mae));
  CHECK(s.evaluations[1].test_mae == 0.19);
  // Broken logs name the file.
  CHECK_THROWS_WITH_AS(summarise_log(std::string(kHeader) + "1,\"mae\",0.3\n", "bad.csv"),
                       doctest::Contains("bad.csv: a row has 3 fields"), ednn::Error);
  CHECK_THROWS_WITH_AS(summarise_log("epoch,loss\n", "old.csv"), doctest::Contains("old.csv lacks the columns"),
                       ednn::Error);
}

TEST_CASE("study logs: the report section summarises the rule's gain and the plateau over runs") {
  auto log_of = [](double validation_at_2, double test_at_2, double validation_at_4, double test_at_4) {
    char text[512];
    std::snprintf(text, sizeof text, "%s2,\"mae\",0.2,%g,%g,%g,%g,10,1,0\n4,\"mae\",0.2,%g,%g,%g,%g,10,1,0\n", kHeader,
                  validation_at_2, validation_at_2, test_at_2, test_at_2, validation_at_4, validation_at_4, test_at_4,
                  test_at_4);
    return summarise_log(text, "log.csv");
  };
  // a: validation picks epoch 4 (test 0.10), the test set epoch 2 (0.08): the paper's rule 20% lower.
  // b: both pick epoch 4 (0.10): 0%. Plateau (epoch 2 against 4): a changed by 25%, b by 50%.
  const std::vector<ednn::study::NamedLog> runs = {{"a", log_of(0.2, 0.08, 0.1, 0.10)},
                                                   {"b", log_of(0.2, 0.2, 0.1, 0.10)}};
  const std::string md = ednn::study::selection_section(runs);
  CAPTURE(md);
  CHECK(md.find("lower by 10.0% (median over 2 runs; mean 10.0%, largest 20.0%); it picks another epoch in 1 of them") !=
        std::string::npos);
  CHECK(md.find("5% or more in 2 of 2 runs") != std::string::npos);
  CHECK(md.find("| a | 4 | 4 | 0.1000 | 2 | 0.0800 | 20.0% | 0.0800 | 25.0% |") != std::string::npos);
  CHECK(ednn::study::selection_section({}).find("cannot be compared") != std::string::npos);
}
