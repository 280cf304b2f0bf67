#include "model/safetensors.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "model/dtype.h"
#include "test_util.h"

namespace floe {
namespace {

using namespace floe::testing_util;

// Parses `image` as "t.safetensors" and expects a failure with `code` whose
// message names the file and contains every string of `needles`.
void ExpectRejected(const std::string& image, StatusCode code,
                    const std::vector<std::string>& needles) {
  auto r = SafetensorsFile::Parse("t.safetensors", image);
  ASSERT_FALSE(r.ok()) << "accepted a bad image";
  EXPECT_EQ(r.status().code(), code) << r.status().ToString();
  EXPECT_EQ(r.status().message().rfind("t.safetensors: ", 0), 0u) << r.status().message();
  for (const auto& n : needles) {
    EXPECT_NE(r.status().message().find(n), std::string::npos)
        << "missing '" << n << "' in: " << r.status().message();
  }
}

std::string OneTensorHeader(const std::string& dtype, const std::string& shape,
                            const std::string& offsets) {
  return R"({"w": {"dtype": ")" + dtype + R"(", "shape": )" + shape +
         R"(, "data_offsets": )" + offsets + "}}";
}

TEST(SafetensorsTest, ParsesTensorsOfEachDtype) {
  std::string bf16("\x80\x3f\x00\xc0", 4);  // 1.0, -2.0
  std::string f16("\x00\x3c\x00\x38", 4);   // 1.0, 0.5
  std::string image = BuildSafetensors({{"a", "F32", {2, 2}, F32Bytes({1, 2, 3, 4})},
                                        {"b", "BF16", {2}, bf16},
                                        {"c", "F16", {2}, f16}});
  auto r = SafetensorsFile::Parse("mem", image);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const auto& f = **r;
  EXPECT_EQ(f.tensors().size(), 3u);
  const TensorInfo* a = f.Find("a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->dtype, DType::kF32);
  EXPECT_EQ(a->shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(a->numel(), 4);
  EXPECT_EQ(a->nbytes, 16u);
  float v[4];
  ConvertToFloat(a->dtype, a->data, 4, v);
  EXPECT_EQ(v[3], 4.0f);
  ConvertToFloat(DType::kBF16, f.Find("b")->data, 2, v);
  EXPECT_EQ(v[0], 1.0f);
  EXPECT_EQ(v[1], -2.0f);
  ConvertToFloat(DType::kF16, f.Find("c")->data, 2, v);
  EXPECT_EQ(v[0], 1.0f);
  EXPECT_EQ(v[1], 0.5f);
  EXPECT_EQ(f.Find("missing"), nullptr);
  EXPECT_EQ(f.Find("__metadata__"), nullptr);
}

TEST(SafetensorsTest, AcceptsScalarsAndEmptyTensors) {
  std::string image = BuildSafetensors({{"empty", "F32", {0, 5}, ""},
                                        {"scalar", "F32", {}, F32Bytes({7})},
                                        {"e2", "BF16", {0}, ""}});
  auto r = SafetensorsFile::Parse("mem", image);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)->Find("empty")->numel(), 0);
  EXPECT_EQ((*r)->Find("scalar")->numel(), 1);
}

TEST(SafetensorsTest, F16ConversionIsExact) {
  EXPECT_EQ(F16ToFloat(0x3c00), 1.0f);
  EXPECT_EQ(F16ToFloat(0xc000), -2.0f);
  EXPECT_EQ(F16ToFloat(0x7bff), 65504.0f);
  EXPECT_EQ(F16ToFloat(0x0001), std::ldexp(1.0f, -24));     // smallest subnormal
  EXPECT_EQ(F16ToFloat(0x03ff), std::ldexp(1023.0f, -24));  // largest subnormal
  EXPECT_EQ(F16ToFloat(0x0400), std::ldexp(1.0f, -14));     // smallest normal
  EXPECT_TRUE(std::signbit(F16ToFloat(0x8000)));
  EXPECT_EQ(F16ToFloat(0x7c00), std::numeric_limits<float>::infinity());
  EXPECT_EQ(F16ToFloat(0xfc00), -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(F16ToFloat(0x7e00)));
  // Every finite half round-trips through float exactly (float has more bits).
  for (uint32_t h = 0; h < 0x10000; ++h) {
    if (((h >> 10) & 0x1f) == 0x1f) continue;
    float f = F16ToFloat(static_cast<uint16_t>(h));
    int sign = (h & 0x8000) ? -1 : 1;
    int e = (h >> 10) & 0x1f, m = h & 0x3ff;
    double want = sign * (e == 0 ? std::ldexp(m, -24) : std::ldexp(1024 + m, e - 25));
    ASSERT_EQ(static_cast<double>(f), want) << "half 0x" << std::hex << h;
  }
}

TEST(SafetensorsTest, Bf16ConversionIsExact) {
  for (uint32_t b = 0; b < 0x10000; b += 7) {
    uint16_t v = static_cast<uint16_t>(b);
    float f;
    ConvertToFloat(DType::kBF16, &v, 1, &f);
    uint32_t bits;
    std::memcpy(&bits, &f, 4);
    ASSERT_EQ(bits, b << 16);
  }
}

TEST(SafetensorsTest, ConvertsUnalignedData) {
  std::string buf = std::string(1, 'x') + F32Bytes({1.5f, -3.25f});
  float out[2];
  ConvertToFloat(DType::kF32, buf.data() + 1, 2, out);
  EXPECT_EQ(out[0], 1.5f);
  EXPECT_EQ(out[1], -3.25f);
}

TEST(SafetensorsTest, RejectsTruncatedHeader) {
  ExpectRejected("", StatusCode::kDataLoss, {"0 bytes", "too short"});
  ExpectRejected(std::string("\x10\x00\x00", 3), StatusCode::kDataLoss, {"3 bytes"});
}

TEST(SafetensorsTest, RejectsHeaderLengthPastEof) {
  std::string h = OneTensorHeader("F32", "[1]", "[0, 4]");
  ExpectRejected(RawImage(h.size() + 100, h, std::string(4, '\0')), StatusCode::kDataLoss,
                 {"header length " + std::to_string(h.size() + 100), "truncated"});
}

TEST(SafetensorsTest, RejectsHugeHeaderLength) {
  ExpectRejected(RawImage(200'000'000, "{}", ""), StatusCode::kDataLoss,
                 {"header length 200000000", "limit"});
  ExpectRejected(RawImage(~0ull, "{}", ""), StatusCode::kDataLoss,
                 {"header length 18446744073709551615"});
  ExpectRejected(RawImage(1ull << 63, "{}", ""), StatusCode::kDataLoss,
                 {"header length"});
}

TEST(SafetensorsTest, RejectsTinyHeaderLength) {
  ExpectRejected(RawImage(0, "", ""), StatusCode::kDataLoss, {"too small"});
}

TEST(SafetensorsTest, RejectsNonJsonHeader) {
  ExpectRejected(RawImage("{\"w\": {\"dtype\": \"F32\",", ""), StatusCode::kDataLoss,
                 {"not valid JSON"});
  ExpectRejected(RawImage(std::string("\xff\xfe\x00\x01", 4), ""), StatusCode::kDataLoss,
                 {"not valid JSON"});
  ExpectRejected(RawImage("{\"\xff\": 1}", ""), StatusCode::kDataLoss,
                 {"not valid JSON"});
}

TEST(SafetensorsTest, RejectsNonObjectHeader) {
  ExpectRejected(RawImage("[1, 2, 3]", ""), StatusCode::kDataLoss, {"not a JSON object"});
  ExpectRejected(RawImage("{\"w\": 5}", ""), StatusCode::kDataLoss,
                 {"tensor 'w'", "not an object"});
  ExpectRejected(RawImage("{\"__metadata__\": 5}", ""), StatusCode::kDataLoss,
                 {"__metadata__"});
}

TEST(SafetensorsTest, RejectsDeeplyNestedHeader) {
  std::string deep = std::string(100000, '[') + std::string(100000, ']');
  ExpectRejected(RawImage("{\"w\": " + deep + "}", ""), StatusCode::kDataLoss,
                 {"nests deeper"});
}

TEST(SafetensorsTest, RejectsWrongDtypeString) {
  ExpectRejected(RawImage(OneTensorHeader("F33", "[1]", "[0, 4]"), std::string(4, '\0')),
                 StatusCode::kDataLoss, {"tensor 'w'", "unknown dtype 'F33'"});
  ExpectRejected(RawImage(R"({"w": {"dtype": 32, "shape": [1], "data_offsets": [0, 4]}})",
                          std::string(4, '\0')),
                 StatusCode::kDataLoss, {"tensor 'w'", "dtype"});
}

// Real checkpoints carry integer buffers beside the weights (all-MiniLM-L6-v2 has an
// I64 `embeddings.position_ids`): they are bounds-checked and set aside, not refused.
TEST(SafetensorsTest, StepsOverWholeByteDtypesItDoesNotRead) {
  const std::string image =
      RawImage(OneTensorHeader("I64", "[1]", "[0, 8]"), std::string(8, '\0'));
  auto f = SafetensorsFile::Parse("img", image);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ((*f)->Find("w"), nullptr);
  ASSERT_EQ((*f)->unread().count("w"), 1u);
  EXPECT_EQ((*f)->unread().at("w"), "I64");
  // Still checked: a short I64 tensor is malformed.
  ExpectRejected(RawImage(OneTensorHeader("I64", "[2]", "[0, 8]"), std::string(8, '\0')),
                 StatusCode::kDataLoss, {"tensor 'w'", "needs 16 bytes"});
}

TEST(SafetensorsTest, RejectsSubByteDtypeNamingIt) {
  ExpectRejected(RawImage(OneTensorHeader("F4", "[2]", "[0, 1]"), std::string(1, '\0')),
                 StatusCode::kUnimplemented, {"tensor 'w'", "F4"});
}

TEST(SafetensorsTest, RejectsShapeBytesMismatch) {
  ExpectRejected(
      RawImage(OneTensorHeader("F32", "[2, 3]", "[0, 20]"), std::string(24, '\0')),
      StatusCode::kDataLoss, {"tensor 'w'", "needs 24 bytes", "hold 20"});
  ExpectRejected(
      RawImage(OneTensorHeader("BF16", "[4]", "[0, 16]"), std::string(16, '\0')),
      StatusCode::kDataLoss, {"needs 8 bytes"});
}

TEST(SafetensorsTest, RejectsOffsetsOutOfRange) {
  ExpectRejected(
      RawImage(OneTensorHeader("F32", "[4]", "[0, 16]"), std::string(12, '\0')),
      StatusCode::kDataLoss, {"tensor 'w' data offsets [0,16) exceed data size 12"});
  ExpectRejected(RawImage(OneTensorHeader("F32", "[1]", "[18446744073709551612, 0]"), ""),
                 StatusCode::kDataLoss, {"tensor 'w'", "data_offsets"});
  ExpectRejected(RawImage(OneTensorHeader("F32", "[1]", "[8, 4]"), std::string(8, '\0')),
                 StatusCode::kDataLoss, {"reversed"});
  ExpectRejected(RawImage(OneTensorHeader("F32", "[1]", "[-4, 0]"), std::string(8, '\0')),
                 StatusCode::kDataLoss, {"data_offsets"});
  ExpectRejected(
      RawImage(OneTensorHeader("F32", "[1]", "[0, 4, 8]"), std::string(8, '\0')),
      StatusCode::kDataLoss, {"data_offsets"});
  ExpectRejected(
      RawImage(OneTensorHeader("F32", "[1]", "[0.0, 4.5]"), std::string(8, '\0')),
      StatusCode::kDataLoss, {"data_offsets"});
}

TEST(SafetensorsTest, RejectsTruncatedData) {
  std::string image = BuildSafetensors({{"a", "F32", {4}, F32Bytes({1, 2, 3, 4})},
                                        {"b", "F32", {4}, F32Bytes({5, 6, 7, 8})}});
  ExpectRejected(image.substr(0, image.size() - 5), StatusCode::kDataLoss,
                 {"tensor 'b'", "exceed data size"});
}

TEST(SafetensorsTest, RejectsOverlappingTensors) {
  std::string h = R"({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},)"
                  R"( "b": {"dtype": "F32", "shape": [2], "data_offsets": [12, 20]}})";
  ExpectRejected(RawImage(h, std::string(20, '\0')), StatusCode::kDataLoss,
                 {"'a' [0,16)", "'b' [12,20)", "overlap"});
  std::string same = R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},)"
                     R"( "b": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})";
  ExpectRejected(RawImage(same, std::string(4, '\0')), StatusCode::kDataLoss,
                 {"overlap"});
}

