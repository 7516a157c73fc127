// TLS and mutual TLS on the gRPC port, with certificates made by openssl for the test: a client
// that trusts the server's CA connects; with mTLS on, a client without a certificate (or with one
// from another CA) is refused, and one with a certificate from the configured client CA is served.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/integration/health_client.h"
#include "tests/integration/server_test_rig.h"

namespace streamdit::server::testing {
namespace {

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// A CA, a server certificate for 127.0.0.1 / localhost signed by it, a client certificate signed
// by it, and a client certificate signed by a second, untrusted CA.
class Certificates {
 public:
  Certificates() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "streamdit_tls_XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = pattern;
    MakeCa("ca");
    MakeCa("other_ca");
    MakeLeaf("server", "ca", "subjectAltName=IP:127.0.0.1,DNS:localhost");
    MakeLeaf("client", "ca", "extendedKeyUsage=clientAuth");
    MakeLeaf("intruder", "other_ca", "extendedKeyUsage=clientAuth");
  }
  ~Certificates() { std::filesystem::remove_all(dir_); }
  std::string File(const std::string& name) const { return dir_ + "/" + name; }

 private:
  void Run(const std::string& command) {
    const std::string quiet = "cd '" + dir_ + "' && (" + command + ") >/dev/null 2>&1";
    if (std::system(quiet.c_str()) != 0) throw std::runtime_error("failed: " + command);
  }
  void MakeCa(const std::string& name) {
    Run("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=" + name + " -keyout " + name +
        ".key -out " + name + ".crt");
  }
  void MakeLeaf(const std::string& name, const std::string& ca, const std::string& extension) {
    Run("openssl req -newkey rsa:2048 -nodes -subj /CN=" + name + " -keyout " + name +
        ".key -out " + name + ".csr");
    Run("printf '%s\\n' '" + extension + "' > " + name + ".ext");
    Run("openssl x509 -req -in " + name + ".csr -CA " + ca + ".crt -CAkey " + ca +
        ".key -CAcreateserial -days 2 -extfile " + name + ".ext -out " + name + ".crt");
  }
  std::string dir_;
};

std::shared_ptr<grpc::Channel> TlsChannel(const Certificates& certs, int port,
                                          const std::string& client = "") {
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = Read(certs.File("ca.crt"));
  if (!client.empty()) {
    options.pem_private_key = Read(certs.File(client + ".key"));
    options.pem_cert_chain = Read(certs.File(client + ".crt"));
  }
  return grpc::CreateChannel("localhost:" + std::to_string(port), grpc::SslCredentials(options));
}

TEST(Tls, AClientThatTrustsTheCaIsServed) {
  Certificates certs;
  RigOptions options;
  options.grpc.tls = TlsFiles{certs.File("server.crt"), certs.File("server.key"), ""};
  // The rig's own plaintext channel is unused here; it only needs the server.
  ServerRig rig(options);
  auto channel = TlsChannel(certs, rig.server().port());
  EXPECT_EQ(Health(channel), HealthStatus::kServing);
  auto plaintext = grpc::CreateChannel(rig.address(), grpc::InsecureChannelCredentials());
  EXPECT_EQ(Health(plaintext), HealthStatus::kError);
}

TEST(Tls, MutualTlsRefusesClientsWithoutAValidCertificate) {
  Certificates certs;
  RigOptions options;
  options.grpc.tls =
      TlsFiles{certs.File("server.crt"), certs.File("server.key"), certs.File("ca.crt")};
  ServerRig rig(options);
  const int port = rig.server().port();
  EXPECT_EQ(Health(TlsChannel(certs, port, "client")), HealthStatus::kServing);
  EXPECT_EQ(Health(TlsChannel(certs, port)), HealthStatus::kError);
  EXPECT_EQ(Health(TlsChannel(certs, port, "intruder")), HealthStatus::kError);

  auto stub = v1::ImageGeneration::NewStub(TlsChannel(certs, port, "client"));
  grpc::ClientContext context;
  v1::GenerateImageRequest request;
  request.set_seed(3);
  v1::GenerateImageResponse response;
  const grpc::Status status = stub->GenerateImage(&context, request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.images_size(), 1);
}

TEST(Tls, AMissingCertificateFileIsNamed) {
  GrpcServerOptions options;
  options.listen = "127.0.0.1:0";
  options.tls = TlsFiles{"/nonexistent/server.crt", "/nonexistent/server.key", ""};
  absl::StatusOr<std::unique_ptr<GrpcServer>> server = GrpcServer::Start(options);
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(server.status().message().find("/nonexistent/server.crt"), std::string::npos);
}

}  // namespace
}  // namespace streamdit::server::testing
