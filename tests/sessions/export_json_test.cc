// Export / Import JSON of a whole session (sessions/core/export_json.h): a
// round trip keeps every field (binary snapshot bytes, embeddings, NULs in the
// tail), and malformed input is INVALID_ARGUMENT naming the field, never a
// crash; a snapshot whose bytes do not match their checksum is DATA_LOSS.
#include "sessions/core/export_json.h"

#include <gtest/gtest.h>

namespace rs::sessions {
namespace {

SessionDump Sample() {
  SessionDump d;
  d.session.id = "s-1";
  d.session.model = "m";
  d.session.mode = SessionMode::kStory;
  d.session.system_prompt = "A premise with \"quotes\" and ünïcode.";
  d.session.memory = {64, 2, "rwkv"};
  d.session.temperature = 0.5f;
  d.session.top_p = 0.9f;
  d.session.max_reply_tokens = 40;
  d.session.short_term = "So far.";
  d.session.turns = 2;
  d.session.created_ms = 1700000000000;
  d.session.updated_ms = 1700000000500;
  for (int i = 1; i <= 2; ++i) {
    TurnRecord t;
    t.index = i;
    t.status = TurnRecord::Status::kCommitted;
    t.request_id = "r" + std::to_string(i);
    t.input = "plan " + std::to_string(i);
    t.reply = "paragraph\n" + std::to_string(i);
    t.short_term_after = "summary " + std::to_string(i);
    t.plans = {"a", "b", "c"};
    t.retrieved = {{7, 0.25f}};
    t.rebuilt_from_text = i == 2;
    t.created_ms = 10 * i;
    t.committed_ms = 10 * i + 1;
    d.turns.push_back(t);
  }
  MemoryItem m;
  m.id = 7;
  m.turn = 1;
  m.text = "User: hi";
  m.embedding = {0.6f, -0.8f, 0.0f};
  d.memory.push_back(m);
  Snapshot s;
  s.turn = 2;
  s.model_fingerprint = "fp";
  s.state = std::string("\x00\x01\xff state", 9);
  s.consumed_tokens = 12;
  s.pending_token = 5;
  s.tail = std::string("\n\nUser\0:", 8);
  s.checksum = SnapshotChecksum(s.state);
  d.snapshot = s;
  return d;
}

TEST(ExportJsonTest, RoundTripKeepsEveryField) {
  const SessionDump d = Sample();
  const std::string json = ExportJson(d);
  auto back = ImportJson(json);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(ExportJson(*back), json);
  EXPECT_EQ(back->session.system_prompt, d.session.system_prompt);
  EXPECT_EQ(back->session.mode, SessionMode::kStory);
  EXPECT_EQ(back->session.memory.chat_template, "rwkv");
  EXPECT_EQ(back->turns[1].reply, "paragraph\n2");
  EXPECT_EQ(back->turns[0].plans, d.turns[0].plans);
  EXPECT_EQ(back->memory[0].embedding, d.memory[0].embedding);
  ASSERT_TRUE(back->snapshot.has_value());
  EXPECT_EQ(back->snapshot->state, d.snapshot->state);
  EXPECT_EQ(back->snapshot->tail, d.snapshot->tail);
  EXPECT_EQ(back->snapshot->checksum, d.snapshot->checksum);
}

TEST(ExportJsonTest, Base64) {
  for (const std::string s : {"", "f", "fo", "foo", "foob", "fooba", "foobar"}) {
    auto back = Base64Decode(Base64Encode(s));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, s);
  }
  EXPECT_EQ(Base64Encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(Base64Encode("fo"), "Zm8=");
  EXPECT_FALSE(Base64Decode("Zm9").ok());
  EXPECT_FALSE(Base64Decode("Zm9$").ok());
}

TEST(ExportJsonTest, MalformedInputIsRefusedClearly) {
  const std::string good = ExportJson(Sample());
  auto code = [](const std::string& j) { return ImportJson(j).status().code(); };
  auto message = [](const std::string& j) { return ImportJson(j).status().message(); };
  EXPECT_EQ(code("not json"), StatusCode::kInvalidArgument);
  EXPECT_EQ(code("[]"), StatusCode::kInvalidArgument);
  EXPECT_EQ(code("{\"format\":\"other\",\"version\":1}"), StatusCode::kInvalidArgument);
  EXPECT_EQ(code("{\"format\":\"recurrent-session\",\"version\":2}"), StatusCode::kInvalidArgument);
  auto replace = [&](const std::string& from, const std::string& to) {
    std::string j = good;
    const size_t at = j.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return j.replace(at, from.size(), to);
  };
  EXPECT_NE(message(replace("\"turns\":2", "\"turns\":\"2\"")).find("session.turns"), std::string::npos);
  EXPECT_EQ(code(replace("\"turns\":2", "\"turns\":3")), StatusCode::kInvalidArgument);  // 2 given
  EXPECT_EQ(code(replace("\"index\":2", "\"index\":5")), StatusCode::kInvalidArgument);
  EXPECT_EQ(code(replace("\"mode\":\"STORY\"", "\"mode\":\"POEM\"")), StatusCode::kInvalidArgument);
  EXPECT_EQ(code(replace("\"embedding\":\"", "\"embedding\":\"!")), StatusCode::kInvalidArgument);
  // Numbers outside what a session may hold (a float overflow would export
  // as a non-number: the fuzzer found 4e120 for top_p).
  auto with_number = [&](const std::string& key, const std::string& value) {
    std::string j = good;
    const size_t at = j.find("\"" + key + "\":");
    EXPECT_NE(at, std::string::npos) << key;
    const size_t v = at + key.size() + 3;
    return j.replace(v, j.find_first_of(",}", v) - v, value);
  };
  EXPECT_NE(message(with_number("top_p", "4e120")).find("session.top_p must be in (0, 1]"), std::string::npos)
      << message(with_number("top_p", "4e120"));
  EXPECT_EQ(code(with_number("top_p", "0")), StatusCode::kInvalidArgument);
  EXPECT_EQ(code(with_number("top_p", "1")), StatusCode::kOk);
  EXPECT_EQ(code(with_number("temperature", "-1")), StatusCode::kInvalidArgument);
  EXPECT_EQ(code(with_number("score", "1e300")), StatusCode::kInvalidArgument);
  // The snapshot's bytes changed but not its checksum.
  const std::string state_b64 = Base64Encode(Sample().snapshot->state);
  EXPECT_EQ(code(replace(state_b64, Base64Encode("other bytes!"))), StatusCode::kDataLoss);
}

}  // namespace
}  // namespace rs::sessions
