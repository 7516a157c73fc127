// The device's LoRA adapter cache: adapters are device bytes in the scheduler's books like
// resident weights. A launch loads the adapters its device lacks, shares the ones it holds (for
// running launches or idle), and idle adapters leave least recently used first: when the cache
// outgrows its bound or a launch needs the room, never while a launch uses them.

#include <gtest/gtest.h>

#include "tests/unit/scheduler/scheduler_test_rig.h"

namespace streamdit::scheduler {
namespace {

using testing_rig::kGB;
using testing_rig::Request;
using testing_rig::Rig;

constexpr std::int64_t kAdapter = kGB / 8;  // "small"'s bytes per adapter (TestModels)

SchedulerConfig NoBatching() {
  SchedulerConfig config;
  config.max_batch_images = 1;
  return config;
}

JobRequest WithLoras(std::vector<std::string> loras, int steps = 10) {
  return Request("small", steps, 1, Priority::kNormal, std::move(loras));
}

// LinearMemoryEstimator's adapter keys: "model/name".
std::string Key(const std::string& lora) { return "small/" + lora; }

std::vector<std::string> Keys(const std::vector<AdapterDemand>& adapters) {
  std::vector<std::string> keys;
  for (const AdapterDemand& adapter : adapters) keys.push_back(adapter.key);
  return keys;
}

std::vector<std::string> CachedKeys(const DeviceState& device) {
  std::vector<std::string> keys;
  for (const CachedAdapter& adapter : device.adapters()) keys.push_back(adapter.key);
  return keys;
}

TEST(AdapterCacheTest, ALaterLaunchReusesTheCachedAdapter) {
  Rig rig(NoBatching(), {48 * kGB});
  const JobId first = rig.Submit(WithLoras({"style"}));
  rig.RunUntilIdle();
  EXPECT_TRUE(rig.ended.at(first).ok());
  // Idle now, and kept: its bytes stay in the device's books.
  EXPECT_EQ(CachedKeys(rig.device(0)), std::vector<std::string>{Key("style")});
  EXPECT_EQ(rig.device(0).idle_adapter_bytes(), kAdapter);
  EXPECT_EQ(rig.device(0).used(), 4 * kGB + kAdapter);  // small's weights stayed resident too

  const JobId second = rig.Submit(WithLoras({"style"}));
  rig.RunUntilIdle();
  EXPECT_TRUE(rig.ended.at(second).ok());
  ASSERT_EQ(rig.started.size(), 2u);
  EXPECT_EQ(Keys(rig.started[1].adapters), std::vector<std::string>{Key("style")});
  EXPECT_TRUE(rig.started[1].evict_adapters.empty());
  EXPECT_EQ(rig.observer().adapters_loaded.size(), 1u);  // loaded once, for the first launch
  EXPECT_EQ(rig.executor().stats().adapter_loads, 1u);
  EXPECT_TRUE(rig.executor().violations().empty()) << rig.executor().violations().front();
}

TEST(AdapterCacheTest, RunningLaunchesShareOneCopy) {
  Rig rig(NoBatching(), {48 * kGB});
  rig.Submit(WithLoras({"style"}, 10));
  rig.Submit(WithLoras({"style"}, 20));  // another batch key: its own launch, at the same time
  rig.Pump();
  ASSERT_EQ(rig.started.size(), 2u);
  EXPECT_EQ(rig.device(0).adapter_bytes(), kAdapter);
  ASSERT_EQ(rig.device(0).adapters().size(), 1u);
  EXPECT_EQ(rig.device(0).adapters()[0].active_launches, 2);
  EXPECT_EQ(rig.device(0).idle_adapter_bytes(), 0);
  rig.RunUntilIdle();
  EXPECT_EQ(rig.device(0).adapters()[0].active_launches, 0);
  EXPECT_EQ(rig.device(0).idle_adapter_bytes(), kAdapter);
  EXPECT_EQ(rig.executor().stats().adapter_loads, 1u);
  EXPECT_TRUE(rig.executor().violations().empty()) << rig.executor().violations().front();
}

TEST(AdapterCacheTest, IdleAdaptersBeyondTheBoundLeaveLeastRecentlyUsedFirst) {
  DeviceConfig device{"gpu0", 48 * kGB};
  device.adapter_cache_bytes = 2 * kAdapter;
  Rig rig(NoBatching(), Rig::Configured{{device}});
  for (const char* lora : {"a", "b", "a", "c"}) {
    rig.Submit(WithLoras({lora}));
    rig.RunUntilIdle();
  }
  // "a" was used after "b": "b" is the least recently used when "c" arrives.
  ASSERT_EQ(rig.started.size(), 4u);
  EXPECT_TRUE(rig.started[2].evict_adapters.empty());  // "a" was cached: nothing to make room for
  EXPECT_EQ(rig.started[3].evict_adapters, std::vector<std::string>{Key("b")});
  EXPECT_EQ(CachedKeys(rig.device(0)), (std::vector<std::string>{Key("a"), Key("c")}));
  EXPECT_EQ(rig.device(0).adapter_bytes(), 2 * kAdapter);
  EXPECT_EQ(rig.executor().stats().adapter_loads, 3u);  // a, b, c; the second "a" was a hit
  EXPECT_TRUE(rig.executor().violations().empty()) << rig.executor().violations().front();
}

TEST(AdapterCacheTest, ABoundOfZeroKeepsNoIdleAdapter) {
  DeviceConfig device{"gpu0", 48 * kGB};
  device.adapter_cache_bytes = 0;
  Rig rig(NoBatching(), Rig::Configured{{device}});
  rig.Submit(WithLoras({"a"}));
  rig.RunUntilIdle();
  rig.Submit(WithLoras({"b"}));
  rig.RunUntilIdle();
  ASSERT_EQ(rig.started.size(), 2u);
  EXPECT_EQ(rig.started[1].evict_adapters, std::vector<std::string>{Key("a")});
  EXPECT_EQ(CachedKeys(rig.device(0)),
            std::vector<std::string>{Key("b")});  // until the next launch
}

TEST(AdapterCacheTest, IdleAdaptersMakeRoomForALaunchThatNeedsIt) {
  // Exactly small's weights + its working bytes + one adapter.
  Rig rig(NoBatching(), {5 * kGB + kAdapter});
  rig.Submit(WithLoras({"a"}));
  rig.RunUntilIdle();
  EXPECT_EQ(rig.device(0).used(), 4 * kGB + kAdapter);
  rig.Submit(WithLoras({"b"}));
  rig.RunUntilIdle();
  ASSERT_EQ(rig.started.size(), 2u);
  // The idle adapter goes; the model stays resident and is shared.
  EXPECT_EQ(rig.started[1].mode, WeightMode::kShared);
  EXPECT_EQ(rig.started[1].evict_adapters, std::vector<std::string>{Key("a")});
  EXPECT_TRUE(rig.started[1].evict.empty());
  EXPECT_EQ(CachedKeys(rig.device(0)), std::vector<std::string>{Key("b")});
  EXPECT_TRUE(rig.executor().violations().empty()) << rig.executor().violations().front();
}

TEST(AdapterCacheTest, AnAdapterInUseIsNeverEvicted) {
  // Room for small's weights, two launches' working bytes and two adapters, not three.
  Rig rig(NoBatching(), {6 * kGB + 2 * kAdapter});
  const JobId long_job = rig.Submit(WithLoras({"a"}, 100));
  rig.Pump();
  const JobId other = rig.Submit(WithLoras({"b"}, 10));
  rig.Pump();
  ASSERT_EQ(rig.started.size(), 2u);
  const JobId third = rig.Submit(WithLoras({"c"}, 10));
  rig.RunUntilIdle();
  ASSERT_EQ(rig.started.size(), 3u);
  // "c" waited for "b"'s launch to end and took b's place, never a's.
  EXPECT_EQ(rig.started[2].evict_adapters, std::vector<std::string>{Key("b")});
  for (JobId id : {long_job, other, third}) EXPECT_TRUE(rig.ended.at(id).ok());
  EXPECT_TRUE(rig.executor().violations().empty()) << rig.executor().violations().front();
}

TEST(AdapterCacheTest, AJobWhoseAdaptersFitNoBudgetIsRefused) {
  // small needs 1 GB working bytes at one megapixel: a 1 GB device runs it only without adapters.
  Rig rig(NoBatching(), {kGB});
  JobId id = 0;
  EXPECT_TRUE(rig.TrySubmit(Request("small"), &id).ok());
  const absl::Status status = rig.TrySubmit(WithLoras({"a"}), &id);
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted) << status;
  EXPECT_EQ(ReasonOf(status), StatusReason::kNeverFits);
}

TEST(AdapterCacheTest, DeviceBooksRefuseBrokenAdapterAccounting) {
  DeviceState device(0, DeviceConfig{"gpu0", 2 * kGB});
  EXPECT_THROW(device.StartLaunch(0, kGB, false, false, 0, {{"a", 2 * kGB}}), std::logic_error);
  EXPECT_THROW(device.StartLaunch(0, 0, false, false, 0, {{"a", -1}}), std::logic_error);
  device.StartLaunch(0, kGB, false, false, 0, {{"a", kGB / 2}});
  EXPECT_EQ(device.used(), kGB + kGB / 2);
  EXPECT_THROW(device.EndLaunch(0, kGB, false, 1, {{"b", kGB / 2}}), std::logic_error);
  device.EndLaunch(0, kGB, false, 2, {{"a", kGB / 2}});
  EXPECT_EQ(device.idle_adapter_bytes(), kGB / 2);
  EXPECT_THROW(device.EndLaunch(0, 0, false, 3, {{"a", kGB / 2}}), std::logic_error);
  EXPECT_THROW(DeviceState(0,
                           [] {
                             DeviceConfig config{"gpu0", kGB};
                             config.adapter_cache_bytes = -5;
                             return config;
                           }()),
               std::invalid_argument);
}

}  // namespace
}  // namespace streamdit::scheduler
