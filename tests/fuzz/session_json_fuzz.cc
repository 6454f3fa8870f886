// libFuzzer target: the untrusted bytes of the Sessions service. The first
// byte picks the parser:
//   0: ImportJson (Sessions.Import's JSON); what imports must export to JSON
//      that imports again and exports to the same text (a fixed point);
//   1: scheduler::SessionState::Parse (a snapshot's bytes, which Import also
//      brings); what parses must serialize to bytes that parse to the same.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "scheduler/session_state.h"
#include "sessions/core/export_json.h"

namespace {

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "%s\n", what);
  std::abort();
}

void ImportExport(std::string_view text) {
  auto dump = rs::sessions::ImportJson(text);
  if (!dump.ok()) return;
  const std::string once = rs::sessions::ExportJson(*dump);
  auto again = rs::sessions::ImportJson(once);
  if (!again.ok()) Fail(("export does not import again: " + again.status().ToString()).c_str());
  if (rs::sessions::ExportJson(*again) != once) Fail("export is not a fixed point");
}

void SessionState(std::string_view bytes) {
  auto s = rs::scheduler::SessionState::Parse(bytes);
  if (!s.ok()) return;
  const std::string once = s->Serialize();
  auto again = rs::scheduler::SessionState::Parse(once);
  if (!again.ok() || again->Serialize() != once) Fail("SessionState does not round-trip");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] % 2 == 0) {
    ImportExport(rest);
  } else {
    SessionState(rest);
  }
  return 0;
}
