// LayoutSink writing on its own thread (LayoutOptions::background): the same model bytes as
// writing inline, write errors that reach the caller naming a frame, and a clean stop when
// the sink is dropped before Finish.
#include "libstream/formats/layout_emit.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "libstream/formats/convert.h"
#include "libstream/stream/background_writes.h"
#include "tests/support/test_util.h"

namespace mln::formats {
namespace {

using stream::Frame;
using testing::FullSink;
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
  ASSERT_GT(model.size(), stream::BackgroundWrites::kMaxBytes) << "must exceed the queue's budget";
  EXPECT_EQ(LayOut(model, /*background=*/false), model);
  EXPECT_EQ(LayOut(model, /*background=*/true), model);
}

// Lays the model out into a 4 MiB disk; the error, and the index and name of the frame
// whose Put returned it (inline) or whose payload failed (background: error.frame).
struct Failure {
  Error error;
  size_t failed_put;
  std::string failed_name;
};
Failure LayOutOnFullDisk(bool background) {
  FullSink sink("full.gguf", 4 << 20);
  LayoutSink layout(sink, {.background = background});
  std::vector<Frame> frames = ModelFrames(MixedModel());
  for (size_t i = 0; i < frames.size(); ++i) {
    std::string name = frames[i].header.name;
    if (auto ok = layout.Put(std::move(frames[i])); !ok) return {ok.error(), i, name};
  }
  auto ok = layout.Finish();
  EXPECT_FALSE(ok.has_value()) << "a 4 MiB disk cannot hold a 20 MiB model";
  return {ok ? Error{} : ok.error(), frames.size(), ""};
}

TEST(LayoutSinkTest, BackgroundWriteFailureReachesTheCallerNamingTheFrame) {
  Failure inline_run = LayOutOnFullDisk(/*background=*/false);
  ASSERT_EQ(inline_run.error.code, Errc::kIo);
  Failure background = LayOutOnFullDisk(/*background=*/true);
  EXPECT_EQ(background.error.code, Errc::kIo);
  EXPECT_NE(background.error.message.find("No space left"), std::string::npos)
      << background.error.message;
  // The frame named is the one whose bytes did not fit, as the inline write found it.
  ASSERT_TRUE(background.error.frame.has_value());
  EXPECT_EQ(*background.error.frame, inline_run.failed_put);
  EXPECT_EQ(background.error.tensor, inline_run.failed_name);
}

// Blocks every write until opened, counting the bytes that got through.
class GatedSink final : public ByteSink {
 public:
  GatedSink() : ByteSink("gated.gguf") {}
  void Open() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  uint64_t written() {
    std::lock_guard lock(mu_);
    return written_;
  }

 protected:
  Result<void> WriteRaw(const void*, size_t n) override {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return open_; });
    written_ += n;
    return {};
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
  uint64_t written_ = 0;
};

TEST(LayoutSinkTest, BackgroundSinkDroppedBeforeFinishDropsWhatIsQueued) {
  GatedSink sink;
  uint64_t put = 0;
  std::thread opener;
  {
    LayoutSink layout(sink, {.background = true});
    // The first 1 MiB chunk blocks the thread in the sink; the ones after it wait queued,
    // well inside the queue's budget so Put never waits.
    for (Frame& f : ModelFrames(MixedModel())) {
      if (put + f.payload.size() > 6 << 20) break;
      put += f.payload.size();
      ASSERT_TRUE(layout.Put(std::move(f)).has_value());
    }
    // Opened only once the destructor below has begun: it must let the write in progress
    // finish and drop the rest rather than write out an abandoned output.
    opener = std::thread([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      sink.Open();
    });
  }
  opener.join();
  ASSERT_GT(put, 4u << 20);
  EXPECT_LT(sink.written() + (2 << 20), put) << "queued payloads were written, not dropped";
}

}  // namespace
}  // namespace mln::formats
