// PgServer: a private PostgreSQL server for the tests, so `ctest` alone runs
// the store suite against a real one.
//
// With env RS_TEST_PG=<conninfo> that server is used as it is (its user must
// be allowed to CREATE DATABASE). Otherwise Start() finds the newest
// /usr/lib/postgresql/<v>/bin (Debian's `postgresql` package), initdb's a
// data folder under /tmp/rs-pg-XXXXXX and starts the server on a unix socket
// in that folder (no TCP port at all, so parallel runs cannot collide). As
// root, initdb and pg_ctl run as the `postgres` user (runuser): PostgreSQL
// refuses to run as root. Stop() stops it (immediate mode) and removes the
// folder. fsync is off: the server is thrown away.
//
// Thread-safety: not thread-safe; use from the test's main thread.
#pragma once

#include <glob.h>
#include <libpq-fe.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "engine/util/status.h"

namespace rs::sessions::testing {

class PgServer {
 public:
  ~PgServer() { Stop(); }

  // The conninfo of the server's maintenance database ("postgres"), starting
  // the server on the first call. The error says what is missing.
  StatusOr<std::string> Start() {
    if (!conninfo_.empty()) return conninfo_;
    if (!error_.ok()) return error_;
    if (const char* env = std::getenv("RS_TEST_PG"); env != nullptr && *env != '\0') {
      conninfo_ = env;
      return conninfo_;
    }
    Status s = StartPrivate();
    if (!s.ok()) {
      error_ = Status(s.code(),
                      s.message() + ": " + Tail(dir_ + "/initdb.log") + Tail(dir_ + "/server.log"));
      Stop();
      return error_;
    }
    return conninfo_;
  }

  void Stop() {
    if (dir_.empty()) return;
    Shell(Bin("pg_ctl") + " -D " + dir_ + "/data -m immediate -w stop > /dev/null 2>&1");
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    dir_.clear();
  }

  // `base` with dbname replaced (works for key=value strings and URIs).
  static StatusOr<std::string> WithDatabase(const std::string& base, const std::string& dbname) {
    char* err = nullptr;
    PQconninfoOption* opts = PQconninfoParse(base.c_str(), &err);
    if (opts == nullptr) {
      std::string msg = err != nullptr ? err : "out of memory";
      PQfreemem(err);
      return InvalidArgumentError("bad conninfo: " + msg);
    }
    std::string out;
    for (PQconninfoOption* o = opts; o->keyword != nullptr; ++o) {
      const bool is_db = std::string(o->keyword) == "dbname";
      if (!is_db && o->val == nullptr) continue;
      out += std::string(o->keyword) + "='" + Escape(is_db ? dbname : o->val) + "' ";
    }
    PQconninfoFree(opts);
    return out;
  }

 private:
  static std::string Escape(const std::string& v) {
    std::string out;
    for (char c : v) {
      if (c == '\'' || c == '\\') out.push_back('\\');
      out.push_back(c);
    }
    return out;
  }

