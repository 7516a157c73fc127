// The OpenAI images request as JSON -> the runtime's job: every field's mapping, the defaults left
// to the model, and each malformed field refused naming it (the message starts with the HTTP
// field, which http_errors.h turns into OpenAI's "param").
#include "server/http/openai_images.h"

#include <gtest/gtest.h>

#include <string>

#include "server/http/http_errors.h"

namespace streamdit::server {
namespace {

ImagesRequest Parsed(const std::string& body) {
  absl::StatusOr<ImagesRequest> parsed = ParseImagesRequest(body, std::nullopt);
  EXPECT_TRUE(parsed.ok()) << body << ": " << parsed.status();
  return parsed.ok() ? *std::move(parsed) : ImagesRequest{};
}

TEST(OpenAiImagesRequest, MapsOpenAisFieldsAndTheExtras) {
  const ImagesRequest request = Parsed(R"({
      "model": "flux1-dev", "prompt": "a fox", "n": 3, "size": "1024x768",
      "response_format": "b64_json", "output_format": "png", "user": "u-42", "stream": true,
      "seed": 4294967295, "num_inference_steps": 28, "guidance_scale": 0,
      "loras": [{"name": "ink", "strength": 0}, {"name": "film"}], "priority": "high"})");
  const GenerationJob& job = request.job;
  EXPECT_EQ(job.model, "flux1-dev");
  EXPECT_EQ(job.request.prompt, "a fox");
  EXPECT_EQ(job.request.batch_size, 3);
  EXPECT_EQ(job.request.width, 1024);
  EXPECT_EQ(job.request.height, 768);
  EXPECT_EQ(job.request.seed, 4294967295u);
  EXPECT_EQ(job.request.steps, 28);
  EXPECT_EQ(job.request.guidance, 0.0);  // 0 is askable, not "the default"
  ASSERT_EQ(job.loras.size(), 2u);
  EXPECT_EQ(job.loras[0].name, "ink");
  EXPECT_EQ(job.loras[0].strength, 0.0);
  EXPECT_EQ(job.loras[1].strength, 1.0);  // left out: 1
  EXPECT_EQ(job.priority, scheduler::Priority::kHigh);
  EXPECT_EQ(request.output_format, ImageFormat::kPng);
  EXPECT_EQ(request.output_compression, 100);  // left out: OpenAI's default
  EXPECT_TRUE(request.stream);
  EXPECT_EQ(request.user, "u-42");
}

TEST(OpenAiImagesRequest, UnsetNullAutoAndUnknownFieldsLeaveTheModelsDefaults) {
  for (const std::string& body :
       {std::string(R"({"prompt": ""})"),
        std::string(R"({"prompt": "x", "size": "auto", "n": null, "seed": null, "model": null})"),
        std::string(R"({"prompt": "x", "quality": "hd", "style": "vivid", "made_up": [1]})")}) {
    const ImagesRequest request = Parsed(body);
    EXPECT_TRUE(request.job.model.empty()) << body;
    EXPECT_FALSE(request.job.request.width.has_value()) << body;
    EXPECT_FALSE(request.job.request.steps.has_value()) << body;
    EXPECT_FALSE(request.job.request.guidance.has_value()) << body;
    EXPECT_EQ(request.job.request.batch_size, 1) << body;
    EXPECT_EQ(request.job.request.seed, 0u) << body;  // the runtime draws one
    EXPECT_EQ(request.job.priority, scheduler::Priority::kNormal) << body;
    EXPECT_FALSE(request.stream) << body;
  }
}

TEST(OpenAiImagesRequest, OutputFormatAndCompression) {
  const ImagesRequest jpeg = Parsed(R"({"prompt": "x", "output_format": "jpeg",
                                        "output_compression": 0})");
  EXPECT_EQ(jpeg.output_format, ImageFormat::kJpeg);
  EXPECT_EQ(jpeg.output_compression, 0);
  const ImagesRequest webp = Parsed(R"({"prompt": "x", "output_format": "webp"})");
  EXPECT_EQ(webp.output_format, ImageFormat::kWebp);
  EXPECT_EQ(webp.output_compression, 100);
}

TEST(OpenAiImagesRequest, EachMalformedFieldIsRefusedNamingIt) {
  const std::pair<std::string, std::string> cases[] = {
      {"{", "body"},
      {"[]", "body"},
      {"\"text\"", "body"},
      {"{\"prompt\": \"\xff\"}", "body"},  // not UTF-8
      {R"({})", "prompt"},
      {R"({"prompt": ["a"]})", "prompt"},
      {R"({"prompt": "x", "model": 1})", "model"},
      {R"({"prompt": "x", "n": 0})", "n"},
      {R"({"prompt": "x", "n": 2.5})", "n"},
      {R"({"prompt": "x", "n": "2"})", "n"},
      {R"({"prompt": "x", "size": "1024"})", "size"},
      {R"({"prompt": "x", "size": "1024x"})", "size"},
      {R"({"prompt": "x", "size": "-16x64"})", "size"},
      {R"({"prompt": "x", "size": "0x64"})", "size"},
      {R"({"prompt": "x", "size": "64X64"})", "size"},
      {R"({"prompt": "x", "response_format": "url"})", "response_format"},
      {R"({"prompt": "x", "output_format": "gif"})", "output_format"},
      {R"({"prompt": "x", "output_format": "JPEG"})", "output_format"},
      {R"({"prompt": "x", "output_compression": 101})", "output_compression"},
      {R"({"prompt": "x", "output_compression": 50.5})", "output_compression"},
      {R"({"prompt": "x", "stream": 1})", "stream"},
      {R"({"prompt": "x", "seed": -5})", "seed"},
      {R"({"prompt": "x", "seed": 1e3})", "seed"},
      {R"({"prompt": "x", "num_inference_steps": 0})", "num_inference_steps"},
      {R"({"prompt": "x", "guidance_scale": "3"})", "guidance_scale"},
      {R"({"prompt": "x", "loras": {"name": "a"}})", "loras"},
      {R"({"prompt": "x", "loras": [{"name": 3}]})", "loras"},
      {R"({"prompt": "x", "loras": [{"name": "a", "strength": "1"}]})", "loras"},
      {R"({"prompt": "x", "priority": 1})", "priority"},
      {R"({"prompt": "x", "user": 7})", "user"},
  };
  for (const auto& [body, field] : cases) {
    const absl::StatusOr<ImagesRequest> parsed = ParseImagesRequest(body, std::nullopt);
    ASSERT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << body;
    const std::string message(parsed.status().message());
    EXPECT_EQ(message.rfind(field, 0), 0u) << body << ": " << message;
    const nlohmann::json error = OpenAiErrorBody(parsed.status())["error"];
    EXPECT_EQ(error["type"], "invalid_request_error");
    if (field != "body") {
      EXPECT_EQ(error["param"], field) << body;
    }
  }
}

}  // namespace
}  // namespace streamdit::server
