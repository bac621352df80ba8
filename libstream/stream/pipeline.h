// The one oneTBB parallel_pipeline every filter runs: read frames in order, transform them
// in parallel, write them in order (DESIGN.md invariant 6).
#pragma once

#include <functional>
#include <initializer_list>
#include <vector>

#include "libstream/base/status.h"
#include "libstream/stream/frame_io.h"

namespace mln::stream {

/// Turns one input frame into 0..n output frames, in place in `frames` (which holds the
/// input frame on entry). Runs concurrently on different frames: no shared mutable state.
using FrameTransform = std::function<Result<void>(std::vector<Frame>& frames)>;

struct PipelineOptions {
  /// Worker threads; 0 means what tbb::global_control allows.
  unsigned threads = 0;
  /// Frame kinds the transform acts on; other kinds pass through untouched (invariant 5).
  /// Empty means every kind.
  std::vector<FrameKind> kinds;
  /// Decode each payload to raw bytes and check its checksum (codecs::DecodeFrame) before
  /// the transform sees it.
  bool verify_input = false;
  /// Frames in flight per thread; fewer bound memory tighter (mln-apply), more smooth out
  /// uneven stages.
  unsigned frames_per_thread = 4;
  /// Read the source on a thread of its own, up to ReadAhead::kMaxBytes ahead (read_ahead.h),
  /// so reads overlap the transform even with one worker. Only for sources whose reads end
  /// by themselves: regular files and memory, not pipes.
  bool read_ahead = false;
  /// Sees every output frame in the write stage (progress); not owned; null for none.
  FrameObserver* progress = nullptr;
  /// When set, a serial stage of its own between the transform and the sink that sees each
  /// input frame's output frames in order (and may change them). Serial work that need not
  /// wait for the sink, such as a digest of the whole output, then runs concurrently with
  /// both the transform of later frames and the sink's writes of earlier ones, instead of
  /// adding to the sink's time.
  FrameTransform ordered;
};

/// Runs source -> transform -> sink, then sink.Finish(). Frames in flight are bounded by
/// threads x 4, which bounds memory at that many chunks (invariant 4). The first error from
/// any stage cancels the rest and is returned here.
Result<void> RunFramePipeline(FrameSource& source, FrameSink& sink,
                              const FrameTransform& transform, const PipelineOptions& options);

}  // namespace mln::stream
