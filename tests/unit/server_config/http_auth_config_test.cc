// The `http` and `auth` sections: the HTTP front end off unless configured (or turned on by
// STREAMDIT_HTTP_LISTEN / --http-listen), its body limit, and where API keys come from.
#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "server/config/config_loader.h"
#include "server/config/config_overrides.h"

namespace streamdit::server {
namespace {

constexpr char kMinimal[] = R"(devices:
  - name: cpu
    budget: 4GiB
models:
  - name: demo
    dir: models/demo
)";

absl::StatusOr<ServerConfig> Parse(const std::string& text) {
  return ParseServerConfig(text, "test.yaml", "/etc/streamdit");
}

TEST(HttpAuthConfig, OffAndOpenByDefault) {
  const absl::StatusOr<ServerConfig> config = Parse(kMinimal);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_FALSE(config->http.has_value());
  EXPECT_TRUE(config->auth.api_keys_file.empty());
  EXPECT_TRUE(config->auth.api_keys_env.empty());
}

TEST(HttpAuthConfig, ReadsBothSections) {
  const absl::StatusOr<ServerConfig> config = Parse(std::string(kMinimal) + R"(http:
  listen: 0.0.0.0:8080
  max_body_bytes: 2MiB
auth:
  api_keys_file: secrets/keys.txt
)");
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_TRUE(config->http.has_value());
  EXPECT_EQ(config->http->listen, "0.0.0.0:8080");
  EXPECT_EQ(config->http->max_body_bytes, 2 << 20);
  EXPECT_EQ(config->auth.api_keys_file, "/etc/streamdit/secrets/keys.txt");  // relative: config's

  const absl::StatusOr<ServerConfig> from_env =
      Parse(std::string(kMinimal) + "auth:\n  api_keys_env: MY_KEYS\n");
  ASSERT_TRUE(from_env.ok()) << from_env.status();
  EXPECT_EQ(from_env->auth.api_keys_env, "MY_KEYS");
}

TEST(HttpAuthConfig, BadValuesNameTheKey) {
  for (const auto& [text, key] : {
           std::pair<std::string, std::string>{"http:\n  max_body_bytes: 1MiB\n", "http.listen"},
           {"http:\n  listen: nowhere\n", "http.listen"},
           {"http:\n  listen: unix:/tmp/s\n", "http.listen"},
           {"http:\n  listen: 0.0.0.0:80\n  max_body_bytes: 10\n", "http.max_body_bytes"},
           {"http:\n  listen: 0.0.0.0:80\n  port: 1\n", "http.port"},
           {"auth:\n  api_keys_file: a\n  api_keys_env: B\n", "auth"},
           {"auth:\n  keys: abc\n", "auth.keys"},
       }) {
    const absl::StatusOr<ServerConfig> config = Parse(std::string(kMinimal) + text);
    ASSERT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument) << text;
    EXPECT_NE(config.status().message().find(key), absl::string_view::npos)
        << text << ": " << config.status();
  }
}

TEST(HttpAuthConfig, TheVariableAndTheFlagTurnHttpOn) {
  absl::StatusOr<ServerConfig> config = Parse(kMinimal);
  ASSERT_TRUE(config.ok());
  const absl::Status applied =
      ApplyEnvironmentOverrides(*config, [](const char* name) -> std::optional<std::string> {
        if (std::string(name) == "STREAMDIT_HTTP_LISTEN") return "127.0.0.1:9000";
        return std::nullopt;
      });
  ASSERT_TRUE(applied.ok()) << applied;
  ASSERT_TRUE(config->http.has_value());
  EXPECT_EQ(config->http->listen, "127.0.0.1:9000");
  EXPECT_EQ(config->http->max_body_bytes, 1 << 20);
  ASSERT_TRUE(SetHttpListen(*config, "[::1]:9001").ok());
  EXPECT_EQ(config->http->listen, "[::1]:9001");
  EXPECT_EQ(SetHttpListen(*config, "9001").code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace streamdit::server
