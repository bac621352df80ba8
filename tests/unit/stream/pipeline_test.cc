#include "libstream/stream/pipeline.h"

#include <gtest/gtest.h>
#include <oneapi/tbb/global_control.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "libstream/base/byte_io.h"
#include "libstream/stream/reader.h"
#include "libstream/stream/writer.h"
#include "tests/support/test_util.h"

namespace mln::stream {
namespace {

class VectorSource final : public FrameSource {
 public:
  explicit VectorSource(std::vector<Frame> frames) : frames_(std::move(frames)) {}
  Result<std::optional<Frame>> Next() override {
    if (i_ == frames_.size()) return std::nullopt;
    return std::move(frames_[i_++]);
  }

 private:
  std::vector<Frame> frames_;
  size_t i_ = 0;
};

std::vector<Frame> ManyFrames() {
  std::vector<Frame> frames;
  for (int i = 0; i < 200; ++i) {
    auto kind = i % 5 == 0 ? FrameKind::kBytes : FrameKind::kTensor;
    frames.push_back(testing::MakeFrame(kind, "f" + std::to_string(i),
                                        testing::RandomBytes(1000 + i * 37, i)));
  }
  Frame future = testing::MakeFrame(FrameKind::kTensor, "future", testing::RandomBytes(50, 1));
  future.header.kind = 777;
  frames.push_back(std::move(future));
  return frames;
}

// Reverses each tensor payload and splits it in two: order and 1-to-n output both matter.
Result<void> ReverseAndSplit(std::vector<Frame>& frames) {
  Frame in = std::move(frames.front());
  frames.clear();
  std::vector<uint8_t> bytes(in.payload.span().rbegin(), in.payload.span().rend());
  size_t half = bytes.size() / 2;
  frames.push_back(testing::MakeFrame(FrameKind::kTensor, in.header.name + ".a",
                                      {bytes.begin(), bytes.begin() + half}));
  frames.push_back(testing::MakeFrame(FrameKind::kTensor, in.header.name + ".b",
                                      {bytes.begin() + half, bytes.end()}));
  return {};
}

std::vector<uint8_t> RunWithThreads(unsigned threads, bool read_ahead = false) {
  oneapi::tbb::global_control limit(oneapi::tbb::global_control::max_allowed_parallelism,
                                    threads);
  std::vector<uint8_t> out;
  auto sink = MakeMemorySink(&out, "mem");
  Writer writer(*sink);
  VectorSource source(ManyFrames());
  PipelineOptions options;
  options.kinds = {FrameKind::kTensor};
  options.verify_input = true;
  options.read_ahead = read_ahead;
  auto ok = RunFramePipeline(source, writer, ReverseAndSplit, options);
  EXPECT_TRUE(ok.has_value()) << ok.error().ToString();
  return out;
}

TEST(PipelineTest, OneAndManyThreadsGiveIdenticalBytes) {
  std::vector<uint8_t> one = RunWithThreads(1);
  std::vector<uint8_t> many = RunWithThreads(4);
  EXPECT_FALSE(one.empty());
  EXPECT_EQ(one, many);
}

TEST(PipelineTest, ReadingAheadGivesIdenticalBytes) {
  std::vector<uint8_t> plain = RunWithThreads(1);
  EXPECT_EQ(RunWithThreads(1, /*read_ahead=*/true), plain);
  EXPECT_EQ(RunWithThreads(4, /*read_ahead=*/true), plain);
}

TEST(PipelineTest, TransformsHandledKindsAndPassesTheRest) {
  ASSERT_OK_AND_ASSIGN(auto frames, testing::ReadStream(RunWithThreads(2)));
  // 40 bytes frames pass, 160 tensors become 320, the unknown kind passes untouched.
  ASSERT_EQ(frames.size(), 40u + 320u + 1u);
  EXPECT_EQ(frames[0].header.name, "f0");
  EXPECT_EQ(frames[1].header.name, "f1.a");
  EXPECT_EQ(frames[2].header.name, "f1.b");
  EXPECT_EQ(frames.back().header.kind, 777);
  EXPECT_EQ(frames.back().header.name, "future");
}

TEST(PipelineTest, FirstErrorStopsThePipelineAndNamesTheFrame) {
  // Also with the source read ahead: the reading thread, mid-read or waiting for room, is
  // stopped and the error is the transform's.
  for (bool read_ahead : {false, true}) {
    std::vector<uint8_t> out;
    auto sink = MakeMemorySink(&out, "mem");
    Writer writer(*sink);
    VectorSource source(ManyFrames());
    auto fail_on_f7 = [](std::vector<Frame>& frames) -> Result<void> {
      if (frames.front().header.name == "f7") return Fail(Errc::kBadData, "boom");
      return {};
    };
    auto r = RunFramePipeline(source, writer, fail_on_f7, {.read_ahead = read_ahead});
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().message, "boom");
    EXPECT_EQ(r.error().frame, 7u);
    EXPECT_EQ(r.error().tensor, "f7");
  }
}

// Records what reaches it; fails if a frame arrives that the ordered stage has not seen.
class OrderCheckingSink final : public FrameSink {
 public:
  explicit OrderCheckingSink(const std::vector<std::string>& seen) : seen_(seen) {}
  Result<void> Put(Frame f) override {
    if (put_.size() >= seen_.size() || seen_[put_.size()] != f.header.name) {
      return Fail(Errc::kInternal, "sink got " + f.header.name + " before the ordered stage");
    }
    put_.push_back(f.header.name);
    return {};
  }
  Result<void> Finish() override { return {}; }
  const std::vector<std::string>& put() const { return put_; }

