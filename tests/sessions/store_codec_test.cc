// The pieces both stores share: the snapshot checksum (FNV-1a 64), the byte
// encodings of list columns and the opaque page token.
#include "sessions/store/store_codec.h"

#include <gtest/gtest.h>

namespace rs::sessions::internal {
namespace {

TEST(SnapshotChecksum, IsFnv1a64) {
  // Reference values of FNV-1a 64.
  EXPECT_EQ(SnapshotChecksum(""), 0xcbf29ce484222325ull);
  EXPECT_EQ(SnapshotChecksum("a"), 0xaf63dc4c8601ec8cull);
  EXPECT_EQ(SnapshotChecksum("foobar"), 0x85944171f73967e8ull);
  EXPECT_NE(SnapshotChecksum(std::string("\0", 1)), SnapshotChecksum(""));
}

TEST(StoreCodec, StringsRoundTripAndTruncationIsDataLoss) {
  const std::vector<std::string> v = {"plan a", "", std::string("n\0l", 3), std::string(300, 'x')};
  const std::string bytes = EncodeStrings(v);
  auto back = DecodeStrings(bytes);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, v);
  EXPECT_TRUE(DecodeStrings("")->empty());
  for (size_t cut = 1; cut < bytes.size(); cut += 7) {
    EXPECT_EQ(DecodeStrings(bytes.substr(0, cut)).status().code(), StatusCode::kDataLoss) << cut;
  }
  EXPECT_EQ(DecodeStrings(bytes + "z").status().code(), StatusCode::kDataLoss);
}

TEST(StoreCodec, RetrievalsAndEmbeddingsRoundTrip) {
  const std::vector<Retrieval> r = {{1, 0.5f}, {1LL << 40, -0.125f}};
  auto back = DecodeRetrievals(EncodeRetrievals(r));
  ASSERT_TRUE(back.ok());
  ASSERT_EQ(back->size(), 2u);
  EXPECT_EQ((*back)[1].memory_id, 1LL << 40);
  EXPECT_EQ((*back)[1].score, -0.125f);
  EXPECT_EQ(DecodeRetrievals(EncodeRetrievals(r).substr(1)).status().code(), StatusCode::kDataLoss);

  const std::vector<float> e = {1.0f, -2.5f, 1e-38f};
  const std::string bytes = EncodeEmbedding(e);
  EXPECT_EQ(bytes.size(), 12u);
  EXPECT_EQ(bytes.substr(0, 4), std::string("\x00\x00\x80\x3f", 4));  // little-endian 1.0f
  EXPECT_EQ(*DecodeEmbedding(bytes), e);
  EXPECT_EQ(DecodeEmbedding("abc").status().code(), StatusCode::kDataLoss);
}

TEST(StoreCodec, PageTokenRoundTripsAndRejectsGarbage) {
  const PageCursor c{1732838400123, std::string("id\xff with 'quote'", 16)};
  auto back = DecodePageToken(EncodePageToken(c));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->created_ms, c.created_ms);
  EXPECT_EQ(back->id, c.id);
  for (const char* bad : {"", "p1.", "p1.12.", "p1.12.abc", "p1.x.6162", "p2.12.6162", "p1.12.GG",
                          "p1.9999999999999999999.61"}) {
    EXPECT_EQ(DecodePageToken(bad).status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace rs::sessions::internal
