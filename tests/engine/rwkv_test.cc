// RWKV specifics: spec and state layout, and bad model files. The
// properties every architecture keeps are in model_properties_test.cc,
// parity with the reference in rwkv_parity_test.cc.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "engine/io/tensor_store.h"
#include "engine/model.h"
#include "engine/models/random_model.h"
#include "tests/engine/model_test_util.h"

namespace rs::engine {
namespace {

using testing::TempDir;

// ---- RWKV-6 ----------------------------------------------------------------

TEST(Rwkv6Test, SpecAndStateLayout) {
  TempDir dir("rwkv6-spec");
  ASSERT_TRUE(WriteRandomRwkv(dir.path(), testing::OddRwkvShape(6)).ok());
  auto model = testing::Load(dir.path(), 2);
  ASSERT_NE(model, nullptr);
  const ModelSpec& s = model->spec();
  EXPECT_EQ(s.arch, Arch::kRwkv6);
  EXPECT_EQ(s.d_model, 96);
  EXPECT_EQ(s.n_layer, 3);
  EXPECT_EQ(s.vocab_size, 300);
  EXPECT_EQ(s.weight_dtype, "F32");
  // Dimensions read from the shapes: 3 heads of 32 (time_faaaa), the LoRA
  // ranks from time_maa_w1 (96, 5*10) and time_decay_w1 (96, 24).
  EXPECT_NE(s.details.find("n_head=3 head_size=32"), std::string::npos) << s.details;
  EXPECT_NE(s.details.find("ffn=200"), std::string::npos) << s.details;
  EXPECT_NE(s.details.find("lora_maa=10 lora_decay=24"), std::string::npos) << s.details;
  // Per layer: att_shift (C), wkv (H×N×N), ffn_shift (C).
  ASSERT_EQ(s.state.parts.size(), 9u);
  size_t floats = 0;
  for (const StatePart& p : s.state.parts) floats += p.n_floats;
  EXPECT_EQ(floats, 3u * (96 + 3 * 32 * 32 + 96));
  EXPECT_EQ(s.state.parts[1].name, "layers.0.wkv");
  EXPECT_EQ(s.state.parts[1].shape, (std::vector<int64_t>{3, 32, 32}));
}

// A good random checkpoint of one RWKV version, re-written with edits.
class RwkvBadFiles : public ::testing::Test {
 protected:
  void Init(int version) {
    ASSERT_TRUE(WriteRandomRwkv(good_.path(), testing::OddRwkvShape(version)).ok());
    auto store = io::OpenSafetensors(good_.File("model.safetensors"));
    ASSERT_TRUE(store.ok());
    store_ = std::move(store).value();
  }
  // Loads the good tensors, transformed by `edit`, from a fresh model folder.
  template <typename Edit>
  StatusOr<std::unique_ptr<Model>> LoadEdited(const std::string& name, Edit edit) {
    TempDir dir(name);
    std::vector<Tensor> ts = store_->tensors();
    edit(&ts);
    EXPECT_TRUE(io::WriteSafetensors(dir.File("model.safetensors"), ts).ok());
    return LoadModel(dir.path());
  }
  StatusOr<std::unique_ptr<Model>> LoadWithout(const std::string& tensor) {
    return LoadEdited("rwkv-missing", [&](std::vector<Tensor>* ts) {
      std::erase_if(*ts, [&](const Tensor& t) { return t.name == tensor; });
    });
  }
  StatusOr<std::unique_ptr<Model>> LoadReshaped(const std::string& tensor,
                                                std::vector<int64_t> shape) {
    return LoadEdited("rwkv-shape", [&](std::vector<Tensor>* ts) {
      for (Tensor& t : *ts) {
        if (t.name == tensor) {
          int64_t n = 1;
          for (int64_t d : shape) n *= d;
          ASSERT_EQ(n, t.numel()) << tensor;  // same bytes, another shape
          t.shape = shape;
        }
      }
    });
  }
  // Removing each tensor, alone, gives INVALID_ARGUMENT naming it.
  void ExpectEachMissingIsNamed(const std::vector<std::string>& names) {
    for (const std::string& name : names) {
      auto m = LoadWithout(name);
      ASSERT_FALSE(m.ok()) << name;
      EXPECT_EQ(m.status().code(), StatusCode::kInvalidArgument)
          << name << ": " << m.status().ToString();
      EXPECT_NE(m.status().message().find(name), std::string::npos) << m.status().message();
    }
  }
  struct Reshape {
    std::string name;
    std::vector<int64_t> shape;
  };
  // Each tensor given another shape of the same size, alone, gives
  // INVALID_ARGUMENT naming it.
  void ExpectEachWrongShapeIsNamed(const std::vector<Reshape>& cases) {
    for (const Reshape& b : cases) {
      auto m = LoadReshaped(b.name, b.shape);
      ASSERT_FALSE(m.ok()) << b.name;
      EXPECT_EQ(m.status().code(), StatusCode::kInvalidArgument)
          << b.name << ": " << m.status().ToString();
      EXPECT_NE(m.status().message().find(b.name), std::string::npos) << m.status().message();
    }
  }
  TempDir good_{"rwkv-good"};
  std::unique_ptr<io::TensorStore> store_;
};

class Rwkv6BadFilesTest : public RwkvBadFiles {
 protected:
  void SetUp() override { Init(6); }
};

TEST_F(Rwkv6BadFilesTest, GoodFileLoads) {
  auto m = LoadEdited("rwkv6-unchanged", [](std::vector<Tensor>*) {});
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ((*m)->spec().arch, Arch::kRwkv6);
}

TEST_F(Rwkv6BadFilesTest, MissingTensorIsNamed) {
  ExpectEachMissingIsNamed(
      {"blocks.0.att.time_faaaa", "blocks.1.att.time_faaaa", "blocks.1.att.time_maa_w2",
       "blocks.2.att.time_maa_w1", "blocks.0.att.time_maa_g", "blocks.1.att.time_decay",
       "blocks.2.att.time_decay_w2", "blocks.1.att.gate.weight", "blocks.0.att.ln_x.bias",
       "blocks.2.ffn.receptance.weight", "blocks.1.ffn.time_maa_r"});
}

TEST_F(Rwkv6BadFilesTest, WrongShapeIsNamed) {
  ExpectEachWrongShapeIsNamed({
      {"blocks.1.att.time_faaaa", {32, 3}},       // (N, H) instead of (H, N)
      {"blocks.0.att.time_maa_w2", {50, 96}},     // rank 2 instead of (5, Dm, C)
      {"blocks.1.att.time_maa_w2", {10, 5, 96}},  // (Dm, 5, C)
      {"blocks.2.att.time_maa_w1", {480, 10}},    // not (C, 5·Dm)
      {"blocks.0.att.time_maa_w1", {96, 25, 2}},  // rank 3
      {"blocks.1.att.time_decay_w1", {24, 96}},   // transposed
      {"blocks.2.att.time_decay_w2", {96, 24}},   // transposed
      {"blocks.1.att.gate.weight", {48, 192}},    // not C×C
  });
}

TEST_F(Rwkv6BadFilesTest, LoraRankNotAMultipleOfFive) {
  // time_maa_w1 (C, 5·Dm) with 48 columns (its first 96×48 values): no Dm fits.
  auto m = LoadEdited("rwkv6-rank", [](std::vector<Tensor>* ts) {
    for (Tensor& t : *ts) {
      if (t.name == "blocks.0.att.time_maa_w1") {
        t.shape = {96, 48};
        t.nbytes = static_cast<size_t>(t.numel()) * DTypeSize(t.dtype);
      }
    }
  });
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(m.status().message().find("blocks.0.att.time_maa_w1"), std::string::npos)
      << m.status().message();
}

// ---- RWKV-7 ----------------------------------------------------------------

TEST(Rwkv7Test, SpecAndStateLayout) {
  TempDir dir("rwkv7-spec");
  ASSERT_TRUE(WriteRandomRwkv(dir.path(), testing::OddRwkvShape(7)).ok());
  auto model = testing::Load(dir.path(), 2);
  ASSERT_NE(model, nullptr);
  const ModelSpec& s = model->spec();
  EXPECT_EQ(s.arch, Arch::kRwkv7);
  EXPECT_EQ(s.d_model, 96);
  EXPECT_EQ(s.n_layer, 3);
  EXPECT_EQ(s.vocab_size, 300);
  // Heads from r_k (3, 32); LoRA ranks from w1/a1/v1/g1; ffn from ffn.key.
  EXPECT_NE(s.details.find("n_head=3 head_size=32 ffn=200"), std::string::npos) << s.details;
  EXPECT_NE(s.details.find("lora_w=12 lora_a=20 lora_v=8 lora_g=28"), std::string::npos)
      << s.details;
  ASSERT_EQ(s.state.parts.size(), 9u);
  size_t floats = 0;
  for (const StatePart& p : s.state.parts) floats += p.n_floats;
  EXPECT_EQ(floats, 3u * (96 + 3 * 32 * 32 + 96));
  EXPECT_EQ(s.state.parts[4].name, "layers.1.wkv");
}

class Rwkv7BadFilesTest : public RwkvBadFiles {
 protected:
  void SetUp() override { Init(7); }
};

TEST_F(Rwkv7BadFilesTest, MissingTensorIsNamed) {
  ExpectEachMissingIsNamed({"emb.weight", "head.weight", "blocks.0.ln0.weight", "ln_out.bias",
                            "blocks.0.att.r_k", "blocks.1.att.k_a", "blocks.2.att.w1",
                            "blocks.1.att.a2", "blocks.1.att.v0", "blocks.2.att.v2",
                            "blocks.0.att.g1", "blocks.2.att.x_g", "blocks.1.att.ln_x.weight",
                            "blocks.2.ffn.x_k", "blocks.1.ffn.value.weight"});
}

TEST_F(Rwkv7BadFilesTest, WrongShapeIsNamed) {
  ExpectEachWrongShapeIsNamed({
      {"blocks.1.att.r_k", {32, 3}},             // (N, H) instead of (H, N)
      {"blocks.0.att.w1", {12, 96}},             // transposed LoRA
      {"blocks.1.att.a2", {96, 20}},             // transposed LoRA
      {"blocks.2.att.v1", {96, 4, 2}},           // rank 3
      {"blocks.1.att.key.weight", {48, 192}},    // not C×C
      {"blocks.0.ffn.value.weight", {200, 96}},  // (F, C) instead of (C, F)
      {"head.weight", {96, 300}},                // transposed head
  });
}

TEST_F(Rwkv7BadFilesTest, UnsupportedRwkvVersionIsSaidSo) {
  // RWKV blocks without k_k (x070) or time_maa_x (x060): e.g. RWKV-5 names.
  auto m = LoadEdited("rwkv5", [](std::vector<Tensor>* ts) {
    for (Tensor& t : *ts) {
      if (t.name.ends_with(".att.k_k")) t.name.replace(t.name.size() - 3, 3, "time_mix_k");
    }
  });
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kUnimplemented);
  EXPECT_NE(m.status().message().find("unsupported RWKV version"), std::string::npos)
      << m.status().message();
}

TEST_F(Rwkv7BadFilesTest, HeadSizeThatIsNotAMultipleOf16IsRefused) {
  // r_k (8, 12): 8 heads of 12 channels cover n_embd 96, but 12 is not a
  // multiple of 16.
  auto m = LoadReshaped("blocks.0.att.r_k", {8, 12});
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kUnimplemented) << m.status().ToString();
  EXPECT_NE(m.status().message().find("head size 12"), std::string::npos) << m.status().message();
}