TEST(SafetensorsTest, RejectsNegativeShape) {
  ExpectRejected(
      RawImage(OneTensorHeader("F32", "[-1, 4]", "[0, 4]"), std::string(4, '\0')),
      StatusCode::kDataLoss, {"tensor 'w'", "-1"});
  ExpectRejected(
      RawImage(OneTensorHeader("F32", "[1.5]", "[0, 4]"), std::string(4, '\0')),
      StatusCode::kDataLoss, {"1.5"});
  ExpectRejected(
      RawImage(OneTensorHeader("F32", "[\"4\"]", "[0, 4]"), std::string(4, '\0')),
      StatusCode::kDataLoss, {"shape"});
  ExpectRejected(RawImage(OneTensorHeader("F32", "4", "[0, 4]"), std::string(4, '\0')),
                 StatusCode::kDataLoss, {"shape"});
}

TEST(SafetensorsTest, RejectsGiantShape) {
  // Products that overflow 64 bits, dimensions past int64, and past uint64.
  ExpectRejected(
      RawImage(OneTensorHeader("F32", "[4294967296, 4294967296]", "[0, 0]"), ""),
      StatusCode::kDataLoss, {"too many elements"});
  ExpectRejected(RawImage(OneTensorHeader("F32", "[4611686018427387904]", "[0, 0]"), ""),
                 StatusCode::kDataLoss, {"too large"});
  ExpectRejected(RawImage(OneTensorHeader("F32", "[18446744073709551615]", "[0, 0]"), ""),
                 StatusCode::kDataLoss, {"18446744073709551615"});
  ExpectRejected(RawImage(OneTensorHeader("F32", "[1e30]", "[0, 0]"), ""),
                 StatusCode::kDataLoss, {"shape"});
  ExpectRejected(
      RawImage(OneTensorHeader("F32", "[0, 18446744073709551616]", "[0, 0]"), ""),
      StatusCode::kDataLoss, {"shape"});
}

