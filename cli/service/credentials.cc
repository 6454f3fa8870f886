#include "cli/service/credentials.h"

#include "engine/util/file.h"
#include "service/server.h"

namespace rs::cli {

StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ClientCredentials(const Flags& flags) {
  if (flags.Has("tls-cert") != flags.Has("tls-key")) return InvalidArgumentError("--tls-cert and --tls-key go together");
  if (!flags.Has("tls-ca") && !flags.Has("tls-cert")) return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions ssl;
  if (flags.Has("tls-ca")) {
    RS_ASSIGN_OR_RETURN(ssl.pem_root_certs, ReadFileBounded(flags.Get("tls-ca"), service::kMaxPemBytes, "CA file"));
  }
  if (flags.Has("tls-cert")) {
    RS_ASSIGN_OR_RETURN(ssl.pem_cert_chain,
                        ReadFileBounded(flags.Get("tls-cert"), service::kMaxPemBytes, "TLS certificate"));
    RS_ASSIGN_OR_RETURN(ssl.pem_private_key, ReadFileBounded(flags.Get("tls-key"), service::kMaxPemBytes, "TLS key"));
  }
  return grpc::SslCredentials(ssl);
}

}  // namespace rs::cli
