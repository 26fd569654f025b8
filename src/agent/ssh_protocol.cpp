#include "agent/ssh_protocol.hpp"

#include <algorithm>
#include <cstring>

namespace puddle::agent::ssh {

namespace {

std::uint32_t load_u32(const std::uint8_t *p) {
    return std::uint32_t(p[0]) << 24 | std::uint32_t(p[1]) << 16 | std::uint32_t(p[2]) << 8 | std::uint32_t(p[3]);
}

void put_u32(Bytes &out, std::uint32_t v) {
    out.push_back(std::uint8_t(v >> 24));
    out.push_back(std::uint8_t(v >> 16));
    out.push_back(std::uint8_t(v >> 8));
    out.push_back(std::uint8_t(v));
}

void put_string(Bytes &out, std::span<const std::uint8_t> s) {
    put_u32(out, std::uint32_t(s.size()));
    out.insert(out.end(), s.begin(), s.end());
}

// A bounded cursor over one message: every read checks the length first and
// fails (without moving) when the bytes are not there, like sshbuf_get_*.
class Reader {
public:
    explicit Reader(std::span<const std::uint8_t> in) : in_(in) {}

    bool u8(std::uint8_t &v) {
        if (remaining() < 1) return false;
        v = in_[pos_++];
        return true;
    }
    bool u32(std::uint32_t &v) {
        if (remaining() < 4) return false;
        v = load_u32(in_.data() + pos_);
        pos_ += 4;
        return true;
    }
    bool string(std::span<const std::uint8_t> &v) {
        std::uint32_t len;
        if (remaining() < 4) return false;
        len = load_u32(in_.data() + pos_);
        if (len > remaining() - 4) return false;
        v = in_.subspan(pos_ + 4, len);
        pos_ += 4 + std::size_t(len);
        return true;
    }
    std::span<const std::uint8_t> rest() {
        auto r = in_.subspan(pos_);
        pos_ = in_.size();
        return r;
    }
    bool at_end() const { return pos_ == in_.size(); }

private:
    std::size_t remaining() const { return in_.size() - pos_; }
    std::span<const std::uint8_t> in_;
    std::size_t pos_ = 0;
};

Bytes to_bytes(std::span<const std::uint8_t> s) { return Bytes(s.begin(), s.end()); }

bool equals(std::span<const std::uint8_t> s, std::string_view text) {
    return s.size() == text.size() && std::memcmp(s.data(), text.data(), s.size()) == 0;
}

// string type, string payload(n), nothing after: the layout shared by Ed25519
// key blobs and signature blobs.
std::optional<std::span<const std::uint8_t>> ed25519_payload(std::span<const std::uint8_t> blob, std::size_t n) {
    Reader r(blob);
    std::span<const std::uint8_t> type, payload;
    if (!r.string(type) || !equals(type, kEd25519KeyType)) return std::nullopt;
    if (!r.string(payload) || payload.size() != n || !r.at_end()) return std::nullopt;
    return payload;
}

Bytes ed25519_blob(std::span<const std::uint8_t> payload) {
    Bytes out;
    out.reserve(4 + kEd25519KeyType.size() + 4 + payload.size());
    put_string(out, as_bytes(kEd25519KeyType));
    put_string(out, payload);
    return out;
}

Request parse_sign_request(Reader &r) {
    std::span<const std::uint8_t> key_blob, data;
    std::uint32_t flags;
    if (!r.string(key_blob)) return Malformed{"sign request: truncated key blob"};
    if (!r.string(data)) return Malformed{"sign request: truncated data"};
    if (!r.u32(flags)) return Malformed{"sign request: truncated flags"};
    if (!r.at_end()) return Malformed{"sign request: trailing bytes after flags"};
    return SignRequest{to_bytes(key_blob), to_bytes(data), flags};
}

Request parse_extension(Reader &r) {
    std::span<const std::uint8_t> name;
    if (!r.string(name)) return Malformed{"extension: truncated name"};
    if (std::find(name.begin(), name.end(), std::uint8_t{0}) != name.end())
        return Malformed{"extension: NUL byte in name"};
    return Extension{std::string(name.begin(), name.end()), to_bytes(r.rest())};
}

Bytes framed_message(std::uint8_t type) {
    const std::uint8_t body[] = {type};
    return frame(body);
}

} // namespace

// --- framing ------------------------------------------------------------------

FrameResult parse_frame(std::span<const std::uint8_t> buffer) {
    FrameResult result; // need_more until shown otherwise
    if (buffer.size() < kLengthPrefixBytes) return result;
    result.declared_length = load_u32(buffer.data());
    if (result.declared_length > kMaxMessageBytes) {
        result.status = FrameResult::Status::too_large;
        return result;
    }
    const std::size_t total = kLengthPrefixBytes + std::size_t(result.declared_length);
    if (buffer.size() < total) return result;
    result.status = FrameResult::Status::frame;
    result.consumed = total;
    result.body = buffer.subspan(kLengthPrefixBytes, result.declared_length);
    return result;
}

Bytes frame(std::span<const std::uint8_t> body) {
    Bytes out;
    out.reserve(kLengthPrefixBytes + body.size());
    put_string(out, body);
    return out;
}

// --- requests -----------------------------------------------------------------

Request parse_request(std::span<const std::uint8_t> body) {
    Reader r(body);
    std::uint8_t type;
    if (!r.u8(type)) return Malformed{"empty message"};
    switch (type) {
    case msg::request_identities:
        if (!r.at_end()) return Malformed{"request identities: trailing bytes"};
        return RequestIdentities{};
    case msg::sign_request:
        return parse_sign_request(r);
    case msg::extension:
        return parse_extension(r);
    default:
        return Unsupported{type};
    }
}

const char *message_type_name(std::uint8_t type) {
    switch (type) {
    case 1: return "SSH_AGENTC_REQUEST_RSA_IDENTITIES";
    case 2: return "SSH_AGENT_RSA_IDENTITIES_ANSWER";
    case 3: return "SSH_AGENTC_RSA_CHALLENGE";
    case 4: return "SSH_AGENT_RSA_RESPONSE";
    case msg::failure: return "SSH_AGENT_FAILURE";
    case msg::success: return "SSH_AGENT_SUCCESS";
    case 7: return "SSH_AGENTC_ADD_RSA_IDENTITY";
    case 8: return "SSH_AGENTC_REMOVE_RSA_IDENTITY";
    case msg::remove_all_rsa_identities: return "SSH_AGENTC_REMOVE_ALL_RSA_IDENTITIES";
    case msg::request_identities: return "SSH2_AGENTC_REQUEST_IDENTITIES";
    case msg::identities_answer: return "SSH2_AGENT_IDENTITIES_ANSWER";
    case msg::sign_request: return "SSH2_AGENTC_SIGN_REQUEST";
    case msg::sign_response: return "SSH2_AGENT_SIGN_RESPONSE";
    case msg::add_identity: return "SSH2_AGENTC_ADD_IDENTITY";
    case msg::remove_identity: return "SSH2_AGENTC_REMOVE_IDENTITY";
    case msg::remove_all_identities: return "SSH2_AGENTC_REMOVE_ALL_IDENTITIES";
    case msg::add_smartcard_key: return "SSH_AGENTC_ADD_SMARTCARD_KEY";
    case msg::remove_smartcard_key: return "SSH_AGENTC_REMOVE_SMARTCARD_KEY";
    case msg::lock: return "SSH_AGENTC_LOCK";
    case msg::unlock: return "SSH_AGENTC_UNLOCK";
    case 24: return "SSH_AGENTC_ADD_RSA_ID_CONSTRAINED";
    case msg::add_id_constrained: return "SSH2_AGENTC_ADD_ID_CONSTRAINED";
    case msg::add_smartcard_key_constrained: return "SSH_AGENTC_ADD_SMARTCARD_KEY_CONSTRAINED";
    case msg::extension: return "SSH_AGENTC_EXTENSION";
    case msg::extension_failure: return "SSH_AGENT_EXTENSION_FAILURE";
    case 30: return "SSH2_AGENT_FAILURE";
    case 102: return "SSH_COM_AGENT2_FAILURE";
    default: return nullptr;
    }
}

std::variant<SessionBind, Malformed> parse_session_bind(std::span<const std::uint8_t> contents) {
    Reader r(contents);
    std::span<const std::uint8_t> hostkey, session_id, signature;
    std::uint8_t forwarding;
    if (!r.string(hostkey)) return Malformed{"session-bind: truncated host key"};
    if (!r.string(session_id)) return Malformed{"session-bind: truncated session ID"};
    if (!r.string(signature)) return Malformed{"session-bind: truncated signature"};
    if (!r.u8(forwarding)) return Malformed{"session-bind: missing is-forwarding flag"};
    if (!r.at_end()) return Malformed{"session-bind: trailing bytes"};
    return SessionBind{to_bytes(hostkey), to_bytes(session_id), to_bytes(signature), forwarding != 0};
}

// --- keys and signatures ------------------------------------------------------

Bytes ed25519_key_blob(const PublicKey &key) { return ed25519_blob(key.bytes); }

Bytes ed25519_signature_blob(const Signature &signature) { return ed25519_blob(signature); }

std::optional<PublicKey> parse_ed25519_key_blob(std::span<const std::uint8_t> blob) {
    auto payload = ed25519_payload(blob, kPublicKeyBytes);
    if (!payload) return std::nullopt;
    PublicKey key;
    std::copy(payload->begin(), payload->end(), key.bytes.begin());
    return key;
}

std::optional<Signature> parse_ed25519_signature_blob(std::span<const std::uint8_t> blob) {
    auto payload = ed25519_payload(blob, kSignatureBytes);
    if (!payload) return std::nullopt;
    Signature signature;
    std::copy(payload->begin(), payload->end(), signature.begin());
    return signature;
}

bool key_blob_matches(std::span<const std::uint8_t> blob, const PublicKey &key) {
    const Bytes expected = ed25519_key_blob(key);
    return blob.size() == expected.size() && std::equal(blob.begin(), blob.end(), expected.begin());
}

std::string safe_comment(std::string_view comment) {
    std::size_t cut = std::min(comment.size(), kMaxCommentBytes);
    // Back off over continuation bytes so a multi-byte sequence is not split.
    if (cut < comment.size())
        while (cut > 0 && (static_cast<unsigned char>(comment[cut]) & 0xc0) == 0x80) --cut;
    std::string out(comment.substr(0, cut));
    for (char &c : out)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
    return out;
}

std::string openssh_public_key_line(const PublicKey &key, std::string_view comment) {
    std::string line(kEd25519KeyType);
    line += ' ';
    line += to_base64(ed25519_key_blob(key));
    const std::string safe = safe_comment(comment);
    if (!safe.empty()) {
        line += ' ';
        line += safe;
    }
    return line;
}

// --- replies ------------------------------------------------------------------

Bytes framed_identities_answer(const PublicKey &key, std::string_view comment) {
    const std::string safe = safe_comment(comment);
    Bytes body;
    body.push_back(msg::identities_answer);
    put_u32(body, 1);
    put_string(body, ed25519_key_blob(key));
    put_string(body, as_bytes(safe));
    return frame(body);
}

Bytes framed_identities_answer_empty() {
    Bytes body;
    body.push_back(msg::identities_answer);
    put_u32(body, 0);
    return frame(body);
}

Bytes framed_sign_response(const Signature &signature) {
    Bytes body;
    body.push_back(msg::sign_response);
    put_string(body, ed25519_signature_blob(signature));
    return frame(body);
}

Bytes framed_failure() { return framed_message(msg::failure); }

Bytes framed_success() { return framed_message(msg::success); }

} // namespace puddle::agent::ssh