TEST(SafetensorsTest, RejectsMissingFields) {
  ExpectRejected(
      RawImage(R"({"w": {"shape": [1], "data_offsets": [0, 4]}})", std::string(4, 0)),
      StatusCode::kDataLoss, {"dtype"});
  ExpectRejected(
      RawImage(R"({"w": {"dtype": "F32", "data_offsets": [0, 4]}})", std::string(4, 0)),
      StatusCode::kDataLoss, {"shape"});
  ExpectRejected(RawImage(R"({"w": {"dtype": "F32", "shape": [1]}})", std::string(4, 0)),
                 StatusCode::kDataLoss, {"data_offsets"});
}

TEST(SafetensorsTest, OpenRejectsTruncatedFile) {
  TempDir dir;
  std::string image =
      BuildSafetensors({{"a", "F32", {256}, F32Bytes(std::vector<float>(256))}});
  for (size_t cut : {size_t{0}, size_t{5}, size_t{20}, image.size() - 1}) {
    WriteFile(dir.File("m.safetensors"), image.substr(0, cut));
    auto r = SafetensorsFile::Open(dir.File("m.safetensors"));
    ASSERT_FALSE(r.ok()) << "cut at " << cut;
    EXPECT_EQ(r.status().code(), StatusCode::kDataLoss) << r.status().ToString();
    EXPECT_NE(r.status().message().find(dir.File("m.safetensors")), std::string::npos);
  }
  WriteFile(dir.File("m.safetensors"), image);
  auto ok = SafetensorsFile::Open(dir.File("m.safetensors"));
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ((*ok)->path(), dir.File("m.safetensors"));
}

