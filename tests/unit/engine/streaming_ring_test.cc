// The streaming ring's ordering, as a GPU needs it, checked on the CPU: a recording SlotTransfer
// that behaves like a device (a copy may overwrite its slot as soon as it is started, and its bytes
// are there only once waited for) drives the real StreamingWeightProvider through several passes,
// prefetch depths up to and beyond the ring's size, out-of-order acquisitions and a changed order.
// Every run asserts: a slot's copy never starts while the previous occupant may still be read (its
// MarkConsumed came first); WaitReady precedes every use; every block is read with its own bytes;
// the bytes streamed are the bytes copied, and as many as the order implies. The CPU transfer
// (the memcpy worker) runs the same acquisitions.
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <ostream>
#include <string>
#include <vector>

#include "engine/model/scoped_block.h"
#include "engine/streaming/slot_transfer.h"
#include "engine/streaming/streaming_weight_provider.h"

namespace streamdit::engine {
namespace {

// Small blocks of different sizes: a bf16 matmul weight (decoded at use, so read from the slot
// only when the layer "runs") and an f32 bias (a view of the slot). Values are small integers,
// exact in bf16, distinct per block.
std::vector<std::unique_ptr<WeightBlock>> MakeBlocks(int n) {
  std::vector<std::unique_ptr<WeightBlock>> blocks;
  for (int i = 0; i < n; ++i) {
    auto block = std::make_unique<WeightBlock>();
    block->name = "blocks." + std::to_string(i);
    const int64_t width = 8 + 2 * i;
    StoredTensor weight;
    weight.dtype = DType::kBF16;
    weight.data = (torch::arange(4 * width, torch::kFloat) + 16 * (i + 1))
                      .reshape({4, width})
                      .to(torch::kBFloat16);
    block->Add("lin.weight", weight);
    StoredTensor bias;
    bias.dtype = DType::kF32;
    bias.data = torch::full({width}, static_cast<float>(-(i + 1)));
    block->Add("lin.bias", bias);
    blocks.push_back(std::move(block));
  }
  return blocks;
}

ResidencyPlan AllStreamed(const std::vector<std::unique_ptr<WeightBlock>>& blocks, int slots) {
  ResidencyPlan plan;
  for (const auto& block : blocks) {
    PlannedBlock planned;
    planned.block = block.get();
    for (const auto& [name, stored] : block->tensors) planned.storage_bytes += SlotBytes(stored);
    plan.slot_bytes = std::max(plan.slot_bytes, planned.storage_bytes);
    plan.blocks.push_back(planned);
  }
  plan.num_slots = slots;
  return plan;
}

enum class Kind { kCopy, kWait, kConsumed, kUse };
struct Event {
  Kind kind;
  int slot;                  // -1 for kUse
  const WeightBlock* block;  // kCopy and kUse
};

// A device-like transfer that records the provider's calls. StartCopy poisons the slot at once
// (a copy engine may write as soon as it is allowed to) and writes the block's bytes only in
// WaitReady (as late as a device may): a use before WaitReady, or a copy into a slot still read,
// shows as wrong values besides a broken order in the log.
class RecordingTransfer : public SlotTransfer {
 public:
  RecordingTransfer(std::vector<Event>& log, std::mutex& mu, int slots)
      : log_(log), mu_(mu), pending_(static_cast<std::size_t>(slots)) {}