 private:
  const std::vector<std::string>& seen_;
  std::vector<std::string> put_;
};

TEST(PipelineTest, OrderedStageSeesEveryOutputFrameInOrderBeforeTheSink) {
  oneapi::tbb::global_control limit(oneapi::tbb::global_control::max_allowed_parallelism, 4);
  std::vector<std::string> seen;
  OrderCheckingSink sink(seen);
  VectorSource source(ManyFrames());
  PipelineOptions options;
  options.kinds = {FrameKind::kTensor};
  options.ordered = [&](std::vector<Frame>& frames) -> Result<void> {
    for (const Frame& f : frames) seen.push_back(f.header.name);
    return {};
  };
  ASSERT_OK(RunFramePipeline(source, sink, ReverseAndSplit, options));
  ASSERT_EQ(seen.size(), 40u + 320u + 1u);
  EXPECT_EQ(seen[1], "f1.a");
  EXPECT_EQ(seen[2], "f1.b");
  EXPECT_EQ(sink.put(), seen);
}

TEST(PipelineTest, OrderedStageErrorStopsThePipelineAndNamesTheFrame) {
  std::vector<uint8_t> out;
  auto sink = MakeMemorySink(&out, "mem");
  Writer writer(*sink);
  VectorSource source(ManyFrames());
  PipelineOptions options;
  options.ordered = [](std::vector<Frame>& frames) -> Result<void> {
    if (frames.front().header.name == "f9") return Fail(Errc::kBadData, "late boom");
    return {};
  };
  auto r = RunFramePipeline(source, writer, [](std::vector<Frame>&) -> Result<void> { return {}; },
                            options);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().message, "late boom");
  EXPECT_EQ(r.error().frame, 9u);
  EXPECT_EQ(r.error().tensor, "f9");
}

TEST(PipelineTest, CorruptInputPayloadIsCaught) {
  std::vector<Frame> frames = ManyFrames();
  frames[3].payload.data()[0] ^= 1;
  std::vector<uint8_t> out;
  auto sink = MakeMemorySink(&out, "mem");
  Writer writer(*sink);
  VectorSource source(std::move(frames));
  PipelineOptions options;
  options.verify_input = true;
  auto r = RunFramePipeline(source, writer, [](std::vector<Frame>&) -> Result<void> { return {}; },
                            options);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Errc::kBadData);
  EXPECT_EQ(r.error().frame, 3u);
}

TEST(PipelineTest, TheEarliestFailingFrameIsReportedWhicheverFailsFirst) {
  // f3 fails slowly, f8 at once: with several threads f8's error comes first in time, but
  // f3 is first in the stream, and the same input must give the same message every run.
  oneapi::tbb::global_control limit(oneapi::tbb::global_control::max_allowed_parallelism, 4);
  std::vector<uint8_t> out;
  auto sink = MakeMemorySink(&out, "mem");
  Writer writer(*sink);
  VectorSource source(ManyFrames());
  std::atomic<bool> late_failed{false};
  auto transform = [&](std::vector<Frame>& frames) -> Result<void> {
    const std::string& name = frames.front().header.name;
    if (name == "f3") {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      return Fail(Errc::kBadData, "slow boom");
    }
    if (name == "f8") {
      late_failed = true;
      return Fail(Errc::kBadData, "quick boom");
    }
    return {};
  };
  auto r = RunFramePipeline(source, writer, transform, {});
  ASSERT_FALSE(r.has_value());
  EXPECT_TRUE(late_failed.load()) << "f8 never ran: the test shows nothing";
  EXPECT_EQ(r.error().message, "slow boom") << r.error().ToString();
  EXPECT_EQ(r.error().tensor, "f3");
  EXPECT_EQ(r.error().frame, 3u);
}

}  // namespace
}  // namespace mln::stream
