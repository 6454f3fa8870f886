#include "cli/flags.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>

namespace rs::cli {

Flags::Flags(std::vector<std::string> value_flags, std::vector<std::string> bool_flags)
    : value_flags_(std::move(value_flags)), bool_flags_(std::move(bool_flags)) {}

Status Flags::Parse(int argc, char** argv, int first) {
  for (int i = first; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--", 0) != 0 || arg.size() == 2) {
      return InvalidArgumentError("unexpected argument \"" + arg + "\" (flags start with --)");
    }
    std::string name = arg.substr(2), value;
    bool has_inline = false;
    if (size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_inline = true;
    }
    const bool is_value = std::find(value_flags_.begin(), value_flags_.end(), name) != value_flags_.end();
    const bool is_bool = std::find(bool_flags_.begin(), bool_flags_.end(), name) != bool_flags_.end();
    if (!is_value && !is_bool) return InvalidArgumentError("unknown flag --" + name);
    if (is_bool) {
      if (has_inline && value != "true" && value != "false") {
        return InvalidArgumentError("flag --" + name + " takes no value");
      }
      values_[name].push_back(has_inline ? value : "true");
      continue;
    }
    if (!has_inline) {
      if (i + 1 >= argc) return InvalidArgumentError("flag --" + name + " needs a value");
      value = argv[++i];
    }
    values_[name].push_back(value);
  }
  return OkStatus();
}

std::string Flags::Get(const std::string& name, const std::string& def) const {
  auto it = values_.find(name);
  return it == values_.end() ? def : it->second.back();
}

std::vector<std::string> Flags::GetAll(const std::string& name) const {
  auto it = values_.find(name);
  return it == values_.end() ? std::vector<std::string>{} : it->second;
}

StatusOr<int64_t> Flags::GetInt(const std::string& name, int64_t def) const {
  if (!Has(name)) return def;
  const std::string v = Get(name);
  int64_t out = 0;
  auto res = std::from_chars(v.data(), v.data() + v.size(), out);
  if (res.ec != std::errc() || res.ptr != v.data() + v.size()) {
    return InvalidArgumentError("flag --" + name + " expects an integer, got \"" + v + "\"");
  }
  return out;
}

StatusOr<double> Flags::GetDouble(const std::string& name, double def) const {
  if (!Has(name)) return def;
  const std::string v = Get(name);
  char* end = nullptr;
  double out = std::strtod(v.c_str(), &end);
  if (v.empty() || end != v.c_str() + v.size() || !std::isfinite(out)) {
    return InvalidArgumentError("flag --" + name + " expects a number, got \"" + v + "\"");
  }
  return out;
}

StatusOr<std::vector<int32_t>> ParseIntList(const std::string& s) {
  std::vector<int32_t> out;
  size_t pos = 0;
  while (pos <= s.size()) {
    size_t comma = s.find(',', pos);
    if (comma == std::string::npos) comma = s.size();
    std::string item = s.substr(pos, comma - pos);
    int32_t v = 0;
    auto res = std::from_chars(item.data(), item.data() + item.size(), v);
    if (item.empty() || res.ec != std::errc() || res.ptr != item.data() + item.size()) {
      return InvalidArgumentError("\"" + item + "\" in \"" + s + "\" is not an integer");
    }
    out.push_back(v);
    pos = comma + 1;
  }
  return out;
}

}  // namespace rs::cli
