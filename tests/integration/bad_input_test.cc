// Every bad request gets the right code and a message naming the field, and afterwards the server
// is healthy, its queue is empty and its devices hold nothing: nothing lost, nothing leaked.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/health_check_service_interface.h>
#include <gtest/gtest.h>

#include <functional>
#include <limits>
#include <thread>

#include "tests/integration/server_test_rig.h"

namespace streamdit::server::testing {
namespace {

// One server for the whole matrix: each case must leave it as it found it.
class BadInput : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    RigOptions options;
    options.limits.max_prompt_bytes = 1024;
    options.limits.max_pixels = 512 * 512;
    options.limits.max_images_per_request = 4;
    options.grpc.max_message_bytes = 1 << 20;
    rig_ = new ServerRig(options);
  }
  static void TearDownTestSuite() {
    delete rig_;
    rig_ = nullptr;
  }
  void TearDown() override { ExpectHealthyAndEmpty(); }

  static v1::GenerateImageRequest Valid() {
    v1::GenerateImageRequest request;
    request.set_prompt("ok");
    request.set_seed(1);
    return request;
  }

  static void ExpectRefused(const v1::GenerateImageRequest& request, grpc::StatusCode code,
                            const std::string& names) {
    v1::GenerateImageResponse response;
    const grpc::Status status = rig_->Generate(request, &response);
    EXPECT_EQ(status.error_code(), code) << status.error_message();
    EXPECT_NE(status.error_message().find(names), std::string::npos)
        << "'" << status.error_message() << "' should name '" << names << "'";
    EXPECT_EQ(response.images_size(), 0);
  }

  static void ExpectHealthyAndEmpty() {
    grpc::ClientContext context;
    v1::GetServerStatusResponse status;
    ASSERT_TRUE(rig_->stub().GetServerStatus(&context, {}, &status).ok());
    // A cancel reaches the scheduler a moment after the client sees it: wait for it to settle.
    for (int attempt = 0;
         attempt < 100 && (status.devices(0).running_launches() > 0 || status.queue_depth() > 0 ||
                           status.devices(0).reserved_bytes() > 0);
         ++attempt) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      grpc::ClientContext again;
      status.Clear();
      ASSERT_TRUE(rig_->stub().GetServerStatus(&again, {}, &status).ok());
    }
    EXPECT_EQ(status.queue_depth(), 0u);
    EXPECT_EQ(status.devices(0).running_launches(), 0u);
    EXPECT_EQ(status.devices(0).reserved_bytes(), 0u);
    EXPECT_TRUE(status.devices(0).healthy());
  }

  // GenerateImage with `wire` as the request's bytes, through a generic (raw) stub.
  static grpc::Status RawGenerate(const std::string& wire) {
    grpc::GenericStub stub(rig_->channel());
    grpc::ClientContext context;
    grpc::Slice slice(wire);
    grpc::ByteBuffer request(&slice, 1);
    grpc::ByteBuffer response;
    std::mutex mu;
    std::condition_variable done_cv;
    bool done = false;
    grpc::Status status;
    stub.UnaryCall(&context, "/streamdit.v1.ImageGeneration/GenerateImage", grpc::StubOptions(),
                   &request, &response, [&](grpc::Status s) {
                     std::lock_guard<std::mutex> lock(mu);
                     status = std::move(s);
                     done = true;
                     done_cv.notify_one();
                   });
    std::unique_lock<std::mutex> lock(mu);
    done_cv.wait(lock, [&] { return done; });
    return status;
  }

  static ServerRig* rig_;
};

ServerRig* BadInput::rig_ = nullptr;

// One refused field per case: each case is its own test (BadInput/Refused.Run/<case>).
struct RefusedCase {
  const char* name;
  std::function<void(v1::GenerateImageRequest&)> spoil;
  grpc::StatusCode code;
  const char* message;  // a part the error message must contain
};

class Refused : public BadInput, public ::testing::WithParamInterface<RefusedCase> {};

TEST_P(Refused, Run) {
  v1::GenerateImageRequest request = Valid();
  GetParam().spoil(request);
  ExpectRefused(request, GetParam().code, GetParam().message);
}

