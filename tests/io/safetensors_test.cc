// safetensors reader, index reader and writer: the Python-written fixture,
// round trips, and every malformed input with its status code.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "engine/io/tensor_store.h"
#include "tests/io/io_test_support.h"

namespace rs::engine::io {
namespace {

using testing::ExpectMatchesFixture;
using testing::FixturePath;
using testing::ReadFileOrDie;
using testing::TempDir;
using testing::Values;
using testing::WriteFileOrDie;

// u64 LE length + header + data.
std::string Safetensors(const std::string& header, const std::string& data) {
  std::string out;
  testing::PutLE(&out, header.size(), 8);
  return out + header + data;
}

StatusCode CodeOf(const std::string& header, const std::string& data) {
  auto s = ParseSafetensors(Safetensors(header, data));
  return s.ok() ? StatusCode::kOk : s.status().code();
}

Tensor F32Tensor(const std::string& name, const std::vector<int64_t>& shape,
                 const std::vector<float>& values) {
  Tensor t;
  t.name = name;
  t.dtype = DType::kF32;
  t.shape = shape;
  t.data = values.data();
  t.nbytes = values.size() * 4;
  return t;
}

TEST(SafetensorsTest, ReadsPythonWrittenFileExactly) {
  auto store = OpenSafetensors(FixturePath("basic.safetensors"));
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  ExpectMatchesFixture(**store, "basic");
  EXPECT_EQ((*store)->mapped_bytes(), ReadFileOrDie(FixturePath("basic.safetensors")).size());
  EXPECT_EQ((*store)->owned_bytes(), 0u);  // all aligned views of the mapping
  EXPECT_EQ((*store)->Find("absent"), nullptr);
  EXPECT_EQ((*store)->Find("__metadata__"), nullptr);
}

TEST(SafetensorsTest, ParseFromMemoryCopiesTheBytes) {
  std::string bytes = ReadFileOrDie(FixturePath("basic.safetensors"));
  auto store = ParseSafetensors(bytes);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  std::fill(bytes.begin(), bytes.end(), '\0');  // the store must not point here
  ExpectMatchesFixture(**store, "basic");
  EXPECT_EQ((*store)->mapped_bytes(), 0u);
  EXPECT_GE((*store)->owned_bytes(), bytes.size());
}

TEST(SafetensorsTest, OpenTensorFileDispatchesOnMagic) {
  TempDir dir;
  // A safetensors file with an unhelpful extension is still recognised.
  const std::string path = dir.File("weights.data");
  WriteFileOrDie(path, ReadFileOrDie(FixturePath("basic.safetensors")));
  auto store = OpenTensorFile(path);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  ExpectMatchesFixture(**store, "basic");

  WriteFileOrDie(dir.File("junk.data"), "hello world, not a checkpoint");
  auto junk = OpenTensorFile(dir.File("junk.data"));
  EXPECT_EQ(junk.status().code(), StatusCode::kInvalidArgument);

  WriteFileOrDie(dir.File("legacy.pth"), std::string("\x80\x02\x8a\x0a", 4) + "rest");
  auto legacy = OpenTensorFile(dir.File("legacy.pth"));
  EXPECT_EQ(legacy.status().code(), StatusCode::kUnimplemented);
  EXPECT_NE(legacy.status().message().find("legacy"), std::string::npos);

  WriteFileOrDie(dir.File("empty.safetensors"), "");
  EXPECT_EQ(OpenTensorFile(dir.File("empty.safetensors")).status().code(), StatusCode::kDataLoss);
}

TEST(SafetensorsTest, WriteThenOpenRoundTrips) {
  TempDir dir;
  const std::vector<float> a = {1.5f, -2.0f, 3.25f, 0.0f, -0.0f, 1e-30f};
  const std::vector<uint16_t> h = {F32ToBF16(1.0f), F32ToBF16(-3.5f), F32ToBF16(65504.0f)};
  const std::vector<int64_t> big = {INT64_MIN, 0, INT64_MAX};
  std::vector<Tensor> tensors = {F32Tensor("layer.0.w", {2, 3}, a)};
  Tensor b;
  b.name = "bf16";  // 6 bytes: the next tensor's data is not 8-byte aligned in the file
  b.dtype = DType::kBF16;
  b.shape = {3};
  b.data = h.data();
  b.nbytes = 6;
  tensors.push_back(b);
  Tensor c;
  c.name = "i64";
  c.dtype = DType::kI64;
  c.shape = {3};
  c.data = big.data();
  c.nbytes = 24;
  tensors.push_back(c);
  tensors.push_back(F32Tensor("empty", {0, 7}, {}));
  const std::vector<float> scalar = {a[2]};
  tensors.push_back(F32Tensor("scalar", {}, scalar));
  const std::string path = dir.File("out.safetensors");
  ASSERT_TRUE(WriteSafetensors(path, tensors, {{"format", "pt"}, {"note", "q\"uote"}}).ok());
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));

