#include "libstream/base/byte_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace mln {
namespace {

// Small reads (frame prefixes, GGUF fields) come from this buffer; large payload reads
// bypass it. 1 MiB matches the pipe buffer we ask the kernel for.
constexpr size_t kReadBuffer = 1 << 20;
constexpr size_t kPeekMax = 64 * 1024;  // what ByteSource::Peek may ask (byte_io.h)
constexpr size_t kWriteBuffer = 1 << 20;
// Reads and writes of at least this many bytes (frame payloads) skip the buffers: a copy
// through them cost as much as the read or write itself (a tenth of mln-compress -d's time
// on quantized models). Below it, the buffers save a system call per frame header.
constexpr size_t kDirectIo = 64 << 10;

// A bigger pipe buffer cuts context switches between the two ends of `a | b` several-fold.
// Best effort: the kernel may refuse (pipe-max-size), which costs speed, not correctness.
void GrowPipe(int fd) {
  struct stat st;
  if (fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode)) fcntl(fd, F_SETPIPE_SZ, 1 << 20);
}

class FdSource final : public ByteSource {
 public:
  FdSource(int fd, std::string name, bool owned) : ByteSource(std::move(name)), fd_(fd), owned_(owned) {
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
      size_ = static_cast<uint64_t>(st.st_size);
      posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    }
    GrowPipe(fd);
  }
  ~FdSource() override {
    if (owned_) close(fd_);
  }
  std::optional<uint64_t> size() const override { return size_; }
  int fd() const override { return fd_; }

 protected:
  Result<size_t> ReadRaw(void* dst, size_t n) override {
    for (;;) {
      ssize_t r = ::read(fd_, dst, n);
      if (r >= 0) return static_cast<size_t>(r);
      if (errno == EINTR) continue;
      return Fail(Error{Errc::kIo, std::string("read failed: ") + std::strerror(errno), name()});
    }
  }

 private:
  int fd_;
  bool owned_;
  std::optional<uint64_t> size_;
};

class PreadSource final : public ByteSource {
 public:
  PreadSource(int fd, std::string name, uint64_t size)
      : ByteSource(std::move(name)), fd_(fd), size_(size) {}
  std::optional<uint64_t> size() const override { return size_; }
  int fd() const override { return fd_; }

 protected:
  Result<size_t> ReadRaw(void* dst, size_t n) override {
    for (;;) {
      ssize_t r = ::pread(fd_, dst, n, static_cast<off_t>(offset_));
      if (r >= 0) {
        offset_ += static_cast<uint64_t>(r);
        return static_cast<size_t>(r);
      }
      if (errno == EINTR) continue;
      return Fail(Error{Errc::kIo, std::string("read failed: ") + std::strerror(errno), name()});
    }
  }

 private:
  int fd_;
  uint64_t size_;
  uint64_t offset_ = 0;
};

class MemorySource final : public ByteSource {
 public:
  MemorySource(std::span<const uint8_t> data, std::string name)
      : ByteSource(std::move(name)), data_(data) {}
  std::optional<uint64_t> size() const override { return data_.size(); }

 protected:
  Result<size_t> ReadRaw(void* dst, size_t n) override {
    size_t k = std::min(n, data_.size() - pos_);
    if (k != 0) std::memcpy(dst, data_.data() + pos_, k);
    pos_ += k;
    return k;
  }

 private:
  std::span<const uint8_t> data_;
  size_t pos_ = 0;
};

// Writes all of [p, p + n) at the descriptor's offset; `written` counts what got there.
// A failure names `name`, the file written.
Result<void> WriteAll(int fd, const uint8_t* p, size_t n, uint64_t& written,
                      const std::string& name) {
  while (n != 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return Fail(Error{Errc::kIo, std::string("write failed: ") + std::strerror(errno), name});
    }
    p += w;
    n -= static_cast<size_t>(w);
    written += static_cast<uint64_t>(w);
  }
  return {};
}

