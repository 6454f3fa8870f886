// Protobuf messages of handlers that take raw bytes (gRPC's raw callback
// methods). A request whose string field holds invalid UTF-8 cannot be
// parsed by protobuf; with a typed handler gRPC answers it with a generic
// error before our code runs, with a raw one we answer INVALID_ARGUMENT and
// say why. Used by recurrent.v1.Inference and recurrent.v1.Sessions.
//
// Thread-safety: pure functions over the caller's buffers.
#pragma once

#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/proto_buffer_reader.h>
#include <grpcpp/support/proto_buffer_writer.h>

#include <string>

#include "engine/util/status.h"

namespace rs::service {

// Parses a request's bytes; INVALID_ARGUMENT when protobuf refuses them.
template <typename Message>
Status ParseRequest(const grpc::ByteBuffer* bytes, Message* msg) {
  grpc::ByteBuffer copy(*bytes);  // Deserialize consumes its buffer; slices are shared, not copied
  if (!grpc::SerializationTraits<Message>::Deserialize(&copy, msg).ok()) {
    return InvalidArgumentError("the request does not parse as " + msg->GetTypeName() +
                                " (a string field holds invalid UTF-8, or the bytes are malformed)");
  }
  return OkStatus();
}

// Serializes a response into *out; INTERNAL if protobuf cannot.
template <typename Message>
Status SerializeResponse(const Message& msg, grpc::ByteBuffer* out) {
  bool own = false;
  if (!grpc::SerializationTraits<Message>::Serialize(msg, out, &own).ok()) {
    return InternalError("cannot serialize " + msg.GetTypeName());
  }
  return OkStatus();
}

}  // namespace rs::service