  const std::string bytes = ReadFileOrDie(path);
  uint64_t header_len;
  std::memcpy(&header_len, bytes.data(), 8);
  EXPECT_EQ((8 + header_len) % 8, 0u);
  auto header = json::Parse(bytes.substr(8, header_len));
  ASSERT_TRUE(header.ok());
  EXPECT_EQ(header->Find("__metadata__")->Find("note")->AsString(), "q\"uote");

  auto store = OpenSafetensors(path);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  ASSERT_EQ((*store)->tensors().size(), tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& got = (*store)->tensors()[i];
    SCOPED_TRACE(tensors[i].name);
    EXPECT_EQ(got.name, tensors[i].name);
    EXPECT_EQ(got.dtype, tensors[i].dtype);
    EXPECT_EQ(got.shape, tensors[i].shape);
    ASSERT_EQ(got.nbytes, tensors[i].nbytes);
    if (got.nbytes > 0) {
      EXPECT_EQ(std::memcmp(got.data, tensors[i].data, got.nbytes), 0);
    }
    EXPECT_EQ(reinterpret_cast<uintptr_t>(got.data) % DTypeSize(got.dtype), 0u);
  }
  EXPECT_EQ(Values(*(*store)->Find("i64"))[2], static_cast<double>(INT64_MAX));
  // Data offsets 30 (I64) and 54 (F32 scalar) are misaligned: both copied.
  EXPECT_EQ((*store)->owned_bytes(), 24u + 4u);

  // Overwriting replaces the file atomically.
  const std::vector<float> only = {a[0]};
  ASSERT_TRUE(WriteSafetensors(path, {F32Tensor("only", {1}, only)}).ok());
  auto again = OpenSafetensors(path);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)->tensors().size(), 1u);
}

TEST(SafetensorsTest, WriterRejectsBadTensors) {
  TempDir dir;
  const std::vector<float> v = {1, 2};
  const std::string p = dir.File("bad.safetensors");
  auto code = [&](std::vector<Tensor> t) { return WriteSafetensors(p, t).code(); };
  EXPECT_EQ(code({F32Tensor("", {2}, v)}), StatusCode::kInvalidArgument);
  EXPECT_EQ(code({F32Tensor("__metadata__", {2}, v)}), StatusCode::kInvalidArgument);
  EXPECT_EQ(code({F32Tensor("x", {2}, v), F32Tensor("x", {2}, v)}), StatusCode::kInvalidArgument);
  EXPECT_EQ(code({F32Tensor("x", {3}, v)}), StatusCode::kInvalidArgument);  // nbytes mismatch
  EXPECT_EQ(code({F32Tensor("x", {-2}, v)}), StatusCode::kInvalidArgument);
  EXPECT_FALSE(std::filesystem::exists(p));
  EXPECT_EQ(WriteSafetensors(dir.File("no/such/dir/x.safetensors"), {}).code(),
            StatusCode::kNotFound);
}

TEST(SafetensorsTest, MisalignedTensorIsCopiedAligned) {
  // Header padded so the data section starts at an odd file offset.
  const std::string header = R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  std::string padded = header + " ";  // 8 + 56 + 1 = 65: odd
  ASSERT_EQ((8 + padded.size()) % 2, 1u);
  auto store = ParseSafetensors(Safetensors(padded, testing::FloatBytes({1.25f, -7.0f})));
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  const Tensor* x = (*store)->Find("x");
  ASSERT_NE(x, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(x->data) % 4, 0u);
  EXPECT_EQ(Values(*x), (std::vector<double>{1.25, -7.0}));
}

