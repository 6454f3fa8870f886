// safetensors reader, sharded-index reader and writer. Format notes and
// contracts: engine/io/tensor_store.h.
#include <algorithm>
#include <cstring>
#include <set>

#include "engine/io/bytes.h"
#include "engine/io/file.h"
#include "engine/io/readers.h"
#include "engine/util/json.h"

namespace rs::engine::io {
namespace {

constexpr uint64_t kMaxHeaderBytes = 100u << 20;  // 100 MiB, as the reference reader.
constexpr size_t kMaxIndexBytes = 100u << 20;

bool ParseDType(std::string_view s, DType* out) {
  static constexpr std::pair<std::string_view, DType> kTable[] = {
      {"F32", DType::kF32}, {"F16", DType::kF16},  {"BF16", DType::kBF16}, {"F64", DType::kF64},
      {"I64", DType::kI64}, {"I32", DType::kI32},  {"I16", DType::kI16},   {"I8", DType::kI8},
      {"U8", DType::kU8},   {"BOOL", DType::kBool}};
  for (const auto& [name, dtype] : kTable) {
    if (s == name) {
      *out = dtype;
      return true;
    }
  }
  return false;
}

// A header entry: validated fields, before the data is resolved.
struct Entry {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  uint64_t begin, end;
};

// Validates one header member. `data_size`: bytes of the data section.
Status ParseEntry(const std::string& file, const std::string& name, const json::Value& v,
                  uint64_t data_size, Entry* e) {
  auto bad = [&](const std::string& what) {
    return DataLossError(file + ": tensor '" + name + "': " + what);
  };
  if (!v.is_object()) return bad("header entry is not an object");
  const json::Value* dtype = v.Find("dtype");
  const json::Value* shape = v.Find("shape");
  const json::Value* offsets = v.Find("data_offsets");
  if (dtype == nullptr || !dtype->is_string()) return bad("missing or non-string \"dtype\"");
  if (shape == nullptr || !shape->is_array()) return bad("missing or non-array \"shape\"");
  if (offsets == nullptr || !offsets->is_array() || offsets->AsArray().size() != 2) {
    return bad("\"data_offsets\" is not a [begin, end] pair");
  }
  e->name = name;
  if (!ParseDType(dtype->AsString(), &e->dtype)) {
    return UnimplementedError(file + ": tensor '" + name + "': unsupported dtype '" +
                              dtype->AsString() + "'");
  }
  uint64_t numel = 1;
  for (const json::Value& d : shape->AsArray()) {
    if (!d.is_int() || d.AsInt() < 0) return bad("shape entries must be non-negative integers");
    if (!CheckedMul(numel, static_cast<uint64_t>(d.AsInt()), &numel)) {
      return bad("element count overflows");
    }
    e->shape.push_back(d.AsInt());
  }
  uint64_t nbytes;
  if (!CheckedMul(numel, DTypeSize(e->dtype), &nbytes)) return bad("byte size overflows");
  const json::Value& b = offsets->AsArray()[0];
  const json::Value& en = offsets->AsArray()[1];
  if (!b.is_int() || !en.is_int() || b.AsInt() < 0 || en.AsInt() < 0) {
    return bad("data_offsets must be non-negative integers");
  }
  e->begin = static_cast<uint64_t>(b.AsInt());
  e->end = static_cast<uint64_t>(en.AsInt());
  if (e->begin > e->end) return bad("data_offsets begin > end");
  if (e->end > data_size) {
    return bad("data_offsets [" + std::to_string(e->begin) + ", " + std::to_string(e->end) +
               ") past the end of the " + std::to_string(data_size) + "-byte data section");
  }
  if (e->end - e->begin != nbytes) {
    return bad("data_offsets span " + std::to_string(e->end - e->begin) + " bytes but " +
               DTypeName(e->dtype) + " " + "shape needs " + std::to_string(nbytes));
  }
  return OkStatus();
}

}  // namespace

Status ParseSafetensorsInto(std::string_view bytes, const std::string& file, TensorStore* store) {
  if (bytes.size() < 8) {
    return DataLossError(file + ": " + std::to_string(bytes.size()) +
                         "-byte file is too short for a safetensors header");
  }
  const uint64_t header_len = LoadLE<uint64_t>(bytes.data());
  if (header_len > kMaxHeaderBytes) {
    return DataLossError(file + ": header length " + std::to_string(header_len) +
                         " exceeds the 100 MiB limit");
  }
  if (header_len > bytes.size() - 8) {
    return DataLossError(file + ": header length " + std::to_string(header_len) +
                         " past the end of the " + std::to_string(bytes.size()) + "-byte file");
  }
  StatusOr<json::Value> header = json::Parse(bytes.substr(8, header_len));
  if (!header.ok()) {
    return DataLossError(file + ": invalid JSON header: " + header.status().message());
  }
  if (!header->is_object()) return DataLossError(file + ": header is not a JSON object");
  const std::string_view data = bytes.substr(8 + header_len);
  // Python's writer pads the header so the data section is 8-byte aligned
  // in the file; a misaligned tensor is copied (see AlignedData).
  std::vector<Entry> entries;
  std::set<std::string_view> names;
  for (const auto& [name, value] : header->AsObject()) {
    if (name == "__metadata__") continue;
    if (!names.insert(name).second) {
      return DataLossError(file + ": duplicate tensor '" + name + "' in header");
    }
    Entry e;
    RS_RETURN_IF_ERROR(ParseEntry(file, name, value, data.size(), &e));
    entries.push_back(std::move(e));
  }
  // No two non-empty tensors may share bytes.
  std::vector<const Entry*> by_offset;
  for (const Entry& e : entries) {
    if (e.end > e.begin) by_offset.push_back(&e);
  }
  std::sort(by_offset.begin(), by_offset.end(),
            [](const Entry* a, const Entry* b) { return a->begin < b->begin; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    if (by_offset[i]->begin < by_offset[i - 1]->end) {
      return DataLossError(file + ": tensors '" + by_offset[i - 1]->name + "' and '" +
                           by_offset[i]->name + "' overlap");
    }
  }
  for (Entry& e : entries) {
    Tensor t;
    t.name = std::move(e.name);
    t.dtype = e.dtype;
    t.shape = std::move(e.shape);
    t.nbytes = static_cast<size_t>(e.end - e.begin);
    RS_ASSIGN_OR_RETURN(t.data,
                        AlignedData(store, data.data() + e.begin, t.nbytes, DTypeSize(t.dtype)));
    RS_RETURN_IF_ERROR(store->AddTensor(std::move(t)));
  }
  return OkStatus();
}

StatusOr<std::unique_ptr<TensorStore>> OpenSafetensorsIndex(const std::string& index_json_path) {
  RS_ASSIGN_OR_RETURN(std::string text, ReadFileToString(index_json_path, kMaxIndexBytes));
  StatusOr<json::Value> index = json::Parse(text);
  if (!index.ok()) {
    return DataLossError(index_json_path + ": invalid JSON: " + index.status().message());
  }
  const json::Value* map = index->Find("weight_map");
  if (map == nullptr || !map->is_object()) {
    return DataLossError(index_json_path + ": missing \"weight_map\" object");
  }
  const size_t slash = index_json_path.rfind('/');
  const std::string dir =
      slash == std::string::npos ? std::string() : index_json_path.substr(0, slash + 1);
  std::vector<std::string> shards;  // in order of first mention
  for (const auto& [name, shard] : map->AsObject()) {
    if (!shard.is_string()) {
      return DataLossError(index_json_path + ": weight_map value of '" + name +
                           "' is not a string");
    }
    const std::string& s = shard.AsString();
    if (s.empty() || s == "." || s == ".." || s.find('/') != std::string::npos ||
        s.find('\\') != std::string::npos || s.find('\0') != std::string::npos) {
      return DataLossError(index_json_path + ": shard name '" + s + "' of tensor '" + name +
                           "' is not a plain file name");
    }
    if (std::find(shards.begin(), shards.end(), s) == shards.end()) shards.push_back(s);
  }
  auto store = std::make_unique<TensorStore>();
  for (const std::string& shard : shards) {
    const std::string path = dir + shard;
    RS_ASSIGN_OR_RETURN(std::unique_ptr<TensorStore> part, OpenSafetensors(path));
    // Every tensor the index places in this shard must be there.
    for (const auto& [name, s] : map->AsObject()) {
      if (s.AsString() == shard && part->Find(name) == nullptr) {
        return DataLossError(index_json_path + ": tensor '" + name + "' not found in shard " +
                             path);
      }
    }
    Status merged = store->Merge(std::move(*part));
    if (!merged.ok()) {
      return DataLossError(index_json_path + ": " + merged.message() + " in shard " + path +
                           " is also in an earlier shard");
    }
  }
  return store;
}

Status WriteSafetensors(const std::string& path, const std::vector<Tensor>& tensors,
                        const std::vector<std::pair<std::string, std::string>>& metadata) {
  json::Value header = json::Value::MakeObject();
  if (!metadata.empty()) {
    json::Value meta = json::Value::MakeObject();
    for (const auto& [k, v] : metadata) meta.Set(k, json::Value::String(v));
    header.Set("__metadata__", std::move(meta));
  }
  std::set<std::string_view> names;
  uint64_t offset = 0;
  for (const Tensor& t : tensors) {
    auto bad = [&](const std::string& what) {
      return InvalidArgumentError(path + ": tensor '" + t.name + "': " + what);
    };
    if (t.name.empty()) return bad("empty name");
    if (t.name == "__metadata__") return bad("reserved name");
    if (!names.insert(t.name).second) return bad("duplicate name");
    uint64_t numel = 1;
    json::Value shape = json::Value::MakeArray();
    for (int64_t d : t.shape) {
      if (d < 0) return bad("negative dimension");
      if (!CheckedMul(numel, static_cast<uint64_t>(d), &numel)) return bad("size overflows");
      shape.Push(json::Value::Int(d));
    }
    uint64_t nbytes;
    if (!CheckedMul(numel, DTypeSize(t.dtype), &nbytes) || nbytes != t.nbytes) {
      return bad("nbytes " + std::to_string(t.nbytes) + " != numel x dtype size");
    }
    if (t.nbytes > 0 && t.data == nullptr) return bad("null data");
    json::Value entry = json::Value::MakeObject();
    entry.Set("dtype", json::Value::String(DTypeName(t.dtype)));
    entry.Set("shape", std::move(shape));
    json::Value offsets = json::Value::MakeArray();
    offsets.Push(json::Value::Int(static_cast<int64_t>(offset)));
    offsets.Push(json::Value::Int(static_cast<int64_t>(offset + nbytes)));
    entry.Set("data_offsets", std::move(offsets));
    header.Set(t.name, std::move(entry));
    offset += nbytes;
  }
  std::string text = header.Dump();
  text.append((8 - (8 + text.size()) % 8) % 8, ' ');
  char len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<char>((uint64_t{text.size()} >> (8 * i)) & 0xff);
  std::vector<std::string_view> pieces = {std::string_view(len, 8), text};
  for (const Tensor& t : tensors) {
    if (t.nbytes > 0) pieces.emplace_back(static_cast<const char*>(t.data), t.nbytes);
  }
  return WriteFileAtomically(path, pieces);
}

}  // namespace rs::engine::io
