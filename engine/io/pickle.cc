#include "engine/io/pickle.h"

#include <cstdio>
#include <cstring>
#include <map>
#include <unordered_map>

#include "engine/io/bytes.h"

namespace rs::engine::io {
namespace {

constexpr size_t kMaxObjects = size_t{1} << 22;
constexpr size_t kMaxStack = size_t{1} << 20;
constexpr size_t kMaxMarks = size_t{1} << 16;
constexpr size_t kMaxRank = 64;

// Opcodes (Lib/pickletools.py).
enum Op : uint8_t {
  kMark = '(',
  kStop = '.',
  kBinFloat = 'G',
  kBinInt = 'J',
  kBinInt1 = 'K',
  kBinInt2 = 'M',
  kNone = 'N',
  kBinPersId = 'Q',
  kReduce = 'R',
  kBinUnicode = 'X',
  kEmptyList = ']',
  kAppend = 'a',
  kBuild = 'b',
  kGlobal = 'c',
  kDict = 'd',
  kAppends = 'e',
  kBinGet = 'h',
  kLongBinGet = 'j',
  kList = 'l',
  kBinPut = 'q',
  kLongBinPut = 'r',
  kSetItem = 's',
  kTuple = 't',
  kSetItems = 'u',
  kEmptyDict = '}',
  kEmptyTuple = ')',
  kBinBytes = 'B',
  kShortBinBytes = 'C',
  kProto = 0x80,
  kTuple1 = 0x85,
  kTuple2 = 0x86,
  kTuple3 = 0x87,
  kNewTrue = 0x88,
  kNewFalse = 0x89,
  kLong1 = 0x8a,
  kShortBinUnicode = 0x8c,
  kStackGlobal = 0x93,
  kMemoize = 0x94,
  kFrame = 0x95,
};

enum class Kind : uint8_t {
  kNone,
  kBool,
  kInt,
  kFloat,
  kString,
  kBytes,
  kTuple,
  kList,
  kDict,
  kGlobal,
  kStorage,
  kTensor,
};

const char* KindName(Kind k) {
  switch (k) {
    case Kind::kNone:
      return "None";
    case Kind::kBool:
      return "bool";
    case Kind::kInt:
      return "int";
    case Kind::kFloat:
      return "float";
    case Kind::kString:
      return "str";
    case Kind::kBytes:
      return "bytes";
    case Kind::kTuple:
      return "tuple";
    case Kind::kList:
      return "list";
    case Kind::kDict:
      return "dict";
    case Kind::kGlobal:
      return "global";
    case Kind::kStorage:
      return "storage";
    case Kind::kTensor:
      return "tensor";
  }
  return "?";
}

enum class Callable : uint8_t { kOrderedDict, kRebuildTensorV2, kRebuildParameter, kStorageType };

// One Python object. Containers hold arena indices (reference semantics:
// a memoized list appended to later is the same list everywhere).
struct Obj {
  Kind kind = Kind::kNone;
  Callable callable = Callable::kOrderedDict;  // kGlobal
  DType dtype = DType::kF32;                   // kGlobal of a storage type
  int64_t i = 0;                // kBool, kInt; index into storages/tensors for those kinds
  double f = 0;                 // kFloat
  std::string s;                // kString, kBytes; the dotted name of a kGlobal
  std::vector<uint32_t> items;  // kTuple, kList; kDict: key, value, key, value...
};

struct TensorInfo {
  size_t storage;
  uint64_t offset;
  std::vector<int64_t> shape, stride;
};

class Interpreter {
 public:
  Interpreter(std::string_view pkl, const std::string& file) : r_(pkl), file_(file) {}

  StatusOr<PickledStateDict> Run();

 private:
  Status Step(uint8_t op, size_t at);
  Status Fail(const std::string& what) const {
    return DataLossError(file_ + ": data.pkl offset " + std::to_string(op_at_) + ": " + what);
  }
  Status Truncated() const { return Fail("truncated"); }

