// Sequential byte sources and sinks over file descriptors or memory.
//
// Everything in mln reads and writes strictly forward so that pipes work as well as files;
// nothing here seeks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "libstream/base/aligned_buffer.h"
#include "libstream/base/status.h"

namespace mln {

/// A forward-only reader with an internal buffer for small reads.
class ByteSource {
 public:
  virtual ~ByteSource() = default;

  /// Reads exactly `n` bytes unless the input ends first; returns how many were read
  /// (less than `n` only at end of input). I/O errors come back as Errc::kIo.
  Result<size_t> Read(void* dst, size_t n);
  /// Reads exactly `n` bytes or fails with Errc::kBadData "truncated: expected N bytes".
  Result<void> ReadExact(void* dst, size_t n, const char* what);
  /// Discards `n` bytes (same truncation rule as ReadExact).
  Result<void> Skip(uint64_t n, const char* what);
  /// Returns up to `n` (at most 64 KiB) upcoming bytes without consuming them; fewer only
  /// at end of input. Format detection bids on these.
  Result<std::span<const uint8_t>> Peek(size_t n);
  /// True when no byte is left; may block on a pipe until one arrives.
  Result<bool> AtEnd();

  /// Bytes handed out so far.
  uint64_t position() const { return position_; }
  /// Total size of the input when it is a regular file or memory, else nullopt.
  virtual std::optional<uint64_t> size() const { return std::nullopt; }
  const std::string& name() const { return name_; }
  /// The file descriptor behind the source, or -1 (memory).
  virtual int fd() const { return -1; }

 protected:
  explicit ByteSource(std::string name) : name_(std::move(name)) {}
  /// Reads up to `n` raw bytes; 0 means end of input.
  virtual Result<size_t> ReadRaw(void* dst, size_t n) = 0;

 private:
  Result<size_t> Fill();
  void AllocateBuffer();

  std::string name_;
  uint64_t position_ = 0;
  // Not a std::vector: its resize() zeroes the whole buffer, which ReadRaw overwrites.
  std::unique_ptr<uint8_t[]> buf_;
  size_t buf_size_ = 0, buf_pos_ = 0, buf_len_ = 0;
};

/// Reads a file descriptor; owns it when `owned`.
std::unique_ptr<ByteSource> MakeFdSource(int fd, std::string name, bool owned);
/// Reads a regular file with pread from offset 0, with an offset of its own: readers of the
/// same descriptor (a ByteSource that has buffered bytes, threads reading ranges) never
/// disturb each other. Does not own `fd`.
std::unique_ptr<ByteSource> MakePreadSource(int fd, std::string name, uint64_t size);
/// Reads a span the caller keeps alive.
std::unique_ptr<ByteSource> MakeMemorySource(std::span<const uint8_t> data, std::string name);

/// True when every read of `src` ends by itself (a regular file or memory, whose size is
/// known), so a thread reading it ahead can always be waited for; false for pipes and
/// terminals, where a read waits for the writer.
inline bool ReadsEndByThemselves(const ByteSource& src) { return src.size().has_value(); }

/// The directory part of a path: "." for a bare name, "/" for a name in the root.
std::string DirName(const std::string& path);
/// The last component of a path.
std::string BaseName(const std::string& path);
/// The directory of the file behind `src`, when `src` reads the regular file its name
/// points at (same inode), so files beside it (shards, external data) can be found; empty
/// for pipes, memory and archive members.
std::string SourceDir(const ByteSource& src);

/// A forward-only buffered writer.
class ByteSink {
 public:
  virtual ~ByteSink() = default;
  Result<void> Write(const void* src, size_t n);
  /// Writes `n` zero bytes.
  Result<void> WriteZeros(size_t n);
  /// Pushes buffered bytes to the underlying descriptor.
  Result<void> Flush();
  uint64_t position() const { return position_; }
  const std::string& name() const { return name_; }

 protected:
  explicit ByteSink(std::string name) : name_(std::move(name)) {}
  virtual Result<void> WriteRaw(const void* src, size_t n) = 0;
  /// Pushes out what WriteRaw kept back (FileSink's staging block); after Flush's WriteRaw.
  virtual Result<void> FlushRaw() { return {}; }

 private:
  Result<void> Drain();  // hands the buffer to WriteRaw

  std::string name_;
  uint64_t position_ = 0;
  // Small writes gather here up to 1 MiB, in an AlignedBuffer: from 64 KiB on its blocks
  // come from the pool, mapped and populated at once. A vector's fresh pages, faulted in one
  // by one as it grew, were half the page faults of mln-compress -dc on a model of small
  // tensors; reserving the whole 1 MiB at first cost a tiny output 2 MiB of page zeroing.
  AlignedBuffer buf_;
};

/// Writes a file descriptor (never closes it: the owner commits or discards the file).
std::unique_ptr<ByteSink> MakeFdSink(int fd, std::string name);
/// Writes a new regular file from offset 0 (never closes it: the owner fsyncs and commits
/// it): in 4 MiB blocks with direct I/O (O_DIRECT, no page-cache copy) while the filesystem
/// allows it, else buffered, asking the kernel every 4 MiB to start writing them back
/// (sync_file_range), so the final fsync waits only for the tail. Flush writes the tail and
/// ends direct mode, so Flush only when no more bytes follow, or they are written buffered.
/// Holds 4 MiB of memory.
std::unique_ptr<ByteSink> MakeFileSink(int fd, std::string name);
/// Appends to a vector the caller keeps alive.
std::unique_ptr<ByteSink> MakeMemorySink(std::vector<uint8_t>* out, std::string name);
/// Counts what is written and keeps none of it (mln-compress -t).
std::unique_ptr<ByteSink> MakeDiscardSink(std::string name);

}  // namespace mln
