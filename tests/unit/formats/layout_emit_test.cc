// LayoutSink writing on its own thread (LayoutOptions::background): the same model bytes as
// writing inline, write errors that reach the caller naming a frame, and a clean stop when
// the sink is dropped before Finish.
#include "libstream/formats/layout_emit.h"

#include <gtest/gtest.h>

#include "libstream/formats/convert.h"
#include "tests/support/test_util.h"

namespace mln::formats {
namespace {

using stream::Frame;
using testing::GgufBuilder;
using testing::RandomBytes;
using testing::ReadStream;

// A GGUF whose tensors range from a few bytes to more than the background queue holds.
std::vector<uint8_t> MixedModel() {
  GgufBuilder b;
  b.KvString("general.name", "layout background");
  const int64_t counts[] = {3, 16384, 2 << 20, 5, 3 << 20, 777};  // f32 values
  uint64_t seed = 1;
  for (int64_t n : counts) {
    b.Tensor("t" + std::to_string(seed), {n}, 0, RandomBytes(static_cast<size_t>(n) * 4, seed));
    ++seed;
  }
  return b.Build();
}

// The model's frames as mln-parse makes them, in 1 MiB chunks.
std::vector<Frame> ModelFrames(const std::vector<uint8_t>& model) {
  std::vector<uint8_t> stream_bytes;
  auto src = MakeMemorySource(model, "mixed.gguf");
  auto sink = MakeMemorySink(&stream_bytes, "stream");
  ParseOptions options;
  options.chunk_size = 1 << 20;
  EXPECT_TRUE(ParseToStream(*src, *sink, "", options).has_value());
  EXPECT_TRUE(sink->Flush().has_value());
  auto frames = ReadStream(stream_bytes);
  EXPECT_TRUE(frames.has_value());
  return frames ? std::move(*frames) : std::vector<Frame>{};
}

std::vector<uint8_t> LayOut(const std::vector<uint8_t>& model, bool background) {
  std::vector<uint8_t> out;
  auto sink = MakeMemorySink(&out, "out.gguf");
  {
    LayoutSink layout(*sink, {.background = background});
    for (Frame& f : ModelFrames(model)) EXPECT_TRUE(layout.Put(std::move(f)).has_value());
    EXPECT_TRUE(layout.Finish().has_value());
  }
  EXPECT_TRUE(sink->Flush().has_value());
  return out;
}

TEST(LayoutSinkTest, BackgroundLaysOutTheSameBytes) {
  std::vector<uint8_t> model = MixedModel();
  ASSERT_GT(model.size(), LayoutSink::kBackgroundBytes) << "must exceed the queue's budget";
  EXPECT_EQ(LayOut(model, /*background=*/false), model);
  EXPECT_EQ(LayOut(model, /*background=*/true), model);
}

// Accepts `limit` bytes, then fails every write, as a full disk does.
class FullSink final : public ByteSink {
 public:
  explicit FullSink(uint64_t limit) : ByteSink("full.gguf"), limit_(limit) {}

 private:
  Result<void> WriteRaw(const void*, size_t n) override {
    if (written_ + n > limit_) return Fail(Errc::kIo, "full.gguf: No space left on device");
    written_ += n;
    return {};
  }
  uint64_t limit_;
  uint64_t written_ = 0;
};

TEST(LayoutSinkTest, BackgroundWriteFailureReachesTheCaller) {
  FullSink sink(4 << 20);
  LayoutSink layout(sink, {.background = true});
  std::optional<Error> failed;
  for (Frame& f : ModelFrames(MixedModel())) {
    if (auto ok = layout.Put(std::move(f)); !ok) {
      failed = ok.error();
      break;
    }
  }
  if (!failed) {
    auto ok = layout.Finish();
    ASSERT_FALSE(ok.has_value()) << "a 4 MiB disk cannot hold a 20 MiB model";
    failed = ok.error();
  }
  EXPECT_EQ(failed->code, Errc::kIo);
  EXPECT_NE(failed->message.find("No space left"), std::string::npos) << failed->message;
  ASSERT_TRUE(failed->frame.has_value()) << "the error names the frame it failed on";
  EXPECT_FALSE(failed->tensor.empty()) << "and its name";
}

TEST(LayoutSinkTest, BackgroundSinkDroppedBeforeFinishStopsCleanly) {
  std::vector<uint8_t> out;
  auto sink = MakeMemorySink(&out, "out.gguf");
  {
    LayoutSink layout(*sink, {.background = true});
    for (Frame& f : ModelFrames(MixedModel())) ASSERT_TRUE(layout.Put(std::move(f)).has_value());
  }  // no Finish: an abandoned output, as after a failed stage; must not hang or crash
  SUCCEED();
}

}  // namespace
}  // namespace mln::formats
