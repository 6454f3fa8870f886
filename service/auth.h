// API keys: who may call the server, as which tenant.
//
// The key file holds hashes, never keys. One entry per line:
//   <sha256-hex-of-key> <tenant> [max_concurrent=N] [models=a,b,...]
// '#' starts a comment; blank lines are ignored. `recurrent keygen --tenant T`
// prints a fresh random key and the line to add. Clients send
// `authorization: Bearer <key>`.
//
// Authenticate: UNAUTHENTICATED for a missing, malformed or unknown key.
// Tenant::Allows: PERMISSION_DENIED for a model outside the tenant's list.
// Keys are compared by their SHA-256 in constant time.
//
// Thread-safety: immutable after Load/Parse; const methods from any thread.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/util/status.h"

namespace rs::service {

struct Tenant {
  std::string name;
  int max_concurrent = 0;           // concurrent requests; 0: no limit
  std::vector<std::string> models;  // empty: every model
  // OK, or PERMISSION_DENIED naming the tenant and model.
  Status Allows(const std::string& model) const;
};

class ApiKeys {
 public:
  static constexpr size_t kMaxKeyFileBytes = 16 << 20;
  // Errors: NOT_FOUND (no file), INVALID_ARGUMENT naming the bad line or for a
  // file over kMaxKeyFileBytes.
  static StatusOr<ApiKeys> Load(const std::string& path);
  static StatusOr<ApiKeys> Parse(std::string_view text);

  // `authorization` is the metadata value ("Bearer <key>").
  StatusOr<const Tenant*> Authenticate(std::string_view authorization) const;

  size_t size() const { return entries_.size(); }

  // Lower-case hex SHA-256 of `key`.
  static std::string HashKey(std::string_view key);
  // A new random key ("rs-" + 43 base64url characters: 256 bits).
  static std::string NewKey();

 private:
  struct Entry {
    std::array<uint8_t, 32> hash;
    Tenant tenant;
  };
  std::vector<Entry> entries_;
};

}  // namespace rs::service
