#include "sessions/core/prompts.h"

#include <algorithm>

#include "engine/util/utf8.h"

namespace rs::sessions {
namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

void AppendMemories(const std::vector<MemoryText>& items, std::string* out) {
  if (items.empty()) return;
  *out += "Relevant earlier memories:\n";
  for (const MemoryText& m : items) *out += "- " + m.text + "\n";
}

// System prompt, short-term memory and retrieved memories as one system
// block (empty if there is nothing to say).
std::string SystemBlock(const ChatTemplate& t, const TurnContext& c, bool with_summary) {
  std::string body = Trim(c.system_prompt);
  if (with_summary && !Trim(c.short_term).empty()) {
    if (!body.empty()) body += "\n";
    body += "Summary of the conversation so far: " + Trim(c.short_term);
  }
  std::string memories;
  AppendMemories(c.retrieved, &memories);
  if (!memories.empty()) {
    if (!body.empty()) body += "\n";
    body += memories.substr(0, memories.size() - 1);  // drop the last newline
  }
  if (body.empty()) return "";
  return t.system_open + body + "\n\n";
}

std::string UserTurn(const ChatTemplate& t, std::string_view message) {
  return t.user_open + std::string(message) + t.assistant_open;
}

}  // namespace

std::string Trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && IsSpace(s[b])) ++b;
  while (e > b && IsSpace(s[e - 1])) --e;
  return std::string(s.substr(b, e - b));
}

Status CheckUserText(std::string_view text, size_t max_bytes, const char* what) {
  if (text.size() > max_bytes) {
    return InvalidArgumentError(std::string(what) + " of " + std::to_string(text.size()) +
                                " bytes is over the limit of " + std::to_string(max_bytes));
  }
  if (!utf8::IsValid(text)) return InvalidArgumentError(std::string(what) + " is not valid UTF-8");
  if (text.find('\0') != std::string_view::npos) {
    return InvalidArgumentError(std::string(what) + " contains a NUL character");
  }
  return OkStatus();
}

std::string CleanGenerated(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '\0') {
      out += "\xEF\xBF\xBD";
    } else {
      out += c;
    }
  }
  return out;
}

std::string_view Utf8Prefix(std::string_view s, size_t max_bytes) {
  if (s.size() <= max_bytes) return s;
  size_t n = max_bytes;
  // Back off over continuation bytes to the start of the cut character.
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n);
}

StatusOr<ChatTemplate> FindTemplate(std::string_view name) {
  if (name == "rwkv") {
    return ChatTemplate{"rwkv", "System: ", "User: ", "\n\nAssistant:", "\n\n", {"\n\nUser:", "\nUser:"}};
  }
  if (name == "plain") {
    return ChatTemplate{"plain",  "### System:\n", "### User:\n", "\n\n### Assistant:\n", "\n\n",
                        {"\n### User:", "\n###"}};
  }
  return InvalidArgumentError("unknown chat template \"" + std::string(name) +
                              "\" (known: rwkv, plain)");
}

std::string DefaultTemplate(std::string_view arch) {
  return arch.substr(0, 4) == "rwkv" ? "rwkv" : "plain";
}

std::string AfterReply(const ChatTemplate& t) { return t.turn_close; }

std::string ChatContinuePrompt(const ChatTemplate& t, const TurnContext& c) {
  std::string out;
  if (!c.retrieved.empty()) {
    std::string memories;
    AppendMemories(c.retrieved, &memories);
    out += t.system_open + memories + "\n";
  }
  return out + UserTurn(t, c.input);
}

std::string ChatRebuildPrompt(const ChatTemplate& t, const TurnContext& c) {
  std::string out = SystemBlock(t, c, /*with_summary=*/true);
  if (c.last != nullptr) {
    out += UserTurn(t, c.last->user) + " " + Trim(c.last->assistant) + t.turn_close;
  }
  return out + UserTurn(t, c.input);
}

std::string StoryContinuePrompt(const TurnContext& c) {
  std::string out;
  if (!c.retrieved.empty()) {
    AppendMemories(c.retrieved, &out);
    out += "\n";
  }
  return out + "Plan: " + Trim(c.input) + "\nParagraph:";
}

std::string StoryRebuildPrompt(const TurnContext& c) {
  std::string out = "Premise: " + Trim(c.system_prompt) + "\n";
  if (!Trim(c.short_term).empty()) out += "Story so far (summary): " + Trim(c.short_term) + "\n";
  if (c.last != nullptr) out += "Previous paragraph: " + Trim(c.last->assistant) + "\n";
  out += "\n";
  return out + StoryContinuePrompt(c);
}

std::string MemoryUpdatePrompt(std::string_view previous_summary, const Exchange& latest,
                               int budget_tokens) {
  std::string out =
      "Rewrite the summary of a conversation so that it includes the latest exchange. Keep it "
      "under " +
      std::to_string(budget_tokens) +
      " tokens, keep every fact that may matter later, and end it with a line that says ###.\n\n";
  out += "### Previous summary\n" + (Trim(previous_summary).empty() ? std::string("(none)") : Trim(previous_summary)) +
         "\n\n";
  out += "### Latest exchange\nUser: " + Trim(latest.user) + "\nAssistant: " + Trim(latest.assistant) + "\n\n";
  out += kSummaryHeader;
  return out;
}

std::string PlansPrompt(std::string_view premise, std::string_view short_term,
                        std::string_view paragraph) {
  std::string out =
      "Propose three different plans for the next paragraph of a story, one per numbered line, "
      "then a line that says ###.\n\n";
  out += "### Premise\n" + Trim(premise) + "\n\n";
  if (!Trim(short_term).empty()) out += "### Story so far\n" + Trim(short_term) + "\n\n";
  out += "### Latest paragraph\n" + Trim(paragraph) + "\n\n";
  out += kPlansHeader;
  return out;
}

StatusOr<std::string> ParseSummary(const SectionOutput& out) {
  if (!out.closed) return FailedPreconditionError("the summary section was not closed with ###");
  std::string text = Trim(out.text);
  if (text.empty()) return FailedPreconditionError("the summary is empty");
  return text;
}

StatusOr<std::vector<std::string>> ParsePlans(const SectionOutput& out) {
  if (!out.closed) return FailedPreconditionError("the plans section was not closed with ###");
  // The prompt ends with "1."; the output is "<plan 1>\n2. <plan 2>\n3. <plan 3>".
  std::vector<std::string> plans;
  std::string_view rest = out.text;
  for (int i = 1; i <= 3; ++i) {
    size_t end = rest.size();
    if (i < 3) {
      std::string marker = "\n";  // built in steps: GCC 12's -Wrestrict misfires on "\n" + to_string
      marker += std::to_string(i + 1);
      marker += '.';
      end = rest.find(marker);
      if (end == std::string_view::npos) {
        return FailedPreconditionError("plan " + std::to_string(i + 1) + " is missing");
      }
    }
    std::string plan = Trim(rest.substr(0, end));
    if (plan.empty() || plan.find('\n') != std::string::npos) {
      return FailedPreconditionError("plan " + std::to_string(i) + " is empty or spans lines");
    }
    plans.push_back(std::move(plan));
    if (i < 3) rest = rest.substr(end + 3);  // "\nN."
  }
  return plans;
}

std::string ExchangeMemoryText(const Exchange& e, size_t max_bytes) {
  const std::string text = "User: " + Trim(e.user) + " | Assistant: " + Trim(e.assistant);
  return std::string(Utf8Prefix(text, max_bytes));
}

}  // namespace rs::sessions
