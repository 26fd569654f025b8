#include "pair/messages.hpp"

#include "core/wire.hpp"
#include "util/error.hpp"

#include <algorithm>

namespace puddle::pair {

namespace {

bool is_error_code(std::string_view code) {
    if (code.empty() || code.size() > kMaxErrorCodeBytes) return false;
    return std::all_of(code.begin(), code.end(), [](char c) { return (c >= 'a' && c <= 'z') || c == '-'; });
}

// The rules beyond the layout (see the header), shared by decode and encode.
// Returns nullptr when the message is acceptable, else a fixed reason.
const char *rule_violation(const Message &message) {
    struct Check {
        const char *operator()(const Hello &m) const {
            if (m.version != kPairProtocolVersion) return "HELLO: unsupported protocol version";
            if (!purpose_from_byte(static_cast<std::uint8_t>(m.purpose))) return "HELLO: unknown purpose";
            if (m.user.empty() || m.user.size() > kMaxUserBytes || !no_control_bytes(as_bytes(m.user)))
                return "HELLO: user name must be 1..255 bytes without control characters";
            return nullptr;
        }
        const char *operator()(const HelloAck &) const { return nullptr; }
        const char *operator()(const CpaceA &m) const {
            return parse_ada(m.ada) ? nullptr : "CPACE_A: malformed ADa";
        }
        const char *operator()(const CpaceB &m) const {
            return parse_adb(m.adb) ? nullptr : "CPACE_B: malformed ADb";
        }
        const char *operator()(const Confirm &) const { return nullptr; }
        const char *operator()(const PayloadMsg &m) const {
            return m.ciphertext.size() < kAeadTagBytes ? "PAYLOAD: ciphertext shorter than its tag" : nullptr;
        }
        const char *operator()(const AckMsg &m) const {
            return m.ciphertext.size() < kAeadTagBytes ? "ACK: ciphertext shorter than its tag" : nullptr;
        }
        const char *operator()(const ErrorMsg &m) const {
            if (!is_error_code(m.code)) return "ERROR: code must be 1..32 characters of a-z and -";
            if (m.text.size() > kMaxErrorTextBytes || !no_control_bytes(as_bytes(m.text)))
                return "ERROR: text must be at most 1024 bytes without control characters";
            return nullptr;
        }
    };
    return std::visit(Check{}, message);
}

// Reads the fields of `type` from `r`; false when one runs past the body.
bool read_fields(MsgType type, ByteReader &r, Message &out) {
    switch (type) {
    case MsgType::hello: {
        Hello m;
        std::uint8_t purpose = 0;
        if (!r.u8(m.version) || !r.u8(purpose) || !r.bytes(m.nj) || !r.string(m.user)) return false;
        // An unknown purpose byte is kept as is for rule_violation() to refuse.
        m.purpose = static_cast<Purpose>(purpose);
        out = std::move(m);
        return true;
    }
    case MsgType::hello_ack: {
        HelloAck m;
        if (!r.bytes(m.nh)) return false;
        out = m;
        return true;
    }
    case MsgType::cpace_a: {
        CpaceA m;
        if (!r.bytes(m.ya) || !r.string(m.ada)) return false;
        out = std::move(m);
        return true;
    }
    case MsgType::cpace_b: {
        CpaceB m;
        if (!r.bytes(m.yb) || !r.string(m.adb) || !r.bytes(m.tb)) return false;
        out = std::move(m);
        return true;
    }
    case MsgType::confirm: {
        Confirm m;
        if (!r.bytes(m.ta)) return false;
        out = m;
        return true;
    }
    case MsgType::payload: {
        PayloadMsg m;
        if (!r.bytes(m.nonce) || !r.string(m.ciphertext)) return false;
        out = std::move(m);
        return true;
    }
    case MsgType::ack: {
        AckMsg m;
        if (!r.bytes(m.nonce) || !r.string(m.ciphertext)) return false;
        out = std::move(m);
        return true;
    }
    case MsgType::error: {
        ErrorMsg m;
        if (!r.string(m.code) || !r.string(m.text)) return false;
        out = std::move(m);
        return true;
    }
    }
    return false;
}

// What follows the type byte.
Bytes encode_body(const Message &message) {
    struct Write {
        ByteWriter &w;
        void operator()(const Hello &m) const {
            w.u8(m.version).u8(static_cast<std::uint8_t>(m.purpose)).bytes(m.nj).string(as_bytes(m.user));
        }
        void operator()(const HelloAck &m) const { w.bytes(m.nh); }
        void operator()(const CpaceA &m) const { w.bytes(m.ya).string(m.ada); }
        void operator()(const CpaceB &m) const { w.bytes(m.yb).string(m.adb).bytes(m.tb); }
        void operator()(const Confirm &m) const { w.bytes(m.ta); }
        void operator()(const SealedMessage &m) const { w.bytes(m.nonce).string(m.ciphertext); }
        void operator()(const ErrorMsg &m) const { w.string(as_bytes(m.code)).string(as_bytes(m.text)); }
    };
    Bytes body;
    ByteWriter w(body);
    std::visit(Write{w}, message);
    return body;
}

std::string limit_text(MsgType type) {
    return std::string(message_type_name(static_cast<std::uint8_t>(type))) + " over its " +
           (type == MsgType::payload ? "1 MiB" : "4 KiB") + " limit";
}

} // namespace

// --- names ----------------------------------------------------------------------------

std::string_view error_code_name(ErrorCode code) {
    switch (code) {
    case ErrorCode::no_pending: return "no-pending";
    case ErrorCode::expired: return "expired";
    case ErrorCode::busy: return "busy";
    case ErrorCode::bad_message: return "bad-message";
    case ErrorCode::auth_failed: return "auth-failed";
    case ErrorCode::internal: return "internal";
    case ErrorCode::other: break;
    }
    return "other";
}

ErrorCode error_code_from_name(std::string_view name) {
    for (ErrorCode c : {ErrorCode::no_pending, ErrorCode::expired, ErrorCode::busy, ErrorCode::bad_message,
                        ErrorCode::auth_failed, ErrorCode::internal})
        if (error_code_name(c) == name) return c;
    return ErrorCode::other;
}

ErrorMsg make_error(ErrorCode code, std::string text) {
    return ErrorMsg{std::string(error_code_name(code)), std::move(text)};
}

MsgType type_of(const Message &message) {
    static constexpr MsgType types[] = {MsgType::hello,   MsgType::hello_ack, MsgType::cpace_a, MsgType::cpace_b,
                                        MsgType::confirm, MsgType::payload,   MsgType::ack,     MsgType::error};
    static_assert(std::size(types) == std::variant_size_v<Message>);
    return types[message.index()];
}

std::string_view message_type_name(std::uint8_t type) {
    switch (type) {
    case 1: return "HELLO";
    case 2: return "HELLO_ACK";
    case 3: return "CPACE_A";
    case 4: return "CPACE_B";
    case 5: return "CONFIRM";
    case 6: return "PAYLOAD";
    case 7: return "ACK";
    case 15: return "ERROR";
    default: return "unknown";
    }
}

std::optional<MsgType> message_type_from_byte(std::uint8_t type) {
    if ((type >= 1 && type <= 7) || type == 15) return static_cast<MsgType>(type);
    return std::nullopt;
}

std::size_t max_message_bytes(MsgType type) {
    return type == MsgType::payload ? kMaxPayloadMessageBytes : kMaxMessageBytes;
}

// --- reading ----------------------------------------------------------------------------

bool decode_body(std::uint8_t type, std::span<const std::uint8_t> body, Message &out, std::string &error) {
    const auto t = message_type_from_byte(type);
    if (!t) {
        error = "unknown message type";
        return false;
    }
    const std::string name(message_type_name(type));
    ByteReader r(body);
    Message m;
    if (!read_fields(*t, r, m)) {
        error = name + ": truncated field";
        return false;
    }
    if (!r.at_end()) {
        error = name + ": trailing bytes after the last field";
        return false;
    }
    if (const char *why = rule_violation(m)) {
        error = why;
        return false;
    }
    out = std::move(m);
    return true;
}

FrameStatus parse_frame(std::span<const std::uint8_t> buffer, std::size_t &consumed, Message &out,
                        std::string &error) {
    consumed = 0;
    ByteReader r(buffer);
    std::uint32_t length = 0;
    if (!r.u32(length)) return FrameStatus::need_more;
    if (length == 0) {
        error = "empty message (length 0)";
        return FrameStatus::bad;
    }
    if (length > kMaxPayloadMessageBytes) {
        error = "message over the 1 MiB limit";
        return FrameStatus::bad;
    }
    std::uint8_t type_byte = 0;
    if (!r.u8(type_byte)) return FrameStatus::need_more;
    const auto type = message_type_from_byte(type_byte);
    if (!type) {
        error = "unknown message type";
        return FrameStatus::bad;
    }
    if (length > max_message_bytes(*type)) {
        error = limit_text(*type);
        return FrameStatus::bad;
    }
    std::span<const std::uint8_t> body;
    if (!r.bytes(length - 1, body)) return FrameStatus::need_more;
    if (!decode_body(type_byte, body, out, error)) return FrameStatus::bad;
    consumed = r.consumed();
    return FrameStatus::ok;
}

std::size_t frame_size_hint(std::span<const std::uint8_t> buffer) {
    ByteReader r(buffer);
    std::uint32_t length = 0;
    if (!r.u32(length)) return kFrameHeaderBytes;
    return std::max(kFrameHeaderBytes, kFrameLengthBytes + std::size_t(length));
}

// --- writing ----------------------------------------------------------------------------

Bytes encode(const Message &message) {
    const MsgType type = type_of(message);
    const std::string name(message_type_name(static_cast<std::uint8_t>(type)));
    if (const char *why = rule_violation(message)) throw Error(Failure::failed, "cannot encode " + name, why);
    const Bytes body = encode_body(message);
    const std::size_t length = 1 + body.size();
    if (length > max_message_bytes(type)) throw Error(Failure::failed, "cannot encode " + name, limit_text(type));
    Bytes frame;
    frame.reserve(kFrameLengthBytes + length);
    ByteWriter(frame).u32(std::uint32_t(length)).u8(static_cast<std::uint8_t>(type)).bytes(body);
    return frame;
}

// --- transcript -------------------------------------------------------------------------

Transcript::Transcript() { crypto_hash_sha512_init(&state_); }

void Transcript::add(std::span<const std::uint8_t> frame_bytes) {
    crypto_hash_sha512_update(&state_, frame_bytes.data(), frame_bytes.size());
    size_ += frame_bytes.size();
}

TranscriptHash Transcript::hash() const {
    crypto_hash_sha512_state copy = state_;
    TranscriptHash out{};
    crypto_hash_sha512_final(&copy, out.data());
    return out;
}

// --- order ------------------------------------------------------------------------------

std::optional<MsgType> awaited_message(PairState s) {
    switch (s) {
    case PairState::await_hello: return MsgType::hello;
    case PairState::await_hello_ack: return MsgType::hello_ack;
    case PairState::await_cpace_a: return MsgType::cpace_a;
    case PairState::await_cpace_b: return MsgType::cpace_b;
    case PairState::await_confirm: return MsgType::confirm;
    case PairState::await_payload: return MsgType::payload;
    case PairState::await_ack: return MsgType::ack;
    case PairState::done: break;
    }
    return std::nullopt;
}

std::optional<Role> sender_of(MsgType t) {
    switch (t) {
    case MsgType::hello:
    case MsgType::cpace_a:
    case MsgType::confirm:
    case MsgType::ack: return Role::joiner;
    case MsgType::hello_ack:
    case MsgType::cpace_b:
    case MsgType::payload: return Role::holder;
    case MsgType::error: break;
    }
    return std::nullopt;
}

bool may_send(Role sender, PairState s, MsgType t) {
    if (s == PairState::done) return false;
    if (t == MsgType::error) return true;
    return awaited_message(s) == t && sender_of(t) == sender;
}

bool expected_next(Role receiver, PairState s, MsgType t) {
    return may_send(receiver == Role::joiner ? Role::holder : Role::joiner, s, t);
}

PairState advance(PairState s) {
    return s == PairState::done ? s : static_cast<PairState>(static_cast<std::uint8_t>(s) + 1);
}

} // namespace puddle::pair
