// Channel credentials of the gRPC commands (client, loadtest), from their
// --tls-ca / --tls-cert / --tls-key flags: plaintext when none is given; TLS
// when --tls-ca or --tls-cert is (trusting --tls-ca, or the system roots);
// with --tls-cert and --tls-key, a client certificate (mutual TLS).
#pragma once

#include <grpcpp/security/credentials.h>

#include <memory>

#include "cli/flags.h"
#include "engine/util/status.h"

namespace rs::cli {

// Errors: INVALID_ARGUMENT when only one of --tls-cert and --tls-key is
// given; rs::ReadFileBounded's for a file that cannot be read.
StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ClientCredentials(const Flags& flags);

}  // namespace rs::cli
