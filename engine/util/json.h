// A small, strict JSON (RFC 8259) DOM: parsing config.json, tokenizer.json,
// safetensors headers and index files (all untrusted bytes), and writing the
// CLI's JSON output. Our own because engine/ depends on no third-party
// library.
//
// Parse() validates UTF-8 (strings must be valid UTF-8; \u escapes are
// decoded, surrogate pairs joined, lone surrogates rejected), limits nesting
// to 256 levels, and rejects trailing garbage. Objects keep member order;
// duplicate keys are kept (Find returns the first).
//
// Thread-safety: Value is a value type; const access is thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/util/status.h"

namespace rs::json {

class Value {
 public:
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };
  using Array = std::vector<Value>;
  using Object = std::vector<std::pair<std::string, Value>>;

  Value() = default;  // null
  static Value Bool(bool b);
  static Value Number(double d);
  static Value Int(int64_t i);
  static Value String(std::string s);
  static Value MakeArray(Array a = {});
  static Value MakeObject(Object o = {});

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::kNull; }
  bool is_bool() const { return type_ == Type::kBool; }
  bool is_number() const { return type_ == Type::kNumber; }
  // A number written without fraction or exponent that fits int64.
  bool is_int() const { return type_ == Type::kNumber && is_int_; }
  bool is_string() const { return type_ == Type::kString; }
  bool is_array() const { return type_ == Type::kArray; }
  bool is_object() const { return type_ == Type::kObject; }

  // REQUIRES: the matching type (checked with assert; returns a default
  // value otherwise in release builds).
  bool AsBool() const { return bool_; }
  double AsDouble() const { return number_; }
  int64_t AsInt() const { return int_; }
  const std::string& AsString() const { return string_; }
  const Array& AsArray() const { return array_; }
  const Object& AsObject() const { return object_; }
  Array& MutableArray() { return array_; }
  Object& MutableObject() { return object_; }

  // Member lookup (linear): null when absent or not an object.
  const Value* Find(std::string_view key) const;
  // Appends to an array / object (REQUIRES: that type).
  void Push(Value v) { array_.push_back(std::move(v)); }
  void Set(std::string key, Value v) { object_.emplace_back(std::move(key), std::move(v)); }

  // Compact JSON text. Non-finite numbers are written as null.
  std::string Dump() const;

 private:
  Type type_ = Type::kNull;
  bool bool_ = false;
  bool is_int_ = false;
  double number_ = 0;
  int64_t int_ = 0;
  std::string string_;
  Array array_;
  Object object_;
  friend class Parser;
};

// Errors: INVALID_ARGUMENT with the byte offset of the problem.
StatusOr<Value> Parse(std::string_view text);

// `s` as a JSON string literal, with quotes. Invalid UTF-8 bytes are written
// as U+FFFD.
std::string Quote(std::string_view s);
// Appends a float the way the CLI prints logits: shortest text that reads
// back as the same float ("%.9g" at worst); non-finite as null.
void AppendFloat(std::string* out, float f);

// Typed accessors for config files: a clear error names the missing key.
StatusOr<int64_t> GetInt(const Value& obj, std::string_view key);
StatusOr<double> GetDouble(const Value& obj, std::string_view key);
StatusOr<std::string> GetString(const Value& obj, std::string_view key);

}  // namespace rs::json