TEST(Rwkv7PthTest, TruncatedAndCorruptPthFilesFailCleanly) {
  const std::string src = std::string(RS_SOURCE_DIR) + "/tests/data/rwkv/v7_bf16/model.pth";
  std::string bytes;
  {
    std::ifstream in(src, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  ASSERT_GT(bytes.size(), 100000u);
  TempDir dir("rwkv7-pth");
  const auto write_and_load = [&](const std::string& content) {
    {
      std::ofstream out(dir.File("model.pth"), std::ios::binary | std::ios::trunc);
      out << content;
    }
    return LoadModel(dir.File("model.pth"));
  };
  ASSERT_TRUE(write_and_load(bytes).ok());
  for (size_t cut : {bytes.size() / 2, bytes.size() - 100, size_t{30}}) {
    auto m = write_and_load(bytes.substr(0, cut));
    ASSERT_FALSE(m.ok()) << cut;
    EXPECT_EQ(m.status().code(), StatusCode::kDataLoss) << cut << ": " << m.status().ToString();
  }
  // A flipped byte inside the pickle (at the start of the archive's data.pkl).
  std::string corrupt = bytes;
  const size_t pkl = corrupt.find("data.pkl");
  ASSERT_NE(pkl, std::string::npos);
  corrupt[pkl + 8 + 30] ^= 0x5a;
  auto m = write_and_load(corrupt);
  EXPECT_FALSE(m.ok());
}

}  // namespace
}  // namespace rs::engine
