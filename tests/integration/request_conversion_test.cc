// The v1 request's fields as the runtime sees them: the priority enum's classes, optional fields
// left out versus set to 0 (the wire tells them apart since v1).
#include "server/api/request_conversion.h"

#include <gtest/gtest.h>

namespace streamdit::server {
namespace {

TEST(PriorityFromProto, EachClassMapsToTheSchedulersAndUnspecifiedIsNormal) {
  EXPECT_EQ(*PriorityFromProto(v1::PRIORITY_UNSPECIFIED), scheduler::Priority::kNormal);
  EXPECT_EQ(*PriorityFromProto(v1::PRIORITY_LOW), scheduler::Priority::kLow);
  EXPECT_EQ(*PriorityFromProto(v1::PRIORITY_NORMAL), scheduler::Priority::kNormal);
  EXPECT_EQ(*PriorityFromProto(v1::PRIORITY_HIGH), scheduler::Priority::kHigh);
  // The pre-v1 sign test's "low" (-1) is no class of the enum.
  EXPECT_EQ(PriorityFromProto(-1).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(JobFromProto, OptionalFieldsLeftOutTakeDefaultsAndZeroIsKept) {
  v1::GenerateImageRequest request;
  request.add_loras()->set_name("left-out");
  v1::LoraAdapter* zero = request.add_loras();
  zero->set_name("zero");
  zero->set_strength(0);
  absl::StatusOr<GenerationJob> job = JobFromProto(request, std::nullopt);
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_FALSE(job->request.guidance.has_value());
  ASSERT_EQ(job->loras.size(), 2u);
  EXPECT_EQ(job->loras[0].strength, 1.0);
  EXPECT_EQ(job->loras[1].strength, 0.0);

  // Round trip through the wire: presence survives serialization.
  request.set_guidance(0);
  v1::GenerateImageRequest parsed;
  ASSERT_TRUE(parsed.ParseFromString(request.SerializeAsString()));
  job = JobFromProto(parsed, std::nullopt);
  ASSERT_TRUE(job.ok()) << job.status();
  ASSERT_TRUE(job->request.guidance.has_value());
  EXPECT_EQ(*job->request.guidance, 0.0);
  EXPECT_EQ(job->loras[1].strength, 0.0);
}

}  // namespace
}  // namespace streamdit::server
