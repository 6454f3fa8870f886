#include "service/auth.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "engine/util/file.h"

namespace rs::service {
namespace {

std::array<uint8_t, 32> Sha256(std::string_view s) {
  std::array<uint8_t, 32> out;
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), out.data());
  return out;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::vector<std::string> Split(std::string_view s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(sep, start);
    if (end == std::string_view::npos) end = s.size();
    if (end > start) out.emplace_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

}  // namespace

Status Tenant::Allows(const std::string& model) const {
  if (models.empty()) return OkStatus();
  for (const std::string& m : models) {
    if (m == model) return OkStatus();
  }
  return PermissionDeniedError("tenant '" + name + "' may not use model '" + model + "'");
}

StatusOr<ApiKeys> ApiKeys::Load(const std::string& path) {
  RS_ASSIGN_OR_RETURN(std::string text, ReadFileBounded(path, kMaxKeyFileBytes, "API key file"));
  auto keys = Parse(text);
  if (!keys.ok()) return Status(keys.status().code(), path + ": " + keys.status().message());
  return keys;
}

StatusOr<ApiKeys> ApiKeys::Parse(std::string_view text) {
  ApiKeys keys;
  int line_no = 0;
  for (const std::string& raw_line : Split(text, '\n')) {
    ++line_no;
    std::string line = raw_line.substr(0, raw_line.find('#'));
    for (char& c : line) {
      if (c == '\t' || c == '\r') c = ' ';
    }
    const std::vector<std::string> fields = Split(line, ' ');
    if (fields.empty()) continue;
    const std::string where = "line " + std::to_string(line_no) + ": ";
    if (fields.size() < 2) return InvalidArgumentError(where + "expected '<sha256-hex> <tenant> [options]'");
    Entry e;
    if (fields[0].size() != 64) {
      return InvalidArgumentError(where + "the key hash must be 64 hex digits (SHA-256; keys themselves are never "
                                          "stored: see `recurrent keygen`)");
    }
    for (size_t i = 0; i < 32; ++i) {
      const int hi = HexValue(fields[0][2 * i]), lo = HexValue(fields[0][2 * i + 1]);
      if (hi < 0 || lo < 0) return InvalidArgumentError(where + "the key hash is not hexadecimal");
      e.hash[i] = static_cast<uint8_t>(hi * 16 + lo);
    }
    e.tenant.name = fields[1];
    for (size_t i = 2; i < fields.size(); ++i) {
      const std::string& opt = fields[i];
      if (opt.rfind("max_concurrent=", 0) == 0) {
        const std::string v = opt.substr(15);
        if (v.empty() || v.size() > 7 || v.find_first_not_of("0123456789") != std::string::npos) {
          return InvalidArgumentError(where + "max_concurrent must be an integer in [0, 9999999]");
        }
        e.tenant.max_concurrent = std::stoi(v);
      } else if (opt.rfind("models=", 0) == 0) {
        e.tenant.models = Split(std::string_view(opt).substr(7), ',');
        if (e.tenant.models.empty()) return InvalidArgumentError(where + "models= lists no model");
      } else {
        return InvalidArgumentError(where + "unknown option '" + opt + "' (max_concurrent=N, models=a,b)");
      }
    }
    for (const Entry& other : keys.entries_) {
      if (other.hash == e.hash) return InvalidArgumentError(where + "the same key hash appears twice");
    }
    keys.entries_.push_back(std::move(e));
  }
  return keys;
}

StatusOr<const Tenant*> ApiKeys::Authenticate(std::string_view authorization) const {
  constexpr std::string_view kBearer = "Bearer ";
  if (authorization.empty()) {
    return UnauthenticatedError("missing API key: send the metadata 'authorization: Bearer <key>'");
  }
  if (authorization.size() <= kBearer.size() || authorization.substr(0, kBearer.size()) != kBearer) {
    return UnauthenticatedError("malformed authorization metadata: expected 'Bearer <key>'");
  }
  const std::array<uint8_t, 32> h = Sha256(authorization.substr(kBearer.size()));
  const Tenant* found = nullptr;
  // Compare against every entry in constant time, so timing reveals nothing.
  for (const Entry& e : entries_) {
    if (CRYPTO_memcmp(e.hash.data(), h.data(), h.size()) == 0) found = &e.tenant;
  }
  if (found == nullptr) return UnauthenticatedError("unknown API key");
  return found;
}

std::string ApiKeys::HashKey(std::string_view key) {
  static const char kHex[] = "0123456789abcdef";
  const std::array<uint8_t, 32> h = Sha256(key);
  std::string out;
  for (uint8_t b : h) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

std::string ApiKeys::NewKey() {
  static const char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  unsigned char bytes[43];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) return "";
  std::string key = "rs-";
  for (unsigned char b : bytes) key += kAlphabet[b & 63];
  return key;
}

}  // namespace rs::service