// Asks the kernel to start writing a regular file's new bytes to disk every `every` bytes.
// A hint only, so its result is ignored: fsync reports any real write error.
struct Writeback {
  uint64_t every = 0;
  uint64_t from = 0;
  void After(int fd, uint64_t written) {
    if (every == 0 || written - from < every) return;
    ::sync_file_range(fd, static_cast<off_t>(from), static_cast<off_t>(written - from),
                      SYNC_FILE_RANGE_WRITE);
    from = written;
  }
};

class FdSink final : public ByteSink {
 public:
  FdSink(int fd, std::string name) : ByteSink(std::move(name)), fd_(fd) {
    GrowPipe(fd);
  }

 protected:
  Result<void> WriteRaw(const void* src, size_t n) override {
    uint64_t written = 0;
    return WriteAll(fd_, static_cast<const uint8_t*>(src), n, written, name());
  }

 private:
  int fd_;
};

// A new regular file written from offset 0, with direct I/O while the filesystem takes it.
// Buffered writes cost ~3 s of kernel time per GiB on the test machine's VM (copying into
// fresh page-cache pages), which made the serial write stage of mln-apply its bottleneck;
// direct writes of whole aligned blocks skip the page cache and cost ~0.2 s. The bytes go
// through one aligned staging block. The first write O_DIRECT refuses, a short write, or a
// Flush with a partial block in hand (the file's tail) ends direct mode: what follows is
// written buffered, with writeback hints.
class FileSink final : public ByteSink {
 public:
  FileSink(int fd, std::string name) : ByteSink(std::move(name)), fd_(fd) {
    writeback_.every = kDirectBlock;
    int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_DIRECT) != 0) return;  // e.g. tmpfs
    void* block = nullptr;
    if (::posix_memalign(&block, kDirectAlign, kDirectBlock) != 0) {
      EndDirect();
      return;
    }
    block_.reset(static_cast<uint8_t*>(block));
  }

 protected:
  Result<void> WriteRaw(const void* src, size_t n) override {
    auto p = static_cast<const uint8_t*>(src);
    while (n != 0 && block_) {
      size_t k = std::min(n, kDirectBlock - fill_);
      std::memcpy(block_.get() + fill_, p, k);
      fill_ += k;
      p += k;
      n -= k;
      if (fill_ == kDirectBlock) MLN_RETURN_IF_ERROR(WriteBlock(fill_));
    }
    return Buffered(p, n);
  }

  Result<void> FlushRaw() override {
    if (!block_ || fill_ == 0) return {};
    return WriteBlock(fill_ / kDirectAlign * kDirectAlign);
  }

 private:
  static constexpr size_t kDirectAlign = 4096;      // covers every logical block size
  static constexpr size_t kDirectBlock = 4u << 20;  // as fast as 8 MiB and bigger, half the RSS

  // Writes the first `n` staged bytes (n a multiple of kDirectAlign) directly, and whatever
  // is staged beyond them buffered, ending direct mode, when n < fill_.
  Result<void> WriteBlock(size_t n) {
    const uint8_t* p = block_.get();
    size_t left = n;
    while (left != 0) {
      ssize_t w = ::write(fd_, p, left);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0 && errno == EINVAL && written_ == 0) break;  // O_DIRECT refused after all
      if (w < 0) {
        return Fail(Error{Errc::kIo, std::string("write failed: ") + std::strerror(errno), name()});
      }
      p += w;
      left -= static_cast<size_t>(w);
      written_ += static_cast<uint64_t>(w);
      if (w % kDirectAlign != 0) break;  // a short write left the offset unaligned
    }
    size_t rest = static_cast<size_t>(block_.get() + fill_ - p);
    if (rest == 0) {
      fill_ = 0;
      return {};
    }
    EndDirect();
    auto keep = std::move(block_);  // holds p's bytes; direct mode is over for good
    fill_ = 0;
    return Buffered(p, rest);
  }

  void EndDirect() {
    int flags = ::fcntl(fd_, F_GETFL);
    if (flags >= 0) ::fcntl(fd_, F_SETFL, flags & ~O_DIRECT);
    writeback_.from = written_;
  }

  Result<void> Buffered(const uint8_t* p, size_t n) {
    if (n == 0) return {};
    MLN_RETURN_IF_ERROR(WriteAll(fd_, p, n, written_, name()));
    writeback_.After(fd_, written_);
    return {};
  }

  struct Free {
    void operator()(uint8_t* p) const { std::free(p); }
  };
  int fd_;
  std::unique_ptr<uint8_t, Free> block_;  // null once direct mode ends (or never began)
  size_t fill_ = 0;
  uint64_t written_ = 0;
  Writeback writeback_;
};

