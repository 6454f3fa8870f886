// torch.save zip reader: the torch-written fixtures (three prefixes/layouts),
// the real RWKV-7 checkpoint in ../shared, a hand-built zip64 archive, the
// pickle subset, and every malformed input with its status code.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "engine/io/tensor_store.h"
#include "tests/io/io_test_support.h"

namespace rs::engine::io {
namespace {

using testing::BuildZip;
using testing::ExpectMatchesFixture;
using testing::FixturePath;
using testing::FloatBytes;
using testing::Pickler;
using testing::ReadFileOrDie;
using testing::StateDictPickle;
using testing::TempDir;
using testing::TensorSpec;
using testing::TorchArchive;
using testing::Values;
using testing::WriteFileOrDie;

// The status of parsing an archive made of `pkl` and `storages`.
Status Parse(const std::string& pkl,
             const std::vector<std::pair<std::string, std::string>>& storages = {}) {
  auto s = ParseTorchZip(TorchArchive(pkl, storages));
  return s.ok() ? OkStatus() : s.status();
}

bool Contains(const Status& s, const std::string& what) {
  return s.message().find(what) != std::string::npos;
}

// ---- torch-written fixtures ------------------------------------------------

class TorchFixtureTest : public ::testing::TestWithParam<const char*> {};

TEST_P(TorchFixtureTest, MatchesExpectedValues) {
  auto store = OpenTorchZip(FixturePath(GetParam()));
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  ExpectMatchesFixture(**store, "torch_state");
  const TensorStore& s = **store;
  // Tied weights: two names, one storage, both views of the same bytes.
  EXPECT_EQ(s.Find("tied.a")->data, s.Find("tied.b")->data);
  // The transposed tensor was copied (5 x 3 floats); everything else is a view.
  EXPECT_EQ(s.owned_bytes(), 15u * 4u);
  EXPECT_EQ(s.mapped_bytes(), std::filesystem::file_size(FixturePath(GetParam())));
  auto via_dispatch = OpenTensorFile(FixturePath(GetParam()));
  ASSERT_TRUE(via_dispatch.ok()) << via_dispatch.status().ToString();
  ExpectMatchesFixture(**via_dispatch, "torch_state");
}

INSTANTIATE_TEST_SUITE_P(Prefixes, TorchFixtureTest,
                         ::testing::Values("torch_state.pth",          // prefix "torch_state"
                                           "torch_state_archive.pth",  // prefix "archive"
                                           "torch_nested.pth"));       // {"state_dict": ...}

TEST(TorchZipTest, ParseFromMemoryMatches) {
  auto store = ParseTorchZip(ReadFileOrDie(FixturePath("torch_state.pth")));
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  ExpectMatchesFixture(**store, "torch_state");
}

TEST(TorchZipTest, EveryTruncationIsAnErrorNeverACrash) {
  const std::string bytes = ReadFileOrDie(FixturePath("torch_state.pth"));
  for (size_t n = 0; n < bytes.size(); ++n) {
    auto s = ParseTorchZip(std::string_view(bytes).substr(0, n));
    ASSERT_FALSE(s.ok()) << "prefix " << n;  // the EOCD record is the last 22 bytes
    ASSERT_EQ(s.status().code(), StatusCode::kDataLoss) << n << ": " << s.status().ToString();
  }
}

TEST(TorchZipTest, EverySingleByteCorruptionIsHandled) {
  // Flip each byte of data.pkl and the zip records: any status, never a crash.
  const std::string bytes = ReadFileOrDie(FixturePath("torch_state.pth"));
  size_t errors = 0;
  for (size_t i = 0; i < bytes.size(); ++i) {
    std::string copy = bytes;
    copy[i] = static_cast<char>(copy[i] ^ 0x5a);
    errors += !ParseTorchZip(copy).ok();
  }
  EXPECT_GT(errors, 0u);
}

TEST(TorchZipTest, ReadsTheRealRwkv7Checkpoint) {
  const std::string path =
      std::string(RS_SHARED_DIR) + "/fixtures/models/rwkv7-tiny-834K/model.pth";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "no " << path;
  auto store = OpenTensorFile(path);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  const Tensor* emb = (*store)->Find("emb.weight");
  ASSERT_NE(emb, nullptr);
  EXPECT_EQ(emb->dtype, DType::kF32);
  EXPECT_EQ(emb->shape, (std::vector<int64_t>{256, 64}));
  EXPECT_NE((*store)->Find("blocks.11.ffn.value.weight"), nullptr);
  EXPECT_NE((*store)->Find("head.weight"), nullptr);
  // Values as torch.load reads them (python3-torch 1.13).
  EXPECT_EQ(Values(*emb)[0], 0.00421142578125);
  EXPECT_EQ(Values(*emb)[1], 0.0017852783203125);
  EXPECT_EQ(Values(*(*store)->Find("head.weight")).back(), 0.0242919921875);
  ASSERT_EQ((*store)->tensors().size(), 399u);
  EXPECT_EQ((*store)->tensors().front().name, "emb.weight");
  EXPECT_EQ((*store)->tensors().back().name, "head.weight");
  int64_t params = 0;
  for (const Tensor& t : (*store)->tensors()) params += t.numel();
  EXPECT_EQ(params, 829888);
  EXPECT_EQ((*store)->owned_bytes(), 0u);  // all contiguous, aligned: zero copy
}

// ---- hand-built archives -----------------------------------------------------

std::vector<TensorSpec> TwoTensors() {
  return {{"w", "FloatStorage", "0", 6, 0, {2, 3}, {3, 1}},
          {"w_t", "FloatStorage", "0", 6, 0, {3, 2}, {1, 3}}};
}

TEST(TorchZipTest, HandBuiltArchiveWithViewsAndCopies) {
  auto store = ParseTorchZip(
      TorchArchive(StateDictPickle(TwoTensors()), {{"0", FloatBytes({0, 1, 2, 3, 4, 5})}}));
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  EXPECT_EQ(Values(*(*store)->Find("w")), (std::vector<double>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(Values(*(*store)->Find("w_t")), (std::vector<double>{0, 3, 1, 4, 2, 5}));
}

TEST(TorchZipTest, ReadsZip64Archive) {
  const std::string zip = TorchArchive(StateDictPickle(TwoTensors()),
                                       {{"0", FloatBytes({0, 1, 2, 3, 4, 5})}}, "zz", true);
  // Every 32-bit size/offset field is maxed out: only the zip64 records work.
  auto store = ParseTorchZip(zip);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  EXPECT_EQ(Values(*(*store)->Find("w_t")), (std::vector<double>{0, 3, 1, 4, 2, 5}));
  for (size_t n = 0; n < zip.size(); ++n) {
    ASSERT_FALSE(ParseTorchZip(std::string_view(zip).substr(0, n)).ok()) << n;
  }
}

TEST(TorchZipTest, BadZip64RecordsAreDataLoss) {
  std::string zip = TorchArchive(StateDictPickle(TwoTensors()),
                                 {{"0", FloatBytes({0, 1, 2, 3, 4, 5})}}, "zz", true);
  // The locator's record offset is 8 bytes at EOCD - 20 + 8.
  std::string bad = zip;
  bad[zip.size() - 22 - 20 + 8] ^= 0x40;
  EXPECT_EQ(ParseTorchZip(bad).status().code(), StatusCode::kDataLoss);
  // A zip64 end of central directory record with a wrong signature.
  bad = zip;
  bad[zip.size() - 22 - 20 - 56] = 'X';
  EXPECT_EQ(ParseTorchZip(bad).status().code(), StatusCode::kDataLoss);
}

TEST(TorchZipTest, AnyPrefixAndZipCommentAreAccepted) {
  std::string zip = TorchArchive(StateDictPickle(TwoTensors()),
                                 {{"0", FloatBytes({0, 1, 2, 3, 4, 5})}}, "pytorch_model");
  ASSERT_TRUE(ParseTorchZip(zip).ok());
  // Append a comment and set its length in the EOCD record.
  const std::string comment = "saved by a test PK\x05\x06 with a fake signature";
  zip[zip.size() - 2] = static_cast<char>(comment.size());
  zip += comment;
  auto store = ParseTorchZip(zip);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  EXPECT_EQ((*store)->tensors().size(), 2u);
}

TEST(TorchZipTest, Protocol4OpcodesAndRebuildParameter) {
  Pickler p;
  p.Proto(4).Op(0x95).Raw(std::string(8, '\0'));  // FRAME (length not enforced)
  p.Op('}').Op(0x94);                             // EMPTY_DICT, MEMOIZE
  p.Op(0x8c).Op(5).Raw("param");                  // SHORT_BINUNICODE
  p.Op(0x8c).Op(12).Raw("torch._utils").Op(0x8c).Op(18).Raw("_rebuild_parameter");
  p.Op(0x93).Op(0x94);  // STACK_GLOBAL, MEMOIZE
  p.Mark().Tensor("HalfStorage", "k", 2, 0, {2}, {1}).Op(0x88).Global("collections", "OrderedDict");
  p.Op(')').Op('R').Op('t').Op('R');  // _rebuild_parameter(t, True, {})
  p.Op('s').Op('.');                  // SETITEM, STOP
  std::string half;
  testing::PutLE(&half, F32ToF16(1.5f), 2);
  testing::PutLE(&half, F32ToF16(-2.0f), 2);
  auto store = ParseTorchZip(TorchArchive(p.bytes(), {{"k", half}}));
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  const Tensor* t = (*store)->Find("param");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->dtype, DType::kF16);
  EXPECT_EQ(Values(*t), (std::vector<double>{1.5, -2.0}));
}

std::string NestedPickle(const std::vector<std::string>& keys) {
  Pickler p;
  p.Proto().Op('}').Mark();
  for (const std::string& k : keys) {
    p.Str(k).Op('}').Str("x").Tensor("FloatStorage", "0", 1, 0, {1}, {1}).Op('s');
  }
  p.Str("epoch").Int(3).Op('u').Op('.');
  return p.bytes();
}

TEST(TorchZipTest, OneLevelOfNesting) {
  const std::vector<std::pair<std::string, std::string>> st = {{"0", FloatBytes({9})}};
  EXPECT_TRUE(Parse(NestedPickle({"model"}), st).ok());
  EXPECT_TRUE(Parse(NestedPickle({"weights"}), st).ok());            // the only candidate
  EXPECT_TRUE(Parse(NestedPickle({"ema", "state_dict"}), st).ok());  // preferred key
  Status amb = Parse(NestedPickle({"ema", "weights"}), st);
  EXPECT_EQ(amb.code(), StatusCode::kUnimplemented);
  EXPECT_TRUE(Contains(amb, "ambiguous")) << amb.ToString();
  auto store = ParseTorchZip(TorchArchive(NestedPickle({"model"}), st));
  ASSERT_TRUE(store.ok());
  EXPECT_EQ(Values(*(*store)->Find("x")), (std::vector<double>{9}));
  EXPECT_EQ((*store)->Find("epoch"), nullptr);
}

TEST(TorchZipTest, EmptyStateDictIsAnEmptyStore) {
  auto store = ParseTorchZip(TorchArchive(Pickler().Proto().Op('}').Op('.').bytes(), {}));
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  EXPECT_TRUE((*store)->tensors().empty());
}

// ---- bad inputs --------------------------------------------------------------

TEST(TorchZipBadInput, MissingFileIsNotFound) {
  EXPECT_EQ(OpenTorchZip("/nonexistent/x.pth").status().code(), StatusCode::kNotFound);
}

TEST(TorchZipBadInput, EmptyAndNonZipFilesAreDataLoss) {
  TempDir dir;
  WriteFileOrDie(dir.File("e.pth"), "");
  EXPECT_EQ(OpenTorchZip(dir.File("e.pth")).status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(OpenTensorFile(dir.File("e.pth")).status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(ParseTorchZip(std::string(100, 'x')).status().code(), StatusCode::kDataLoss);
}

TEST(TorchZipBadInput, CompressedEntryIsUnimplemented) {
  auto s = ParseTorchZip(BuildZip({{"a/data.pkl", "xx", 8}}));
  EXPECT_EQ(s.status().code(), StatusCode::kUnimplemented);
  EXPECT_TRUE(Contains(s.status(), "compressed zip entry")) << s.status().ToString();
}

TEST(TorchZipBadInput, NoDataPklOrTwoOfThemIsDataLoss) {
  EXPECT_EQ(ParseTorchZip(BuildZip({{"a/other", "x"}})).status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(ParseTorchZip(BuildZip({{"a/data.pkl", "."}, {"b/data.pkl", "."}})).status().code(),
            StatusCode::kDataLoss);
  EXPECT_EQ(ParseTorchZip(BuildZip({{"a/data.pkl", "."}, {"a/data.pkl", "."}})).status().code(),
            StatusCode::kDataLoss);  // duplicate entry name
}

TEST(TorchZipBadInput, BigEndianIsUnimplemented) {
  auto s = ParseTorchZip(BuildZip({{"a/data.pkl", "}."}, {"a/byteorder", "big"}}));
  EXPECT_EQ(s.status().code(), StatusCode::kUnimplemented);
}

TEST(TorchZipBadInput, LocalHeaderOffsetOutOfRangeIsDataLoss) {
  std::string zip = BuildZip({{"a/data.pkl", "}."}});
  // Central header at cd_offset: local header offset field at +42.
  uint32_t cd_offset;
  std::memcpy(&cd_offset, zip.data() + zip.size() - 6, 4);
  zip[cd_offset + 42 + 3] = 0x70;
  EXPECT_EQ(ParseTorchZip(zip).status().code(), StatusCode::kDataLoss);
  // Central directory offset itself past the end.
  zip = BuildZip({{"a/data.pkl", "}."}});
  zip[zip.size() - 6 + 3] = 0x70;
  EXPECT_EQ(ParseTorchZip(zip).status().code(), StatusCode::kDataLoss);
}

TEST(TorchZipBadInput, DisallowedGlobalsAreUnimplementedAndNamed) {
  Status s =
      Parse(Pickler().Proto().Global("os", "system").Str("id").Op(0x85).Op('R').Op('.').bytes());
  EXPECT_EQ(s.code(), StatusCode::kUnimplemented);
  EXPECT_TRUE(Contains(s, "os.system")) << s.ToString();

  Pickler eval;  // protocol 4 spelling: STACK_GLOBAL
  eval.Proto(4).Op(0x8c).Op(8).Raw("builtins").Op(0x8c).Op(4).Raw("eval").Op(0x93).Op('.');
  s = Parse(eval.bytes());
  EXPECT_EQ(s.code(), StatusCode::kUnimplemented);
  EXPECT_TRUE(Contains(s, "builtins.eval")) << s.ToString();

  s = Parse(Pickler().Proto().Global("torch.storage", "_load_from_bytes").Op('.').bytes());
  EXPECT_EQ(s.code(), StatusCode::kUnimplemented);
  EXPECT_TRUE(Contains(s, "legacy")) << s.ToString();
}

TEST(TorchZipBadInput, UnknownOpcodeIsUnimplementedWithOffset) {
  // INST ('i') at offset 2, after PROTO 2.
  Status s = Parse(Pickler().Proto().Raw("ios\nsystem\n").Op('.').bytes());
  EXPECT_EQ(s.code(), StatusCode::kUnimplemented);
  EXPECT_TRUE(Contains(s, "pickle opcode 0x69 at offset 2 not supported")) << s.ToString();
}

TEST(TorchZipBadInput, MalformedPicklesAreDataLoss) {
  auto code = [](const std::string& pkl) { return Parse(pkl).code(); };
  EXPECT_EQ(code(""), StatusCode::kDataLoss);                                         // no STOP
  EXPECT_EQ(code(Pickler().Proto().Op('}').bytes()), StatusCode::kDataLoss);          // no STOP
  EXPECT_EQ(code("."), StatusCode::kDataLoss);                                        // empty stack
  EXPECT_EQ(code(Pickler().Proto().Op('s').Op('.').bytes()), StatusCode::kDataLoss);  // underflow
  EXPECT_EQ(code(Pickler().Proto().Op('h').Op(7).Op('.').bytes()), StatusCode::kDataLoss);  // memo
  EXPECT_EQ(code(Pickler().Proto().Op('t').Op('.').bytes()), StatusCode::kDataLoss);  // no MARK
  EXPECT_EQ(code(Pickler().Proto().Op(']').Op('.').bytes()), StatusCode::kDataLoss);  // a list
  EXPECT_EQ(code(Pickler().Proto().Op('X').Raw("\xff\xff\xff\x7f").bytes()),
            StatusCode::kDataLoss);  // string past the end
  EXPECT_EQ(code(Pickler().Proto().Op('}').Op('(').Op(']').Op('u').Op('.').bytes()),
            StatusCode::kDataLoss);  // SETITEMS with an odd count
  // Popping past an open MARK is an underflow, not a read of the outer stack.
  EXPECT_EQ(code(Pickler().Proto().Op('}').Op('(').Op('N').Op('s').Op('.').bytes()),
            StatusCode::kDataLoss);
  // A persistent id that is not a storage tuple.
  EXPECT_EQ(code(Pickler().Proto().Op('N').Op('Q').Op('.').bytes()), StatusCode::kDataLoss);
}

TEST(TorchZipBadInput, MissingStorageIsDataLoss) {
  Status s = Parse(StateDictPickle(TwoTensors()), {{"1", FloatBytes({0, 1, 2, 3, 4, 5})}});
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  EXPECT_TRUE(Contains(s, "storage '0' missing")) << s.ToString();
  EXPECT_TRUE(Contains(s, "'w'")) << s.ToString();
}

TEST(TorchZipBadInput, StorageSizeMismatchIsDataLoss) {
  Status s = Parse(StateDictPickle(TwoTensors()), {{"0", FloatBytes({0, 1, 2, 3, 4})}});
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
}

TEST(TorchZipBadInput, ExtentPastStorageIsDataLoss) {
  const auto st =
      std::vector<std::pair<std::string, std::string>>{{"0", FloatBytes({0, 1, 2, 3, 4, 5})}};
  auto code = [&](int64_t offset, std::vector<int64_t> size, std::vector<int64_t> stride) {
    return Parse(StateDictPickle({{"t", "FloatStorage", "0", 6, offset, size, stride}}), st).code();
  };
  EXPECT_EQ(code(0, {6}, {1}), StatusCode::kOk);
  EXPECT_EQ(code(1, {6}, {1}), StatusCode::kDataLoss);
  EXPECT_EQ(code(0, {7}, {1}), StatusCode::kDataLoss);
  EXPECT_EQ(code(0, {2, 3}, {4, 1}), StatusCode::kDataLoss);  // strided past the end
  EXPECT_EQ(code(6, {0}, {1}), StatusCode::kOk);              // empty view at the end
  EXPECT_EQ(code(0, {int64_t{1} << 62, 4}, {1, 1}), StatusCode::kDataLoss);  // overflow
  EXPECT_EQ(code(0, {6, 1000}, {1, 0}), StatusCode::kUnimplemented);         // expanded view
  EXPECT_EQ(code(0, {2}, {1, 1}), StatusCode::kDataLoss);                    // rank mismatch
  EXPECT_EQ(code(0, {-1}, {1}), StatusCode::kDataLoss);                      // negative size
}

TEST(TorchZipBadInput, ConflictingStorageDescriptionsAreDataLoss) {
  Status s = Parse(StateDictPickle({{"a", "FloatStorage", "0", 6, 0, {6}, {1}},
                                    {"b", "IntStorage", "0", 6, 0, {6}, {1}}}),
                   {{"0", FloatBytes({0, 1, 2, 3, 4, 5})}});
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
}

TEST(TorchZipBadInput, DuplicateTensorNameIsDataLoss) {
  Status s = Parse(StateDictPickle({{"a", "FloatStorage", "0", 6, 0, {6}, {1}},
                                    {"a", "FloatStorage", "0", 6, 0, {6}, {1}}}),
                   {{"0", FloatBytes({0, 1, 2, 3, 4, 5})}});
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
}

}  // namespace
}  // namespace rs::engine::io
