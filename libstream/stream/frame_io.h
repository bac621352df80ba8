// FrameSource / FrameSink: what the pipeline reads from and writes to.
#pragma once

#include <optional>

#include "libstream/base/status.h"
#include "libstream/stream/frame.h"

namespace mln::stream {

/// Produces frames in stream order; nullopt at the end.
class FrameSource {
 public:
  virtual ~FrameSource() = default;
  virtual Result<std::optional<Frame>> Next() = 0;
};

/// Consumes frames in stream order; Finish() after the last one.
class FrameSink {
 public:
  virtual ~FrameSink() = default;
  virtual Result<void> Put(Frame frame) = 0;
  virtual Result<void> Finish() = 0;
};

/// Watches the frames a pipeline hands to its sink, e.g. to draw progress (cli/progress.h).
/// RunFramePipeline calls it from its serial write stage only, in stream order, so an
/// implementation needs no locking.
class FrameObserver {
 public:
  virtual ~FrameObserver() = default;
  /// `header` belongs to an output frame about to be put to the sink.
  virtual void OnFrame(const FrameHeader& header) = 0;
};

}  // namespace mln::stream