TEST(SafetensorsTest, ToleratesGapsAndEmptyTensors) {
  const std::string header =
      R"({"__metadata__":{"k":"v"},"a":{"dtype":"U8","shape":[2],"data_offsets":[4,6]},)"
      R"("z":{"dtype":"F32","shape":[0],"data_offsets":[5,5]}})";
  auto store = ParseSafetensors(Safetensors(header, "\x01\x02\x03\x04\x05\x06\x07"));
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  EXPECT_EQ(Values(*(*store)->Find("a")), (std::vector<double>{5, 6}));
  EXPECT_EQ((*store)->Find("z")->nbytes, 0u);
}

TEST(SafetensorsTest, MissingFileIsNotFound) {
  auto s = OpenSafetensors("/nonexistent/dir/model.safetensors");
  EXPECT_EQ(s.status().code(), StatusCode::kNotFound);
  EXPECT_NE(s.status().message().find("/nonexistent/dir/model.safetensors"), std::string::npos);
  EXPECT_EQ(OpenTensorFile("/nonexistent.safetensors").status().code(), StatusCode::kNotFound);
}

TEST(SafetensorsTest, DirectoryIsInvalidArgument) {
  TempDir dir;
  EXPECT_EQ(OpenSafetensors(dir.path()).status().code(), StatusCode::kInvalidArgument);
}

TEST(SafetensorsTest, EmptyAndShortFilesAreDataLoss) {
  TempDir dir;
  WriteFileOrDie(dir.File("e.safetensors"), "");
  auto s = OpenSafetensors(dir.File("e.safetensors"));
  EXPECT_EQ(s.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(s.status().message().find("e.safetensors"), std::string::npos);
  EXPECT_EQ(ParseSafetensors("1234567").status().code(), StatusCode::kDataLoss);
}

TEST(SafetensorsTest, EveryTruncationIsAnErrorNeverACrash) {
  const std::string bytes = ReadFileOrDie(FixturePath("basic.safetensors"));
  for (size_t n = 0; n < bytes.size(); ++n) {
    auto s = ParseSafetensors(std::string_view(bytes).substr(0, n));
    // Cutting into the data section breaks the last tensor's offsets; cutting
    // into the header breaks the length or the JSON.
    ASSERT_FALSE(s.ok()) << "prefix " << n;
    ASSERT_EQ(s.status().code(), StatusCode::kDataLoss) << n << ": " << s.status().ToString();
  }
  EXPECT_TRUE(ParseSafetensors(bytes).ok());
}

TEST(SafetensorsTest, HeaderLengthChecks) {
  std::string past_eof;
  testing::PutLE(&past_eof, 1000, 8);
  past_eof += "{}";
  auto s = ParseSafetensors(past_eof);
  EXPECT_EQ(s.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(s.status().message().find("past the end"), std::string::npos);

  std::string huge;
  testing::PutLE(&huge, uint64_t{200} << 20, 8);
  EXPECT_EQ(ParseSafetensors(huge + "{}").status().code(), StatusCode::kDataLoss);
  std::string max;
  testing::PutLE(&max, UINT64_MAX, 8);
  EXPECT_EQ(ParseSafetensors(max + "{}").status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(CodeOf("{}", ""), StatusCode::kOk);  // no tensors is valid
}

TEST(SafetensorsTest, BadJsonIsDataLoss) {
  EXPECT_EQ(CodeOf("{\"a\":", ""), StatusCode::kDataLoss);
  EXPECT_EQ(CodeOf("[]", ""), StatusCode::kDataLoss);
  EXPECT_EQ(CodeOf("{} trailing", ""), StatusCode::kDataLoss);
  EXPECT_EQ(CodeOf("\xff\xfe", ""), StatusCode::kDataLoss);
  EXPECT_EQ(CodeOf(R"({"a":5})", ""), StatusCode::kDataLoss);
  EXPECT_EQ(CodeOf(R"({"a":{"shape":[1],"data_offsets":[0,4]}})", "abcd"), StatusCode::kDataLoss);
  EXPECT_EQ(CodeOf(R"({"a":{"dtype":"F32","data_offsets":[0,4]}})", "abcd"), StatusCode::kDataLoss);
  EXPECT_EQ(CodeOf(R"({"a":{"dtype":"F32","shape":[1]}})", "abcd"), StatusCode::kDataLoss);
  EXPECT_EQ(CodeOf(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0]}})", "abcd"),
            StatusCode::kDataLoss);
}

