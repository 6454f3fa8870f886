// API keys (hashed key file -> tenant, Bearer metadata), per-tenant limits,
// TLS and mutual TLS with certificates the test makes with openssl.
#include <cstdlib>
#include <fstream>
#include <thread>

#include "engine/util/file.h"
#include "service/auth.h"
#include "tests/service/service_test_util.h"

namespace rs::service::testing {
namespace {

using namespace std::chrono_literals;
using grpc::StatusCode;

TEST(ApiKeysTest, ParsesHashesTenantsAndOptions) {
  const std::string a = ApiKeys::HashKey("key-a"), b = ApiKeys::HashKey("key-b");
  auto keys = ApiKeys::Parse("# comment\n\n" + a + " alice max_concurrent=2 models=m,n\n" + b + "\tbob  # trailing\n");
  ASSERT_TRUE(keys.ok()) << keys.status().ToString();
  EXPECT_EQ(keys->size(), 2u);
  auto alice = keys->Authenticate("Bearer key-a");
  ASSERT_TRUE(alice.ok());
  EXPECT_EQ((*alice)->name, "alice");
  EXPECT_EQ((*alice)->max_concurrent, 2);
  EXPECT_TRUE((*alice)->Allows("n").ok());
  EXPECT_EQ((*alice)->Allows("z").code(), rs::StatusCode::kPermissionDenied);
  auto bob = keys->Authenticate("Bearer key-b");
  ASSERT_TRUE(bob.ok());
  EXPECT_TRUE((*bob)->Allows("anything").ok());
  for (const char* bad : {"", "Bearer", "Bearer ", "bearer key-a", "key-a", "Bearer key-c", "Basic a2V5LWE="}) {
    EXPECT_EQ(keys->Authenticate(bad).status().code(), rs::StatusCode::kUnauthenticated) << bad;
  }
  EXPECT_EQ(ApiKeys::HashKey("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const std::string k1 = ApiKeys::NewKey(), k2 = ApiKeys::NewKey();
  EXPECT_EQ(k1.size(), 46u);
  EXPECT_NE(k1, k2);
}

TEST(ApiKeysTest, RejectsBadFiles) {
  const std::string h = ApiKeys::HashKey("x");
  for (const std::string& bad : {std::string("abc alice"), h, h + " alice max_concurrent=x", h + " alice colour=red",
                                h + " alice\n" + h + " bob", h.substr(0, 63) + "g alice", h + " alice models="}) {
    EXPECT_EQ(ApiKeys::Parse(bad).status().code(), rs::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_EQ(ApiKeys::Load("/nonexistent/keys").status().code(), rs::StatusCode::kNotFound);
}

class AuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::make_unique<TempDir>("auth");
    std::ofstream f(dir_->File("keys"));
    f << ApiKeys::HashKey("alice-key") << " alice max_concurrent=1\n"
      << ApiKeys::HashKey("bob-key") << " bob models=other\n";
  }
  static grpc::Status Call(TestServer& t, const std::string& auth, int max_tokens = 3,
                           grpc::ClientContext* ctx = nullptr) {
    grpc::ClientContext local;
    if (ctx == nullptr) ctx = &local;
    if (!auth.empty()) ctx->AddMetadata("authorization", auth);
    return Generate(*t.stub, TokenRequest({1, 2}, max_tokens, 1), ctx).status;
  }
  std::unique_ptr<TempDir> dir_;
};

TEST_F(AuthTest, KeysDecideWhoMayCall) {
  ServerOptions o = DefaultServerOptions();
  o.api_keys_file = dir_->File("keys");
  TestServer t = StartServer(o);
  ASSERT_TRUE(t.server->auth_enabled());
  EXPECT_EQ(Call(t, "").error_code(), StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Call(t, "Bearer wrong").error_code(), StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Call(t, "alice-key").error_code(), StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(Call(t, "Bearer alice-key").ok());
  EXPECT_EQ(Call(t, "Bearer bob-key").error_code(), StatusCode::PERMISSION_DENIED);
  {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer alice-key");
    v1::ListModelsResponse resp;
    ASSERT_TRUE(t.stub->ListModels(&ctx, v1::ListModelsRequest(), &resp).ok());
    EXPECT_EQ(resp.models_size(), 1);
  }
  {
    grpc::ClientContext ctx;  // unary RPCs need a key too
    v1::ListModelsResponse resp;
    EXPECT_EQ(t.stub->ListModels(&ctx, v1::ListModelsRequest(), &resp).error_code(), StatusCode::UNAUTHENTICATED);
  }
  // alice may run one request at a time. (Her earlier calls may still count
  // as in flight for a moment after their clients saw them end.)
  ASSERT_TRUE(t.server->service().WaitNoneInFlight(std::chrono::steady_clock::now() + 10s));
  std::atomic<bool> first_token{false}, long_done{false};
  grpc::Status long_status;
  std::thread long_call([&] {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer alice-key");
    long_status = Generate(*t.stub, TokenRequest({1, 2}, 4000, 1), &ctx, [&](int) { first_token = true; }).status;
    long_done = true;
  });
  while (!first_token.load() && !long_done.load()) std::this_thread::sleep_for(1ms);
  if (!first_token.load()) {
    long_call.join();
    FAIL() << "the long call produced no token: " << long_status.error_message();
  }
  const grpc::Status second = Call(t, "Bearer alice-key");
  long_call.join();
  EXPECT_EQ(second.error_code(), StatusCode::RESOURCE_EXHAUSTED) << second.error_message();
  EXPECT_TRUE(long_status.ok());
  ASSERT_TRUE(t.server->service().WaitNoneInFlight(std::chrono::steady_clock::now() + 10s));
  EXPECT_TRUE(Call(t, "Bearer alice-key").ok());  // the slot came back
  ASSERT_TRUE(t.server->service().WaitNoneInFlight(std::chrono::steady_clock::now() + 10s));
  const std::string m = t.server->metrics().Serialize();
  EXPECT_EQ(MetricValue(m, "recurrent_requests_total{code=\"UNAUTHENTICATED\",method=\"Generate\",model=\"\"}"), 3);
}

TEST_F(AuthTest, WithoutAKeyFileEveryoneIsTheDefaultTenant) {
  TestServer t = StartServer();
  EXPECT_FALSE(t.server->auth_enabled());
  EXPECT_TRUE(Call(t, "").ok());
  EXPECT_TRUE(Call(t, "Bearer anything").ok());
}

// A CA, a server certificate for localhost / 127.0.0.1 and a client
// certificate, all signed by the CA; plus an unrelated CA.
class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir("tls");
    const std::string d = dir_->path();
    const std::string ec = " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes ";
    const std::string script =
        "cd " + d + " && set -e && " +
        "openssl req -x509" + ec + "-keyout ca.key -out ca.pem -days 2 -subj /CN=test-ca 2>/dev/null && " +
        "openssl req -x509" + ec + "-keyout other-ca.key -out other-ca.pem -days 2 -subj /CN=other-ca 2>/dev/null && " +
        "openssl req" + ec + "-keyout server.key -out server.csr -subj /CN=localhost 2>/dev/null && " +
        "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > san.ext && " +
        "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 "
        "-extfile san.ext 2>/dev/null && " +
        "openssl req" + ec + "-keyout client.key -out client.csr -subj /CN=client 2>/dev/null && " +
        "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out client.pem -days 2 "
        "2>/dev/null";
    ASSERT_EQ(std::system(script.c_str()), 0) << "openssl failed (is the openssl package installed?)";
  }
  static void TearDownTestSuite() { delete dir_; }
  static std::string Read(const std::string& name) { return rs::ReadFileBounded(dir_->File(name), kMaxPemBytes, name).value(); }
  static ServerOptions TlsOptions(bool mutual) {
    ServerOptions o = DefaultServerOptions();
    o.tls_cert = dir_->File("server.pem");
    o.tls_key = dir_->File("server.key");
    if (mutual) o.tls_client_ca = dir_->File("ca.pem");
    return o;
  }
  static std::shared_ptr<grpc::ChannelCredentials> Ssl(const std::string& ca, bool with_client_cert) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = Read(ca);
    if (with_client_cert) {
      ssl.pem_cert_chain = Read("client.pem");
      ssl.pem_private_key = Read("client.key");
    }
    return grpc::SslCredentials(ssl);
  }
  static grpc::Status Call(TestServer& t, std::shared_ptr<grpc::ChannelCredentials> creds) {
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("localhost");
    auto stub = v1::Inference::NewStub(grpc::CreateCustomChannel(t.address(), creds, args));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 10s);
    return Generate(*stub, TokenRequest({1, 2}, 3, 1), &ctx).status;
  }
  static TempDir* dir_;
};
TempDir* TlsTest::dir_ = nullptr;

TEST_F(TlsTest, ServerTls) {
  TestServer t = StartServer(TlsOptions(false), DefaultSchedulerOptions(), {}, true, true, Ssl("ca.pem", false));
  ASSERT_TRUE(t.server->tls_enabled());
  EXPECT_TRUE(Call(t, Ssl("ca.pem", false)).ok());
  EXPECT_EQ(Call(t, grpc::InsecureChannelCredentials()).error_code(), StatusCode::UNAVAILABLE);
  EXPECT_EQ(Call(t, Ssl("other-ca.pem", false)).error_code(), StatusCode::UNAVAILABLE);
}

TEST_F(TlsTest, MutualTlsRequiresAClientCertificateFromTheCa) {
  TestServer t = StartServer(TlsOptions(true), DefaultSchedulerOptions(), {}, true, true, Ssl("ca.pem", true));
  EXPECT_TRUE(Call(t, Ssl("ca.pem", true)).ok());
  EXPECT_EQ(Call(t, Ssl("ca.pem", false)).error_code(), StatusCode::UNAVAILABLE);
  EXPECT_EQ(Call(t, grpc::InsecureChannelCredentials()).error_code(), StatusCode::UNAVAILABLE);
}

TEST_F(TlsTest, BadTlsOptionsAreClearErrors) {
  ServerOptions o = DefaultServerOptions();
  o.tls_cert = dir_->File("server.pem");
  EXPECT_EQ(Server::Start(o).status().code(), rs::StatusCode::kInvalidArgument);  // no key
  o.tls_key = dir_->File("missing.key");
  EXPECT_EQ(Server::Start(o).status().code(), rs::StatusCode::kNotFound);
  ServerOptions m = DefaultServerOptions();
  m.tls_client_ca = dir_->File("ca.pem");
  EXPECT_EQ(Server::Start(m).status().code(), rs::StatusCode::kInvalidArgument);  // mTLS without TLS
}

}  // namespace
}  // namespace rs::service::testing
