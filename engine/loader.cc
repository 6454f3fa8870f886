// LoadModel: resolves a model path to its files, detects the architecture
// from the tensor names (and config.json's model_type when present), and
// hands the tensors to the architecture's loader.
#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/io/tensor_store.h"
#include "engine/model.h"
#include "engine/models/mamba1.h"
#include "engine/models/mamba2.h"
#if RS_HAVE_CUDA
#include "engine/models/cuda/cuda_backend.h"
#include "kernels/cuda/cuda_probe.h"
#endif
#include "engine/models/rwkv6.h"
#include "engine/models/rwkv7.h"
#include "engine/util/json.h"

namespace rs::engine {

const char* ArchName(Arch arch) {
  switch (arch) {
    case Arch::kMamba1: return "mamba1";
    case Arch::kMamba2: return "mamba2";
    case Arch::kRwkv6: return "rwkv6";
    case Arch::kRwkv7: return "rwkv7";
  }
  return "?";
}

namespace {

namespace fs = std::filesystem;

// Python's json module writes the non-JSON literals Infinity, -Infinity and
// NaN (HF Mamba-2 configs: "time_step_limit": [0.0, Infinity]). Outside
// strings they become 1e308, -1e308 (beyond float: infinite to the models)
// and null, so the strict parser reads such config.json files.
std::string PythonJsonLiterals(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      out.push_back(c);
      if (c == '\\' && i + 1 < text.size()) {
        out.push_back(text[++i]);
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') in_string = true;
    if (text.compare(i, 8, "Infinity") == 0) {
      out += "1e308";
      i += 7;
    } else if (text.compare(i, 3, "NaN") == 0) {
      out += "null";
      i += 2;
    } else {
      out.push_back(c);  // "-Infinity" becomes "-1e308"
    }
  }
  return out;
}

StatusOr<json::Value> ReadJsonFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFoundError("cannot open " + path.string());
  std::stringstream ss;
  ss << in.rdbuf();
  auto v = json::Parse(PythonJsonLiterals(ss.str()));
  if (!v.ok()) return InvalidArgumentError(path.string() + ": " + v.status().message());
  if (!v->is_object()) return InvalidArgumentError(path.string() + ": not a JSON object");
  return std::move(v).value();
}

// The checkpoint files of a model folder, in order of preference.
StatusOr<std::unique_ptr<io::TensorStore>> OpenFolder(const fs::path& dir) {
  if (fs::exists(dir / "model.safetensors.index.json")) {
    return io::OpenSafetensorsIndex((dir / "model.safetensors.index.json").string());
  }
  if (fs::exists(dir / "model.safetensors")) return io::OpenSafetensors((dir / "model.safetensors").string());
  if (fs::exists(dir / "pytorch_model.bin")) return io::OpenTorchZip((dir / "pytorch_model.bin").string());
  // A folder holding exactly one .safetensors or .pth file.
  std::vector<fs::path> candidates;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string ext = entry.path().extension().string();
    if (ext == ".safetensors" || ext == ".pth") candidates.push_back(entry.path());
  }
  if (candidates.size() == 1) return io::OpenTensorFile(candidates[0].string());
  return NotFoundError("no model weights in " + dir.string() +
                       " (expected model.safetensors, model.safetensors.index.json or pytorch_model.bin)");
}

}  // namespace

StatusOr<Device> ParseDevice(const std::string& name) {
  if (name == "cpu") return Device::kCpu;
  if (name == "cuda") return Device::kCuda;
  if (name == "auto") return Device::kAuto;
  return InvalidArgumentError("device must be cpu, cuda or auto, not '" + name + "'");
}

namespace {

// Moves a loaded CPU model to the device `options` asks for (see LoadOptions).
StatusOr<std::unique_ptr<Model>> PlaceModel(std::unique_ptr<Model> cpu, const LoadOptions& options) {
  if (options.device == Device::kCpu) return cpu;
#if RS_HAVE_CUDA
  if (kernels::cuda::UsableDeviceCount() == 0) {
    if (options.device == Device::kAuto) return cpu;
    return UnavailableError("no usable CUDA device");
  }
  // `auto` moves only the architectures whose CUDA model has passed
  // tests/gpu on a GPU (Mamba-1, RWKV-7). The Mamba-2 and RWKV-6 CUDA models
  // are written and compile-tested but have not yet run on a GPU: they are
  // opt-in (--device cuda) until they have.
  const Arch arch = cpu->spec().arch;
  if (options.device == Device::kAuto && arch != Arch::kMamba1 && arch != Arch::kRwkv7) {
    return cpu;
  }
  auto gpu = ToCuda(&cpu);
  // Any CUDA error at start-up means "no GPU": auto stays on the CPU.
  if (!gpu.ok() && options.device == Device::kAuto) return cpu;
  return gpu;
#else
  if (options.device == Device::kAuto) return cpu;
  return UnavailableError("this build has no CUDA backend (built without nvcc)");
#endif
}

StatusOr<std::unique_ptr<Model>> LoadCpuModel(std::unique_ptr<io::TensorStore> store, const json::Value* config,
                                              const LoadOptions& options);

}  // namespace

