#include "agent/ssh_protocol.hpp"

#include "util/text.hpp"

#include "core/wire.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <sodium.h>

namespace puddle::agent::ssh {

namespace {

Bytes to_bytes(std::span<const std::uint8_t> s) { return Bytes(s.begin(), s.end()); }

bool equals(std::span<const std::uint8_t> s, std::string_view text) {
    return s.size() == text.size() && std::memcmp(s.data(), text.data(), s.size()) == 0;
}

// string type, string payload(n), nothing after: the layout shared by Ed25519
// key blobs and signature blobs.
std::optional<std::span<const std::uint8_t>> ed25519_payload(std::span<const std::uint8_t> blob, std::size_t n) {
    ByteReader r(blob);
    std::span<const std::uint8_t> type, payload;
    if (!r.string(type) || !equals(type, kEd25519KeyType)) return std::nullopt;
    if (!r.string(payload) || payload.size() != n || !r.at_end()) return std::nullopt;
    return payload;
}

Bytes ed25519_blob(std::span<const std::uint8_t> payload) {
    Bytes out;
    out.reserve(4 + kEd25519KeyType.size() + 4 + payload.size());
    ByteWriter(out).string(as_bytes(kEd25519KeyType)).string(payload);
    return out;
}

Request parse_sign_request(ByteReader &r) {
    std::span<const std::uint8_t> key_blob, data;
    std::uint32_t flags;
    if (!r.string(key_blob)) return Malformed{"sign request: truncated key blob"};
    if (!r.string(data)) return Malformed{"sign request: truncated data"};
    if (!r.u32(flags)) return Malformed{"sign request: truncated flags"};
    if (!r.at_end()) return Malformed{"sign request: trailing bytes after flags"};
    return SignRequest{to_bytes(key_blob), to_bytes(data), flags};
}

Request parse_extension(ByteReader &r) {
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
    ByteReader r(buffer);
    if (!r.u32(result.declared_length)) return result;
    if (result.declared_length > kMaxMessageBytes) {
        result.status = FrameResult::Status::too_large;
        return result;
    }
    if (!r.bytes(result.declared_length, result.body)) return result;
    result.status = FrameResult::Status::frame;
    result.consumed = r.consumed();
    return result;
}

Bytes frame(std::span<const std::uint8_t> body) {
    Bytes out;
    out.reserve(kLengthPrefixBytes + body.size());
    ByteWriter(out).string(body);
    return out;
}

// --- requests -----------------------------------------------------------------

Request parse_request(std::span<const std::uint8_t> body) {
    ByteReader r(body);
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
    case msg::extension_response: return "SSH_AGENT_EXTENSION_RESPONSE";
    case 30: return "SSH2_AGENT_FAILURE";
    case 102: return "SSH_COM_AGENT2_FAILURE";
    default: return nullptr;
    }
}

std::variant<SessionBind, Malformed> parse_session_bind(std::span<const std::uint8_t> contents) {
    ByteReader r(contents);
    std::span<const std::uint8_t> hostkey, session_id, signature;
    std::uint8_t forwarding;
    if (!r.string(hostkey)) return Malformed{"session-bind: truncated host key"};
    if (!r.string(session_id)) return Malformed{"session-bind: truncated session ID"};
    if (!r.string(signature)) return Malformed{"session-bind: truncated signature"};
    if (!r.u8(forwarding)) return Malformed{"session-bind: missing is-forwarding flag"};
    if (!r.at_end()) return Malformed{"session-bind: trailing bytes"};
    return SessionBind{to_bytes(hostkey), to_bytes(session_id), to_bytes(signature), forwarding != 0};
}

ExtensionStep dispatch_extension(const Extension &request) {
    if (request.name == kSessionBindExtension) {
        auto bind = parse_session_bind(request.contents);
        if (auto *b = std::get_if<SessionBind>(&bind)) return std::move(*b);
        return ExtensionReply{framed_extension_failure()};
    }
    if (request.name == kQueryExtension) {
        if (!request.contents.empty()) return ExtensionReply{framed_extension_failure()};
        return ExtensionReply{framed_query_response()};
    }
    return ExtensionReply{framed_failure()}; // not supported: the generic failure (RFC 9987)
}

// --- what a signature is for ---------------------------------------------------

namespace {

constexpr std::uint8_t kUserauthRequest = 50; // SSH_MSG_USERAUTH_REQUEST
constexpr std::string_view kSshSigMagic = "SSHSIG";

// One line of printable ASCII (util/text one_line_label): a control byte is
// not the only way to break a line — U+0085, U+2028 and bidi overrides are
// UTF-8 — and these names are shown in the consent question.
std::string printable_name(std::span<const std::uint8_t> raw) {
    return one_line_label(std::string_view(reinterpret_cast<const char *>(raw.data()), raw.size()), kMaxNameBytes);
}

bool string_of(ByteReader &r, std::string &out) {
    std::span<const std::uint8_t> raw;
    if (!r.string(raw)) return false;
    out = printable_name(raw);
    return true;
}

std::optional<SshSigUse> as_sshsig(std::span<const std::uint8_t> data) {
    ByteReader r(data);
    if (!r.expect(std::span(reinterpret_cast<const std::uint8_t *>(kSshSigMagic.data()), kSshSigMagic.size())))
        return std::nullopt;
    SshSigUse use;
    std::span<const std::uint8_t> reserved, hash;
    if (!string_of(r, use.sig_namespace) || !r.string(reserved) || !string_of(r, use.hash_algorithm) ||
        !r.string(hash) || !r.at_end())
        return std::nullopt;
    return use;
}

std::optional<LoginUse> as_login(std::span<const std::uint8_t> data) {
    ByteReader r(data);
    LoginUse use;
    std::uint8_t type = 0, has_signature = 0;
    std::span<const std::uint8_t> method, algorithm, key;
    if (!r.string(use.session_id) || !r.u8(type) || type != kUserauthRequest || !string_of(r, use.user) ||
        !string_of(r, use.service) || !r.string(method) || !r.u8(has_signature) || has_signature == 0 ||
        !r.string(algorithm) || !r.string(key))
        return std::nullopt;
    if (equals(method, "publickey-hostbound-v00@openssh.com")) {
        Bytes hostkey;
        if (!r.string(hostkey)) return std::nullopt;
        use.hostkey_blob = std::move(hostkey);
    } else if (!equals(method, "publickey")) {
        return std::nullopt;
    }
    if (!r.at_end()) return std::nullopt;
    return use;
}

} // namespace

SignPurpose classify_sign_data(std::span<const std::uint8_t> data) {
    if (auto sig = as_sshsig(data)) return std::move(*sig);
    if (auto login = as_login(data)) return std::move(*login);
    return OtherUse{};
}

std::string key_fingerprint(std::span<const std::uint8_t> key_blob) {
    std::array<std::uint8_t, crypto_hash_sha256_BYTES> digest{};
    crypto_hash_sha256(digest.data(), key_blob.data(), key_blob.size());
    std::string b64 = to_base64(digest);
    while (!b64.empty() && b64.back() == '=') b64.pop_back();
    return "SHA256:" + b64;
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
    ByteWriter(body).u8(msg::identities_answer).u32(1).string(ed25519_key_blob(key)).string(as_bytes(safe));
    return frame(body);
}

Bytes framed_identities_answer_empty() {
    Bytes body;
    ByteWriter(body).u8(msg::identities_answer).u32(0);
    return frame(body);
}

Bytes framed_sign_response(const Signature &signature) {
    Bytes body;
    ByteWriter(body).u8(msg::sign_response).string(ed25519_signature_blob(signature));
    return frame(body);
}

Bytes framed_failure() { return framed_message(msg::failure); }

Bytes framed_success() { return framed_message(msg::success); }

Bytes framed_extension_failure() { return framed_message(msg::extension_failure); }

Bytes framed_query_response() {
    Bytes body;
    ByteWriter w(body);
    w.u8(msg::extension_response).string(as_bytes(kQueryExtension));
    for (std::string_view name : kSupportedExtensions) w.string(as_bytes(name));
    return frame(body);
}

} // namespace puddle::agent::ssh
