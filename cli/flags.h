// A small command-line flag parser for the `recurrent` subcommands:
// `--name value`, `--name=value`, boolean `--name`, repeatable flags.
// Unknown flags are an error (a typo must not be silently ignored).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "engine/util/status.h"

namespace rs::cli {

class Flags {
 public:
  // `value_flags`: flags that take a value; `bool_flags`: flags that do not.
  Flags(std::vector<std::string> value_flags, std::vector<std::string> bool_flags);

  // Parses argv[first..argc). INVALID_ARGUMENT on an unknown flag, a missing
  // value or a positional argument.
  Status Parse(int argc, char** argv, int first);

  bool Has(const std::string& name) const { return values_.count(name) > 0; }
  // Last value given for the flag, or `def`.
  std::string Get(const std::string& name, const std::string& def = "") const;
  std::vector<std::string> GetAll(const std::string& name) const;
  StatusOr<int64_t> GetInt(const std::string& name, int64_t def) const;
  StatusOr<double> GetDouble(const std::string& name, double def) const;

 private:
  std::vector<std::string> value_flags_, bool_flags_;
  std::map<std::string, std::vector<std::string>> values_;
};

// "1,2,3" -> {1,2,3}. INVALID_ARGUMENT names the bad item.
StatusOr<std::vector<int32_t>> ParseIntList(const std::string& s);

}  // namespace rs::cli