  // The last lines of a log, for an error message.
  static std::string Tail(const std::string& path) {
    std::ifstream f(path);
    std::string all((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    return all.size() > 600 ? all.substr(all.size() - 600) : all;
  }

  static int Shell(const std::string& cmd) { return std::system(cmd.c_str()); }

  std::string Bin(const std::string& tool) const { return as_user_ + bin_dir_ + "/" + tool; }

  // The bin folder of the newest installed PostgreSQL, or "".
  static std::string FindBinDir() {
    glob_t g{};
    std::vector<std::string> dirs;
    if (glob("/usr/lib/postgresql/*/bin/initdb", 0, nullptr, &g) == 0) {
      for (size_t i = 0; i < g.gl_pathc; ++i)
        dirs.push_back(std::filesystem::path(g.gl_pathv[i]).parent_path());
    }
    globfree(&g);
    auto version = [](const std::string& d) {
      return std::atof(std::filesystem::path(d).parent_path().filename().c_str());
    };
    std::sort(dirs.begin(), dirs.end(),
              [&](const auto& a, const auto& b) { return version(a) < version(b); });
    return dirs.empty() ? "" : dirs.back();
  }

  Status StartPrivate() {
    bin_dir_ = FindBinDir();
    if (bin_dir_.empty()) {
      return UnavailableError(
          "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb; "
          "apt-get install postgresql, or set RS_TEST_PG)");
    }
    char tmpl[] = "/tmp/rs-pg-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) return InternalError("mkdtemp failed");
    dir_ = tmpl;
    if (geteuid() == 0) {
      const passwd* pw = getpwnam("postgres");
      if (pw == nullptr)
        return UnavailableError(
            "running as root and there is no `postgres` user to run PostgreSQL");
      if (chown(dir_.c_str(), pw->pw_uid, pw->pw_gid) != 0)
        return InternalError("chown " + dir_ + " failed");
      as_user_ = "runuser -u postgres -- ";
    }
    const std::string log = dir_ + "/server.log";
    if (Shell(Bin("initdb") + " -D " + dir_ +
              "/data -U postgres -A trust -E UTF8 --locale=C --no-sync > " + dir_ +
              "/initdb.log 2>&1") != 0) {
      return UnavailableError("initdb failed; see " + dir_ + "/initdb.log");
    }
    const std::string options = "-k " + dir_ +
                                " -c listen_addresses= -c fsync=off -c synchronous_commit=off "
                                "-c full_page_writes=off -c max_connections=200";
    if (Shell(Bin("pg_ctl") + " -D " + dir_ + "/data -l " + log + " -w -t 60 -o '" + options +
              "' start > /dev/null 2>&1") != 0) {
      return UnavailableError("pg_ctl start failed; see " + log);
    }
    conninfo_ = "host=" + dir_ + " port=5432 user=postgres dbname=postgres";
    return OkStatus();
  }

  std::string bin_dir_;
  std::string as_user_;  // "runuser -u postgres -- " as root
  std::string dir_;      // the private folder: data/, the socket, logs
  std::string conninfo_;
  Status error_;
};

inline void IgnoreNotice(void*, const char*) {}

// Runs `sql` (test-made, no user data) on its own connection; with params.
inline Status PgExec(const std::string& conninfo, const std::string& sql,
              const std::vector<std::string>& params = {}) {
  PGconn* c = PQconnectdb(conninfo.c_str());
  if (PQstatus(c) != CONNECTION_OK) {
    Status s = UnavailableError(PQerrorMessage(c));
    PQfinish(c);
    return s;
  }
  PQsetNoticeProcessor(c, IgnoreNotice, nullptr);
  std::vector<const char*> values;
  for (const auto& p : params) values.push_back(p.c_str());
  PGresult* r = PQexecParams(c, sql.c_str(), static_cast<int>(values.size()), nullptr,
                             values.data(), nullptr, nullptr, 0);
  const auto st = PQresultStatus(r);
  Status s = (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
                 ? OkStatus()
                 : InternalError(PQresultErrorMessage(r));
  PQclear(r);
  PQfinish(c);
  return s;
}

// Creates (after dropping) database `name` on the server `admin` names;
// returns its conninfo.
inline StatusOr<std::string> CreateDatabase(const std::string& admin, const std::string& name) {
  RS_RETURN_IF_ERROR(PgExec(admin, "DROP DATABASE IF EXISTS " + name));
  RS_RETURN_IF_ERROR(PgExec(admin, "CREATE DATABASE " + name));
  return PgServer::WithDatabase(admin, name);
}

// One server per test binary, started on first use and stopped after the
// last test (a gtest global environment registered at start-up).
inline PgServer& SharedPgServer() {
  static PgServer server;
  return server;
}
class StopSharedPgServer : public ::testing::Environment {
 public:
  void TearDown() override { SharedPgServer().Stop(); }
};
inline ::testing::Environment* const kStopSharedPgServer =
    ::testing::AddGlobalTestEnvironment(new StopSharedPgServer);

}  // namespace rs::sessions::testing