StatusOr<std::unique_ptr<Model>> LoadModelFromStore(std::unique_ptr<io::TensorStore> store,
                                                    const json::Value* config, const LoadOptions& options) {
  RS_ASSIGN_OR_RETURN(std::unique_ptr<Model> cpu, LoadCpuModel(std::move(store), config, options));
  return PlaceModel(std::move(cpu), options);
}

namespace {

StatusOr<std::unique_ptr<Model>> LoadCpuModel(std::unique_ptr<io::TensorStore> store, const json::Value* config,
                                              const LoadOptions& options) {
  // Architecture: config.json first (model_type / ssm_cfg.layer), then names.
  std::string model_type;
  if (config != nullptr) {
    if (const json::Value* mt = config->Find("model_type"); mt && mt->is_string()) model_type = mt->AsString();
    if (const json::Value* ssm = config->Find("ssm_cfg"); ssm && ssm->is_object()) {
      if (const json::Value* layer = ssm->Find("layer"); layer && layer->is_string()) {
        model_type = layer->AsString() == "Mamba2" ? "mamba2" : layer->AsString() == "Mamba1" ? "mamba" : layer->AsString();
      } else if (model_type.empty()) {
        model_type = "mamba";
      }
    }
  }
  const bool has_mamba1 = store->Find("backbone.layers.0.mixer.x_proj.weight") != nullptr;
  const bool has_mamba2 = store->Find("backbone.layers.0.mixer.A_log") != nullptr &&
                          store->Find("backbone.layers.0.mixer.norm.weight") != nullptr;
  const bool has_rwkv7 = store->Find("blocks.0.att.k_k") != nullptr;
  const bool has_rwkv6 = store->Find("blocks.0.att.time_maa_x") != nullptr;

  if ((model_type.empty() || model_type == "mamba") && has_mamba1) {
    return LoadMamba1(std::move(store), config, options);
  }
  if (model_type == "mamba2" || has_mamba2) {
    Mamba2Options mamba2;
    if (options.mamba2_ssd_min_tokens >= 0) mamba2.ssd_min_tokens = options.mamba2_ssd_min_tokens;
    return LoadMamba2(std::move(store), config, options, mamba2);
  }
  if (has_rwkv7) {
    return LoadRwkv7(std::move(store), options);
  }
  if (has_rwkv6) {
    return LoadRwkv6(std::move(store), options);
  }
  if (store->Find("emb.weight") != nullptr && store->Find("blocks.0.ln1.weight") != nullptr) {
    return UnimplementedError(
        "unsupported RWKV version (neither RWKV-7's att.k_k nor RWKV-6's "
                              "att.time_maa_x; RWKV-4/5 are not served)");
  }
  if (!model_type.empty() && model_type != "mamba") {
    return UnimplementedError("unknown architecture \"" + model_type + "\"");
  }
  std::string first = store->tensors().empty() ? "(no tensors)" : store->tensors()[0].name;
  return UnimplementedError("unknown architecture (no Mamba or RWKV tensor names; first tensor: " +
                            first + ")");
}

}  // namespace

StatusOr<std::unique_ptr<Model>> LoadModel(const std::string& path, const LoadOptions& options) {
  const fs::path p(path);
  std::error_code ec;
  if (!fs::exists(p, ec)) return NotFoundError("model path does not exist: " + path);

  std::unique_ptr<io::TensorStore> store;
  fs::path config_path;
  if (fs::is_directory(p, ec)) {
    RS_ASSIGN_OR_RETURN(store, OpenFolder(p));
    config_path = p / "config.json";
  } else {
    RS_ASSIGN_OR_RETURN(store, io::OpenTensorFile(path));
    config_path = p.parent_path() / "config.json";
  }
  json::Value config;
  bool have_config = false;
  if (fs::exists(config_path, ec)) {
    RS_ASSIGN_OR_RETURN(config, ReadJsonFile(config_path));
    have_config = true;
  }

  auto model = LoadModelFromStore(std::move(store), have_config ? &config : nullptr, options);
  if (!model.ok()) return model.status().WithPrefix(path);
  return model;
}

}  // namespace rs::engine
