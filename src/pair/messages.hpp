// The pairing protocol's messages (PAIRING.md "Framing") as pure functions:
// bytes in, one message or a refusal out; messages out as ready-to-write
// frames. No sockets here, so the fuzz target and unit tests call these
// directly.
//
// Frame: u32 length (big-endian; counts the type byte and the body) · u8 type · body.
//
// Field layout decision. PAIRING.md gives sizes for some fields and not for
// others; a field with a size in the table is sent raw (no length prefix), every
// other string or byte field is a u32 big-endian length + bytes:
//
//   HELLO      1   u8 version (= 1) · u8 purpose (1 pair, 2 rekey) · nJ[16] · u32+user
//   HELLO_ACK  2   nH[16]
//   CPACE_A    3   Ya[32] · u32+ADa
//   CPACE_B    4   Yb[32] · u32+ADb · Tb[64]
//   CONFIRM    5   Ta[64]
//   PAYLOAD    6   nonce[24] · u32+ciphertext
//   ACK        7   nonce[24] · u32+ciphertext
//   ERROR      15  u32+code · u32+text
//
// Decoding is strict and canonical: a body must hold exactly its fields, so
// encode(decode(frame)) gives back the frame byte for byte. Beyond the layout:
//  * HELLO: version must be 1 and purpose 1 or 2; user is 1..255 bytes without
//    control bytes (< 0x20, 0x7f).
//  * CPACE_A / CPACE_B: ADa / ADb must parse as parse_ada / parse_adb do.
//  * PAYLOAD / ACK: the ciphertext holds at least the 16-byte Poly1305 tag.
//  * ERROR: code is 1..32 bytes of [a-z-] (codes we do not know are kept, so a
//    newer peer's reason is still shown); text is 0..1024 bytes without control
//    bytes (it is shown to a person).
// encode() applies the same rules and throws Error rather than send a message
// the peer would refuse.
//
// Limits: the length field may be at most 4096 (kMaxMessageBytes) for every
// type but PAYLOAD, whose limit is 1 MiB (kMaxPayloadMessageBytes). The limit
// is checked as soon as the 5-byte header is buffered, before any body byte.
#pragma once

#include "core/encoding.hpp"
#include "pair/cpace.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <sodium.h>
#include <span>
#include <string>
#include <string_view>
#include <variant>