class MemorySink final : public ByteSink {
 public:
  MemorySink(std::vector<uint8_t>* out, std::string name) : ByteSink(std::move(name)), out_(out) {}

 protected:
  Result<void> WriteRaw(const void* src, size_t n) override {
    auto p = static_cast<const uint8_t*>(src);
    out_->insert(out_->end(), p, p + n);
    return {};
  }

 private:
  std::vector<uint8_t>* out_;
};

class DiscardSink final : public ByteSink {
 public:
  explicit DiscardSink(std::string name) : ByteSink(std::move(name)) {}

 protected:
  Result<void> WriteRaw(const void*, size_t) override { return {}; }
};

}  // namespace

// The read buffer: kReadBuffer, or the whole input when it is known to be smaller (zeroing
// 1 MiB for every small input dominated parsing one; fuzzing ran 3 inputs/s). Never below
// what Peek() may ask, unless the input itself is shorter.
static size_t ReadBufferSize(const ByteSource& src) {
  std::optional<uint64_t> total = src.size();
  return total && *total < kReadBuffer ? std::max<size_t>(*total, 1) : kReadBuffer;
}

void ByteSource::AllocateBuffer() {
  if (buf_) return;
  buf_size_ = ReadBufferSize(*this);
  buf_.reset(new uint8_t[buf_size_]);  // uninitialised: ReadRaw fills what is used
}

Result<size_t> ByteSource::Fill() {
  AllocateBuffer();
  // No more than a direct read's worth ahead: what a fill takes of the next payload is
  // copied out of the buffer again, what it leaves is read straight into the payload.
  MLN_TRY(size_t got, ReadRaw(buf_.get(), std::min(buf_size_, kDirectIo)));
  buf_pos_ = 0;
  buf_len_ = got;
  return got;
}

Result<size_t> ByteSource::Read(void* dst, size_t n) {
  auto out = static_cast<uint8_t*>(dst);
  size_t done = 0;
  while (done < n) {
    if (buf_pos_ < buf_len_) {
      size_t k = std::min(n - done, buf_len_ - buf_pos_);
      std::memcpy(out + done, buf_.get() + buf_pos_, k);
      buf_pos_ += k;
      done += k;
      continue;
    }
    if (n - done >= kDirectIo) {
      // Large read: straight into the destination, no extra copy.
      MLN_TRY(size_t got, ReadRaw(out + done, n - done));
      if (got == 0) break;
      done += got;
      continue;
    }
    MLN_TRY(size_t got, Fill());
    if (got == 0) break;
  }
  position_ += done;
  return done;
}

Result<void> ByteSource::ReadExact(void* dst, size_t n, const char* what) {
  uint64_t at = position_;
  MLN_TRY(size_t got, Read(dst, n));
  if (got != n) {
    return Fail(Error{Errc::kBadData,
                      std::string("truncated input: expected ") + std::to_string(n) +
                          " bytes of " + what + ", got " + std::to_string(got),
                      {}, std::nullopt, at});
  }
  return {};
}

Result<void> ByteSource::Skip(uint64_t n, const char* what) {
  uint8_t tmp[64 * 1024];
  while (n != 0) {
    size_t k = static_cast<size_t>(std::min<uint64_t>(n, sizeof tmp));
    MLN_RETURN_IF_ERROR(ReadExact(tmp, k, what));
    n -= k;
  }
  return {};
}

