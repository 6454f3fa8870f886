// torch.save zip archive reader: zip (zip.h) + data.pkl (pickle.h) + the
// storages' raw bytes. Format notes and contracts: engine/io/tensor_store.h.
#include <cstring>

#include "engine/io/bytes.h"
#include "engine/io/pickle.h"
#include "engine/io/readers.h"
#include "engine/io/zip.h"

namespace rs::engine::io {
namespace {

// Copies of non-contiguous tensors may use at most this many bytes.
uint64_t CopyBudget(size_t archive_bytes) {
  return 4 * static_cast<uint64_t>(archive_bytes) + (uint64_t{64} << 20);
}

// Finds the one `<prefix>/data.pkl` (prefix without '/'); sets `prefix`
// to "<prefix>/".
Status FindPrefix(const ZipArchive& zip, const std::string& file, std::string* prefix) {
  const ZipArchive::Entry* found = nullptr;
  for (const ZipArchive::Entry& e : zip.entries()) {
    const std::string_view n = e.name;
    const size_t slash = n.find('/');
    const bool match =
        n == "data.pkl" || (slash != std::string_view::npos && n.substr(slash) == "/data.pkl");
    if (!match) continue;
    if (found != nullptr) {
      return DataLossError(file + ": archive holds both '" + found->name + "' and '" + e.name +
                           "'");
    }
    found = &e;
  }
  if (found == nullptr) {
    return DataLossError(file + ": zip has no <prefix>/data.pkl; not a torch.save archive");
  }
  *prefix = found->name.substr(0, found->name.size() - std::strlen("data.pkl"));
  return OkStatus();
}

bool IsContiguous(const PickledTensor& t) {
  int64_t expected = 1;
  for (size_t d = t.shape.size(); d-- > 0;) {
    if (t.shape[d] != 1 && t.stride[d] != expected) return false;
    expected *= t.shape[d];
  }
  return true;
}

// Copies the strided elements of `t` from `base` (its storage) into `dst`,
// row-major. `t` is validated: every index lies inside the storage.
void GatherStrided(const PickledTensor& t, const uint8_t* base, size_t esize, uint8_t* dst) {
  const size_t rank = t.shape.size();
  std::vector<int64_t> idx(rank, 0);
  const int64_t inner = rank == 0 ? 1 : t.shape[rank - 1];
  const int64_t inner_stride = rank == 0 ? 0 : t.stride[rank - 1];
  while (true) {
    uint64_t off = t.storage_offset;
    for (size_t d = 0; d + 1 < rank; ++d) off += static_cast<uint64_t>(idx[d] * t.stride[d]);
    for (int64_t i = 0; i < inner; ++i) {
      std::memcpy(dst, base + (off + static_cast<uint64_t>(i * inner_stride)) * esize, esize);
      dst += esize;
    }
    // Advance the odometer over the outer dimensions.
    size_t d = rank <= 1 ? 0 : rank - 1;
    while (d > 0) {
      --d;
      if (++idx[d] < t.shape[d]) break;
      idx[d] = 0;
      if (d == 0) return;
    }
    if (rank <= 1) return;
  }
}

}  // namespace

Status ParseTorchZipInto(std::string_view bytes, const std::string& file, TensorStore* store) {
  RS_ASSIGN_OR_RETURN(ZipArchive zip, ZipArchive::Open(bytes, file));
  std::string prefix;
  RS_RETURN_IF_ERROR(FindPrefix(zip, file, &prefix));
  if (const ZipArchive::Entry* bo = zip.Find(prefix + "byteorder")) {
    RS_ASSIGN_OR_RETURN(std::string_view order, zip.Read(*bo));
    if (order != "little") {
      return UnimplementedError(file + ": byteorder '" + std::string(order.substr(0, 16)) +
                                "'; only little-endian checkpoints are read");
    }
  }
  RS_ASSIGN_OR_RETURN(std::string_view pkl, zip.Read(*zip.Find(prefix + "data.pkl")));
  RS_ASSIGN_OR_RETURN(PickledStateDict dict, ParseTorchPickle(pkl, file));

  // Resolve each storage the tensors use, once: its bytes and their size.
  std::vector<std::string_view> storage_bytes(dict.storages.size());
  std::vector<bool> resolved(dict.storages.size(), false);
  uint64_t copy_budget = CopyBudget(bytes.size());
  for (const PickledTensor& t : dict.tensors) {
    const PickledStorage& s = dict.storages[t.storage];
    const size_t esize = DTypeSize(s.dtype);
    auto bad = [&](const std::string& what) {
      return DataLossError(file + ": tensor '" + t.name + "': " + what);
    };
    if (!resolved[t.storage]) {
      const ZipArchive::Entry* e = zip.Find(prefix + "data/" + s.key);
      if (e == nullptr) {
        return bad("storage '" + s.key + "' missing from the archive (no " + prefix + "data/" +
                   s.key + ")");
      }
      RS_ASSIGN_OR_RETURN(storage_bytes[t.storage], zip.Read(*e));
      uint64_t want;
      if (!CheckedMul(s.numel, esize, &want)) return bad("storage '" + s.key + "' size overflows");
      if (want != storage_bytes[t.storage].size()) {
        return bad("storage '" + s.key + "' holds " +
                   std::to_string(storage_bytes[t.storage].size()) + " bytes, but " +
                   std::to_string(s.numel) + " " + DTypeName(s.dtype) + " elements need " +
                   std::to_string(want));
      }
      resolved[t.storage] = true;
    }
    const std::string_view storage = storage_bytes[t.storage];
    // numel, and the highest element index the view touches.
    uint64_t numel = 1, last = t.storage_offset;
    for (size_t d = 0; d < t.shape.size(); ++d) {
      const uint64_t n = static_cast<uint64_t>(t.shape[d]);
      uint64_t reach;
      if (!CheckedMul(numel, n, &numel)) return bad("element count overflows");
      if (n > 0 && (!CheckedMul(n - 1, static_cast<uint64_t>(t.stride[d]), &reach) ||
                    !CheckedAdd(last, reach, &last))) {
        return bad("extent overflows");
      }
    }
    uint64_t nbytes;
    if (!CheckedMul(numel, esize, &nbytes)) return bad("byte size overflows");
    if (numel > 0 && last >= s.numel) {
      return bad("view at storage offset " + std::to_string(t.storage_offset) +
                 " reaches element " + std::to_string(last) + " of a " + std::to_string(s.numel) +
                 "-element storage");
    }
    Tensor out;
    out.name = t.name;
    out.dtype = s.dtype;
    out.shape = t.shape;
    out.nbytes = static_cast<size_t>(nbytes);
    const auto* base = reinterpret_cast<const uint8_t*>(storage.data());
    if (numel == 0 || IsContiguous(t)) {
      RS_ASSIGN_OR_RETURN(out.data,
                          AlignedData(store, numel == 0 ? base : base + t.storage_offset * esize,
                                      out.nbytes, esize));
    } else {
      // Elements that alias each other (expanded views) could multiply the
      // archive's size; a non-overlapping view has at most numel elements.
      if (numel > s.numel) {
        return UnimplementedError(file + ": tensor '" + t.name +
                                  "' has overlapping strides (an expanded view)");
      }
      if (nbytes > copy_budget) {
        return ResourceExhaustedError(file + ": tensor '" + t.name +
                                      "': copies of non-contiguous tensors exceed " +
                                      std::to_string(CopyBudget(bytes.size())) + " bytes");
      }
      copy_budget -= nbytes;
      RS_ASSIGN_OR_RETURN(uint8_t * buf, store->AllocateBuffer(out.nbytes));
      GatherStrided(t, base, esize, buf);
      out.data = buf;
    }
    Status added = store->AddTensor(std::move(out));
    if (!added.ok()) return DataLossError(file + ": " + added.message());
  }
  return OkStatus();
}

}  // namespace rs::engine::io