TEST(SafetensorsTest, OffsetsAndShapesAreChecked) {
  const std::string d8(8, 'x');
  auto entry = [](const std::string& dtype, const std::string& shape, const std::string& offs) {
    return R"({"t":{"dtype":")" + dtype + R"(","shape":)" + shape + R"(,"data_offsets":)" + offs +
           "}}";
  };
  EXPECT_EQ(CodeOf(entry("F32", "[2]", "[0,8]"), d8), StatusCode::kOk);
  EXPECT_EQ(CodeOf(entry("F32", "[2]", "[4,12]"), d8), StatusCode::kDataLoss);  // past end
  EXPECT_EQ(CodeOf(entry("F32", "[1]", "[8,4]"), d8), StatusCode::kDataLoss);   // begin > end
  EXPECT_EQ(CodeOf(entry("F32", "[3]", "[0,8]"), d8), StatusCode::kDataLoss);   // size mismatch
  EXPECT_EQ(CodeOf(entry("F16", "[2]", "[0,8]"), d8), StatusCode::kDataLoss);   // size mismatch
  EXPECT_EQ(CodeOf(entry("F32", "[-2]", "[0,8]"), d8), StatusCode::kDataLoss);
  EXPECT_EQ(CodeOf(entry("F32", "[2.0]", "[0,8]"), d8), StatusCode::kDataLoss);
  EXPECT_EQ(CodeOf(entry("F32", "[\"2\"]", "[0,8]"), d8), StatusCode::kDataLoss);
  EXPECT_EQ(CodeOf(entry("F32", "[2]", "[-4,4]"), d8), StatusCode::kDataLoss);
  EXPECT_EQ(CodeOf(entry("F32", "[2]", "[0,18446744073709551615]"), d8), StatusCode::kDataLoss);
  // numel * 4 overflows uint64 while the offsets look fine.
  EXPECT_EQ(CodeOf(entry("F32", "[4294967296,4294967296]", "[0,0]"), d8), StatusCode::kDataLoss);
  EXPECT_EQ(CodeOf(entry("F32", "[4611686018427387904]", "[0,0]"), d8), StatusCode::kDataLoss);
  auto msg = ParseSafetensors(Safetensors(entry("F32", "[3]", "[0,8]"), d8)).status().message();
  EXPECT_NE(msg.find("'t'"), std::string::npos) << msg;
}

TEST(SafetensorsTest, OverlappingTensorsAreDataLoss) {
  const std::string header = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                             R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})";
  auto s = ParseSafetensors(Safetensors(header, std::string(8, 'x')));
  EXPECT_EQ(s.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(s.status().message().find("overlap"), std::string::npos);
}

TEST(SafetensorsTest, DuplicateNamesAreDataLoss) {
  const std::string header = R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
                             R"("a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})";
  auto s = ParseSafetensors(Safetensors(header, "xy"));
  EXPECT_EQ(s.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(s.status().message().find("duplicate"), std::string::npos);
}

TEST(SafetensorsTest, UnsupportedDtypeIsUnimplementedAndNamed) {
  const std::string header = R"({"w.fp8":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}})";
  auto s = ParseSafetensors(Safetensors(header, "xy"));
  EXPECT_EQ(s.status().code(), StatusCode::kUnimplemented);
  EXPECT_NE(s.status().message().find("F8_E4M3"), std::string::npos);
  EXPECT_NE(s.status().message().find("w.fp8"), std::string::npos);
}

// ---- sharded index ---------------------------------------------------------

class IndexTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(WriteSafetensors(dir_.File("s1.safetensors"),
                                 {F32Tensor("a", {2}, a_), F32Tensor("b", {1}, b_)})
                    .ok());
    ASSERT_TRUE(WriteSafetensors(dir_.File("s2.safetensors"), {F32Tensor("c", {3}, c_)}).ok());
  }
  void WriteIndex(const std::string& weight_map) {
    WriteFileOrDie(dir_.File("model.safetensors.index.json"),
                   R"({"metadata":{"total_size":24},"weight_map":)" + weight_map + "}");
  }
  std::string index_path() const { return dir_.File("model.safetensors.index.json"); }

  TempDir dir_;
  std::vector<float> a_ = {1, 2}, b_ = {3}, c_ = {4, 5, 6};
};

TEST_F(IndexTest, OpensAllShards) {
  WriteIndex(R"({"c":"s2.safetensors","a":"s1.safetensors","b":"s1.safetensors"})");
  for (auto open : {OpenSafetensorsIndex, OpenTensorFile}) {
    auto store = open(index_path());
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    ASSERT_EQ((*store)->tensors().size(), 3u);
    EXPECT_EQ((*store)->tensors()[0].name, "c");  // shards in order of first mention
    EXPECT_EQ(Values(*(*store)->Find("a")), (std::vector<double>{1, 2}));
    EXPECT_EQ(Values(*(*store)->Find("b")), (std::vector<double>{3}));
    EXPECT_EQ(Values(*(*store)->Find("c")), (std::vector<double>{4, 5, 6}));
    EXPECT_EQ((*store)->mapped_bytes(),
              std::filesystem::file_size(dir_.File("s1.safetensors")) +
                  std::filesystem::file_size(dir_.File("s2.safetensors")));
  }
}

TEST_F(IndexTest, TensorMissingFromItsShardIsDataLoss) {
  WriteIndex(R"({"a":"s1.safetensors","c":"s1.safetensors"})");
  auto s = OpenSafetensorsIndex(index_path());
  EXPECT_EQ(s.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(s.status().message().find("'c'"), std::string::npos);
}

TEST_F(IndexTest, MissingShardIsNotFound) {
  WriteIndex(R"({"a":"s1.safetensors","z":"s9.safetensors"})");
  EXPECT_EQ(OpenSafetensorsIndex(index_path()).status().code(), StatusCode::kNotFound);
}

TEST_F(IndexTest, TensorInTwoShardsIsDataLoss) {
  ASSERT_TRUE(WriteSafetensors(dir_.File("s3.safetensors"), {F32Tensor("a", {2}, a_)}).ok());
  WriteIndex(R"({"a":"s1.safetensors","x":"s3.safetensors"})");
  EXPECT_EQ(OpenSafetensorsIndex(index_path()).status().code(), StatusCode::kDataLoss);
}

TEST_F(IndexTest, BadIndexesAreDataLoss) {
  for (const char* bad : {R"({"a":"../s1.safetensors"})", R"({"a":"sub/s1.safetensors"})",
                          R"({"a":".."})", R"({"a":""})", R"({"a":7})", R"([])"}) {
    WriteIndex(bad);
    EXPECT_EQ(OpenSafetensorsIndex(index_path()).status().code(), StatusCode::kDataLoss) << bad;
  }
  WriteFileOrDie(index_path(), "{\"metadata\":{}}");
  EXPECT_EQ(OpenSafetensorsIndex(index_path()).status().code(), StatusCode::kDataLoss);
  WriteFileOrDie(index_path(), "{not json");
  EXPECT_EQ(OpenSafetensorsIndex(index_path()).status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(OpenSafetensorsIndex(dir_.File("none.index.json")).status().code(),
            StatusCode::kNotFound);
}

TEST(TensorStoreTest, MergeRejectsDuplicatesAndKeepsBothUnchanged) {
  auto a = ParseSafetensors(
      Safetensors(R"({"x":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})", "1"));
  auto b = ParseSafetensors(
      Safetensors(R"({"x":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})", "2"));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ((*a)->Merge(std::move(**b)).code(), StatusCode::kAlreadyExists);
  EXPECT_EQ((*a)->tensors().size(), 1u);
  EXPECT_EQ((*b)->tensors().size(), 1u);
  EXPECT_EQ(Values(*(*b)->Find("x"))[0], '2');
}

}  // namespace
}  // namespace rs::engine::io
