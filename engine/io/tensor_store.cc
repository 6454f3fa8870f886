#include "engine/io/tensor_store.h"

#include <cstring>
#include <new>

#include "engine/io/file.h"
#include "engine/io/readers.h"

namespace rs::engine::io {
namespace {

constexpr size_t kBufferAlignment = 64;

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// Copies `bytes` into a new store (Parse* from memory).
StatusOr<std::unique_ptr<TensorStore>> StoreWithCopy(std::string_view bytes,
                                                     std::string_view* copy) {
  auto store = std::make_unique<TensorStore>();
  RS_ASSIGN_OR_RETURN(uint8_t * buf, store->AllocateBuffer(bytes.size()));
  if (!bytes.empty()) std::memcpy(buf, bytes.data(), bytes.size());
  *copy = std::string_view(reinterpret_cast<const char*>(buf), bytes.size());
  return store;
}

}  // namespace

TensorStore::TensorStore() = default;
TensorStore::~TensorStore() = default;

void TensorStore::AlignedFree::operator()(uint8_t* p) const {
  ::operator delete[](p, std::align_val_t(kBufferAlignment));
}

const Tensor* TensorStore::Find(std::string_view name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

std::string_view TensorStore::AddMapping(std::unique_ptr<MappedFile> file) {
  std::string_view bytes = file->bytes();
  mapped_bytes_ += file->size();
  mappings_.push_back(std::move(file));
  return bytes;
}

StatusOr<uint8_t*> TensorStore::AllocateBuffer(size_t n) {
  // Round up so a zero-byte request still yields a unique valid pointer.
  const size_t alloc = n == 0 ? kBufferAlignment : n;
  auto* p = static_cast<uint8_t*>(
      ::operator new[](alloc, std::align_val_t(kBufferAlignment), std::nothrow));
  if (p == nullptr) {
    return ResourceExhaustedError("cannot allocate " + std::to_string(n) + " bytes");
  }
  std::memset(p, 0, alloc);
  buffers_.emplace_back(p);
  owned_bytes_ += n;
  return p;
}

Status TensorStore::AddTensor(Tensor t) {
  if (index_.count(t.name) != 0) {
    return Status(StatusCode::kAlreadyExists, "duplicate tensor '" + t.name + "'");
  }
  index_.emplace(t.name, tensors_.size());
  tensors_.push_back(std::move(t));
  return OkStatus();
}

Status TensorStore::Merge(TensorStore&& other) {
  for (const Tensor& t : other.tensors_) {
    if (index_.count(t.name) != 0) {
      return Status(StatusCode::kAlreadyExists, "duplicate tensor '" + t.name + "'");
    }
  }
  for (Tensor& t : other.tensors_) {
    index_.emplace(t.name, tensors_.size());
    tensors_.push_back(std::move(t));
  }
  for (auto& m : other.mappings_) mappings_.push_back(std::move(m));
  for (auto& b : other.buffers_) buffers_.push_back(std::move(b));
  mapped_bytes_ += other.mapped_bytes_;
  owned_bytes_ += other.owned_bytes_;
  other.tensors_.clear();
  other.index_.clear();
  other.mappings_.clear();
  other.buffers_.clear();
  other.mapped_bytes_ = other.owned_bytes_ = 0;
  return OkStatus();
}

StatusOr<const void*> AlignedData(TensorStore* store, const void* p, size_t nbytes, size_t align) {
  alignas(kBufferAlignment) static const uint8_t kEmpty[kBufferAlignment] = {};
  if (nbytes == 0) return static_cast<const void*>(kEmpty);  // aligned, never read
  if (align <= 1 || reinterpret_cast<uintptr_t>(p) % align == 0) return p;
  RS_ASSIGN_OR_RETURN(uint8_t * buf, store->AllocateBuffer(nbytes));
  std::memcpy(buf, p, nbytes);
  return static_cast<const void*>(buf);
}

StatusOr<std::unique_ptr<TensorStore>> OpenSafetensors(const std::string& path) {
  RS_ASSIGN_OR_RETURN(std::unique_ptr<MappedFile> file, MappedFile::Open(path));
  auto store = std::make_unique<TensorStore>();
  std::string_view bytes = store->AddMapping(std::move(file));
  RS_RETURN_IF_ERROR(ParseSafetensorsInto(bytes, path, store.get()));
  return store;
}

StatusOr<std::unique_ptr<TensorStore>> OpenTorchZip(const std::string& path) {
  RS_ASSIGN_OR_RETURN(std::unique_ptr<MappedFile> file, MappedFile::Open(path));
  auto store = std::make_unique<TensorStore>();
  std::string_view bytes = store->AddMapping(std::move(file));
  RS_RETURN_IF_ERROR(ParseTorchZipInto(bytes, path, store.get()));
  return store;
}

StatusOr<std::unique_ptr<TensorStore>> ParseSafetensors(std::string_view bytes) {
  std::string_view copy;
  RS_ASSIGN_OR_RETURN(std::unique_ptr<TensorStore> store, StoreWithCopy(bytes, &copy));
  RS_RETURN_IF_ERROR(ParseSafetensorsInto(copy, "<memory>", store.get()));
  return store;
}

StatusOr<std::unique_ptr<TensorStore>> ParseTorchZip(std::string_view bytes) {
  std::string_view copy;
  RS_ASSIGN_OR_RETURN(std::unique_ptr<TensorStore> store, StoreWithCopy(bytes, &copy));
  RS_RETURN_IF_ERROR(ParseTorchZipInto(copy, "<memory>", store.get()));
  return store;
}

StatusOr<std::unique_ptr<TensorStore>> OpenTensorFile(const std::string& path) {
  if (EndsWith(path, ".index.json")) return OpenSafetensorsIndex(path);
  RS_ASSIGN_OR_RETURN(std::unique_ptr<MappedFile> file, MappedFile::Open(path));
  const std::string_view b = file->bytes();
  enum class Kind { kUnknown, kSafetensors, kZip };
  Kind kind = Kind::kUnknown;
  if (b.size() >= 2 && b[0] == 'P' && b[1] == 'K') {
    kind = Kind::kZip;
  } else if (b.size() >= 2 && static_cast<uint8_t>(b[0]) == 0x80 &&
             static_cast<uint8_t>(b[1]) <= 5) {
    return UnimplementedError(path +
                              ": legacy (non-zip) torch.save format; re-save it with "
                              "torch >= 1.6 or convert it to safetensors");
  } else if (b.size() >= 9 && b[8] == '{') {
    kind = Kind::kSafetensors;
  } else if (EndsWith(path, ".safetensors")) {
    kind = Kind::kSafetensors;
  } else if (EndsWith(path, ".bin") || EndsWith(path, ".pth") || EndsWith(path, ".pt") ||
             EndsWith(path, ".ckpt")) {
    kind = Kind::kZip;
  }
  if (kind == Kind::kUnknown) {
    return InvalidArgumentError(path + ": unrecognized tensor file format");
  }
  auto store = std::make_unique<TensorStore>();
  std::string_view bytes = store->AddMapping(std::move(file));
  if (kind == Kind::kZip) {
    RS_RETURN_IF_ERROR(ParseTorchZipInto(bytes, path, store.get()));
  } else {
    RS_RETURN_IF_ERROR(ParseSafetensorsInto(bytes, path, store.get()));
  }
  return store;
}

}  // namespace rs::engine::io
