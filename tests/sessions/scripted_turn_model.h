// A TurnModel for tests of the turn logic: replies from a script, records
// every GenerateSpec it is given, and fakes states and embeddings
// deterministically (a "state" is the text the conversation consumed, so a
// test can see exactly what a continued or rebuilt turn fed the model).
#pragma once

#include <cmath>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "sessions/core/prompts.h"
#include "sessions/core/turn_model.h"

namespace rs::sessions::testing {

class ScriptedTurnModel : public TurnModel {
 public:
  // What the model writes for each kind of prompt.
  std::function<std::string(const GenerateSpec&)> reply = [](const GenerateSpec&) {
    return "Hello there.";
  };
  // Summary output; `closed` says whether it ends with the section's stop.
  std::string summary_text = "The user greeted the assistant.";
  bool summary_closed = true;
  std::string plans_text = " Go north.\n2. Go south.\n3. Stay.";
  bool plans_closed = true;
  std::string fingerprint_value = "fp-A";

  std::vector<GenerateSpec> calls;  // every Generate, in order
  int embeds = 0;

  std::string arch() const override { return "rwkv7"; }
  std::string fingerprint() const override { return fingerprint_value; }

  StatusOr<GenerateOutput> Generate(const GenerateSpec& spec,
                                    const std::function<void(std::string_view)>& on_text) override {
    std::lock_guard<std::mutex> l(mu_);
    calls.push_back(spec);
    GenerateOutput out;
    out.prompt_tokens = static_cast<int64_t>(spec.prompt.size());
    if (spec.prompt.find(kSummaryHeader) != std::string::npos) {
      out.text = summary_text;
      out.stopped_by_string = summary_closed;
    } else if (spec.prompt.find(kPlansHeader) != std::string::npos) {
      out.text = plans_text;
      out.stopped_by_string = plans_closed;
    } else {
      out.text = reply(spec);
      // Stream in two pieces, as a scheduler would.
      if (on_text) {
        on_text(out.text.substr(0, out.text.size() / 2));
        on_text(out.text.substr(out.text.size() / 2));
      }
      if (!spec.state_key.empty()) {
        std::string consumed;
        if (spec.restore.has_value() && !spec.fresh) {
          if (spec.restore->model_fingerprint != fingerprint_value) {
            return FailedPreconditionError("state of another model");
          }
          consumed = spec.restore->state;
        }
        consumed += spec.prompt + out.text;
        Snapshot s;
        s.model_fingerprint = fingerprint_value;
        s.state = consumed;
        s.consumed_tokens = static_cast<int64_t>(consumed.size());
        s.checksum = SnapshotChecksum(s.state);
        out.snapshot = s;
      }
    }
    out.generated_tokens = static_cast<int64_t>(out.text.size());
    out.finish_reason = out.stopped_by_string ? "stop" : "length";
    return out;
  }

  // A bag-of-letters embedding, L2-normalized: similar texts score higher.
  StatusOr<std::vector<float>> Embed(std::string_view text) override {
    std::lock_guard<std::mutex> l(mu_);
    ++embeds;
    std::vector<float> v(26, 0.0f);
    for (char c : text) {
      if (c >= 'a' && c <= 'z') v[static_cast<size_t>(c - 'a')] += 1;
      if (c >= 'A' && c <= 'Z') v[static_cast<size_t>(c - 'A')] += 1;
    }
    double n = 0;
    for (float x : v) n += x * x;
    if (n > 0) {
      for (float& x : v) x = static_cast<float>(x / std::sqrt(n));
    }
    return v;
  }
  // One token per word.
  StatusOr<int64_t> CountTokens(std::string_view text) override { return Words(text).size(); }
  StatusOr<std::string> TruncateToTokens(std::string_view text, int64_t max_tokens) override {
    std::vector<std::string> w = Words(text);
    std::string out;
    for (int64_t i = 0; i < max_tokens && i < static_cast<int64_t>(w.size()); ++i) {
      out += (i ? " " : "") + w[static_cast<size_t>(i)];
    }
    return out;
  }

 private:
  static std::vector<std::string> Words(std::string_view text) {
    std::vector<std::string> w;
    std::string cur;
    for (char c : text) {
      if (c == ' ' || c == '\n') {
        if (!cur.empty()) w.push_back(cur);
        cur.clear();
      } else {
        cur += c;
      }
    }
    if (!cur.empty()) w.push_back(cur);
    return w;
  }
  std::mutex mu_;
};

}  // namespace rs::sessions::testing
