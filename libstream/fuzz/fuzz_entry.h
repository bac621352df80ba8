// Fuzz entry points, owned by the library (Arrow's FuzzIpcStream idea): each takes one
// input of arbitrary bytes, drives one reader of hostile data to its end (every frame read,
// every payload decoded, every check run) and returns 0. None of them may crash, hang, leak
// or allocate more than a bounded amount whatever the bytes; an invariant that does not hold
// (a model that parses but does not write back byte for byte, a manifest that does not
// survive its own canonical form) aborts, so the fuzzer reports it.
//
// tests/fuzz/<target>_fuzzer.cc hands LLVMFuzzerTestOneInput to one of these; without
// libFuzzer the same files link tests/fuzz/regression_driver.cc, which replays a corpus.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace mln::fuzz {

/// The stream frame reader (stream::Reader) to the trailer, then DecodeFrame on each frame.
/// Frame-header XXH3 checksums are recomputed first (FixFrameHeaderChecksums), so mutations
/// reach the FlatBuffers verifier and header decoder instead of stopping at the checksum.
int FuzzStreamReader(const uint8_t* data, size_t size);
/// mln-verify's check (verify::CheckStream, one thread), then EvaluateTrust against a fixed
/// test key when the stream checks out. Header checksums are fixed up as above.
int FuzzVerifyStream(const uint8_t* data, size_t size);

/// Format parsers: the whole model through the format's parser, every frame verified, and a
/// model that parses completely must write back identical (stream invariant 2).
int FuzzGgufParse(const uint8_t* data, size_t size);
int FuzzTfliteParse(const uint8_t* data, size_t size);
int FuzzOnnxParse(const uint8_t* data, size_t size);
/// safetensors header (DecodeSafetensorsHeader and the parser) and the sharded index JSON.
int FuzzSafetensorsParse(const uint8_t* data, size_t size);
/// tar/zip (any compression libarchive reads): ListArchive, then ParseArchive to the end.
int FuzzContainer(const uint8_t* data, size_t size);

/// Payload decoders (codecs::DecodeFrame). Input: u32 LE decoded size (bounded to 4 MiB
/// here; DecodePayload's own 256 MiB limit is a unit test's job), u32 LE dtype, then the
/// stored payload. A payload that decodes is re-encoded with the same codec and must decode
/// to the same bytes.
int FuzzZstdDecode(const uint8_t* data, size_t size);
int FuzzBytePlaneDecode(const uint8_t* data, size_t size);

/// Signed-manifest side of mln-verify: the first byte picks ParseManifest (a manifest that
/// parses must round-trip through ManifestBytes), PublicKey::FromPem, PrivateKey::FromPem
/// (then sign and verify), or VersionState::Parse; the rest is the text.
int FuzzManifest(const uint8_t* data, size_t size);

/// mln-apply's work (delta::ApplyPatch, one thread, ops bounded to 1 MiB): the input is a
/// patch stream applied to a fixed base held in memory (PatchFuzzBase), the new model
/// written to memory. Each input is applied twice: as given, with frame-header checksums and
/// the trailer digest fixed (FixFrameHeaderChecksums), which reaches the framing and
/// patch.begin checks; then rebuilt frame by frame with every payload checksum, every op's
/// base checksum and every keep run's piece hashes recomputed against the base, so mutated
/// op fields and payloads reach the op code (sparse, zstd prefix, float delta) instead of
/// stopping at a checksum. A patch that applies must have made exactly the size and
/// SHA-256 its patch.end promises.
int FuzzPatchApply(const uint8_t* data, size_t size);
/// The base model of FuzzPatchApply: a GGUF v3 of seven small tensors (F32, F64, I8, I32)
/// and a long metadata string, built in code. tests/fuzz/make_seeds.sh writes the same bytes
/// with Python to diff its seeds from; both check their bytes against one SHA-256.
std::vector<uint8_t> PatchFuzzBase();

/// Rewrites the u64 header checksum in every frame prefix of a stream in `bytes` that can be
/// walked (magic, lengths within the input), so that a fuzzer's mutation of a FlatBuffers
/// header is not rejected by the checksum alone (libarchive's DONT_FAIL_ON_CRC_ERROR idea,
/// without a build flag in the reader). Stops at the first prefix that does not parse.
void FixFrameHeaderChecksums(std::vector<uint8_t>& bytes);

}  // namespace mln::fuzz
