#include "libstream/kernels/q8_delta.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>

#include "libstream/base/range_coder.h"
#include "libstream/kernels/quant_blocks.h"

// Compiled with -ffp-contract=off (libstream/CMakeLists.txt): the contexts come from float
// arithmetic that the encoder and the applier must round identically on every machine.

namespace mln::kernels {
namespace {

constexpr uint8_t kFormat = 1;       // first payload byte: the layout below
constexpr unsigned kProbBits = kRangeProbBits;  // probabilities of a 0 bit, in 1/4096
constexpr uint16_t kProbHalf = 1u << (kProbBits - 1);
constexpr unsigned kAdaptShift = 5;  // each bit moves its probability 1/32 of the way

// Moves the probability of a 0 bit 1/32 of the way towards the bit just coded.
void Adapt(uint16_t& p, unsigned bit) {
  if (bit == 0) {
    p = static_cast<uint16_t>(p + (((1u << kProbBits) - p) >> kAdaptShift));
  } else {
    p = static_cast<uint16_t>(p - (p >> kAdaptShift));
  }
}

// The range coder (base/range_coder.h) with probabilities that adapt after every bit. One
// model drives both directions through Code(p, bit).
class AdaptiveEncoder {
 public:
  AdaptiveEncoder(uint8_t* out, size_t cap) : coder_(out, cap) {}
  unsigned Code(uint16_t& p, unsigned bit) {
    coder_.Encode(bit, p);
    Adapt(p, bit);
    return bit;
  }
  /// Bytes written, or 0 when they did not fit.
  size_t Finish() { return coder_.Finish(); }

 private:
  RangeEncoder coder_;
};

class AdaptiveDecoder {
 public:
  AdaptiveDecoder(const uint8_t* in, size_t n) : coder_(in, n) {}
  /// The next bit; the argument is ignored (it is the encoder's bit).
  unsigned Code(uint16_t& p, unsigned /*bit*/) {
    unsigned bit = coder_.Decode(p);
    Adapt(p, bit);
    return bit;
  }

 private:
  RangeDecoder coder_;
};

// Contexts of the change of one q: the shift its block's new scale predicts, in eighths
// of a step, clamped to +-3 steps, times a class of |q_old| (0, 1-3, 4-15, 16-63, 64-126,
// and 127-128, the block's largest value, which defines d and so tends to stay at 127).
constexpr int kShiftSteps = 24;
constexpr int kShiftBuckets = 2 * kShiftSteps + 1;
constexpr int kMagnitudeClasses = 6;
constexpr int kQContexts = kShiftBuckets * kMagnitudeClasses;

int MagnitudeClass(int q) {
  int a = q < 0 ? -q : q;
  if (a == 0) return 0;
  if (a < 4) return 1;
  if (a < 16) return 2;
  if (a < 64) return 3;
  if (a < 127) return 4;
  return 5;
}

// d_old / d_new - 1, or 0 when either scale is zero, subnormal-free arithmetic fails
// (inf, nan) or the ratio is not finite.
float ScaleShift(uint16_t d_old, uint16_t d_new) {
  float a = F16ToF32(d_old);
  float b = F16ToF32(d_new);
  if (!std::isfinite(a) || !std::isfinite(b) || a == 0.0f || b == 0.0f) return 0.0f;
  float r = a / b;
  if (!std::isfinite(r)) return 0.0f;
  return r - 1.0f;
}

int QContext(int q_old, float shift) {
  float s = static_cast<float>(q_old) * shift * 8.0f;
  s = std::clamp(s, -static_cast<float>(kShiftSteps), static_cast<float>(kShiftSteps));
  int bucket = static_cast<int>(std::floor(s + 0.5f)) + kShiftSteps;
  return bucket * kMagnitudeClasses + MagnitudeClass(q_old);
}

// Every adaptive probability of the model, each starting at one half.
template <size_t N>
struct Probs {
  Probs() { p.fill(kProbHalf); }
  uint16_t& operator[](size_t i) { return p[i]; }
  uint16_t* data() { return p.data(); }
  std::array<uint16_t, N> p;
};

struct Model {
  Probs<kQContexts> q_changed, q_down, q_past1, q_past2;
  Probs<256> q_raw;          // bit tree of a new q far from the old one
  Probs<2> d_changed, d_down;
  Probs<32> d_length;        // bit tree of the bit length (1-16) of |d_new - d_old|
  Probs<17 * 16> d_bits;     // the bits below the leading one, by length and position
  Probs<256> tail;           // bit tree of a byte-wise difference after the last block
};

// `value`'s low `bits` bits through a bit tree of adaptive probabilities, high bit first;
// returns the value coded (the decoded one when C decodes).
template <class C>
unsigned CodeTree(C& c, uint16_t* tree, unsigned bits, unsigned value) {
  unsigned node = 1;
  for (unsigned i = bits; i-- > 0;) node = (node << 1) | c.Code(tree[node], (value >> i) & 1u);
  return node - (1u << bits);
}

// The change of a block's scale bits, d_new - d_old as integers (f16 bits of a positive
// scale order like its values): zero or not, by whether the previous block's changed; then
// direction, bit length and the bits below the leading one.
template <class C>
int CodeScaleDelta(C& c, Model& m, int delta, unsigned& prev_changed) {
  unsigned changed = c.Code(m.d_changed[prev_changed], delta != 0 ? 1u : 0u);
  prev_changed = changed;
  if (!changed) return 0;
  unsigned down = c.Code(m.d_down[0], delta < 0 ? 1u : 0u);
  unsigned mag = static_cast<unsigned>(delta < 0 ? -delta : delta);
  unsigned length = 0;
  for (unsigned v = mag; v != 0; v >>= 1) ++length;
  length = CodeTree(c, m.d_length.data(), 5, length);
  if (length == 0 || length > 16) length = 16;  // only a damaged payload decodes these
  unsigned value = 1;
  for (unsigned i = length - 1; i-- > 0;) {
    value = (value << 1) | c.Code(m.d_bits[length * 16 + i], (mag >> i) & 1u);
  }
  return down ? -static_cast<int>(value) : static_cast<int>(value);
}

// The new q of one value given the old one.
template <class C>
int CodeQ(C& c, Model& m, int ctx, int q_old, int q_new) {
  int delta = q_new - q_old;
  if (!c.Code(m.q_changed[ctx], delta != 0 ? 1u : 0u)) return q_old;
  unsigned down = c.Code(m.q_down[ctx], delta < 0 ? 1u : 0u);
  int step = down ? -1 : 1;
  int size = delta < 0 ? -delta : delta;
  if (!c.Code(m.q_past1[ctx], size > 1 ? 1u : 0u)) return q_old + step;
  if (!c.Code(m.q_past2[ctx], size > 2 ? 1u : 0u)) return q_old + 2 * step;
  auto raw = static_cast<uint8_t>(static_cast<int8_t>(q_new));
  return static_cast<int8_t>(static_cast<uint8_t>(CodeTree(c, m.q_raw.data(), 8, raw)));
}

uint16_t LoadU16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
void StoreU16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v);
  p[1] = static_cast<uint8_t>(v >> 8);
}

