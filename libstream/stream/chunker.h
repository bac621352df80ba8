// Turns the pieces of a model file into frames of bounded size (invariant 4), and checks
// the same rules when frames are put back together.
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <vector>

#include "libstream/base/byte_io.h"
#include "libstream/stream/frame_io.h"

namespace mln::stream {

/// Default payload bytes per frame: big enough to amortise headers and thread hand-offs,
/// small enough that threads x 4 chunks stay far below 64 MiB.
inline constexpr size_t kDefaultChunkSize = 4u << 20;
/// Segment size meaning "everything up to the end of the input".
inline constexpr uint64_t kUntilEnd = std::numeric_limits<uint64_t>::max();

/// A contiguous byte range of the model file. Segments are listed in file order and tile
/// the file without gaps.
struct Segment {
  /// kind, name, dtype, shape and attrs of the frames; offsets and chunk fields are set here.
  FrameHeader tmpl;
  uint64_t file_offset = 0;
  uint64_t size = 0;  ///< bytes, or kUntilEnd
  /// Bytes the parser already holds (headers it had to read, or a mapped file): `held`
  /// points at the segment's first byte and `held_owner` keeps it alive. When null the
  /// bytes are read from the ByteSource, which must then sit exactly at file_offset.
  const uint8_t* held = nullptr;
  std::shared_ptr<const void> held_owner;
};

/// Yields a source frame, then every segment as chunks of at most `chunk_size` bytes (a
/// whole number of dtype blocks, so no quantized block is split between frames).
class SegmentSource final : public FrameSource {
 public:
  SegmentSource(ByteSource& src, FrameHeader source_frame, std::vector<Segment> segments,
                size_t chunk_size);
  Result<std::optional<Frame>> Next() override;

  /// The plan, readable before the first Next(): the source frame and every segment. Lets
  /// mln-diff index a model's tensors without reading their bytes.
  const std::optional<FrameHeader>& source_frame() const { return source_frame_; }
  const std::vector<Segment>& segments() const { return segments_; }

 private:
  ByteSource& src_;
  std::optional<FrameHeader> source_frame_;
  std::vector<Segment> segments_;
  size_t chunk_size_;
  size_t seg_ = 0;
  uint64_t done_in_seg_ = 0;
  uint32_t chunk_index_ = 0;
  bool input_ended_ = false;
};

/// Bytes per chunk for a dtype: `chunk_size` rounded down to whole blocks (at least one).
uint64_t ChunkBytesFor(uint32_t dtype, size_t chunk_size);

/// Checks that frames of kBytes/kTensor kind arrive as complete, contiguous chunk runs that
/// tile the file from offset 0. Used by every emitter.
class ChunkSequenceChecker {
 public:
  /// Call for each kBytes/kTensor frame in order.
  Result<void> Check(const FrameHeader& h);
  /// Call at the end: fails if the last tensor is incomplete.
  Result<void> Finish() const;
  uint64_t file_position() const { return position_; }

 private:
  uint64_t position_ = 0;
  bool in_run_ = false;
  std::string name_;
  uint64_t run_bytes_ = 0, run_done_ = 0;
  uint32_t run_next_chunk_ = 0, run_chunks_ = 0;
};

}  // namespace mln::stream