  void StartCopy(int slot, const WeightBlock& block, const torch::Tensor& buffer) override {
    std::lock_guard<std::mutex> lock(mu_);
    log_.push_back(Event{Kind::kCopy, slot, &block});
    buffer.fill_(0xAB);
    pending_[slot] = {&block, buffer};
  }
  void WaitReady(int slot) override {
    std::lock_guard<std::mutex> lock(mu_);
    log_.push_back(Event{Kind::kWait, slot, nullptr});
    auto& [block, buffer] = pending_[slot];
    if (block == nullptr) return;
    const std::vector<int64_t> offsets = SlotLayout(*block);
    for (std::size_t i = 0; i < block->tensors.size(); ++i) {
      const torch::Tensor& data = block->tensors[i].second.data;
      std::memcpy(buffer.data_ptr<uint8_t>() + offsets[i], data.data_ptr(),
                  data.numel() * data.element_size());
    }
    block = nullptr;
  }
  void MarkConsumed(int slot) override {
    std::lock_guard<std::mutex> lock(mu_);
    log_.push_back(Event{Kind::kConsumed, slot, nullptr});
  }
  bool CopyDone(int slot) const override { return pending_[slot].first == nullptr; }
  double stall_seconds() const override { return 0; }

 private:
  std::vector<Event>& log_;
  std::mutex& mu_;
  std::vector<std::pair<const WeightBlock*, torch::Tensor>> pending_;
};

// Replays the log as a device would see it; returns the first broken rule ("" if none).
std::string CheckOrdering(const std::vector<Event>& log, int slots) {
  struct SlotView {
    const WeightBlock* block = nullptr;
    bool waited = false;  // WaitReady since the last copy
    bool in_use = false;  // waited and not yet consumed: kernels may read it
  };
  std::vector<SlotView> view(static_cast<std::size_t>(slots));
  for (std::size_t at = 0; at < log.size(); ++at) {
    const Event& e = log[at];
    const std::string where = " (event " + std::to_string(at) + ")";
    if (e.kind == Kind::kUse) {
      bool ready = false;
      for (const SlotView& s : view) ready = ready || (s.block == e.block && s.in_use && s.waited);
      if (!ready) return "use of " + e.block->name + " without WaitReady on its slot" + where;
      continue;
    }
    if (e.slot < 0 || e.slot >= slots) return "slot out of range" + where;
    SlotView& s = view[static_cast<std::size_t>(e.slot)];
    switch (e.kind) {
      case Kind::kCopy:
        if (s.in_use) {
          return "copy into slot " + std::to_string(e.slot) + " before MarkConsumed of " +
                 s.block->name + where;
        }
        s = SlotView{e.block, false, false};
        break;
      case Kind::kWait:
        if (s.block == nullptr) return "WaitReady on a slot never copied" + where;
        if (s.in_use) return "WaitReady twice without MarkConsumed" + where;
        s.waited = s.in_use = true;
        break;
      case Kind::kConsumed:
        if (!s.in_use) return "MarkConsumed on a slot not in use" + where;
        s.in_use = false;
        break;
      case Kind::kUse:
        break;
    }
  }
  return "";
}

// One "compute" of a block: acquire, log the use, read every tensor as a kernel would (the weight
// decoded at use), compare with the host copy, release.
void Compute(WeightProvider& provider, const WeightBlock& block, std::vector<Event>* log,
             std::mutex& mu) {
  ScopedBlock scoped(provider, block);
  if (log != nullptr) {
    std::lock_guard<std::mutex> lock(mu);
    log->push_back(Event{Kind::kUse, -1, &block});
  }
  for (const auto& [name, stored] : block.tensors) {
    ASSERT_TRUE(torch::equal(scoped[name], stored.data.to(torch::kFloat)))
        << block.name << " " << name;
  }
}

struct RingCase {
  int slots;
  int depth;
  bool recording;  // the recording transfer; else the CPU transfer (memcpy worker)
};

void PrintTo(const RingCase& c, std::ostream* os) {
  *os << c.slots << " slots, prefetch depth " << c.depth << (c.recording ? ", recording" : ", cpu");
}

std::string CaseName(const ::testing::TestParamInfo<RingCase>& info) {
  return std::to_string(info.param.slots) + "slots_depth" + std::to_string(info.param.depth) +
         (info.param.recording ? "_recording" : "_cpu");
}

class StreamingRing : public ::testing::TestWithParam<RingCase> {
 protected:
  void SetUp() override {
    blocks_ = MakeBlocks(5);
    for (const auto& b : blocks_) order_.push_back(b.get());
    const ResidencyPlan plan = AllStreamed(blocks_, GetParam().slots);
    StreamingOptions options;
    options.prefetch_depth = GetParam().depth;
    if (GetParam().recording) {
      provider_ = std::make_unique<StreamingWeightProvider>(
          plan, options, ExecutionTarget::Cpu(),
          std::make_unique<RecordingTransfer>(log_, mu_, plan.num_slots));
    } else {
      provider_ = std::make_unique<StreamingWeightProvider>(plan, options, ExecutionTarget::Cpu());
    }
  }

