#include "libstream/formats/container.h"

#include <archive.h>
#include <archive_entry.h>
#include <dlfcn.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace mln::formats {
namespace {

constexpr size_t kHeadBytes = 64 * 1024;  // what a format bids on (ByteSource::Peek's limit)
constexpr size_t kReadBlock = 1 << 20;

// Debian's shared libarchive, loaded the first time an input may be an archive rather than
// at start-up: with the libraries it pulls in (ICU, libxml2, nettle, ...) loading it cost
// every filter ~4 ms of a ~20 ms start, and most inputs are model files, which never get
// here (OpenModel asks this bidder only when no model format bid higher).
#define MLN_LIBARCHIVE_FUNCTIONS(X)                                                          \
  X(archive_read_new) X(archive_read_free) X(archive_read_open) X(archive_read_open_memory) \
  X(archive_read_next_header) X(archive_read_data) X(archive_read_data_skip)                \
  X(archive_set_error) X(archive_error_string) X(archive_entry_pathname)                    \
  X(archive_entry_filetype) X(archive_entry_size) X(archive_entry_size_is_set)              \
  X(archive_read_support_filter_gzip) X(archive_read_support_filter_bzip2)                  \
  X(archive_read_support_filter_xz) X(archive_read_support_filter_lzma)                     \
  X(archive_read_support_filter_zstd) X(archive_read_support_filter_lz4)                    \
  X(archive_read_support_format_tar) X(archive_read_support_format_zip)

struct LibArchive {
#define MLN_DECLARE(f) decltype(&::f) f = nullptr;
  MLN_LIBARCHIVE_FUNCTIONS(MLN_DECLARE)
#undef MLN_DECLARE
};

// The loaded library, or null when it cannot be loaded (archives are then unsupported).
const LibArchive* Lib() {
  static const LibArchive* lib = []() -> const LibArchive* {
    void* h = dlopen(MLN_LIBARCHIVE_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (h == nullptr) return nullptr;
    static LibArchive l;
#define MLN_RESOLVE(f)                                           \
  l.f = reinterpret_cast<decltype(&::f)>(dlsym(h, #f));          \
  if (l.f == nullptr) return nullptr;
    MLN_LIBARCHIVE_FUNCTIONS(MLN_RESOLVE)
#undef MLN_RESOLVE
    return &l;
  }();
  return lib;
}

Result<const LibArchive*> RequireLib() {
  if (const LibArchive* lib = Lib()) return lib;
  return Fail(Errc::kUnsupported, std::string("cannot read archives: ") + MLN_LIBARCHIVE_SONAME +
                                      " (libarchive) cannot be loaded");
}

// Only the built-in decompressors: archive_read_support_filter_all() would also accept
// lrzip, lzop, grzip and uuencode by running external programs on hostile input.
void SupportFilters(const LibArchive& lib, archive* a) {
  lib.archive_read_support_filter_gzip(a);
  lib.archive_read_support_filter_bzip2(a);
  lib.archive_read_support_filter_xz(a);
  lib.archive_read_support_filter_lzma(a);
  lib.archive_read_support_filter_zstd(a);
  lib.archive_read_support_filter_lz4(a);
  lib.archive_read_support_format_tar(a);
  lib.archive_read_support_format_zip(a);
}

// One libarchive reader over a ByteSource, with errors turned into Error values.
class ArchiveReader {
 public:
  explicit ArchiveReader(ByteSource& src) : src_(src), buf_(kReadBlock) {}
  ~ArchiveReader() {
    if (a_ != nullptr) lib_->archive_read_free(a_);
  }
  ArchiveReader(const ArchiveReader&) = delete;
  ArchiveReader& operator=(const ArchiveReader&) = delete;

  Result<void> Open() {
    MLN_TRY(lib_, RequireLib());
    a_ = lib_->archive_read_new();
    if (a_ == nullptr) return Fail(Errc::kOs, "cannot allocate an archive reader");
    SupportFilters(*lib_, a_);
    if (lib_->archive_read_open(a_, this, nullptr, &ArchiveReader::ReadCallback, nullptr) !=
        ARCHIVE_OK) {
      return Fail(Failure("cannot read it as a tar or zip archive"));
    }
    return {};
  }

  // The next regular-file member, or nullopt at the end of the archive. Directories,
  // links and devices are passed over: they have no bytes to parse.
  Result<std::optional<ArchiveMember>> Next() {
    for (;;) {
      archive_entry* e = nullptr;
      int r = lib_->archive_read_next_header(a_, &e);
      if (r == ARCHIVE_EOF) return std::nullopt;
      if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
        return Fail(Failure("cannot read the member header after '" + last_ + "'"));
      }
      const char* path = lib_->archive_entry_pathname(e);
      last_ = path ? path : "";
      if (lib_->archive_entry_filetype(e) != AE_IFREG) continue;
      ArchiveMember m;
      m.name = last_;
      if (lib_->archive_entry_size_is_set(e)) {
        m.size = static_cast<uint64_t>(lib_->archive_entry_size(e));
      }
      return m;
    }
  }

  // Reads up to `n` bytes of the current member; 0 at its end.
  Result<size_t> Data(void* dst, size_t n, const std::string& member) {
    la_ssize_t r = lib_->archive_read_data(a_, dst, n);
    if (r < 0) return Fail(Failure("member '" + member + "'"));
    return static_cast<size_t>(r);
  }

  // Reads the first bytes of the current member into `head` (for bidding).
  Result<void> Head(std::vector<uint8_t>& head, const std::string& member) {
    head.resize(kHeadBytes);
    size_t have = 0;
    while (have < head.size()) {
      MLN_TRY(size_t got, Data(head.data() + have, head.size() - have, member));
      if (got == 0) break;
      have += got;
    }
    head.resize(have);
    return {};
  }

  Result<void> SkipData(const std::string& member) {
    if (lib_->archive_read_data_skip(a_) != ARCHIVE_OK) {
      return Fail(Failure("member '" + member + "'"));
    }
    return {};
  }

 private:
  static la_ssize_t ReadCallback(archive* a, void* self_ptr, const void** out) {
    auto* self = static_cast<ArchiveReader*>(self_ptr);
    auto got = self->src_.Read(self->buf_.data(), self->buf_.size());
    if (!got) {
      self->io_error_ = got.error();
      self->lib_->archive_set_error(a, EIO, "%s", got.error().message.c_str());
      return -1;
    }
    *out = self->buf_.data();
    return static_cast<la_ssize_t>(*got);
  }

  // An error from libarchive's message, or the I/O error our callback saw.
  Error Failure(std::string context) {
    if (io_error_) return *io_error_;
    const char* why = a_ ? lib_->archive_error_string(a_) : nullptr;
    return Error{Errc::kBadData, context + ": " + (why ? why : "damaged or truncated archive")};
  }

  ByteSource& src_;
  const LibArchive* lib_ = nullptr;  // set by Open
  archive* a_ = nullptr;
  std::vector<uint8_t> buf_;
  std::optional<Error> io_error_;
  std::string last_ = "(start)";
};

// The current member's bytes as a ByteSource, starting with `prefix` (bytes already read
// for bidding), and held to the size its header states.
class MemberSource final : public ByteSource {
 public:
  MemberSource(ArchiveReader& reader, const ArchiveMember& m, std::string name,
               std::vector<uint8_t> prefix)
      : ByteSource(std::move(name)), reader_(reader), member_(m.name), size_(m.size),
        prefix_(std::move(prefix)) {}
  std::optional<uint64_t> size() const override { return size_; }

 protected:
  Result<size_t> ReadRaw(void* dst, size_t n) override {
    if (prefix_pos_ < prefix_.size()) {
      size_t k = std::min(n, prefix_.size() - prefix_pos_);
      std::memcpy(dst, prefix_.data() + prefix_pos_, k);
      prefix_pos_ += k;
      got_ += k;
      MLN_RETURN_IF_ERROR(CheckEnd());
      return k;
    }
    if (ended_) return 0;
    if (size_) n = static_cast<size_t>(std::min<uint64_t>(n, *size_ - got_));
    if (n == 0) return 0;
    MLN_TRY(size_t k, reader_.Data(dst, n, member_));
    got_ += k;
    if (k == 0) {
      ended_ = true;
      if (size_ && got_ < *size_) {
        return Fail(Errc::kBadData, "archive member '" + member_ + "' ends after " +
                                        std::to_string(got_) + " bytes, its header says " +
                                        std::to_string(*size_));
      }
    }
    MLN_RETURN_IF_ERROR(CheckEnd());
    return k;
  }

 private:
  // Once the stated size is reached, libarchive must report the end of the member (and
  // checks the zip CRC while doing so); the parser may never ask for that last read.
  Result<void> CheckEnd() {
    if (!size_ || got_ != *size_ || ended_ || prefix_pos_ < prefix_.size()) return {};
    ended_ = true;
    uint8_t extra;
    MLN_TRY(size_t k, reader_.Data(&extra, 1, member_));
    if (k != 0) {
      return Fail(Errc::kBadData, "archive member '" + member_ + "' is longer than the " +
                                      std::to_string(*size_) + " bytes its header states");
    }
    return {};
  }

  ArchiveReader& reader_;
  std::string member_;
  std::optional<uint64_t> size_;
  std::vector<uint8_t> prefix_;
  size_t prefix_pos_ = 0;
  uint64_t got_ = 0;
  bool ended_ = false;
};

// Model formats a member may be; archives are not opened inside archives (a zip quine
// would never end), and a sharded-model index is not a model by itself.
bool IsMemberFormat(const FormatHandler& f) {
  return f.name != "archive" && f.name != "safetensors-index";
}

bool IsNotArchive(const FormatHandler& f) { return f.name != "archive"; }

// The name of the best bidding format of `head`, never "archive", or "".
std::string BestFormat(std::span<const uint8_t> head, bool models_only) {
  const FormatHandler* best = BestBid(head, models_only ? IsMemberFormat : IsNotArchive);
  return best ? std::string(best->name) : std::string();
}

std::string MemberList(const std::vector<ArchiveMember>& members) {
  std::string s;
  for (const auto& m : members) {
    if (!s.empty()) s += ", ";
    s += m.name;
    if (!m.format.empty()) s += " (" + m.format + ")";
  }
  return s.empty() ? "none" : s;
}

// Owns the archive reader and the member source for the lifetime of the parse.
class ArchiveFrameSource final : public stream::FrameSource {
 public:
  ArchiveFrameSource(std::unique_ptr<ArchiveReader> reader, std::unique_ptr<MemberSource> member,
                     std::string chosen, bool check_rest)
      : reader_(std::move(reader)), member_(std::move(member)), chosen_(std::move(chosen)),
        check_rest_(check_rest) {}
  void set_inner(std::unique_ptr<stream::FrameSource> inner) { inner_ = std::move(inner); }
  MemberSource& member() { return *member_; }

  Result<std::optional<stream::Frame>> Next() override {
    MLN_TRY(auto frame, inner_->Next());
    if (frame || !check_rest_) return frame;
    // Read from a pipe without --member: the model already went out, but a second model
    // later in the archive makes the choice ambiguous, so fail before the trailer (the
    // stream stays incomplete and every reader refuses it).
    check_rest_ = false;
    std::vector<ArchiveMember> models{{chosen_, std::nullopt, "model"}};
    std::vector<uint8_t> head;
    for (;;) {
      MLN_TRY(auto m, reader_->Next());
      if (!m) break;
      MLN_RETURN_IF_ERROR(reader_->Head(head, m->name));
      m->format = BestFormat(head, true);
      if (!m->format.empty()) models.push_back(*m);
    }
    if (models.size() > 1) {
      return Fail(Errc::kUsage, "the archive holds several models (" + MemberList(models) +
                                    "): pick one with mln-parse --member");
    }
    return std::nullopt;
  }

 private:
  std::unique_ptr<ArchiveReader> reader_;
  std::unique_ptr<MemberSource> member_;
  std::unique_ptr<stream::FrameSource> inner_;
  std::string chosen_;
  bool check_rest_;
};

}  // namespace

int BidArchive(std::span<const uint8_t> head) {
  const LibArchive* lib = head.empty() ? nullptr : Lib();
  if (lib == nullptr) return 0;
  archive* a = lib->archive_read_new();
  if (a == nullptr) return 0;
  SupportFilters(*lib, a);
  int bid = 0;
  // libarchive's own bidders decide; a header that reads back from the first bytes is an
  // archive (the rest may lie beyond `head`).
  if (lib->archive_read_open_memory(a, head.data(), head.size()) == ARCHIVE_OK) {
    archive_entry* e = nullptr;
    int r = lib->archive_read_next_header(a, &e);
    if (r == ARCHIVE_OK || r == ARCHIVE_WARN) bid = kArchiveBid;
  }
  lib->archive_read_free(a);
  return bid;
}

Result<std::vector<ArchiveMember>> ListArchive(ByteSource& src) {
  ArchiveReader reader(src);
  auto run = [&]() -> Result<std::vector<ArchiveMember>> {
    MLN_RETURN_IF_ERROR(reader.Open());
    std::vector<ArchiveMember> members;
    std::vector<uint8_t> head;
    for (;;) {
      MLN_TRY(auto m, reader.Next());
      if (!m) break;
      MLN_RETURN_IF_ERROR(reader.Head(head, m->name));
      m->format = BestFormat(head, false);
      // Read through the rest so a truncated member is reported here, not ignored.
      MLN_RETURN_IF_ERROR(reader.SkipData(m->name));
      members.push_back(std::move(*m));
    }
    return members;
  };
  auto members = run();
  if (!members) return Fail(std::move(members).error().WithFile(src.name()));
  return members;
}

Result<std::unique_ptr<stream::FrameSource>> ParseArchiveMember(ByteSource& src,
                                                                std::string_view member,
                                                                std::string_view forced_format,
                                                                const ParseOptions& options) {
  auto fail = [&](Error e) { return Fail(std::move(e).WithFile(src.name())); };
  const FormatHandler* forced = nullptr;
  if (!forced_format.empty()) {
    forced = FindFormat(forced_format);
    if (forced == nullptr || forced->name == "archive") {
      return Fail(Errc::kUsage, "cannot read an archive member as '" + std::string(forced_format) +
                                    "' (known: " + FormatNames() + ")");
    }
  }
  std::string want(member);
  bool check_rest = false;
  if (want.empty()) {
    struct stat st;
    if (src.fd() >= 0 && fstat(src.fd(), &st) == 0 && S_ISREG(st.st_mode)) {
      // A reader of its own from offset 0: `src` may already have buffered the first bytes.
      auto again = MakePreadSource(src.fd(), src.name(), static_cast<uint64_t>(st.st_size));
      MLN_TRY(auto members, ListArchive(*again));
      std::vector<ArchiveMember> models;
      for (const auto& m : members) {
        const FormatHandler* f = FindFormat(m.format);
        if (f != nullptr && IsMemberFormat(*f)) models.push_back(m);
      }
      if (models.size() != 1) {
        return fail(Error{Errc::kUsage, (models.empty() ? "no member of the archive is a model"
                                                        : "the archive holds several models") +
                                            std::string(" (members: ") + MemberList(members) +
                                            "): pick one with mln-parse --member"});
      }
      want = models[0].name;
    } else {
      check_rest = true;  // a pipe: take the first model, then check the rest
    }
  }

  auto reader = std::make_unique<ArchiveReader>(src);
  if (auto ok = reader->Open(); !ok) return fail(std::move(ok).error());
  std::vector<ArchiveMember> seen;
  std::vector<uint8_t> prefix;
  std::optional<ArchiveMember> found;
  for (;;) {
    auto m = reader->Next();
    if (!m) return fail(std::move(m).error());
    if (!*m) break;
    if (!want.empty()) {
      if ((*m)->name == want) {
        found = **m;
        break;
      }
      seen.push_back(**m);
      continue;
    }
    if (auto ok = reader->Head(prefix, (*m)->name); !ok) return fail(std::move(ok).error());
    (*m)->format = BestFormat(prefix, true);
    if (!(*m)->format.empty()) {
      found = **m;
      break;
    }
    seen.push_back(**m);
  }
  if (!found) {
    // A member named and not there is a missing input, as a missing file is (66).
    return fail(Error{want.empty() ? Errc::kUsage : Errc::kNoInput,
                      (want.empty() ? std::string("no member of the archive is a model")
                                    : "no member '" + want + "' in the archive") +
                          " (members: " + MemberList(seen) + ")"});
  }
  auto member_src = std::make_unique<MemberSource>(*reader, *found, src.name() + ":" + found->name,
                                                   std::move(prefix));
  auto out = std::make_unique<ArchiveFrameSource>(std::move(reader), std::move(member_src),
                                                  found->name, check_rest);
  ByteSource& in = out->member();
  if (forced == nullptr) {
    auto peeked = in.Peek(kHeadBytes);
    if (!peeked) return fail(std::move(peeked).error());
    auto head = *peeked;
    std::string name = BestFormat(head, true);
    if (name.empty()) {
      return Fail(Error{Errc::kBadData, "archive member '" + found->name +
                                            "' is not a model this build reads (" +
                                            FormatNames() + ")",
                        src.name()});
    }
    forced = FindFormat(name);
  }
  auto inner = forced->parse(in, options);
  if (!inner) return fail(std::move(inner).error());
  out->set_inner(std::move(*inner));
  return out;
}

Result<std::unique_ptr<stream::FrameSource>> ParseArchive(ByteSource& src,
                                                          const ParseOptions& options) {
  return ParseArchiveMember(src, "", "", options);
}

}  // namespace mln::formats
