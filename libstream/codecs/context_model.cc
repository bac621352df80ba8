#include "libstream/codecs/context_model.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "libstream/base/endian.h"
#include "libstream/base/range_coder.h"

namespace mln::codecs::internal {
namespace {

constexpr uint8_t kVersion = 1;
constexpr size_t kHead = 5;  // version, stride u32 LE
constexpr size_t kMaxBytesPerCodedByte = 4096;  // see ContextDecode

// Probabilities are 12-bit (P(bit = 1) in 1..4095); stretched values ln(p / (1 - p)) carry
// 8 fractional bits and are clamped to +-2047 (where squash reaches 1 and 4095).
constexpr int kProbBits = kRangeProbBits;
constexpr int kStretchMax = 2047;

// The logistic function 4096 / (1 + e^-x) at x = -8, -7.5, ..., 8 (stretched steps of 128),
// rounded; Squash interpolates between them. A table, not std::exp: decoding must give the
// same bits on every machine.
constexpr std::array<int, 33> kSquashPoints = {
    1,    2,    4,    6,    10,   17,   27,   45,   74,   120,  194,  311,  488,  747,  1102, 1546, 2048,
    2550, 2994, 3349, 3608, 3785, 3902, 3976, 4022, 4051, 4069, 4079, 4086, 4090, 4092, 4094, 4095};

constexpr int Squash(int d) {
  if (d > kStretchMax) d = kStretchMax;
  if (d < -kStretchMax) d = -kStretchMax;
  const int w = d & 127;
  const int i = (d >> 7) + 16;  // floor division: d is at least -2047, so i >= 0
  return (kSquashPoints[i] * (128 - w) + kSquashPoints[i + 1] * w + 64) >> 7;
}

// The inverse of Squash over all 4096 probabilities, built at compile time.
struct StretchTable {
  std::array<int16_t, 1 << kProbBits> v{};
  constexpr StretchTable() {
    int next = 0;
    for (int d = -kStretchMax; d <= kStretchMax; ++d) {
      for (int p = Squash(d); next <= p; ++next) v[next] = static_cast<int16_t>(d);
    }
    for (; next < (1 << kProbBits); ++next) v[next] = kStretchMax;
  }
};
constexpr StretchTable kStretch;

// Squash at every clamped stretch, built at compile time: one load where interpolating took
// two and a multiply on each bit's critical path. Its values lie in 1..4095, between the
// points they interpolate.
struct SquashTable {
  std::array<int16_t, 2 * kStretchMax + 1> v{};
  constexpr SquashTable() {
    for (int d = -kStretchMax; d <= kStretchMax; ++d) {
      v[d + kStretchMax] = static_cast<int16_t>(Squash(d));
    }
  }
};
static_assert(kSquashPoints.front() >= 1 && kSquashPoints.back() <= 4095);
constexpr SquashTable kSquash;

// An adaptive bit probability (16 bits) that moves by 1/(n + 1.5) of its error after n
// updates, so it starts as a frequency count and settles at a rate of 1/kSettled: exponent
// statistics of a tensor are stationary, and a slow rate costs less than it loses.
struct Counter {
  uint16_t p;
  uint16_t n;
};
constexpr Counter kFreshCounter{1 << 15, 0};
constexpr int kSettled = 255;
struct RateTable {
  std::array<int32_t, kSettled + 1> v{};
  constexpr RateTable() {
    for (int n = 0; n <= kSettled; ++n) v[n] = (1 << 16) / (2 * n + 3);  // 2^15 / (n + 1.5)
  }
};
constexpr RateTable kRate;

inline void Learn(Counter& c, int bit) {
  const int target = bit ? 65535 : 0;
  c.p = static_cast<uint16_t>(c.p + (((target - c.p) * kRate.v[c.n]) >> 15));
  if (c.n < kSettled) ++c.n;
}

// Two predictions of each bit (the node alone; the node under the byte `stride` back) and
// their mixer. Encoder and decoder run the same model on the same bits, so they agree on
// every probability. A third input, the node under the byte before, gained 0.2% of the
// planes (face_landmark) for a third more time.
class Model {
 public:
  // The table under the byte `stride` back is 256 KiB: its rows are set up as they are first
  // used, so a small plane (or a short hostile group) does not pay for all of them.
  Model() : under_stride_(new Counter[256 * 256]) {
    order0_.fill(kFreshCounter);
    for (auto& w : weights_) w = {1 << 16, 0};  // starts trusting order 0, learns the other
  }

