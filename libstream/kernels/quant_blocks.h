// GGUF block quantizers (Q8_0, Q4_0, Q4_K, TQ1_0, TQ2_0), their dequantizers, and the
// BitNet b1.58 absmean ternary packer.
//
// Output is bit-identical to ggml's reference quantizers (quantize_row_*_ref in
// ggml/src/ggml-quants.c, which ggml_quantize_chunk calls when no importance matrix is
// given). The scalar versions in namespace ref are line-by-line ports of that code and are
// the specification; the dispatched versions (Highway, one copy per target) must produce
// the same bytes on every target, which the tests check. Both are compiled with
// -ffp-contract=off: ggml's result depends on each multiply and add being rounded on its own.
//
// Inputs need no alignment (frame payloads are 64-byte aligned; slices of them are not).
// `n` is a number of elements and must be a multiple of the type's block (32 or 256).
// Dispatch happens once per call; call with whole chunks (MiBs), never per block.
#pragma once

#include <cstddef>
#include <cstdint>

namespace mln::kernels {

/// ggml type ids handled here (= mln::stream::Dtype values).
enum class QuantType : uint32_t { kQ4_0 = 2, kQ8_0 = 8, kQ4_K = 12, kTQ1_0 = 34, kTQ2_0 = 35 };

/// Elements per block and bytes per block of a quant type.
size_t QuantBlockElems(QuantType t);
size_t QuantBlockBytes(QuantType t);

/// Quantizes `n` floats at `x` into n / QuantBlockElems(t) blocks at `out`, exactly as
/// ggml_quantize_chunk(t, x, out, 0, rows, n_per_row, nullptr) does for any row split.
/// Non-finite inputs give whatever the reference gives (callers reject them first).
void QuantizeBlocks(QuantType t, const float* x, size_t n, uint8_t* out);

/// BitNet b1.58 absmean: every weight becomes q = clamp(round_half_even(x * (1 / gamma)),
/// -1, 1) and is packed into TQ2_0 or TQ1_0 blocks (`t`) whose fp16 scale d is fp16(gamma)
/// for every block, so a dequantizer reads back d * q. `gamma` is the tensor's mean |x|
/// (clamped to at least 1e-5 by the caller) and must be > 0.
void QuantizeTernary(QuantType t, const float* x, size_t n, float gamma, uint8_t* out);

/// Returns `acc` plus the sum of |x| over `n` floats (a multiple of 256): in each group of
/// 256, element i goes (in double) to partial sum i % 8, the partials are added pairwise
/// ((0+1)+(2+3))+((4+5)+(6+7)), and the group sums are added to `acc` in order. Threading
/// `acc` through consecutive calls gives the same total however a tensor was cut into
/// multiples of 256.
double SumAbs(const float* x, size_t n, double acc);

/// The group sums SumAbs adds, one per 256 floats of `x` (`n` a multiple of 256), written to
/// `sums`: groups can be summed in parallel and then added in order, with the same result.
void GroupAbsSums(const float* x, size_t n, double* sums);

/// Expands `n` elements of blocks at `in` to floats, as ggml's dequantize_row_* does.
void DequantizeBlocks(QuantType t, const uint8_t* in, size_t n, float* out);

/// fp16 <-> f32 as ggml converts them (round to nearest even; NaN becomes 0x7E00).
uint16_t F32ToF16(float f);
float F16ToF32(uint16_t h);
/// Row conversions used around the quantizers.
void F16ToF32Row(const uint16_t* in, size_t n, float* out);
void BF16ToF32Row(const uint16_t* in, size_t n, float* out);
void F32ToF16Row(const float* in, size_t n, uint16_t* out);

namespace ref {
/// Scalar specifications (ports of ggml's reference code) that the dispatched versions are
/// tested against on every compiled target.
void QuantizeBlocks(QuantType t, const float* x, size_t n, uint8_t* out);
void QuantizeTernary(QuantType t, const float* x, size_t n, float gamma, uint8_t* out);
void DequantizeBlocks(QuantType t, const uint8_t* in, size_t n, float* out);
void F16ToF32Row(const uint16_t* in, size_t n, float* out);
void BF16ToF32Row(const uint16_t* in, size_t n, float* out);
void F32ToF16Row(const float* in, size_t n, uint16_t* out);
}  // namespace ref

}  // namespace mln::kernels
