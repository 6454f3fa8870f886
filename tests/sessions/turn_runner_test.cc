// The turn logic (sessions/core) against a real SQLite store and a scripted
// model: continued vs rebuilt turns, the bounded memory/plan retries and their
// fallbacks, budgets, retrieval, idempotency and concurrency, and what a
// failed turn leaves behind.
#include "sessions/core/turn_runner.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "sessions/core/prompts.h"
#include "sessions/store/sqlite_store.h"
#include "tests/sessions/scripted_turn_model.h"

namespace rs::sessions {
namespace {

class TurnRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("turn_runner_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    auto store = SqliteSessionStore::Open((dir_ / "s.db").string());
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(*store);
    runner_ = std::make_unique<TurnRunner>(store_.get(), &model_, TurnOptions{});
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  SessionRecord NewSession(SessionMode mode = SessionMode::kChat, std::string id = "s1") {
    SessionRecord s;
    s.id = std::move(id);
    s.tenant = "t";
    s.model = "m";
    s.mode = mode;
    s.system_prompt = mode == SessionMode::kStory ? "A dragon guards a tower." : "Be brief.";
    s.memory.short_term_budget_tokens = 8;
    s.memory.retrieval_k = 2;
    EXPECT_TRUE(store_->CreateSession(s).ok());
    return s;
  }

  StatusOr<TurnOutcome> Turn(const std::string& msg, const std::string& request_id = "",
                             std::string* streamed = nullptr) {
    TurnRequest r;
    r.tenant = "t";
    r.session_id = "s1";
    r.message = msg;
    r.request_id = request_id;
    return runner_->Run(r, [&](std::string_view t) {
      if (streamed) streamed->append(t);
    });
  }

  std::filesystem::path dir_;
  std::unique_ptr<SqliteSessionStore> store_;
  testing::ScriptedTurnModel model_;
  std::unique_ptr<TurnRunner> runner_;
};

TEST_F(TurnRunnerTest, SecondTurnContinuesFromTheSnapshotWithOnlyNewText) {
  NewSession();
  std::string streamed;
  auto t1 = Turn("Hi, I am Ada.", "r1", &streamed);
  ASSERT_TRUE(t1.ok()) << t1.status().ToString();
  EXPECT_EQ(streamed, "Hello there.");
  EXPECT_EQ(t1->record.index, 1);
  EXPECT_FALSE(t1->record.rebuilt_from_text);  // a first turn is built, not rebuilt
  const GenerateSpec first = model_.calls.front();
  EXPECT_TRUE(first.fresh);
  EXPECT_NE(first.prompt.find("System: Be brief."), std::string::npos) << first.prompt;
  EXPECT_NE(first.prompt.find("User: Hi, I am Ada.\n\nAssistant:"), std::string::npos);

  model_.calls.clear();
  auto t2 = Turn("What is my name?", "r2");
  ASSERT_TRUE(t2.ok()) << t2.status().ToString();
  EXPECT_FALSE(t2->record.rebuilt_from_text);
  const GenerateSpec& second = model_.calls.front();
  ASSERT_TRUE(second.restore.has_value());
  EXPECT_FALSE(second.fresh);
  EXPECT_EQ(second.restore->turn, 1);
  EXPECT_EQ(second.state_key, TurnRunner::StateKey("s1", 1));
  EXPECT_EQ(second.keep_key, TurnRunner::StateKey("s1", 2));
  // Only the new text: no system prompt, no replayed exchange (turn 1 shows
  // only as a retrieved long-term memory).
  EXPECT_EQ(second.prompt.find("Be brief"), std::string::npos) << second.prompt;
  EXPECT_EQ(second.prompt.find("User: Hi, I am Ada.\n\nAssistant:"), std::string::npos) << second.prompt;
  EXPECT_NE(second.prompt.find("- User: Hi, I am Ada. | Assistant: Hello there."), std::string::npos);
  EXPECT_NE(second.prompt.find("User: What is my name?\n\nAssistant:"), std::string::npos);
  // The store has the snapshot of turn 2, which consumed turn 1's too.
  auto snap = store_->GetSnapshot("t", "s1");
  ASSERT_TRUE(snap.ok());
  EXPECT_EQ(snap->turn, 2);
  EXPECT_NE(snap->state.find("Hi, I am Ada."), std::string::npos);
  EXPECT_NE(snap->state.find("What is my name?"), std::string::npos);
}

TEST_F(TurnRunnerTest, SnapshotOfAnotherModelOrCorruptIsRebuiltFromText) {
  NewSession();
  ASSERT_TRUE(Turn("Hi, I am Ada.").ok());
  model_.fingerprint_value = "fp-B";  // the server now runs another model
  model_.calls.clear();
  auto t2 = Turn("What is my name?");
  ASSERT_TRUE(t2.ok()) << t2.status().ToString();
  EXPECT_TRUE(t2->record.rebuilt_from_text);
  const GenerateSpec& spec = model_.calls.front();
  EXPECT_TRUE(spec.fresh);
  // Rebuilt: the system prompt, the summary and the last exchange, from text.
  EXPECT_NE(spec.prompt.find("Be brief."), std::string::npos) << spec.prompt;
  EXPECT_NE(spec.prompt.find("Summary of the conversation so far"), std::string::npos)
      << spec.prompt;
  EXPECT_NE(spec.prompt.find("User: Hi, I am Ada."), std::string::npos) << spec.prompt;
}

TEST_F(TurnRunnerTest, MemoryUpdateRetriesAtMostThreeTimesThenKeepsThePreviousMemory) {
  NewSession();
  model_.summary_closed = false;  // a model that never writes the section's end
  auto t1 = Turn("Hi, I am Ada.");
  ASSERT_TRUE(t1.ok());
  EXPECT_EQ(t1->memory_attempts, 3);
  EXPECT_TRUE(t1->memory_fallback);
  EXPECT_EQ(t1->record.short_term_after, "");  // the previous (empty) memory
  int summary_calls = 0;
  for (const GenerateSpec& s : model_.calls)
    summary_calls += s.prompt.find(kSummaryHeader) != std::string::npos;
  EXPECT_EQ(summary_calls, 3);
  // Distinct seeds per attempt (a retry is not the same draw again).
  EXPECT_NE(model_.calls[1].seed, model_.calls[2].seed);
}

TEST_F(TurnRunnerTest, SummaryIsKeptWithinItsTokenBudget) {
  NewSession();  // budget 8 "tokens" (words)
  model_.summary_text = "one two three four five six seven eight nine ten eleven";
  auto t1 = Turn("Hi");
  ASSERT_TRUE(t1.ok());
  EXPECT_FALSE(t1->memory_fallback);
  EXPECT_EQ(t1->memory_attempts, 1);
  EXPECT_EQ(t1->record.short_term_after, "one two three four five six seven eight");
  EXPECT_EQ(store_->GetSession("t", "s1")->short_term, "one two three four five six seven eight");
}

TEST_F(TurnRunnerTest, StoryTurnsGiveThreePlansAndAcceptAPlanIndex) {
  NewSession(SessionMode::kStory);
  auto t1 = Turn("The knight arrives at dawn.");
  ASSERT_TRUE(t1.ok()) << t1.status().ToString();
  ASSERT_EQ(t1->record.plans.size(), 3u);
  EXPECT_EQ(t1->record.plans[1], "Go south.");
  TurnRequest r;
  r.tenant = "t";
  r.session_id = "s1";
  r.plan_index = 1;
  model_.calls.clear();
  auto t2 = runner_->Run(r, nullptr);
  ASSERT_TRUE(t2.ok()) << t2.status().ToString();
  EXPECT_EQ(t2->record.input, "Go south.");
  EXPECT_NE(model_.calls.front().prompt.find("Plan: Go south."), std::string::npos);
  r.plan_index = 7;
  EXPECT_EQ(runner_->Run(r, nullptr).status().code(), StatusCode::kInvalidArgument);
  // Plans that never come in the format: three attempts, one generic plan.
  model_.plans_closed = false;
  r.plan_index = 0;
  auto t3 = runner_->Run(r, nullptr);
  ASSERT_TRUE(t3.ok());
  EXPECT_EQ(t3->plan_attempts, 3);
  EXPECT_TRUE(t3->plans_fallback);
  EXPECT_EQ(t3->record.plans, std::vector<std::string>{std::string(kFallbackPlan)});
}

TEST_F(TurnRunnerTest, RetrievesTheMostSimilarLongTermMemories) {
  NewSession();
  ASSERT_TRUE(Turn("zebra zebra zoo").ok());
  ASSERT_TRUE(Turn("apple banana").ok());
  ASSERT_TRUE(Turn("quick question").ok());
  auto t = Turn("zebra");
  ASSERT_TRUE(t.ok());
  ASSERT_EQ(t->retrieved.size(), 2u);
  EXPECT_NE(t->retrieved[0].text.find("zebra zebra zoo"), std::string::npos);
  EXPECT_GE(t->retrieved[0].score, t->retrieved[1].score);
  EXPECT_EQ(t->record.retrieved.size(), 2u);
  // One long-term item per committed turn.
  EXPECT_EQ(store_->ListMemory("t", "s1")->size(), 4u);
}

TEST_F(TurnRunnerTest, AnotherEmbedderReplacesTheModels) {
  NewSession();
  // Embeds everything to the same unit vector: every item scores 1.
  class Flat : public Embedder {
   public:
    StatusOr<std::vector<float>> Embed(std::string_view) override {
      ++calls;
      return std::vector<float>{0.6f, 0.8f};
    }
    int calls = 0;
  } flat;
  TurnRunner runner(store_.get(), &model_, TurnOptions{}, &flat);
  EXPECT_EQ(runner.embedder(), &flat);
  TurnRequest r;
  r.tenant = "t";
  r.session_id = "s1";
  r.message = "zebra";
  ASSERT_TRUE(runner.Run(r, nullptr).ok());
  r.message = "apple";
  auto t2 = runner.Run(r, nullptr);
  ASSERT_TRUE(t2.ok());
  EXPECT_EQ(model_.embeds, 0);
  EXPECT_EQ(flat.calls, 3);  // item 1; query and item 2
  ASSERT_EQ(t2->retrieved.size(), 1u);
  EXPECT_FLOAT_EQ(t2->retrieved[0].score, 1.0f);
  EXPECT_EQ(store_->ListMemory("t", "s1")->back().embedding, (std::vector<float>{0.6f, 0.8f}));
}

TEST_F(TurnRunnerTest, SameRequestIdReplaysAndStaleExpectedTurnAborts) {
  NewSession();
  auto t1 = Turn("Hi", "req-1");
  ASSERT_TRUE(t1.ok());
  const size_t calls = model_.calls.size();
  std::string streamed;
  auto again = Turn("Hi", "req-1", &streamed);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->replayed);
  EXPECT_EQ(again->record.index, 1);
  EXPECT_EQ(streamed, t1->record.reply);
  EXPECT_EQ(model_.calls.size(), calls);  // the model did not run again
  EXPECT_EQ(store_->GetSession("t", "s1")->turns, 1);

