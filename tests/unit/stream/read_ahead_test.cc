#include "libstream/stream/read_ahead.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <new>
#include <thread>

#include "tests/support/test_util.h"

namespace mln::stream {
namespace {

// Frames named f0, f1, ... of `bytes` each; fails with "boom" at `fail_at`, throws
// std::bad_alloc at `throw_at`. Counts its calls, which come from ReadAhead's thread.
class CountingSource final : public FrameSource {
 public:
  CountingSource(size_t frames, size_t bytes, size_t fail_at = SIZE_MAX,
                 size_t throw_at = SIZE_MAX)
      : frames_(frames), bytes_(bytes), fail_at_(fail_at), throw_at_(throw_at) {}
  Result<std::optional<Frame>> Next() override {
    size_t i = calls_++;
    if (i == throw_at_) throw std::bad_alloc();
    if (i == fail_at_) return Fail(Errc::kBadData, "boom");
    if (i >= frames_) return std::nullopt;
    return testing::MakeFrame(FrameKind::kTensor, "f" + std::to_string(i),
                              testing::RandomBytes(bytes_, i));
  }
  size_t calls() const { return calls_.load(); }

 private:
  size_t frames_, bytes_, fail_at_, throw_at_;
  std::atomic<size_t> calls_{0};
};

TEST(ReadAheadTest, GivesTheSourcesFramesInOrderThenTheEnd) {
  for (size_t bytes : {size_t{100}, ReadAhead::kMaxBytes + 1}) {
    CountingSource source(40, bytes);
    auto ahead = ReadAhead::Start(source);
    ASSERT_NE(ahead, nullptr);
    for (size_t i = 0; i < 40; ++i) {
      ASSERT_OK_AND_ASSIGN(auto f, ahead->Next());
      ASSERT_TRUE(f.has_value()) << "frame " << i;
      EXPECT_EQ(f->header.name, "f" + std::to_string(i));
      EXPECT_EQ(f->payload.size(), bytes);
    }
    for (int again = 0; again < 2; ++again) {
      ASSERT_OK_AND_ASSIGN(auto end, ahead->Next());
      EXPECT_FALSE(end.has_value());
    }
  }
}

TEST(ReadAheadTest, AnErrorComesAfterTheFramesBeforeIt) {
  CountingSource source(100, 64, /*fail_at=*/5);
  auto ahead = ReadAhead::Start(source);
  ASSERT_NE(ahead, nullptr);
  for (int i = 0; i < 5; ++i) {
    ASSERT_OK_AND_ASSIGN(auto f, ahead->Next());
    ASSERT_TRUE(f.has_value());
  }
  auto failed = ahead->Next();
  ASSERT_FALSE(failed.has_value());
  EXPECT_EQ(failed.error().message, "boom");
  EXPECT_FALSE(ahead->Next().has_value()) << "the error stays";
  EXPECT_EQ(source.calls(), 6u) << "nothing is read past the error";
}

TEST(ReadAheadTest, AThrowingSourceBecomesAnError) {
  CountingSource source(100, 64, SIZE_MAX, /*throw_at=*/3);
  auto ahead = ReadAhead::Start(source);
  ASSERT_NE(ahead, nullptr);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(ahead->Next().has_value());
  auto failed = ahead->Next();
  ASSERT_FALSE(failed.has_value());
  EXPECT_EQ(failed.error().code, Errc::kOs);
}

TEST(ReadAheadTest, ReadsAtMostItsBudgetAheadAndStopsWhenDropped) {
  // Frames above the budget: the thread holds one and waits for room.
  CountingSource source(1000, ReadAhead::kMaxBytes * 2);
  {
    auto ahead = ReadAhead::Start(source);
    ASSERT_NE(ahead, nullptr);
    ASSERT_OK_AND_ASSIGN(auto f, ahead->Next());
    ASSERT_TRUE(f.has_value());
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_LE(source.calls(), 3u) << "one frame handed out, one held, one being read";
  }  // dropped with frames held and the source far from its end: must not hang
  EXPECT_LT(source.calls(), 1000u);
}

TEST(ReadAheadTest, FramesWithoutPayloadCountAgainstTheBudgetToo) {
  // Keep ops and unknown kinds carry no payload; they must not pile up without bound.
  CountingSource source(100000, 0);
  auto ahead = ReadAhead::Start(source);
  ASSERT_NE(ahead, nullptr);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_LE(source.calls(), ReadAhead::kMaxBytes / ReadAhead::kFrameFloor + 2);
  ASSERT_OK_AND_ASSIGN(auto f, ahead->Next());
  EXPECT_TRUE(f.has_value());
}

}  // namespace
}  // namespace mln::stream