  // Codes the byte whose context is `back` (the byte `stride` back), bit by bit from the
  // high one: `code_bit(depth, p)` codes or decodes the bit at `depth` of probability p
  // (of a one, 12 bits) and returns it. Returns the byte.
  template <typename CodeBit>
  int Byte(uint8_t back, CodeBit&& code_bit) {
    Counter* under = &under_stride_[static_cast<size_t>(back) * 256];
    if (!row_ready_[back]) {
      std::fill_n(under, 256, kFreshCounter);
      row_ready_[back] = true;
    }
    int node = 1;
    for (int depth = 0; depth < 8; ++depth) {
      Counter& a = order0_[node];
      Counter& b = under[node];
      const int sa = kStretch.v[a.p >> (16 - kProbBits)];
      const int sb = kStretch.v[b.p >> (16 - kProbBits)];
      // 64-bit weights: what hostile input makes of them cannot overflow in 2^31 bits.
      std::array<int64_t, 2>& w = weights_[depth];
      int64_t dot = (w[0] * sa + w[1] * sb) >> 16;
      if (dot > kStretchMax) dot = kStretchMax;
      if (dot < -kStretchMax) dot = -kStretchMax;
      const int p = kSquash.v[dot + kStretchMax];  // 1..4095
      const int bit = code_bit(depth, p);
      const int err = (bit << kProbBits) - p;
      w[0] += (sa * err) >> 10;
      w[1] += (sb * err) >> 10;
      Learn(a, bit);
      Learn(b, bit);
      node = node * 2 + bit;
    }
    return node & 0xff;
  }

 private:
  std::array<Counter, 256> order0_;
  std::unique_ptr<Counter[]> under_stride_;  // uninitialised until row_ready_
  std::array<bool, 256> row_ready_{};
  std::array<std::array<int64_t, 2>, 8> weights_{};
};

}  // namespace

uint32_t PickContextStride(std::span<const uint8_t> plane, std::span<const uint32_t> candidates) {
  // Conditional entropy of a byte given the top 7 bits of the byte `stride` back, over up to
  // 64 Ki evenly spread positions: a cheap stand-in for coding the plane once per candidate.
  constexpr size_t kSample = 64 << 10;
  std::vector<uint32_t> counts(128 * 256);
  uint32_t best = 1;
  double best_bits = INFINITY;
  auto consider = [&](uint32_t stride) {
    if (stride == 0 || stride >= plane.size()) return;
    std::fill(counts.begin(), counts.end(), 0);
    const size_t span = plane.size() - stride;
    const size_t step = span > kSample ? span / kSample : 1;
    size_t total = 0;
    for (size_t i = stride; i < plane.size(); i += step, ++total) {
      ++counts[static_cast<size_t>(plane[i - stride] >> 1) * 256 + plane[i]];
    }
    double bits = 0;
    for (size_t c = 0; c < 128; ++c) {
      uint64_t row = 0;
      for (size_t x = 0; x < 256; ++x) row += counts[c * 256 + x];
      for (size_t x = 0; x < 256 && row != 0; ++x) {
        if (uint32_t k = counts[c * 256 + x]; k != 0) bits -= k * std::log2(double(k) / row);
      }
    }
    bits /= static_cast<double>(total);
    if (bits < best_bits) {
      best_bits = bits;
      best = stride;
    }
  };
  consider(1);
  for (uint32_t s : candidates) consider(s);
  return best;
}

std::optional<size_t> ContextEncode(std::span<const uint8_t> plane, uint32_t stride, uint8_t* dst,
                                    size_t cap) {
  if (cap <= kHead || stride == 0) return std::nullopt;
  dst[0] = kVersion;
  StoreLE<uint32_t>(dst + 1, stride);
  RangeEncoder coder(dst + kHead, cap - kHead);
  Model model;
  for (size_t i = 0; i < plane.size() && !coder.overflow(); ++i) {
    const int byte = plane[i];
    model.Byte(i >= stride ? plane[i - stride] : 0, [&](int depth, int p) {
      const int bit = (byte >> (7 - depth)) & 1;
      coder.Encode(bit, (1 << kProbBits) - p);
      return bit;
    });
  }
  const size_t coded = coder.Finish();
  if (coded == 0 || kHead + coded >= cap) return std::nullopt;
  return kHead + coded;
}

Result<void> ContextDecode(std::span<const uint8_t> in, uint8_t* out, size_t size,
                           const char* what) {
  // The coder flushes five bytes, the first of them always 0 (as LZMA's).
  if (in.size() < kHead + 5 || in[0] != kVersion || in[kHead] != 0) {
    return Fail(Errc::kBadData, std::string(what) + ": bad context-model head");
  }
  const uint32_t stride = LoadLE<uint32_t>(in.data() + 1);
  if (stride == 0) return Fail(Errc::kBadData, std::string(what) + ": context-model stride 0");
  // Every bit narrows the interval by at least 1/4096 (probabilities stop at 4095/4096),
  // so n bytes take at least n/2840 coded bytes (8 n bits of log2(4096/4095) each). Fewer
  // than n/4096 cannot be a real encoding, and refusing them bounds the work a short hostile
  // group can ask for.
  if ((in.size() - kHead + 4) * kMaxBytesPerCodedByte < size) {
    return Fail(Errc::kBadData, std::string(what) + ": context-model group of " +
                                    std::to_string(in.size()) + " bytes cannot hold " +
                                    std::to_string(size));
  }
  RangeDecoder coder(in.data() + kHead, in.size() - kHead);
  Model model;
  for (size_t i = 0; i < size; ++i) {
    out[i] = static_cast<uint8_t>(model.Byte(i >= stride ? out[i - stride] : 0, [&](int, int p) {
      return static_cast<int>(coder.Decode((1 << kProbBits) - p));
    }));
  }
  return {};
}

}  // namespace mln::codecs::internal
