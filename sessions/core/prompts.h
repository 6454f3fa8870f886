// The text a RecurrentGPT turn feeds the model, and how it reads what comes
// back (issue #6). Pure functions: no model, no store.
//
// Chat templates (per model family, configurable per session):
//   "rwkv":  "User: {msg}\n\nAssistant:"   (RWKV world models' own format;
//            the system prompt as "System: {text}\n\n")
//   "plain": "### User:\n{msg}\n\n### Assistant:\n" (the system prompt as
//            "### System:\n{text}\n\n")
// DefaultTemplate picks "rwkv" for RWKV architectures and "plain" otherwise.
//
// Prompts:
//   * a CHAT turn continued from the conversation's state: the retrieved
//     memories as a system note (if any), then the templated user message;
//   * a CHAT turn rebuilt from text: system prompt, short-term memory,
//     retrieved memories, the last exchange, then the templated message;
//   * STORY: the premise, memories, the chosen plan, and "Paragraph:";
//   * the memory update and the plans: stateless prompts that end with a
//     fixed section header the model must fill and close (see Parse*).
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "engine/util/status.h"

namespace rs::sessions {

struct ChatTemplate {
  std::string name;         // "rwkv" | "plain"
  std::string system_open;  // before the system prompt
  std::string user_open;    // before a user message
  std::string assistant_open;  // after it: the model writes from here
  std::string turn_close;   // after the assistant's reply
  // Where the model starting the next user turn shows: the reply's stop
  // strings.
  std::vector<std::string> reply_stops;
};

// "rwkv" or "plain"; INVALID_ARGUMENT otherwise.
StatusOr<ChatTemplate> FindTemplate(std::string_view name);
// The default template name for an architecture name ("rwkv6", "mamba1", ...).
std::string DefaultTemplate(std::string_view arch);

struct Exchange {
  std::string user;
  std::string assistant;
};

struct MemoryText {
  int64_t id = 0;
  std::string text;
};

// What a turn's prompt is built from.
struct TurnContext {
  std::string system_prompt;     // CHAT system prompt / STORY premise
  std::string short_term;        // the current short-term memory
  std::vector<MemoryText> retrieved;  // top-k long-term memories
  const Exchange* last = nullptr;     // the previous exchange, if any
  std::string input;             // the user's message / the chosen plan
};

// CHAT, continuing from the state after the previous turn (only new text).
std::string ChatContinuePrompt(const ChatTemplate& t, const TurnContext& c);
// CHAT, from nothing: everything the state would have held, from text.
std::string ChatRebuildPrompt(const ChatTemplate& t, const TurnContext& c);
// STORY: continuing (only the plan) or rebuilt (premise and memories too).
std::string StoryContinuePrompt(const TurnContext& c);
std::string StoryRebuildPrompt(const TurnContext& c);
// The text appended to the conversation after the reply (the template's
// turn close), so the next continued turn starts where a rebuilt one would.
std::string AfterReply(const ChatTemplate& t);

// Section headers and stop strings of the memory update and the plans.
inline constexpr std::string_view kSummaryHeader = "### Updated summary\n";
inline constexpr std::string_view kPlansHeader = "### Next plans\n1.";
inline constexpr std::string_view kSectionEnd = "\n###";

// The memory-update prompt: the previous summary and the latest exchange,
// ending with kSummaryHeader. The model must write the summary and close
// the section with kSectionEnd (the stop string).
std::string MemoryUpdatePrompt(std::string_view previous_summary, const Exchange& latest,
                               int budget_tokens);
// STORY: the plans prompt, ending with kPlansHeader.
std::string PlansPrompt(std::string_view premise, std::string_view short_term,
                        std::string_view paragraph);

// How a generation of a section ended.
struct SectionOutput {
  std::string text;            // generated text, stop string excluded
  bool closed = false;         // it ended with the section's stop string
};

// The summary, or FAILED_PRECONDITION when the output does not follow the
// format (not closed, or empty after trimming).
StatusOr<std::string> ParseSummary(const SectionOutput& out);
// Exactly three plans from "…\n2. …\n3. …" (the "1." is in the prompt), or
// FAILED_PRECONDITION.
StatusOr<std::vector<std::string>> ParsePlans(const SectionOutput& out);

// The long-term memory item a turn leaves: its exchange, compacted.
std::string ExchangeMemoryText(const Exchange& e, size_t max_bytes = 600);

// The fallback plan when the model never writes three.
inline constexpr std::string_view kFallbackPlan = "Continue the story from where it left off.";

// Text a user gives a session (a message, a system prompt, a memory): OK, or
// INVALID_ARGUMENT naming `what` when it is over max_bytes, not UTF-8, or
// holds a NUL character (which PostgreSQL text cannot hold).
Status CheckUserText(std::string_view text, size_t max_bytes, const char* what);

// Generated text as the session keeps it: NUL characters (which PostgreSQL
// text cannot hold, and no reader wants) become U+FFFD.
std::string CleanGenerated(std::string_view s);

// Trims ASCII whitespace at both ends.
std::string Trim(std::string_view s);
// The longest prefix of `s` of at most max_bytes bytes that ends on a UTF-8
// character boundary.
std::string_view Utf8Prefix(std::string_view s, size_t max_bytes);

}  // namespace rs::sessions
