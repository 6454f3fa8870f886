// Mamba-1 specifics: spec and state layout, and bad model files. The
// properties every architecture keeps are in model_properties_test.cc,
// parity with the reference in mamba1_parity_test.cc.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include "engine/io/tensor_store.h"
#include "engine/model.h"
#include "engine/models/random_model.h"
#include "tests/engine/model_test_util.h"

namespace rs::engine {
namespace {

using testing::TempDir;

RandomMamba1Options OddShape() { return testing::OddMamba1Shape(); }

TEST(Mamba1Test, SpecAndStateLayout) {
  TempDir dir("mamba1-spec");
  ASSERT_TRUE(WriteRandomMamba1(dir.path(), OddShape()).ok());
  auto model = testing::Load(dir.path(), 2);
  ASSERT_NE(model, nullptr);
  const ModelSpec& s = model->spec();
  EXPECT_EQ(s.arch, Arch::kMamba1);
  EXPECT_EQ(s.d_model, 36);
  EXPECT_EQ(s.n_layer, 3);
  EXPECT_EQ(s.vocab_size, 300);
  // Per layer: conv (K-1)×E = 3×72 and ssm E×N = 72×16, each 64-byte aligned.
  EXPECT_EQ(s.state.parts.size(), 6u);
  size_t floats = 0;
  for (const StatePart& p : s.state.parts) floats += p.n_floats;
  EXPECT_EQ(floats, 3u * (3 * 72 + 72 * 16));
  EXPECT_GE(s.state.floats_per_sequence, floats);
  EXPECT_LT(s.state.floats_per_sequence, floats + 16 * 6);
  EXPECT_EQ(s.fingerprint.size(), 16u);
}

// ---- Bad model files -------------------------------------------------------

class Mamba1BadFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(WriteRandomMamba1(good_.path(), OddShape()).ok());
    auto store = io::OpenSafetensors(good_.File("model.safetensors"));
    ASSERT_TRUE(store.ok());
    store_ = std::move(store).value();
  }
  // Writes the good tensors, transformed by `edit`, into a fresh model folder.
  template <typename Edit>
  std::string WriteEdited(const TempDir& dir, Edit edit) {
    std::vector<Tensor> ts = store_->tensors();
    edit(&ts);
    EXPECT_TRUE(io::WriteSafetensors(dir.File("model.safetensors"), ts).ok());
    std::filesystem::copy_file(good_.File("config.json"), dir.File("config.json"));
    return dir.path();
  }
  TempDir good_{"mamba1-good"};
  std::unique_ptr<io::TensorStore> store_;
};

TEST_F(Mamba1BadFilesTest, MissingPathsAndFiles) {
  auto m = LoadModel(good_.File("does-not-exist"));
  EXPECT_EQ(m.status().code(), StatusCode::kNotFound);
  TempDir empty("empty");
  m = LoadModel(empty.path());
  EXPECT_EQ(m.status().code(), StatusCode::kNotFound);
  EXPECT_NE(m.status().message().find("no model weights"), std::string::npos);
}

TEST_F(Mamba1BadFilesTest, MissingTensorIsNamed) {
  TempDir d("missing-tensor");
  WriteEdited(d, [](std::vector<Tensor>* ts) {
    std::erase_if(*ts, [](const Tensor& t) { return t.name == "backbone.layers.1.mixer.x_proj.weight"; });
  });
  auto m = LoadModel(d.path());
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(m.status().message().find("backbone.layers.1.mixer.x_proj.weight"), std::string::npos)
      << m.status().message();
}

TEST_F(Mamba1BadFilesTest, WrongShapeIsNamed) {
  TempDir d("wrong-shape");
  WriteEdited(d, [](std::vector<Tensor>* ts) {
    for (Tensor& t : *ts) {
      if (t.name == "backbone.layers.2.mixer.out_proj.weight") {
        std::swap(t.shape[0], t.shape[1]);  // (E, D) instead of (D, E): same bytes, wrong shape
      }
    }
  });
  auto m = LoadModel(d.path());
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(m.status().message().find("out_proj"), std::string::npos) << m.status().message();
}

TEST_F(Mamba1BadFilesTest, UnknownArchitecture) {
  TempDir d("unknown-arch");
  WriteEdited(d, [](std::vector<Tensor>* ts) {
    for (Tensor& t : *ts) t.name = "model." + t.name;  // names of no architecture we know
  });
  auto m = LoadModel(d.path());
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kUnimplemented);
  EXPECT_NE(m.status().message().find("unknown architecture"), std::string::npos);

  TempDir d2("llama");
  WriteEdited(d2, [](std::vector<Tensor>*) {});
  {
    std::ofstream(d2.File("config.json"), std::ios::trunc) << R"({"model_type": "llama"})";
  }
  m = LoadModel(d2.path());
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kUnimplemented);
  EXPECT_NE(m.status().message().find("llama"), std::string::npos);
}

TEST_F(Mamba1BadFilesTest, UnsupportedDtype) {
  TempDir d("int-weights");
  WriteEdited(d, [](std::vector<Tensor>* ts) {
    for (Tensor& t : *ts) {
      if (t.name == "backbone.layers.0.mixer.in_proj.weight") {
        t.dtype = DType::kI32;  // same byte size as F32
      }
    }
  });
  auto m = LoadModel(d.path());
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kUnimplemented);
  EXPECT_NE(m.status().message().find("I32"), std::string::npos) << m.status().message();
}

TEST_F(Mamba1BadFilesTest, BadConfigJson) {
  TempDir d("bad-config");
  WriteEdited(d, [](std::vector<Tensor>*) {});
  {
    std::ofstream(d.File("config.json"), std::ios::trunc) << "{\"model_type\": \"mamba\", ";
  }
  auto m = LoadModel(d.path());
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(m.status().message().find("config.json"), std::string::npos);
}

TEST_F(Mamba1BadFilesTest, TruncatedWeightsFile) {
  TempDir d("truncated");
  std::filesystem::copy_file(good_.File("config.json"), d.File("config.json"));
  const auto size = std::filesystem::file_size(good_.File("model.safetensors"));
  std::filesystem::copy_file(good_.File("model.safetensors"), d.File("model.safetensors"));
  std::filesystem::resize_file(d.File("model.safetensors"), size / 2);
  auto m = LoadModel(d.path());
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kDataLoss);
}

TEST_F(Mamba1BadFilesTest, LayerCountMismatchWithConfig) {
  TempDir d("layer-mismatch");
  WriteEdited(d, [](std::vector<Tensor>*) {});
  {
    std::ofstream(d.File("config.json"), std::ios::trunc) << R"({"model_type": "mamba", "num_hidden_layers": 5})";
  }
  auto m = LoadModel(d.path());
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace rs::engine