  StatusOr<uint32_t> New(Obj o) {
    if (objs_.size() >= kMaxObjects) return Fail("more than 2^22 objects");
    objs_.push_back(std::move(o));
    return static_cast<uint32_t>(objs_.size() - 1);
  }
  Status Push(uint32_t id) {
    if (stack_.size() >= kMaxStack) return Fail("stack deeper than 2^20");
    stack_.push_back(id);
    return OkStatus();
  }
  Status PushNew(Obj o) {
    RS_ASSIGN_OR_RETURN(uint32_t id, New(std::move(o)));
    return Push(id);
  }
  StatusOr<uint32_t> Pop() {
    if (stack_.size() <= StackFloor()) return Fail("stack underflow");
    uint32_t id = stack_.back();
    stack_.pop_back();
    return id;
  }
  StatusOr<uint32_t> Top() const {
    if (stack_.size() <= StackFloor()) return Fail("stack underflow");
    return stack_.back();
  }
  // Objects above the innermost MARK cannot be popped past it.
  size_t StackFloor() const { return marks_.empty() ? 0 : marks_.back(); }
  // Pops everything above the innermost MARK, and the MARK.
  StatusOr<std::vector<uint32_t>> PopMark() {
    if (marks_.empty()) return Fail("no MARK to pop to");
    const size_t m = marks_.back();
    marks_.pop_back();
    std::vector<uint32_t> items(stack_.begin() + static_cast<std::ptrdiff_t>(m), stack_.end());
    stack_.resize(m);
    return items;
  }
  Status PushString(Kind kind, uint64_t len) {
    std::string_view s;
    if (len > r_.remaining() || !r_.ReadBytes(static_cast<size_t>(len), &s)) return Truncated();
    Obj o;
    o.kind = kind;
    o.s = std::string(s);
    return PushNew(std::move(o));
  }
  Status PushInt(int64_t v) {
    Obj o;
    o.kind = Kind::kInt;
    o.i = v;
    return PushNew(std::move(o));
  }
  Status PushGlobal(std::string_view module, std::string_view name);
  Status PersistentLoad(uint32_t pid);
  Status Reduce(uint32_t callable, uint32_t args);
  StatusOr<std::vector<int64_t>> IntTuple(uint32_t id, const char* what);
  Status SetItems(uint32_t dict, const std::vector<uint32_t>& kv);
  Status Memo(uint64_t key, uint32_t value) {
    if (memo_.size() >= kMaxObjects) return Fail("memo larger than 2^22 entries");
    memo_[key] = value;
    return OkStatus();
  }
  StatusOr<PickledStateDict> Extract(uint32_t root);

