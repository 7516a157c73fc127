#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/sampling/flux_defaults.h"
#include "engine/sampling/schedule.h"
#include "tests/support/status_testing.h"
#include "tests/unit/engine/sampling_python_reference.h"

namespace streamdit::engine {
namespace {

struct ScheduleCase {
  int steps;
  int64_t seq_len;
  bool shift;
  double base_shift = 0.5;
  double max_shift = 1.15;
};

std::string CaseArgument(const ScheduleCase& c, bool with_bounds) {
  std::string arg =
      std::to_string(c.steps) + "," + std::to_string(c.seq_len) + "," + (c.shift ? "1" : "0");
  if (with_bounds) arg += "," + std::to_string(c.base_shift) + "," + std::to_string(c.max_shift);
  return arg;
}

// flux-spec §3: 1024×1024 (4096 tokens), 4 steps, shifted = [1, 0.9045, 0.7595, 0.5128, 0].
TEST(SamplingSchedule, SpecExampleDev1024FourSteps) {
  const std::vector<double> expected = {1.0, 0.9045, 0.7595, 0.5128, 0.0};
  const std::vector<double> t = FluxSchedule(4, 4096, /*shift=*/true);
  ASSERT_EQ(t.size(), expected.size());
  for (size_t i = 0; i < t.size(); ++i) EXPECT_NEAR(t[i], expected[i], 5e-5) << i;
  EXPECT_EQ(t.front(), 1.0);
  EXPECT_EQ(t.back(), 0.0);
}

// Schnell: no shift ⇒ plain linspace; the defaults must select that.
TEST(SamplingSchedule, SchnellDefaultsGiveLinearFourSteps) {
  constexpr FluxSamplingDefaults schnell = FluxSchnellDefaults();
  EXPECT_EQ(
      FluxSchedule(schnell.num_steps, 4096, schnell.shift, schnell.base_shift, schnell.max_shift),
      (std::vector<double>{1.0, 0.75, 0.5, 0.25, 0.0}));
}

// The exact formula in float64 numpy. We compute in float32 like BFL, so agreement is to float32
// rounding (a few ulps of 1.0 ≈ 1e-7), across resolutions below, at and beyond the 256..4096
// interpolation range, without shift and with custom shift bounds.
TEST(SamplingSchedule, MatchesFloat64FormulaToFloat32Precision) {
  const std::vector<ScheduleCase> cases = {
      {4, 4096, true},  {50, 4080, true},  {28, 1024, true},           {10, 256, true},
      {7, 16384, true}, {13, 4096, false}, {20, 4096, true, 0.3, 2.0}, {1, 64, true}};
  std::string args = "schedule_f64";
  for (const ScheduleCase& c : cases) args += " " + CaseArgument(c, /*with_bounds=*/true);
  const auto expected = testing::ParseDoubleLines(testing::RunReference(args));
  ASSERT_EQ(expected.size(), cases.size());
  for (size_t k = 0; k < cases.size(); ++k) {
    const ScheduleCase& c = cases[k];
    SCOPED_TRACE("case " + CaseArgument(c, true));
    const std::vector<double> t =
        FluxSchedule(c.steps, c.seq_len, c.shift, c.base_shift, c.max_shift);
    ASSERT_EQ(t.size(), expected[k].size());
    for (size_t i = 0; i < t.size(); ++i) EXPECT_NEAR(t[i], expected[k][i], 3e-7) << i;
    EXPECT_EQ(t.front(), 1.0);
    EXPECT_EQ(t.back(), 0.0);
    for (size_t i = 1; i < t.size(); ++i) EXPECT_LT(t[i], t[i - 1]) << i;
  }
}

// BFL's get_schedule run verbatim (float32 torch) gives the very same doubles.
TEST(SamplingSchedule, BitIdenticalToBflGetSchedule) {
  const std::vector<ScheduleCase> cases = {
      {50, 4096, true}, {28, 4080, true}, {4, 1024, false}, {9, 777, true}, {4, 4096, true}};
  std::string args = "schedule_bfl";
  for (const ScheduleCase& c : cases) args += " " + CaseArgument(c, /*with_bounds=*/false);
  const auto bfl = testing::ParseDoubleLines(testing::RunReference(args));
  ASSERT_EQ(bfl.size(), cases.size());
  for (size_t k = 0; k < cases.size(); ++k) {
    EXPECT_EQ(FluxSchedule(cases[k].steps, cases[k].seq_len, cases[k].shift), bfl[k])
        << CaseArgument(cases[k], false);
  }
}

TEST(SamplingSchedule, RejectsBadArguments) {
  EXPECT_INVALID_ARGUMENT(FluxSchedule(0, 4096, true));
  EXPECT_INVALID_ARGUMENT(FluxSchedule(4, 0, true));
  // The shift's line needs two distinct sequence lengths (a diffusers scheduler config states
  // them).
  EXPECT_INVALID_ARGUMENT(FluxSchedule(4, 16, true, 0.5, 1.15, 256, 256));
  EXPECT_INVALID_ARGUMENT(FluxSchedule(4, 16, true, 0.5, 1.15, 4096, 256));
  EXPECT_NO_THROW(FluxSchedule(4, 16, false, 0.5, 1.15, 256, 256)) << "unused without the shift";
}

}  // namespace
}  // namespace streamdit::engine
