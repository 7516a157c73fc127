#include "server/config/config_overrides.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

namespace streamdit::server {
namespace {

EnvironmentLookup FakeEnvironment(std::map<std::string, std::string> variables) {
  return [variables = std::move(variables)](const char* name) -> std::optional<std::string> {
    const auto found = variables.find(name);
    if (found == variables.end()) return std::nullopt;
    return found->second;
  };
}

TEST(ApplyEnvironmentOverrides, SetsEachVariable) {
  ServerConfig config;
  ASSERT_TRUE(ApplyEnvironmentOverrides(config, FakeEnvironment({
                                                    {"STREAMDIT_LISTEN", "127.0.0.1:7000"},
                                                    {"STREAMDIT_METRICS_LISTEN", "[::]:9100"},
                                                    {"STREAMDIT_LOG_LEVEL", "warn"},
                                                    {"STREAMDIT_GRACE_PERIOD", "2m"},
                                                }))
                  .ok());
  EXPECT_EQ(config.listen, "127.0.0.1:7000");
  EXPECT_EQ(config.metrics_listen, "[::]:9100");
  EXPECT_EQ(config.log_level, LogLevel::kWarn);
  EXPECT_EQ(config.grace_period, std::chrono::minutes(2));
}

TEST(ApplyEnvironmentOverrides, UnsetAndEmptyVariablesLeaveTheConfigAlone) {
  ServerConfig config;
  config.metrics_listen = "0.0.0.0:9090";
  ASSERT_TRUE(ApplyEnvironmentOverrides(config, FakeEnvironment({{"STREAMDIT_LISTEN", ""}})).ok());
  EXPECT_EQ(config.listen, "0.0.0.0:50051");
  EXPECT_EQ(config.metrics_listen, "0.0.0.0:9090");
}

TEST(ApplyEnvironmentOverrides, BadValueNamesTheVariableAndWhatIsAllowed) {
  const struct {
    const char* variable;
    const char* value;
    const char* allowed;
  } cases[] = {
      {"STREAMDIT_LISTEN", "50051", "host:port"},
      {"STREAMDIT_METRICS_LISTEN", "unix:/x.sock", "host:port"},
      {"STREAMDIT_LOG_LEVEL", "loud", "must be one of trace, debug, info, warn, error"},
      {"STREAMDIT_GRACE_PERIOD", "30", "ms, s, m or h"},
  };
  for (const auto& c : cases) {
    ServerConfig config;
    const absl::Status status =
        ApplyEnvironmentOverrides(config, FakeEnvironment({{c.variable, c.value}}));
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.variable;
    const std::string message(status.message());
    EXPECT_NE(message.find(std::string("environment variable ") + c.variable + ": \"" + c.value),
              std::string::npos)
        << message;
    EXPECT_NE(message.find(c.allowed), std::string::npos) << message;
  }
}

TEST(Setters, LeaveTheConfigUnchangedOnError) {
  ServerConfig config;
  EXPECT_FALSE(SetListen(config, "nonsense").ok());
  EXPECT_FALSE(SetLogLevel(config, "verbose").ok());
  EXPECT_FALSE(SetGracePeriod(config, "-1s").ok());
  EXPECT_FALSE(SetMetricsListen(config, "").ok());
  EXPECT_EQ(config.listen, "0.0.0.0:50051");
  EXPECT_EQ(config.log_level, LogLevel::kInfo);
  EXPECT_EQ(config.grace_period, std::chrono::seconds(30));
  EXPECT_FALSE(config.metrics_listen.has_value());
  EXPECT_TRUE(SetListen(config, "unix:/run/streamdit.sock").ok());
  EXPECT_EQ(config.listen, "unix:/run/streamdit.sock");
}

}  // namespace
}  // namespace streamdit::server