  ByteReader r_;
  const std::string& file_;
  size_t op_at_ = 0;
  std::vector<Obj> objs_;
  std::vector<uint32_t> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, uint32_t> memo_;
  std::vector<PickledStorage> storages_;
  std::map<std::string, size_t, std::less<>> storage_by_key_;
  std::vector<TensorInfo> tensors_;
};

Status Interpreter::PushGlobal(std::string_view module, std::string_view name) {
  static constexpr struct {
    std::string_view module, name;
    Callable callable;
    DType dtype;
  } kAllowed[] = {
      {"collections", "OrderedDict", Callable::kOrderedDict, DType::kF32},
      {"torch._utils", "_rebuild_tensor_v2", Callable::kRebuildTensorV2, DType::kF32},
      {"torch._utils", "_rebuild_parameter", Callable::kRebuildParameter, DType::kF32},
      {"torch", "FloatStorage", Callable::kStorageType, DType::kF32},
      {"torch", "HalfStorage", Callable::kStorageType, DType::kF16},
      {"torch", "BFloat16Storage", Callable::kStorageType, DType::kBF16},
      {"torch", "DoubleStorage", Callable::kStorageType, DType::kF64},
      {"torch", "LongStorage", Callable::kStorageType, DType::kI64},
      {"torch", "IntStorage", Callable::kStorageType, DType::kI32},
      {"torch", "ShortStorage", Callable::kStorageType, DType::kI16},
      {"torch", "CharStorage", Callable::kStorageType, DType::kI8},
      {"torch", "ByteStorage", Callable::kStorageType, DType::kU8},
      {"torch", "BoolStorage", Callable::kStorageType, DType::kBool},
  };
  const std::string dotted = std::string(module) + "." + std::string(name);
  if (dotted == "torch.storage._load_from_bytes") {
    return UnimplementedError(file_ +
                              ": data.pkl uses torch.storage._load_from_bytes (legacy "
                              "storage format); not supported");
  }
  for (const auto& a : kAllowed) {
    if (a.module == module && a.name == name) {
      Obj o;
      o.kind = Kind::kGlobal;
      o.callable = a.callable;
      o.dtype = a.dtype;
      o.s = dotted;
      return PushNew(std::move(o));
    }
  }
  // Quote at most 200 bytes of an untrusted name.
  return UnimplementedError(file_ + ": data.pkl global '" + dotted.substr(0, 200) +
                            "' is not allowed");
}

StatusOr<std::vector<int64_t>> Interpreter::IntTuple(uint32_t id, const char* what) {
  const Obj& o = objs_[id];
  if (o.kind != Kind::kTuple) {
    return Fail(std::string(what) + " is a " + KindName(o.kind) + ", not a tuple");
  }
  if (o.items.size() > kMaxRank) return Fail(std::string(what) + " has rank above 64");
  std::vector<int64_t> out;
  for (uint32_t it : o.items) {
    const Obj& v = objs_[it];
    if (v.kind != Kind::kInt || v.i < 0) {
      return Fail(std::string(what) + " holds a non-integer or negative entry");
    }
    out.push_back(v.i);
  }
  return out;
}

Status Interpreter::PersistentLoad(uint32_t pid) {
  const Obj& t = objs_[pid];
  if (t.kind != Kind::kTuple || t.items.size() != 5) {
    return Fail("persistent id is not a 5-tuple ('storage', type, key, location, numel)");
  }
  const Obj& tag = objs_[t.items[0]];
  const Obj& type = objs_[t.items[1]];
  const Obj& key = objs_[t.items[2]];
  const Obj& numel = objs_[t.items[4]];
  if (tag.kind != Kind::kString || tag.s != "storage") {
    return Fail("persistent id is not a ('storage', ...) tuple");
  }
  if (type.kind != Kind::kGlobal || type.callable != Callable::kStorageType) {
    return Fail("persistent id names no torch storage type");
  }
  if (key.kind != Kind::kString) return Fail("storage key is not a string");
  if (numel.kind != Kind::kInt || numel.i < 0) return Fail("storage numel is not a count");
  size_t index;
  auto it = storage_by_key_.find(key.s);
  if (it != storage_by_key_.end()) {
    index = it->second;
    const PickledStorage& s = storages_[index];
    if (s.dtype != type.dtype || s.numel != static_cast<uint64_t>(numel.i)) {
      return Fail("storage '" + key.s + "' is described twice, differently");
    }
  } else {
    index = storages_.size();
    storages_.push_back({key.s, type.dtype, static_cast<uint64_t>(numel.i)});
    storage_by_key_.emplace(key.s, index);
  }
  Obj o;
  o.kind = Kind::kStorage;
  o.i = static_cast<int64_t>(index);
  return PushNew(std::move(o));
}

Status Interpreter::Reduce(uint32_t callable, uint32_t args_id) {
  const Obj& f = objs_[callable];
  if (f.kind != Kind::kGlobal) {
    return UnimplementedError(file_ + ": data.pkl REDUCE on a " + KindName(f.kind) +
                              " (only allowed globals are callable)");
  }
  const Obj& args = objs_[args_id];
  if (args.kind != Kind::kTuple) return Fail("REDUCE arguments are not a tuple");
  // No allowed callable takes more than 7 arguments; checking first keeps a
  // memoized huge tuple from being copied once per REDUCE.
  if (args.items.size() > 7) return Fail("REDUCE of " + f.s + " with too many arguments");
  const std::vector<uint32_t> a = args.items;  // copy: objs_ may grow below
  switch (f.callable) {
    case Callable::kOrderedDict: {
      if (!a.empty()) {
        return UnimplementedError(file_ +
                                  ": data.pkl calls collections.OrderedDict with "
                                  "arguments");
      }
      Obj d;
      d.kind = Kind::kDict;
      return PushNew(std::move(d));
    }
    case Callable::kRebuildParameter: {
      if (a.size() != 3 || objs_[a[0]].kind != Kind::kTensor) {
        return Fail("_rebuild_parameter expects (tensor, requires_grad, hooks)");
      }
      return Push(a[0]);
    }
    case Callable::kRebuildTensorV2: {
      if (a.size() != 6 && a.size() != 7) {
        return Fail("_rebuild_tensor_v2 expects 6 or 7 arguments, got " + std::to_string(a.size()));
      }
      const Obj& storage = objs_[a[0]];
      const Obj& offset = objs_[a[1]];
      if (storage.kind != Kind::kStorage) return Fail("_rebuild_tensor_v2 without a storage");
      if (offset.kind != Kind::kInt || offset.i < 0) {
        return Fail("_rebuild_tensor_v2 storage offset is not a non-negative int");
      }
      TensorInfo t;
      t.storage = static_cast<size_t>(storage.i);
      t.offset = static_cast<uint64_t>(offset.i);
      RS_ASSIGN_OR_RETURN(t.shape, IntTuple(a[2], "tensor size"));
      RS_ASSIGN_OR_RETURN(t.stride, IntTuple(a[3], "tensor stride"));
      if (t.shape.size() != t.stride.size()) return Fail("tensor size and stride ranks differ");
      Obj o;
      o.kind = Kind::kTensor;
      o.i = static_cast<int64_t>(tensors_.size());
      tensors_.push_back(std::move(t));
      return PushNew(std::move(o));
    }
    case Callable::kStorageType:
      return UnimplementedError(file_ + ": data.pkl calls " + f.s);
  }
  return Fail("bad callable");
}

Status Interpreter::SetItems(uint32_t dict, const std::vector<uint32_t>& kv) {
  Obj& d = objs_[dict];
  if (d.kind != Kind::kDict) return Fail("SETITEM(S) on a " + std::string(KindName(d.kind)));
  if (kv.size() % 2 != 0) return Fail("SETITEMS with an odd number of items");
  d.items.insert(d.items.end(), kv.begin(), kv.end());
  return OkStatus();
}

Status Interpreter::Step(uint8_t op, size_t at) {
  switch (op) {
    case kProto: {
      uint8_t v;
      if (!r_.ReadLE(&v)) return Truncated();
      if (v > 5) return UnimplementedError(file_ + ": pickle protocol " + std::to_string(v));
      return OkStatus();
    }
    case kFrame: {
      uint64_t n;
      if (!r_.ReadLE(&n)) return Truncated();
      if (n > r_.remaining()) return Fail("frame past the end");
      return OkStatus();
    }
    case kMark:
      if (marks_.size() >= kMaxMarks) return Fail("more than 2^16 open MARKs");
      marks_.push_back(stack_.size());
      return OkStatus();
    case kEmptyDict: {
      Obj o;
      o.kind = Kind::kDict;
      return PushNew(std::move(o));
    }
    case kEmptyList: {
      Obj o;
      o.kind = Kind::kList;
      return PushNew(std::move(o));
    }
    case kEmptyTuple: {
      Obj o;
      o.kind = Kind::kTuple;
      return PushNew(std::move(o));
    }
    case kNone:
      return PushNew(Obj{});
    case kNewTrue:
    case kNewFalse: {
      Obj o;
      o.kind = Kind::kBool;
      o.i = op == kNewTrue;
      return PushNew(std::move(o));
    }
    case kBinInt: {
      uint32_t v;
      if (!r_.ReadLE(&v)) return Truncated();
      return PushInt(static_cast<int32_t>(v));
    }
    case kBinInt1: {
      uint8_t v;
      if (!r_.ReadLE(&v)) return Truncated();
      return PushInt(v);
    }
    case kBinInt2: {
      uint16_t v;
      if (!r_.ReadLE(&v)) return Truncated();
      return PushInt(v);
    }
    case kLong1: {
      uint8_t n;
      std::string_view b;
      if (!r_.ReadLE(&n) || !r_.ReadBytes(n, &b)) return Truncated();
      if (n > 8) return UnimplementedError(file_ + ": data.pkl integer wider than 64 bits");
      uint64_t u = 0;
      for (size_t i = 0; i < n; ++i) u |= uint64_t{static_cast<uint8_t>(b[i])} << (8 * i);
      if (n > 0 && n < 8 && (static_cast<uint8_t>(b[n - 1]) & 0x80)) u |= ~uint64_t{0} << (8 * n);
      return PushInt(static_cast<int64_t>(u));
    }
    case kBinFloat: {
      std::string_view b;
      if (!r_.ReadBytes(8, &b)) return Truncated();
      uint64_t u = 0;
      for (size_t i = 0; i < 8; ++i) u = (u << 8) | static_cast<uint8_t>(b[i]);  // big-endian
      Obj o;
      o.kind = Kind::kFloat;
      std::memcpy(&o.f, &u, 8);
      return PushNew(std::move(o));
    }
    case kBinUnicode:
    case kBinBytes: {
      uint32_t n;
      if (!r_.ReadLE(&n)) return Truncated();
      return PushString(op == kBinUnicode ? Kind::kString : Kind::kBytes, n);
    }
    case kShortBinUnicode:
    case kShortBinBytes: {
      uint8_t n;
      if (!r_.ReadLE(&n)) return Truncated();
      return PushString(op == kShortBinUnicode ? Kind::kString : Kind::kBytes, n);
    }
    case kBinPut: {
      uint8_t k;
      if (!r_.ReadLE(&k)) return Truncated();
      RS_ASSIGN_OR_RETURN(uint32_t top, Top());
      return Memo(k, top);
    }
    case kLongBinPut: {
      uint32_t k;
      if (!r_.ReadLE(&k)) return Truncated();
      RS_ASSIGN_OR_RETURN(uint32_t top, Top());
      return Memo(k, top);
    }
    case kMemoize: {
      RS_ASSIGN_OR_RETURN(uint32_t top, Top());
      return Memo(memo_.size(), top);
    }
    case kBinGet:
    case kLongBinGet: {
      uint32_t k = 0;
      if (op == kBinGet) {
        uint8_t k8;
        if (!r_.ReadLE(&k8)) return Truncated();
        k = k8;
      } else if (!r_.ReadLE(&k)) {
        return Truncated();
      }
      auto it = memo_.find(k);
      if (it == memo_.end()) return Fail("memo key " + std::to_string(k) + " not set");
      return Push(it->second);
    }
    case kGlobal: {
      std::string_view module, name;
      if (!r_.ReadLine(&module) || !r_.ReadLine(&name)) return Truncated();
      return PushGlobal(module, name);
    }
    case kStackGlobal: {
      RS_ASSIGN_OR_RETURN(uint32_t name, Pop());
      RS_ASSIGN_OR_RETURN(uint32_t module, Pop());
      if (objs_[name].kind != Kind::kString || objs_[module].kind != Kind::kString) {
        return Fail("STACK_GLOBAL on non-strings");
      }
      return PushGlobal(objs_[module].s, objs_[name].s);
    }
    case kBinPersId: {
      RS_ASSIGN_OR_RETURN(uint32_t pid, Pop());
      return PersistentLoad(pid);
    }
    case kTuple:
    case kList: {
      RS_ASSIGN_OR_RETURN(std::vector<uint32_t> items, PopMark());
      Obj o;
      o.kind = op == kTuple ? Kind::kTuple : Kind::kList;
      o.items = std::move(items);
      return PushNew(std::move(o));
    }
    case kTuple1:
    case kTuple2:
    case kTuple3: {
      const size_t n = op - kTuple1 + 1;
      Obj o;
      o.kind = Kind::kTuple;
      o.items.resize(n);
      for (size_t i = n; i-- > 0;) {
        RS_ASSIGN_OR_RETURN(o.items[i], Pop());
      }
      return PushNew(std::move(o));
    }
    case kDict: {
      RS_ASSIGN_OR_RETURN(std::vector<uint32_t> items, PopMark());
      RS_ASSIGN_OR_RETURN(uint32_t d, New(Obj{}));
      objs_[d].kind = Kind::kDict;
      RS_RETURN_IF_ERROR(SetItems(d, items));
      return Push(d);
    }
    case kReduce: {
      RS_ASSIGN_OR_RETURN(uint32_t args, Pop());
      RS_ASSIGN_OR_RETURN(uint32_t callable, Pop());
      return Reduce(callable, args);
    }
    case kBuild: {
      RS_ASSIGN_OR_RETURN(uint32_t state, Pop());
      (void)state;
      RS_ASSIGN_OR_RETURN(uint32_t target, Top());
      if (objs_[target].kind != Kind::kDict) {
        return UnimplementedError(file_ + ": data.pkl BUILD on a " + KindName(objs_[target].kind) +
                                  " is not supported");
      }
      return OkStatus();  // e.g. an OrderedDict's _metadata: ignored.
    }
    case kSetItem: {
      RS_ASSIGN_OR_RETURN(uint32_t value, Pop());
      RS_ASSIGN_OR_RETURN(uint32_t key, Pop());
      RS_ASSIGN_OR_RETURN(uint32_t dict, Top());
      return SetItems(dict, {key, value});
    }
    case kSetItems: {
      RS_ASSIGN_OR_RETURN(std::vector<uint32_t> kv, PopMark());
      RS_ASSIGN_OR_RETURN(uint32_t dict, Top());
      return SetItems(dict, kv);
    }
    case kAppend:
    case kAppends: {
      std::vector<uint32_t> values;
      if (op == kAppend) {
        RS_ASSIGN_OR_RETURN(uint32_t v, Pop());
        values.push_back(v);
      } else {
        RS_ASSIGN_OR_RETURN(values, PopMark());
      }
      RS_ASSIGN_OR_RETURN(uint32_t list, Top());
      if (objs_[list].kind != Kind::kList) {
        return Fail("APPEND(S) on a " + std::string(KindName(objs_[list].kind)));
      }
      objs_[list].items.insert(objs_[list].items.end(), values.begin(), values.end());
      return OkStatus();
    }
    default: {
      char hex[8];
      std::snprintf(hex, sizeof(hex), "0x%02x", op);
      return UnimplementedError(file_ + ": pickle opcode " + hex + " at offset " +
                                std::to_string(at) + " not supported");
    }
  }
}

StatusOr<PickledStateDict> Interpreter::Run() {
  while (true) {
    op_at_ = r_.pos();
    uint8_t op;
    if (!r_.ReadLE(&op)) return Fail("data.pkl ends without STOP");
    if (op == kStop) {
      if (stack_.empty()) return Fail("STOP with an empty stack");
      return Extract(stack_.back());
    }
    RS_RETURN_IF_ERROR(Step(op, op_at_));
  }
}

StatusOr<PickledStateDict> Interpreter::Extract(uint32_t root) {
  const Obj& top = objs_[root];
  if (top.kind != Kind::kDict) {
    return DataLossError(file_ + ": data.pkl holds a " + KindName(top.kind) +
                         ", not a dict of tensors");
  }
  auto count_tensors = [&](const Obj& d) {
    size_t n = 0;
    for (size_t i = 1; i < d.items.size(); i += 2) n += objs_[d.items[i]].kind == Kind::kTensor;
    return n;
  };
  // The dict that holds the tensors: the top level, or one nested level.
  const Obj* dict = &top;
  if (count_tensors(top) == 0) {
    const Obj* preferred = nullptr;
    std::vector<const Obj*> candidates;
    std::vector<std::string> candidate_names;
    for (size_t i = 0; i + 1 < top.items.size(); i += 2) {
      const Obj& k = objs_[top.items[i]];
      const Obj& v = objs_[top.items[i + 1]];
      if (k.kind != Kind::kString || v.kind != Kind::kDict || count_tensors(v) == 0) continue;
      if (preferred == nullptr && (k.s == "state_dict" || k.s == "model" || k.s == "module")) {
        preferred = &v;
      }
      candidates.push_back(&v);
      candidate_names.push_back(k.s.substr(0, 100));
    }
    if (preferred != nullptr) {
      dict = preferred;
    } else if (candidates.size() == 1) {
      dict = candidates[0];
    } else if (candidates.size() > 1) {
      return UnimplementedError(file_ + ": data.pkl holds several dicts of tensors ('" +
                                candidate_names[0] + "', '" + candidate_names[1] +
                                "', ...); which one is the model is ambiguous");
    }
  }
  PickledStateDict out;
  for (size_t i = 0; i + 1 < dict->items.size(); i += 2) {
    const Obj& k = objs_[dict->items[i]];
    const Obj& v = objs_[dict->items[i + 1]];
    if (v.kind != Kind::kTensor) continue;
    if (k.kind != Kind::kString) {
      return DataLossError(file_ + ": data.pkl names a tensor with a " + KindName(k.kind) + " key");
    }
    const TensorInfo& t = tensors_[static_cast<size_t>(v.i)];
    out.tensors.push_back({k.s, t.storage, t.offset, t.shape, t.stride});
  }
  out.storages = std::move(storages_);
  return out;
}

}  // namespace

StatusOr<PickledStateDict> ParseTorchPickle(std::string_view pkl, const std::string& file) {
  Interpreter interp(pkl, file);
  return interp.Run();
}

}  // namespace rs::engine::io
