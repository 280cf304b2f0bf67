// EncodeWithOffsets as (id, start, stop, special) tuples, checking that its
// ids are Encode's (for the offsets tests of this folder).
#pragma once

#include <gtest/gtest.h>

#include <string_view>
#include <tuple>
#include <vector>

#include "text/tokenizer.h"

namespace floe {

using Tok = std::tuple<int32_t, size_t, size_t, bool>;

inline std::vector<Tok> Offsets(const Tokenizer& t, std::string_view s, size_t max_length = 0) {
  auto r = t.EncodeWithOffsets(s, max_length);
  EXPECT_TRUE(r.ok()) << r.status().message();
  std::vector<Tok> out;
  if (!r.ok()) return out;
  auto ids = t.Encode(s, max_length);
  EXPECT_TRUE(ids.ok());
  std::vector<int32_t> got_ids;
  for (const TokenOffset& o : *r) {
    out.emplace_back(o.id, o.start, o.stop, o.special);
    got_ids.push_back(o.id);
  }
  EXPECT_EQ(got_ids, *ids) << "offsets' ids differ from Encode's for " << s;
  return out;
}

}  // namespace floe
