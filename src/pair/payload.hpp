// What PAYLOAD and ACK carry (PAIRING.md steps 6 and 8), as pure functions:
// the plaintext codecs and their sealing under k with XChaCha20-Poly1305.
//
// PAYLOAD plaintext: six fields, each a u32 big-endian length + bytes, in order:
//   identity.wrapped   exactly 90 bytes (the file's bytes; parse_wrapped() is the caller's)
//   identity.salt      exactly 16 bytes
//   identity.pub       1..100 bytes (the file's text)
//   members.json       1..512 KiB
//   retired_puddles.json  0..512 KiB (empty when there is none)
//   claims             1..512 KiB (a JSON array; "[]" when H knows none)
// and the whole plaintext at most kMaxPayloadPlaintextBytes, so that the sealed
// PAYLOAD always fits its 1 MiB frame. The JSON fields are carried as text:
// checking them is the caller's job.
//
// ACK plaintext (decision): J's member record as two u32-length fields,
//   host name   1..255 bytes without control bytes
//   time        the Unix time in seconds as decimal ASCII: 1..19 digits, no sign,
//               no leading zero (except "0" itself), at most INT64_MAX
// Chosen over a JSON object so that the decoder stays a bounded binary reader
// like every other one in this protocol.
//
// Sealing: XChaCha20-Poly1305 (IETF) under the 32-byte k, a fresh random
// 24-byte nonce, associated data = the 64-byte transcript hash. Decoders are
// strict (exact layout, nothing after the last field); open fails on any
// changed byte of nonce, ciphertext, AD or key.
#pragma once

#include "core/envoy_cert.hpp"
#include "core/encoding.hpp"
#include "core/secret.hpp"
#include "core/wrap.hpp"
#include "pair/messages.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace puddle::pair {

inline constexpr std::size_t kMaxPubFieldBytes = kMaxPubKeyStringBytes; // 100
inline constexpr std::size_t kMaxJsonFieldBytes = 512 * 1024;
// 1 MiB frame − type byte − nonce − ciphertext length − Poly1305 tag.
inline constexpr std::size_t kMaxPayloadPlaintextBytes =
    kMaxPayloadMessageBytes - 1 - kAeadNonceBytes - 4 - kAeadTagBytes;

struct PairPayload {
    WrappedBytes wrapped{};       // identity.wrapped
    Salt salt{};                  // identity.salt
    std::string pub;              // identity.pub
    std::string members_json;     // members.json
    std::string retired_json;     // retired_puddles.json, may be empty
    std::string claims_json;      // claims H knows, a JSON array
    bool operator==(const PairPayload &) const = default;
};

// The joiner's record in ACK: host and time, and (since envoy keys) an
// optional third field, its envoy certificate: envoy key (32) ‖ machine key
// (32) ‖ at (u64 BE) ‖ signature (64), 136 bytes, or from an older joiner 104
// without the machine key. An older holder refuses the third field (the
// joiner is then joined but not recorded there; docs/pairing.md).
struct MemberRecord {
    std::string host;
    std::int64_t at = 0; // Unix time, seconds
    std::optional<EnvoyCert> envoy = std::nullopt;
    bool operator==(const MemberRecord &) const = default;
};

// Plaintext codecs. encode_* throw Error(Failure::failed) when a field breaks its
// bounds; decode_* return nullopt and set `error` (a fixed text).
Bytes encode_payload_plaintext(const PairPayload &payload);
std::optional<PairPayload> decode_payload_plaintext(std::span<const std::uint8_t> plaintext, std::string &error);
Bytes encode_member_record(const MemberRecord &record);
std::optional<MemberRecord> decode_member_record(std::span<const std::uint8_t> plaintext, std::string &error);

// XChaCha20-Poly1305 with a random nonce. Throws Error if the key is not 32 bytes.
SealedMessage seal(const SecretBuffer &key, std::span<const std::uint8_t> plaintext, const TranscriptHash &ad);
// nullopt when the tag does not verify (or the key is not 32 bytes).
std::optional<Bytes> open(const SecretBuffer &key, const SealedMessage &sealed, const TranscriptHash &ad);

// The messages themselves. `ad` is the transcript hash before PAYLOAD for
// PAYLOAD, and including PAYLOAD for ACK.
PayloadMsg seal_payload(const SecretBuffer &k, const PairPayload &payload, const TranscriptHash &ad);
std::optional<PairPayload> open_payload(const SecretBuffer &k, const PayloadMsg &message, const TranscriptHash &ad,
                                        std::string &error);
AckMsg seal_ack(const SecretBuffer &k, const MemberRecord &record, const TranscriptHash &ad);
std::optional<MemberRecord> open_ack(const SecretBuffer &k, const AckMsg &message, const TranscriptHash &ad,
                                     std::string &error);

} // namespace puddle::pair
