#include "libstream/stream/chunker.h"

#include <algorithm>
#include <cstring>

namespace mln::stream {

uint64_t ChunkBytesFor(uint32_t dtype, size_t chunk_size) {
  uint64_t block = 1;
  if (auto info = GetDtypeInfo(dtype)) block = info->block_bytes;
  uint64_t c = chunk_size - chunk_size % block;
  return std::max<uint64_t>(c, block);
}

SegmentSource::SegmentSource(ByteSource& src, FrameHeader source_frame,
                             std::vector<Segment> segments, size_t chunk_size)
    : src_(src),
      source_frame_(std::move(source_frame)),
      segments_(std::move(segments)),
      chunk_size_(std::max<size_t>(chunk_size, 1)) {}

Result<std::optional<Frame>> SegmentSource::Next() {
  if (source_frame_) {
    Frame f;
    f.header = std::move(*source_frame_);
    source_frame_.reset();
    return f;
  }
  auto advance = [this] {
    ++seg_;
    done_in_seg_ = 0;
    chunk_index_ = 0;
    input_ended_ = false;
  };
  while (seg_ < segments_.size()) {
    const Segment& s = segments_[seg_];
    uint64_t chunk = ChunkBytesFor(s.tmpl.dtype, chunk_size_);
    Frame f;
    f.header = s.tmpl;
    f.header.file_offset = s.file_offset + done_in_seg_;
    f.header.tensor_offset = done_in_seg_;
    f.header.chunk_index = chunk_index_;
    if (s.size != kUntilEnd) {
      // A zero-byte segment still yields one empty frame, so empty tensors survive.
      bool finished = done_in_seg_ >= s.size && !(s.size == 0 && chunk_index_ == 0);
      if (finished) {
        advance();
        continue;
      }
      uint64_t want = std::min(chunk, s.size - done_in_seg_);
      f.payload.Resize(want);
      if (s.held) {
        // want == 0 for an empty segment, whose payload (and maybe `held`) is null.
        if (want != 0) std::memcpy(f.payload.data(), s.held + done_in_seg_, want);
      } else {
        if (src_.position() != f.header.file_offset) {
          return Fail(Errc::kInternal, "segment plan out of step with the input position");
        }
        MLN_RETURN_IF_ERROR(src_.ReadExact(f.payload.data(), want, s.tmpl.name.c_str()));
      }
      f.header.tensor_bytes = s.size;
      f.header.chunk_count = s.size == 0 ? 1 : static_cast<uint32_t>((s.size + chunk - 1) / chunk);
    } else {
      // Length unknown up front (a pipe): chunk_count 0 marks an open-ended run.
      if (input_ended_) {
        advance();
        continue;
      }
      f.payload.Resize(chunk);
      MLN_TRY(size_t got, src_.Read(f.payload.data(), chunk));
      f.payload.Resize(got);
      if (got < chunk) input_ended_ = true;
      if (got == 0) {
        advance();
        continue;
      }
      f.header.tensor_bytes = 0;
      f.header.chunk_count = 0;
    }
    done_in_seg_ += f.payload.size();
    ++chunk_index_;
    return f;
  }
  return std::nullopt;
}

Result<void> ChunkSequenceChecker::Check(const FrameHeader& h) {
  bool open_ended = h.chunk_count == 0;  // an "until the end" run of unknown length
  if (in_run_ && (h.name != name_ || h.chunk_index != run_next_chunk_)) {
    if (run_chunks_ != 0) {
      return Fail(Errc::kBadData, "chunk " + std::to_string(run_next_chunk_) + " of '" + name_ +
                                      "' missing: next frame is chunk " +
                                      std::to_string(h.chunk_index) + " of '" + h.name + "'");
    }
    in_run_ = false;  // an open-ended run ends where the next one starts
  }
  if (!in_run_) {
    if (h.chunk_index != 0) {
      return Fail(Errc::kBadData, "run starts at chunk " + std::to_string(h.chunk_index) +
                                      ", expected chunk 0");
    }
    in_run_ = true;
    name_ = h.name;
    run_bytes_ = h.tensor_bytes;
    run_done_ = 0;
    run_next_chunk_ = 0;
    run_chunks_ = h.chunk_count;
  }
  if (h.file_offset != position_) {
    return Fail(Errc::kBadData, "frame placed at file offset " + std::to_string(h.file_offset) +
                                    ", expected " + std::to_string(position_));
  }
  if (h.tensor_offset != run_done_) {
    return Fail(Errc::kBadData, "chunk at tensor offset " + std::to_string(h.tensor_offset) +
                                    ", expected " + std::to_string(run_done_));
  }
  if (!open_ended && h.tensor_bytes != run_bytes_) {
    return Fail(Errc::kBadData, "chunks disagree on the tensor size");
  }
  run_done_ += h.decoded_size;
  position_ += h.decoded_size;
  ++run_next_chunk_;
  if (!open_ended) {
    if (run_done_ > run_bytes_) {
      return Fail(Errc::kBadData, "chunks hold more than the tensor's " +
                                      std::to_string(run_bytes_) + " bytes");
    }
    if (run_next_chunk_ == run_chunks_) {
      if (run_done_ != run_bytes_) {
        return Fail(Errc::kBadData, "last chunk ends at " + std::to_string(run_done_) +
                                        " of " + std::to_string(run_bytes_) + " bytes");
      }
      in_run_ = false;
    }
  }
  return {};
}

Result<void> ChunkSequenceChecker::Finish() const {
  if (in_run_ && run_chunks_ != 0) {
    return Fail(Errc::kBadData, "stream ends inside '" + name_ + "' after chunk " +
                                    std::to_string(run_next_chunk_ - 1) + " of " +
                                    std::to_string(run_chunks_));
  }
  return {};
}

}  // namespace mln::stream