const RefusedCase kRefusedCases[] = {
    {"WidthNotAMultipleOf16", [](auto& r) { r.set_width(100); }, grpc::StatusCode::INVALID_ARGUMENT,
     "width must be a multiple of 16 in [64, 2048], got 100"},
    {"WidthTooLarge", [](auto& r) { r.set_width(4096); }, grpc::StatusCode::INVALID_ARGUMENT,
     "width must be a multiple of 16 in [64, 2048], got 4096"},
    {"WidthHuge", [](auto& r) { r.set_width(0xffffffffu); }, grpc::StatusCode::INVALID_ARGUMENT,
     "width must be"},
    {"HeightTooSmall", [](auto& r) { r.set_height(32); }, grpc::StatusCode::INVALID_ARGUMENT,
     "height must be a multiple of 16 in [64, 2048], got 32"},
    {"TooManyPixels",
     [](auto& r) {
       r.set_width(1024);
       r.set_height(512);
     },
     grpc::StatusCode::INVALID_ARGUMENT,
     "width x height must be at most 262144 pixels, got 524288"},
    {"TooManySteps", [](auto& r) { r.set_steps(1000); }, grpc::StatusCode::INVALID_ARGUMENT,
     "steps must be in [1, 100], got 1000"},
    {"GuidanceOutOfRange", [](auto& r) { r.set_guidance(-1); }, grpc::StatusCode::INVALID_ARGUMENT,
     "guidance"},
    {"GuidanceNotANumber", [](auto& r) { r.set_guidance(std::numeric_limits<float>::quiet_NaN()); },
     grpc::StatusCode::INVALID_ARGUMENT, "guidance"},
    {"UnknownPriority", [](auto& r) { r.set_priority(static_cast<v1::Priority>(7)); },
     grpc::StatusCode::INVALID_ARGUMENT,
     "priority must be PRIORITY_LOW (1), PRIORITY_NORMAL (2) or PRIORITY_HIGH (3), got 7"},
    {"TooManyImages", [](auto& r) { r.set_batch_size(5); }, grpc::StatusCode::INVALID_ARGUMENT,
     "batch_size must be in [1, 4], got 5"},
    {"SeedAbove32Bits", [](auto& r) { r.set_seed(1ull << 32); }, grpc::StatusCode::INVALID_ARGUMENT,
     "seed must be in [0, 4294967295]"},
    {"UnknownModel", [](auto& r) { r.set_model("flux9"); }, grpc::StatusCode::NOT_FOUND,
     "no model named 'flux9'"},
    {"UnknownLora", [](auto& r) { r.add_loras()->set_name("style"); }, grpc::StatusCode::NOT_FOUND,
     "loras[0]: no LoRA named 'style'"},
    {"HugePrompt", [](auto& r) { r.set_prompt(std::string(2000, 'a')); },
     grpc::StatusCode::INVALID_ARGUMENT, "prompt must be at most 1024 bytes, got 2000"},
};

INSTANTIATE_TEST_SUITE_P(Field, Refused, ::testing::ValuesIn(kRefusedCases),
                         [](const auto& info) { return std::string(info.param.name); });

TEST_F(BadInput, EmptyPromptIsAllowed) {
  v1::GenerateImageRequest request = Valid();
  request.set_prompt("");
  v1::GenerateImageResponse response;
  const grpc::Status status = rig_->Generate(request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.images_size(), 1);
}

TEST_F(BadInput, InvalidUtf8Prompt) {
  // Sent as raw bytes: protobuf's own serializer would refuse to write such a string field.
  v1::GenerateImageRequest request = Valid();
  request.set_prompt("PLACEHOLDER");
  std::string wire = request.SerializeAsString();
  const std::size_t at = wire.find("PLACEHOLDER");
  // The same length, so the framing stays valid: "abcd", two bytes no UTF-8 text has, "defgh".
  wire.replace(at, 11, std::string("abcd") + "\xff\xfe" + "defgh");
  const grpc::Status status = RawGenerate(wire);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
  EXPECT_EQ(status.error_message(), "prompt must be valid UTF-8");
}

TEST_F(BadInput, OversizedMessage) {
  v1::GenerateImageRequest request = Valid();
  request.set_prompt(std::string(2 << 20, 'a'));
  v1::GenerateImageResponse response;
  const grpc::Status status = rig_->Generate(request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << status.error_message();
}

TEST_F(BadInput, MalformedProtobufBytes) {
  const grpc::Status status = RawGenerate("\x0a\xff\xff\xff\xff\x0f garbage");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
  EXPECT_NE(status.error_message().find("malformed protobuf"), std::string::npos)
      << status.error_message();
}

TEST_F(BadInput, ClientThatDisconnectsMidStream) {
  auto context = std::make_unique<grpc::ClientContext>();
  auto reader = rig_->stub().StreamGenerateImage(context.get(), Valid());
  v1::StreamGenerateImageResponse event;
  ASSERT_TRUE(reader->Read(&event));  // queued
  context->TryCancel();
  while (reader->Read(&event)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
}

// Cancels racing completions: every call ends exactly once, OK or CANCELLED, and nothing leaks.
TEST_F(BadInput, AThousandCancelsRacingCompletions) {
  constexpr int kCalls = 1000;
  std::atomic<int> ok{0};
  std::atomic<int> cancelled{0};
  std::atomic<int> other{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = t; i < kCalls; i += 8) {
        grpc::ClientContext context;
        v1::GenerateImageRequest request = Valid();
        request.set_steps(1);
        request.set_seed(1 + i);
        v1::GenerateImageResponse response;
        std::thread canceller([&context, i] {
          std::this_thread::sleep_for(std::chrono::microseconds(50 * (i % 40)));
          context.TryCancel();
        });
        const grpc::Status status = rig_->stub().GenerateImage(&context, request, &response);
        canceller.join();
        if (status.ok()) {
          ++ok;
        } else if (status.error_code() == grpc::StatusCode::CANCELLED) {
          ++cancelled;
        } else {
          ++other;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(ok + cancelled, kCalls);
  EXPECT_EQ(other, 0);
  EXPECT_GT(cancelled, 0);
}

}  // namespace
}  // namespace streamdit::server::testing
