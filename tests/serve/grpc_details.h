// gRPC's rich error model as floe sends it: a failed call's binary details
// (the grpc-status-details-bin trailer) are a google.rpc.Status whose code and
// message are the call's status, holding one Any.
#pragma once

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "google/rpc/status.pb.h"

namespace floe::test {

// Unpacks the details' one Any into `detail`; a failure says what is off.
template <class Message>
::testing::AssertionResult UnpackDetails(const grpc::Status& s, Message* detail) {
  if (s.ok()) return ::testing::AssertionFailure() << "the call succeeded";
  google::rpc::Status rich;
  if (s.error_details().empty() || !rich.ParseFromString(s.error_details())) {
    return ::testing::AssertionFailure()
           << "no google.rpc.Status in the details (" << s.error_details().size()
           << " bytes) of '" << s.error_message() << "'";
  }
  if (rich.code() != static_cast<int>(s.error_code()) ||
      rich.message() != s.error_message()) {
    return ::testing::AssertionFailure()
           << "details say " << rich.code() << " '" << rich.message() << "', the status "
           << s.error_code() << " '" << s.error_message() << "'";
  }
  if (rich.details_size() != 1 || !rich.details(0).UnpackTo(detail)) {
    return ::testing::AssertionFailure()
           << rich.details_size() << " details, the first "
           << (rich.details_size() ? rich.details(0).type_url() : std::string("absent"))
           << ", not one " << Message::descriptor()->full_name();
  }
  return ::testing::AssertionSuccess();
}

}  // namespace floe::test