TEST(SafetensorsTest, OpenMissingFileIsNotFound) {
  auto r = SafetensorsFile::Open("/nonexistent/model.safetensors");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("/nonexistent/model.safetensors"),
            std::string::npos);
}

TEST(SafetensorsTest, OpenRejectsDirectory) {
  TempDir dir;
  auto r = SafetensorsFile::Open(dir.path());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("not a regular file"), std::string::npos);
}

// Flipping any single byte of a real header must give OK or an error, never
// a crash (ASan/UBSan builds check the memory side).
TEST(SafetensorsTest, SurvivesEveryHeaderByteFlip) {
  std::string image = BuildSafetensors({{"a", "F32", {2, 2}, F32Bytes({1, 2, 3, 4})},
                                        {"b", "BF16", {3}, std::string(6, '\1')}});
  for (size_t i = 0; i < image.size(); ++i) {
    for (unsigned char x : {0x01, 0x80, 0xff}) {
      std::string bad = image;
      bad[i] = static_cast<char>(bad[i] ^ x);
      auto r = SafetensorsFile::Parse("flip", bad);
      if (r.ok()) {
        for (const auto& [name, t] : (*r)->tensors()) {
          ASSERT_GE(t.data, reinterpret_cast<const uint8_t*>(bad.data()));
          ASSERT_LE(t.data + t.nbytes,
                    reinterpret_cast<const uint8_t*>(bad.data()) + bad.size());
        }
      }
    }
  }
}

}  // namespace
}  // namespace floe