Result<std::span<const uint8_t>> ByteSource::Peek(size_t n) {
  n = std::min<size_t>(n, kPeekMax);
  AllocateBuffer();
  if (buf_len_ - buf_pos_ < n) {
    std::memmove(buf_.get(), buf_.get() + buf_pos_, buf_len_ - buf_pos_);
    buf_len_ -= buf_pos_;
    buf_pos_ = 0;
    while (buf_len_ < n) {
      // Only what was asked for (format bidding wants a few KiB): several parsers open a
      // model just to bid on it, and a full buffer each was 1 MiB read per bid.
      size_t want = std::min(buf_size_, kPeekMax) - buf_len_;
      MLN_TRY(size_t got, ReadRaw(buf_.get() + buf_len_, want));
      if (got == 0) break;
      buf_len_ += got;
    }
  }
  return std::span<const uint8_t>(buf_.get() + buf_pos_, std::min(n, buf_len_ - buf_pos_));
}

Result<bool> ByteSource::AtEnd() {
  if (buf_pos_ < buf_len_) return false;
  MLN_TRY(size_t got, Fill());
  return got == 0;
}

Result<void> ByteSink::Write(const void* src, size_t n) {
  position_ += n;
  if (n >= kDirectIo || buf_.size() + n > kWriteBuffer) MLN_RETURN_IF_ERROR(Drain());
  if (n >= kDirectIo) return WriteRaw(src, n);
  buf_.Append(src, n);  // grows by doubling, in pooled blocks from 64 KiB on, and stays
  return {};
}

Result<void> ByteSink::WriteZeros(size_t n) {
  static const uint8_t kZeros[256] = {};
  while (n != 0) {
    size_t k = std::min(n, sizeof kZeros);
    MLN_RETURN_IF_ERROR(Write(kZeros, k));
    n -= k;
  }
  return {};
}

Result<void> ByteSink::Drain() {
  if (buf_.empty()) return {};
  auto r = WriteRaw(buf_.data(), buf_.size());
  buf_.Clear();
  return r;
}

Result<void> ByteSink::Flush() {
  MLN_RETURN_IF_ERROR(Drain());
  return FlushRaw();
}

std::unique_ptr<ByteSource> MakeFdSource(int fd, std::string name, bool owned) {
  return std::make_unique<FdSource>(fd, std::move(name), owned);
}
std::unique_ptr<ByteSource> MakePreadSource(int fd, std::string name, uint64_t size) {
  return std::make_unique<PreadSource>(fd, std::move(name), size);
}

std::unique_ptr<ByteSource> MakeMemorySource(std::span<const uint8_t> data, std::string name) {
  return std::make_unique<MemorySource>(data, std::move(name));
}
std::unique_ptr<ByteSink> MakeFdSink(int fd, std::string name) {
  return std::make_unique<FdSink>(fd, std::move(name));
}
std::unique_ptr<ByteSink> MakeFileSink(int fd, std::string name) {
  return std::make_unique<FileSink>(fd, std::move(name));
}
std::unique_ptr<ByteSink> MakeMemorySink(std::vector<uint8_t>* out, std::string name) {
  return std::make_unique<MemorySink>(out, std::move(name));
}

std::unique_ptr<ByteSink> MakeDiscardSink(std::string name) {
  return std::make_unique<DiscardSink>(std::move(name));
}

std::string DirName(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string BaseName(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string SourceDir(const ByteSource& src) {
  struct stat a, b;
  if (src.fd() < 0 || ::fstat(src.fd(), &a) != 0 || !S_ISREG(a.st_mode)) return {};
  if (::stat(src.name().c_str(), &b) != 0 || a.st_dev != b.st_dev || a.st_ino != b.st_ino) {
    return {};
  }
  return DirName(src.name());
}

}  // namespace mln
