// The one table between floe's StatusCode and gRPC's, for every layer that
// speaks gRPC (serve, the worker transport in replica, client). Header-only:
// core itself does not link gRPC; only its users include this.
#pragma once

#include <grpcpp/support/status.h>

#include "core/status.h"

namespace floe {

inline grpc::StatusCode ToGrpcCode(StatusCode code) {
  using G = grpc::StatusCode;
  switch (code) {
    case StatusCode::kOk: return G::OK;
    case StatusCode::kCancelled: return G::CANCELLED;
    case StatusCode::kInvalidArgument: return G::INVALID_ARGUMENT;
    case StatusCode::kDeadlineExceeded: return G::DEADLINE_EXCEEDED;
    case StatusCode::kNotFound: return G::NOT_FOUND;
    case StatusCode::kAlreadyExists: return G::ALREADY_EXISTS;
    case StatusCode::kResourceExhausted: return G::RESOURCE_EXHAUSTED;
    case StatusCode::kFailedPrecondition: return G::FAILED_PRECONDITION;
    case StatusCode::kOutOfRange: return G::OUT_OF_RANGE;
    case StatusCode::kUnimplemented: return G::UNIMPLEMENTED;
    case StatusCode::kInternal: return G::INTERNAL;
    case StatusCode::kUnavailable: return G::UNAVAILABLE;
    case StatusCode::kDataLoss: return G::DATA_LOSS;
    case StatusCode::kUnauthenticated: return G::UNAUTHENTICATED;
  }
  return G::UNKNOWN;
}

// The inverse; gRPC codes floe has no name for (UNKNOWN, ABORTED,
// PERMISSION_DENIED, ...) become kInternal.
inline StatusCode FromGrpcCode(grpc::StatusCode code) {
  using G = grpc::StatusCode;
  switch (code) {
    case G::OK: return StatusCode::kOk;
    case G::CANCELLED: return StatusCode::kCancelled;
    case G::INVALID_ARGUMENT: return StatusCode::kInvalidArgument;
    case G::DEADLINE_EXCEEDED: return StatusCode::kDeadlineExceeded;
    case G::NOT_FOUND: return StatusCode::kNotFound;
    case G::ALREADY_EXISTS: return StatusCode::kAlreadyExists;
    case G::RESOURCE_EXHAUSTED: return StatusCode::kResourceExhausted;
    case G::FAILED_PRECONDITION: return StatusCode::kFailedPrecondition;
    case G::OUT_OF_RANGE: return StatusCode::kOutOfRange;
    case G::UNIMPLEMENTED: return StatusCode::kUnimplemented;
    case G::INTERNAL: return StatusCode::kInternal;
    case G::UNAVAILABLE: return StatusCode::kUnavailable;
    case G::DATA_LOSS: return StatusCode::kDataLoss;
    case G::UNAUTHENTICATED: return StatusCode::kUnauthenticated;
    default: return StatusCode::kInternal;
  }
}

inline grpc::Status ToGrpcStatus(const Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(ToGrpcCode(status.code()), status.message());
}

inline Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return OkStatus();
  return Status(FromGrpcCode(status.error_code()), status.error_message());
}

}  // namespace floe
