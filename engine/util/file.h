// Reading a whole (bounded) file into memory, with the project's errors.
#pragma once

#include <cstddef>
#include <string>

#include "engine/util/status.h"

namespace rs {

// The bytes of the file at `path`. `what` names it in messages ("tokenizer
// file"). Errors: NOT_FOUND "cannot open <what> <path>"; INVALID_ARGUMENT
// "<path>: larger than <max_bytes> bytes<too_large_note>" when it exceeds
// max_bytes (reading stops there); DATA_LOSS on a read error.
StatusOr<std::string> ReadFileBounded(const std::string& path, size_t max_bytes,
                                      const std::string& what,
                                      const std::string& too_large_note = "");

}  // namespace rs