// One pass over the blocks, shared by both directions: with the encoder `target` is read,
// with the decoder it is written.
template <class C>
void Run(C& c, const uint8_t* base, uint8_t* target, size_t n, bool encoding) {
  Model m;
  unsigned prev_changed = 0;
  size_t blocks = n / kQ8BlockBytes;
  for (size_t b = 0; b < blocks; ++b) {
    const uint8_t* old_block = base + b * kQ8BlockBytes;
    uint8_t* new_block = target + b * kQ8BlockBytes;
    uint16_t d_old = LoadU16(old_block);
    int delta = encoding ? LoadU16(new_block) - d_old : 0;
    delta = CodeScaleDelta(c, m, delta, prev_changed);
    auto d_new = static_cast<uint16_t>(d_old + delta);
    if (!encoding) StoreU16(new_block, d_new);
    float shift = ScaleShift(d_old, d_new);
    for (size_t i = 2; i < kQ8BlockBytes; ++i) {
      int q_old = static_cast<int8_t>(old_block[i]);
      int q_new = encoding ? static_cast<int8_t>(new_block[i]) : 0;
      q_new = CodeQ(c, m, QContext(q_old, shift), q_old, q_new);
      if (!encoding) new_block[i] = static_cast<uint8_t>(q_new);
    }
  }
  for (size_t i = blocks * kQ8BlockBytes; i < n; ++i) {
    auto diff = static_cast<uint8_t>(encoding ? target[i] - base[i] : 0);
    diff = static_cast<uint8_t>(CodeTree(c, m.tail.data(), 8, diff));
    if (!encoding) target[i] = static_cast<uint8_t>(base[i] + diff);
  }
}

}  // namespace

size_t EncodeQ8Delta(const uint8_t* base, const uint8_t* target, size_t n, uint8_t* out,
                     size_t cap) {
  if (cap < 2) return 0;
  out[0] = kFormat;
  AdaptiveEncoder enc(out + 1, cap - 1);
  // Run only reads `target` when encoding.
  Run(enc, base, const_cast<uint8_t*>(target), n, true);
  size_t size = enc.Finish();
  return size == 0 ? 0 : size + 1;
}

bool DecodeQ8Delta(const uint8_t* base, const uint8_t* payload, size_t payload_size, size_t n,
                   uint8_t* target) {
  if (payload_size < 1 || payload[0] != kFormat) return false;
  AdaptiveDecoder dec(payload + 1, payload_size - 1);
  Run(dec, base, target, n, false);
  return true;
}

}  // namespace mln::kernels
