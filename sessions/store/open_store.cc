#include "sessions/store/open_store.h"

#include <regex>

#include "sessions/store/postgres_store.h"
#include "sessions/store/sqlite_store.h"

namespace rs::sessions {

StatusOr<std::unique_ptr<SessionStore>> OpenSessionStore(const std::string& spec) {
  const size_t colon = spec.find(':');
  const std::string kind = colon == std::string::npos ? "" : spec.substr(0, colon);
  const std::string rest = colon == std::string::npos ? "" : spec.substr(colon + 1);
  if (kind == "sqlite" && !rest.empty()) {
    RS_ASSIGN_OR_RETURN(std::unique_ptr<SqliteSessionStore> s, SqliteSessionStore::Open(rest));
    return std::unique_ptr<SessionStore>(std::move(s));
  }
  if (kind == "postgres" && !rest.empty()) {
    RS_ASSIGN_OR_RETURN(std::unique_ptr<PostgresSessionStore> s, PostgresSessionStore::Open(rest));
    return std::unique_ptr<SessionStore>(std::move(s));
  }
  return InvalidArgumentError("--sessions wants sqlite:PATH, postgres:CONNINFO or off, got '" +
                              RedactStoreSpec(spec) + "'");
}

std::string RedactStoreSpec(const std::string& spec) {
  static const std::regex kKeyValue(R"((password\s*=\s*)('([^'\\]|\\.)*'?|[^\s&]*))", std::regex::icase);
  static const std::regex kUri(R"((://[^:/@\s]*:)[^@/\s]*@)");
  return std::regex_replace(std::regex_replace(spec, kKeyValue, "$1***"), kUri, "$1***@");
}

}  // namespace rs::sessions
