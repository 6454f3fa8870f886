// Embedder: text -> an L2-normalized vector, for long-term memory retrieval
// (issue #6). The default is the served model itself (TurnModel, whose
// embeddings are the mean of its final normed hidden states); another
// embedder (a dedicated embedding model, a remote service) implements this
// and is handed to TurnRunner. Vectors of one session must come from one
// embedder: retrieval skips items whose vector length differs from the query's.
//
// Thread-safety: implementations are called from several threads at once.
#pragma once

#include <string_view>
#include <vector>

#include "engine/util/status.h"

namespace rs::sessions {

class Embedder {
 public:
  virtual ~Embedder() = default;
  virtual StatusOr<std::vector<float>> Embed(std::string_view text) = 0;
};

}  // namespace rs::sessions