  TurnRequest r;
  r.tenant = "t";
  r.session_id = "s1";
  r.message = "late";
  r.expected_turn = 0;
  EXPECT_EQ(runner_->Run(r, nullptr).status().code(), StatusCode::kAborted);
  r.expected_turn = 1;
  EXPECT_TRUE(runner_->Run(r, nullptr).ok());
}

TEST_F(TurnRunnerTest, AFailedReplyLeavesNoTurnBehind) {
  NewSession();
  ASSERT_TRUE(Turn("Hi").ok());
  // A model that fails every generation (the scheduler is overloaded).
  class Failing : public testing::ScriptedTurnModel {
   public:
    StatusOr<GenerateOutput> Generate(const GenerateSpec&,
                                      const std::function<void(std::string_view)>&) override {
      return ResourceExhaustedError("overloaded");
    }
  } failing;
  TurnRunner runner(store_.get(), &failing, TurnOptions{});
  TurnRequest r;
  r.tenant = "t";
  r.session_id = "s1";
  r.message = "again";
  r.request_id = "req-x";
  EXPECT_EQ(runner.Run(r, nullptr).status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(store_->GetSession("t", "s1")->turns, 1);
  auto turns = store_->ListTurns("t", "s1", 1, 0, /*include_failed=*/true);
  ASSERT_TRUE(turns.ok());
  ASSERT_EQ(turns->size(), 2u);
  EXPECT_EQ(turns->back().status, TurnRecord::Status::kFailed);
  // The same request id can run again once the model is back.
  r.message = "again";
  auto ok = runner_->Run(r, nullptr);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->record.index, 2);
}

TEST_F(TurnRunnerTest, BadInputIsRefusedWithoutATurn) {
  NewSession();
  EXPECT_EQ(Turn("").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Turn(std::string("\xff\xfe", 2)).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Turn(std::string(40000, 'a')).status().code(), StatusCode::kInvalidArgument);
  TurnRequest r;
  r.tenant = "other";
  r.session_id = "s1";
  r.message = "hi";
  EXPECT_EQ(runner_->Run(r, nullptr).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->GetSession("t", "s1")->turns, 0);
  EXPECT_TRUE(model_.calls.empty());
}

}  // namespace
}  // namespace rs::sessions