  void Run(const std::vector<int>& sequence) {
    for (int i : sequence) {
      Compute(*provider_, *blocks_[i], GetParam().recording ? &log_ : nullptr, mu_);
      if (::testing::Test::HasFatalFailure()) return;
    }
  }

  // Copies in the log, and their bytes.
  int Copies(std::size_t from = 0) const {
    int n = 0;
    for (std::size_t i = from; i < log_.size(); ++i) n += log_[i].kind == Kind::kCopy;
    return n;
  }
  int64_t CopiedBytes() const {
    int64_t bytes = 0;
    for (const Event& e : log_) bytes += e.kind == Kind::kCopy ? e.block->nbytes() : 0;
    return bytes;
  }
  int64_t PassBytes() const {
    int64_t bytes = 0;
    for (const auto& b : blocks_) bytes += b->nbytes();
    return bytes;
  }
  void ExpectOrdered() {
    if (!GetParam().recording) return;
    std::lock_guard<std::mutex> lock(mu_);
    EXPECT_EQ(CheckOrdering(log_, GetParam().slots), "");
    EXPECT_EQ(provider_->streamed_bytes(), CopiedBytes()) << "streamed bytes are copied bytes";
  }

  std::vector<std::unique_ptr<WeightBlock>> blocks_;
  std::vector<const WeightBlock*> order_;
  std::vector<Event> log_;
  std::mutex mu_;
  std::unique_ptr<StreamingWeightProvider> provider_;
};

TEST_P(StreamingRing, BoundedPassesInOrderCopyEachAcquisitionOnce) {
  provider_->SetOrder(order_, /*passes=*/3);
  for (int pass = 0; pass < 3; ++pass) Run({0, 1, 2, 3, 4});
  ExpectOrdered();
  // Nothing copied twice, nothing copied ahead past the last pass.
  EXPECT_EQ(provider_->streamed_bytes(), 3 * PassBytes());
}

TEST_P(StreamingRing, UnboundedPassesCopyEachBlockOncePerPass) {
  provider_->SetOrder(order_, /*passes=*/0);
  Run({0, 1, 2, 3, 4});
  const int64_t after_first = provider_->streamed_bytes();
  Run({0, 1, 2, 3, 4});
  Run({0, 1, 2, 3, 4});
  ExpectOrdered();
  EXPECT_EQ(provider_->streamed_bytes() - after_first, 2 * PassBytes());
}

TEST_P(StreamingRing, OutOfOrderAcquisitionsAreServedWithTheirOwnBytes) {
  provider_->SetOrder(order_, /*passes=*/0);
  // Skips, repeats and a block acquired while its prefetch may be queued.
  Run({0, 2, 1, 1, 4, 3, 0, 0, 4, 2, 3, 1});
  ExpectOrdered();
  // Without prefetch, one copy per acquisition (a released slot keeps nothing). With it, at least
  // one copy per block and at most one per acquisition plus a wasted window per acquisition.
  const int acquisitions = 12;
  if (GetParam().recording) {
    if (GetParam().depth == 0) {
      EXPECT_EQ(Copies(), acquisitions);
    } else {
      EXPECT_GE(Copies(), 5);
      EXPECT_LE(Copies(), acquisitions * (1 + GetParam().depth));
    }
  }
}

TEST_P(StreamingRing, ChangedOrderIsFollowedWithoutStaleReuse) {
  provider_->SetOrder(order_, /*passes=*/0);
  Run({0, 1, 2, 3, 4, 0, 1});
  const std::size_t before = log_.size();
  std::vector<const WeightBlock*> reversed(order_.rbegin(), order_.rend());
  provider_->SetOrder(reversed, /*passes=*/2);
  Run({4, 3, 2, 1, 0, 4, 3, 2, 1, 0});
  ExpectOrdered();
  if (GetParam().recording) {
    // Two passes: no more than a copy per acquisition (blocks still in slots from the old order
    // may save some), and nothing prefetched past them.
    EXPECT_LE(Copies(before), 10);
    EXPECT_GE(Copies(before), 10 - GetParam().slots);
  }
}

TEST_P(StreamingRing, TwoBlocksHeldAtOnce) {
  // Nested scopes hold two slots; a one-slot ring has them one after the other.
  provider_->SetOrder(order_, /*passes=*/0);
  for (int pass = 0; pass < 2; ++pass) {
    for (int i = 0; i + 1 < 5; i += 2) {
      if (GetParam().slots < 2) {
        Run({i, i + 1});
        continue;
      }
      ScopedBlock first(*provider_, *blocks_[i]);
      ScopedBlock second(*provider_, *blocks_[i + 1]);
      EXPECT_TRUE(torch::equal(first["lin.bias"], blocks_[i]->tensors[1].second.data));
      EXPECT_TRUE(torch::equal(second["lin.bias"], blocks_[i + 1]->tensors[1].second.data));
      EXPECT_TRUE(
          torch::equal(first["lin.weight"], blocks_[i]->tensors[0].second.data.to(torch::kFloat)));
    }
    Run({4});
  }
  ExpectOrdered();
}

std::vector<RingCase> Cases() {
  std::vector<RingCase> cases;
  for (bool recording : {true, false}) {
    for (int slots : {1, 2, 3}) {
      for (int depth : {0, 1, 2, 3}) cases.push_back(RingCase{slots, depth, recording});
    }
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Ring, StreamingRing, ::testing::ValuesIn(Cases()), CaseName);

// The CPU transfer on its own: a copy queued behind another into the same slot replaces it, and a
// WaitReady runs a copy the worker has not taken (or waits for the one it has).
TEST(CpuSlotTransfer, LastCopyIntoASlotWins) {
  auto blocks = MakeBlocks(2);
  for (bool background : {false, true}) {
    CpuSlotTransfer transfer(/*slots=*/1, background);
    const ResidencyPlan plan = AllStreamed(blocks, 1);
    torch::Tensor buffer = torch::zeros({plan.slot_bytes}, torch::kByte);
    transfer.StartCopy(0, *blocks[0], buffer);
    transfer.StartCopy(0, *blocks[1], buffer);
    transfer.WaitReady(0);
    EXPECT_TRUE(transfer.CopyDone(0));
    const torch::Tensor& bias = blocks[1]->tensors[1].second.data;
    const int64_t offset = SlotLayout(*blocks[1])[1];
    const torch::Tensor copied =
        buffer.narrow(0, offset, bias.numel() * 4).view(torch::kFloat).view(bias.sizes());
    EXPECT_TRUE(torch::equal(copied, bias)) << "background " << background;
    EXPECT_GE(transfer.stall_seconds(), 0.0);
  }
}

TEST(SlotTransferFactory, CpuTargetGetsTheCpuTransfer) {
  auto transfer = MakeSlotTransfer(ExecutionTarget::Cpu(), 2, /*background=*/true);
  ASSERT_NE(dynamic_cast<CpuSlotTransfer*>(transfer.get()), nullptr);
  EXPECT_TRUE(transfer->CopyDone(0));
}

}  // namespace
}  // namespace streamdit::engine