namespace puddle::pair {

inline constexpr std::size_t kFrameLengthBytes = 4;
inline constexpr std::size_t kFrameHeaderBytes = kFrameLengthBytes + 1; // length + type
inline constexpr std::size_t kMaxMessageBytes = 4 * 1024;               // length field, non-PAYLOAD
inline constexpr std::size_t kMaxPayloadMessageBytes = 1024 * 1024;     // length field, PAYLOAD
inline constexpr std::size_t kAeadNonceBytes = 24;                      // XChaCha20-Poly1305
inline constexpr std::size_t kAeadTagBytes = 16;
inline constexpr std::size_t kMaxUserBytes = 255;
inline constexpr std::size_t kMaxErrorCodeBytes = 32;
inline constexpr std::size_t kMaxErrorTextBytes = 1024;

enum class MsgType : std::uint8_t {
    hello = 1,
    hello_ack = 2,
    cpace_a = 3,
    cpace_b = 4,
    confirm = 5,
    payload = 6,
    ack = 7,
    error = 15,
};

using AeadNonce = std::array<std::uint8_t, kAeadNonceBytes>;

struct Hello {
    std::uint8_t version = kPairProtocolVersion;
    Purpose purpose = Purpose::pair;
    SessionNonce nj{};
    std::string user;
    bool operator==(const Hello &) const = default;
};
struct HelloAck {
    SessionNonce nh{};
    bool operator==(const HelloAck &) const = default;
};
struct CpaceA {
    Point ya{};
    Bytes ada; // make_ada(...) bytes, verbatim: they enter ISK and Ta
    bool operator==(const CpaceA &) const = default;
};
struct CpaceB {
    Point yb{};
    Bytes adb; // make_adb(...) bytes, verbatim
    Tag tb{};
    bool operator==(const CpaceB &) const = default;
};
struct Confirm {
    Tag ta{};
    bool operator==(const Confirm &) const = default;
};
struct SealedMessage {
    AeadNonce nonce{};
    Bytes ciphertext; // includes the 16-byte tag
    bool operator==(const SealedMessage &) const = default;
};
struct PayloadMsg : SealedMessage {};
struct AckMsg : SealedMessage {};

// ERROR codes of PAIRING.md; `other` is a well-formed code we do not know.
enum class ErrorCode { no_pending, expired, busy, bad_message, auth_failed, internal, other };
std::string_view error_code_name(ErrorCode code); // "no-pending", …; "other" for other
ErrorCode error_code_from_name(std::string_view name);

struct ErrorMsg {
    std::string code; // as sent; see known()
    std::string text;
    ErrorCode known() const { return error_code_from_name(code); }
    bool operator==(const ErrorMsg &) const = default;
};
ErrorMsg make_error(ErrorCode code, std::string text);

using Message = std::variant<Hello, HelloAck, CpaceA, CpaceB, Confirm, PayloadMsg, AckMsg, ErrorMsg>;

MsgType type_of(const Message &message);
// "HELLO", "CPACE_B", …, for logs; "unknown" for any other byte.
std::string_view message_type_name(std::uint8_t type);
// Known type byte → MsgType.
std::optional<MsgType> message_type_from_byte(std::uint8_t type);
// The largest length field accepted for a type.
std::size_t max_message_bytes(MsgType type);

// --- reading ------------------------------------------------------------------------

enum class FrameStatus { need_more, ok, bad };

// Looks at the front of `buffer` (the bytes read so far). ok: `out` holds the
// first message and `consumed` = its frame size (4 + length); drop that many
// bytes (and add them to the Transcript). need_more: read more, `consumed` = 0.
// bad: `error` says why (a fixed text, never an echo of the peer's bytes),
// `consumed` = 0; reply ERROR bad-message and close. Bad frames: a zero length,
// an unknown type, a length over the type's limit (decided from the 5-byte
// header alone), a field running past the body, bytes left after the last
// field, or a field breaking the rules above.
FrameStatus parse_frame(std::span<const std::uint8_t> buffer, std::size_t &consumed, Message &out,
                        std::string &error);

// How many bytes the frame at the front of `buffer` needs in all: 5 until the
// header is there, then 4 + length. For reading with read_exact(); meaningful
// only while parse_frame() says need_more.
std::size_t frame_size_hint(std::span<const std::uint8_t> buffer);

// Decodes one body (what follows the type byte) as `type`. false with `error` set
// on any refusal, including an unknown type.
bool decode_body(std::uint8_t type, std::span<const std::uint8_t> body, Message &out, std::string &error);

// --- writing ------------------------------------------------------------------------

// The whole frame. Throws Error(Failure::failed) when a field breaks the rules
// above or the frame would exceed its limit.
Bytes encode(const Message &message);

// --- transcript ---------------------------------------------------------------------

using TranscriptHash = std::array<std::uint8_t, 64>;

// Every frame sent and received, in order, whole (length, type and body):
// PAIRING.md step 6's associated data is SHA-512 of it. Kept as a running hash.
class Transcript {
public:
    Transcript();
    void add(std::span<const std::uint8_t> frame_bytes);
    // SHA-512 of everything added so far; more may be added afterwards.
    TranscriptHash hash() const;
    std::size_t size() const noexcept { return size_; }

private:
    crypto_hash_sha512_state state_{};
    std::size_t size_ = 0;
};

// --- order --------------------------------------------------------------------------

// Which side a process plays: the joiner (J, TLS client, CPace initiator) or the
// holder (H, TLS server, CPace responder).
enum class Role : std::uint8_t { joiner, holder };

// Position in the fixed sequence HELLO, HELLO_ACK, CPACE_A, CPACE_B, CONFIRM,
// PAYLOAD, ACK: the next message expected, or done after ACK.
enum class PairState : std::uint8_t {
    await_hello,
    await_hello_ack,
    await_cpace_a,
    await_cpace_b,
    await_confirm,
    await_payload,
    await_ack,
    done,
};

// The message awaited in `s` (nullopt for done) and who sends it.
std::optional<MsgType> awaited_message(PairState s);
std::optional<Role> sender_of(MsgType t); // nullopt for ERROR: either side sends it

// True when `receiver` may take `t` from its peer in state `s`: `t` is the
// awaited message and the peer is its sender, or `t` is ERROR and `s` is not
// done (an ERROR ends the exchange). Anything else: ERROR bad-message, close.
bool expected_next(Role receiver, PairState s, MsgType t);
// True when `sender` may send `t` in state `s` (the same rule from the other side).
bool may_send(Role sender, PairState s, MsgType t);
// The state after the awaited message of `s` went either way; done stays done.
PairState advance(PairState s);

} // namespace puddle::pair
