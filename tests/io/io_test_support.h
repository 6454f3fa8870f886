// Helpers for the engine/io tests: fixture paths, temporary folders, tensor
// values as doubles, and hand-built zip archives and pickles (so each bad
// input is made exactly where the test needs it).
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "engine/io/tensor_store.h"
#include "engine/tensor.h"
#include "engine/util/json.h"

namespace rs::engine::io::testing {

inline std::string FixturePath(const std::string& name) {
  return std::string(RS_SOURCE_DIR) + "/tests/data/io/" + name;
}

inline std::string ReadFileOrDie(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  EXPECT_TRUE(f.good()) << path;
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

inline void WriteFileOrDie(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(f.good()) << path;
}

// A fresh folder under the test temp dir, removed with its contents.
class TempDir {
 public:
  TempDir() {
    std::string templ = ::testing::TempDir() + "rs_io_XXXXXX";
    char* p = ::mkdtemp(templ.data());
    EXPECT_NE(p, nullptr);
    path_ = templ;
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string File(const std::string& name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Every element of `t` as a double (any dtype).
inline std::vector<double> Values(const Tensor& t) {
  std::vector<double> out;
  const auto* p = static_cast<const uint8_t*>(t.data);
  const int64_t n = t.numel();
  for (int64_t i = 0; i < n; ++i) {
    const uint8_t* e = p + static_cast<size_t>(i) * DTypeSize(t.dtype);
    double v = 0;
    switch (t.dtype) {
      case DType::kF32: {
        float f;
        std::memcpy(&f, e, 4);
        v = f;
        break;
      }
      case DType::kF64:
        std::memcpy(&v, e, 8);
        break;
      case DType::kF16: {
        uint16_t h;
        std::memcpy(&h, e, 2);
        v = F16ToF32(h);
        break;
      }
      case DType::kBF16: {
        uint16_t h;
        std::memcpy(&h, e, 2);
        v = BF16ToF32(h);
        break;
      }
      case DType::kI64: {
        int64_t x;
        std::memcpy(&x, e, 8);
        v = static_cast<double>(x);
        break;
      }
      case DType::kI32: {
        int32_t x;
        std::memcpy(&x, e, 4);
        v = x;
        break;
      }
      case DType::kI16: {
        int16_t x;
        std::memcpy(&x, e, 2);
        v = x;
        break;
      }
      case DType::kI8: {
        int8_t x;
        std::memcpy(&x, e, 1);
        v = x;
        break;
      }
      case DType::kU8:
      case DType::kBool:
        v = *e;
        break;
    }
    out.push_back(v);
  }
  return out;
}

// Checks `store` holds exactly the tensors of expected.json's list `key`,
// in order, with equal dtype, shape and every value.
inline void ExpectMatchesFixture(const TensorStore& store, const std::string& key) {
  auto doc = json::Parse(ReadFileOrDie(FixturePath("expected.json")));
  ASSERT_TRUE(doc.ok()) << doc.status().ToString();
  const json::Value* list = doc->Find(key);
  ASSERT_NE(list, nullptr) << key;
  ASSERT_EQ(store.tensors().size(), list->AsArray().size());
  size_t i = 0;
  for (const json::Value& want : list->AsArray()) {
    const std::string name = want.Find("name")->AsString();
    SCOPED_TRACE(name);
    const Tensor* t = store.Find(name);
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(store.tensors()[i++].name, name);  // file order
    EXPECT_STREQ(DTypeName(t->dtype), want.Find("dtype")->AsString().c_str());
    std::vector<int64_t> shape;
    for (const json::Value& d : want.Find("shape")->AsArray()) shape.push_back(d.AsInt());
    EXPECT_EQ(t->shape, shape);
    EXPECT_EQ(t->nbytes, static_cast<size_t>(t->numel()) * DTypeSize(t->dtype));
    EXPECT_EQ(reinterpret_cast<uintptr_t>(t->data) % DTypeSize(t->dtype), 0u) << "misaligned";
    std::vector<double> values;
    for (const json::Value& v : want.Find("values")->AsArray()) values.push_back(v.AsDouble());
    EXPECT_EQ(Values(*t), values);
  }
}

// ---- zip archives ----------------------------------------------------------

struct ZipEntrySpec {
  std::string name;
  std::string data;
  uint16_t method = 0;  // 0 stored, 8 deflate (the data is written as is)
};

inline void PutLE(std::string* out, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// A zip of `entries`, data 64-byte aligned with a padding extra field as
// torch.save does. With `zip64`, every size and offset is written as
// 0xFFFFFFFF with a zip64 extra field, and the zip64 EOCD record and locator
// are emitted.
inline std::string BuildZip(const std::vector<ZipEntrySpec>& entries, bool zip64 = false) {
  std::string out, central;
  for (const ZipEntrySpec& e : entries) {
    const uint64_t offset = out.size();
    std::string extra;
    if (zip64) {
      PutLE(&extra, 0x0001, 2);
      PutLE(&extra, 16, 2);
      PutLE(&extra, e.data.size(), 8);
      PutLE(&extra, e.data.size(), 8);
    }
    const size_t unpadded = offset + 30 + e.name.size() + extra.size() + 4;
    const size_t pad = (64 - unpadded % 64) % 64;
    PutLE(&extra, 0x4246, 2);  // "FB" padding, as PyTorch writes it
    PutLE(&extra, pad, 2);
    extra.append(pad, 'Z');
    PutLE(&out, 0x04034b50, 4);
    PutLE(&out, zip64 ? 45 : 20, 2);  // version needed
    PutLE(&out, 0, 2);                // flags
    PutLE(&out, e.method, 2);
    PutLE(&out, 0, 4);  // time, date
    PutLE(&out, 0, 4);  // crc (not checked)
    PutLE(&out, zip64 ? 0xffffffffu : e.data.size(), 4);
    PutLE(&out, zip64 ? 0xffffffffu : e.data.size(), 4);
    PutLE(&out, e.name.size(), 2);
    PutLE(&out, extra.size(), 2);
    out += e.name + extra + e.data;

    std::string cextra;
    if (zip64) {
      PutLE(&cextra, 0x0001, 2);
      PutLE(&cextra, 24, 2);
      PutLE(&cextra, e.data.size(), 8);  // uncompressed
      PutLE(&cextra, e.data.size(), 8);  // compressed
      PutLE(&cextra, offset, 8);
    }
    PutLE(&central, 0x02014b50, 4);
    PutLE(&central, 45, 2);
    PutLE(&central, zip64 ? 45 : 20, 2);
    PutLE(&central, 0, 2);
    PutLE(&central, e.method, 2);
    PutLE(&central, 0, 4);
    PutLE(&central, 0, 4);
    PutLE(&central, zip64 ? 0xffffffffu : e.data.size(), 4);
    PutLE(&central, zip64 ? 0xffffffffu : e.data.size(), 4);
    PutLE(&central, e.name.size(), 2);
    PutLE(&central, cextra.size(), 2);
    PutLE(&central, 0, 2);  // comment
    PutLE(&central, 0, 2);  // disk
    PutLE(&central, 0, 2);  // internal attributes
    PutLE(&central, 0, 4);  // external attributes
    PutLE(&central, zip64 ? 0xffffffffu : offset, 4);
    central += e.name + cextra;
  }
  const uint64_t cd_offset = out.size();
  out += central;
  if (zip64) {
    const uint64_t z_offset = out.size();
    PutLE(&out, 0x06064b50, 4);
    PutLE(&out, 44, 8);  // size of the rest of the record
    PutLE(&out, 45, 2);
    PutLE(&out, 45, 2);
    PutLE(&out, 0, 4);
    PutLE(&out, 0, 4);
    PutLE(&out, entries.size(), 8);
    PutLE(&out, entries.size(), 8);
    PutLE(&out, central.size(), 8);
    PutLE(&out, cd_offset, 8);
    PutLE(&out, 0x07064b50, 4);  // locator
    PutLE(&out, 0, 4);
    PutLE(&out, z_offset, 8);
    PutLE(&out, 1, 4);
  }
  PutLE(&out, 0x06054b50, 4);
  PutLE(&out, 0, 2);
  PutLE(&out, 0, 2);
  PutLE(&out, zip64 ? 0xffff : entries.size(), 2);
  PutLE(&out, zip64 ? 0xffff : entries.size(), 2);
  PutLE(&out, zip64 ? 0xffffffffu : central.size(), 4);
  PutLE(&out, zip64 ? 0xffffffffu : cd_offset, 4);
  PutLE(&out, 0, 2);
  return out;
}

// ---- pickles ---------------------------------------------------------------

// Emits pickle opcodes (protocol 2 unless told otherwise).
class Pickler {
 public:
  Pickler& Op(uint8_t op) {
    out_.push_back(static_cast<char>(op));
    return *this;
  }
  Pickler& Proto(int v = 2) { return Op(0x80).Op(static_cast<uint8_t>(v)); }
  Pickler& Mark() { return Op('('); }
  Pickler& Global(const std::string& module, const std::string& name) {
    Op('c');
    out_ += module + "\n" + name + "\n";
    return *this;
  }
  Pickler& Str(const std::string& s) {
    Op('X');
    PutLE(&out_, s.size(), 4);
    out_ += s;
    return *this;
  }
  Pickler& Int(int64_t v) {
    if (v >= 0 && v < 256) return Op('K').Op(static_cast<uint8_t>(v));
    if (v >= INT32_MIN && v <= INT32_MAX) {
      Op('J');
      PutLE(&out_, static_cast<uint32_t>(v), 4);
      return *this;
    }
    Op(0x8a).Op(8);
    PutLE(&out_, static_cast<uint64_t>(v), 8);
    return *this;
  }
  Pickler& IntTuple(const std::vector<int64_t>& v) {
    Mark();
    for (int64_t x : v) Int(x);
    return Op('t');
  }
  Pickler& Raw(const std::string& bytes) {
    out_ += bytes;
    return *this;
  }
  // _rebuild_tensor_v2(storage(key), offset, size, stride, False, OrderedDict())
  Pickler& Tensor(const std::string& storage_type, const std::string& key, int64_t numel,
                  int64_t offset, const std::vector<int64_t>& size,
                  const std::vector<int64_t>& stride) {
    Global("torch._utils", "_rebuild_tensor_v2");
    Mark();
    Mark().Str("storage").Global("torch", storage_type).Str(key).Str("cpu").Int(numel).Op('t');
    Op('Q');                                               // BINPERSID
    Int(offset).IntTuple(size).IntTuple(stride).Op(0x89);  // NEWFALSE
    Global("collections", "OrderedDict").Op(')').Op('R');
    Op('t');
    return Op('R');
  }
  const std::string& bytes() const { return out_; }

 private:
  std::string out_;
};

struct TensorSpec {
  std::string name, storage_type, key;
  int64_t numel, offset;
  std::vector<int64_t> size, stride;
};

// The data.pkl of OrderedDict(name -> tensor) for `specs`.
inline std::string StateDictPickle(const std::vector<TensorSpec>& specs) {
  Pickler p;
  p.Proto().Global("collections", "OrderedDict").Op(')').Op('R').Mark();
  for (const TensorSpec& s : specs) {
    p.Str(s.name).Tensor(s.storage_type, s.key, s.numel, s.offset, s.size, s.stride);
  }
  p.Op('u').Op('.');
  return p.bytes();
}

// A torch.save-like archive under prefix `prefix`: data.pkl, byteorder and
// the given storages (key -> bytes).
inline std::string TorchArchive(const std::string& pkl,
                                const std::vector<std::pair<std::string, std::string>>& storages,
                                const std::string& prefix = "m", bool zip64 = false) {
  std::vector<ZipEntrySpec> entries = {{prefix + "/data.pkl", pkl},
                                       {prefix + "/byteorder", "little"}};
  for (const auto& [key, bytes] : storages) entries.push_back({prefix + "/data/" + key, bytes});
  entries.push_back({prefix + "/version", "3\n"});
  return BuildZip(entries, zip64);
}

inline std::string FloatBytes(const std::vector<float>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
}

}  // namespace rs::engine::io::testing
