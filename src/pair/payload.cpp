#include "pair/payload.hpp"

#include "core/wire.hpp"
#include "util/error.hpp"

#include <algorithm>
#include <charconv>
#include <sodium.h>

namespace puddle::pair {

namespace {

static_assert(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES == kAeadNonceBytes);
static_assert(crypto_aead_xchacha20poly1305_ietf_ABYTES == kAeadTagBytes);
static_assert(crypto_aead_xchacha20poly1305_ietf_KEYBYTES == kPayloadKeyBytes);

constexpr std::size_t kMaxTimeDigits = 19; // INT64_MAX has 19

std::string text_of(std::span<const std::uint8_t> b) { return {reinterpret_cast<const char *>(b.data()), b.size()}; }

// nullptr when the payload is within its bounds, else a fixed reason.
const char *payload_violation(std::size_t wrapped, std::size_t salt, std::size_t pub, std::size_t members,
                              std::size_t retired, std::size_t claims) {
    if (wrapped != kWrappedBytes) return "identity.wrapped must be 90 bytes";
    if (salt != kSaltBytes) return "identity.salt must be 16 bytes";
    if (pub == 0 || pub > kMaxPubFieldBytes) return "identity.pub must be 1..100 bytes";
    if (members == 0 || members > kMaxJsonFieldBytes) return "members.json must be 1 byte..512 KiB";
    if (retired > kMaxJsonFieldBytes) return "retired_puddles.json must be at most 512 KiB";
    if (claims == 0 || claims > kMaxJsonFieldBytes) return "claims must be 1 byte..512 KiB";
    if (6 * 4 + wrapped + salt + pub + members + retired + claims > kMaxPayloadPlaintextBytes)
        return "payload over its size limit";
    return nullptr;
}

const char *host_violation(std::span<const std::uint8_t> host) {
    if (host.empty() || host.size() > kMaxHostNameBytes || !no_control_bytes(host))
        return "host name must be 1..255 bytes without control characters";
    return nullptr;
}

std::optional<std::int64_t> parse_time(std::span<const std::uint8_t> digits) {
    if (digits.empty() || digits.size() > kMaxTimeDigits) return std::nullopt;
    if (digits.size() > 1 && digits[0] == '0') return std::nullopt;
    if (!std::all_of(digits.begin(), digits.end(), [](std::uint8_t c) { return c >= '0' && c <= '9'; }))
        return std::nullopt;
    std::int64_t v = 0;
    const char *first = reinterpret_cast<const char *>(digits.data());
    const auto [end, ec] = std::from_chars(first, first + digits.size(), v);
    if (ec != std::errc() || end != first + digits.size()) return std::nullopt; // out of range
    return v;
}

} // namespace

// --- plaintexts -------------------------------------------------------------------------

Bytes encode_payload_plaintext(const PairPayload &p) {
    if (const char *why = payload_violation(p.wrapped.size(), p.salt.size(), p.pub.size(), p.members_json.size(),
                                            p.retired_json.size(), p.claims_json.size()))
        throw Error(Failure::failed, "cannot build the pairing payload", why);
    Bytes out;
    out.reserve(6 * 4 + p.wrapped.size() + p.salt.size() + p.pub.size() + p.members_json.size() +
                p.retired_json.size() + p.claims_json.size());
    ByteWriter(out)
        .string(p.wrapped)
        .string(p.salt)
        .string(as_bytes(p.pub))
        .string(as_bytes(p.members_json))
        .string(as_bytes(p.retired_json))
        .string(as_bytes(p.claims_json));
    return out;
}

std::optional<PairPayload> decode_payload_plaintext(std::span<const std::uint8_t> plaintext, std::string &error) {
    ByteReader fields(plaintext);
    std::span<const std::uint8_t> f[6];
    for (auto &field : f) {
        if (!fields.string(field)) {
            error = "payload: truncated field";
            return std::nullopt;
        }
    }
    if (!fields.at_end()) {
        error = "payload: trailing bytes after the last field";
        return std::nullopt;
    }
    if (const char *why = payload_violation(f[0].size(), f[1].size(), f[2].size(), f[3].size(), f[4].size(),
                                            f[5].size())) {
        error = std::string("payload: ") + why;
        return std::nullopt;
    }
    PairPayload p;
    std::copy(f[0].begin(), f[0].end(), p.wrapped.begin());
    std::copy(f[1].begin(), f[1].end(), p.salt.begin());
    p.pub = text_of(f[2]);
    p.members_json = text_of(f[3]);
    p.retired_json = text_of(f[4]);
    p.claims_json = text_of(f[5]);
    return p;
}

Bytes encode_member_record(const MemberRecord &record) {
    if (const char *why = host_violation(as_bytes(record.host)))
        throw Error(Failure::failed, "cannot build the member record", why);
    if (record.at < 0) throw Error(Failure::failed, "cannot build the member record", "negative time");
    const std::string time = std::to_string(record.at);
    Bytes out;
    ByteWriter w(out);
    w.string(as_bytes(record.host)).string(as_bytes(time));
    if (record.envoy) {
        if (record.envoy->at < 0) throw Error(Failure::failed, "cannot build the member record", "negative time");
        Bytes cert;
        // v1: key ‖ at ‖ sig (104 bytes); v2 puts the machine key after the
        // envoy key (136 bytes). The length tells them apart.
        ByteWriter cw(cert);
        cw.bytes(record.envoy->key.bytes);
        if (record.envoy->signer) cw.bytes(record.envoy->signer->bytes);
        cw.u64(std::uint64_t(record.envoy->at)).bytes(record.envoy->sig);
        w.string(cert);
    }
    return out;
}

std::optional<MemberRecord> decode_member_record(std::span<const std::uint8_t> plaintext, std::string &error) {
    ByteReader fields(plaintext);
    std::span<const std::uint8_t> host, time, cert;
    if (!fields.string(host) || !fields.string(time)) {
        error = "member record: truncated field";
        return std::nullopt;
    }
    std::optional<EnvoyCert> envoy;
    if (!fields.at_end()) {
        if (!fields.string(cert)) {
            error = "member record: truncated field";
            return std::nullopt;
        }
        ByteReader c(cert);
        EnvoyCert e;
        std::uint64_t at = 0;
        if (cert.size() == 136) e.signer = PublicKey{};
        if ((cert.size() != 104 && cert.size() != 136) || !c.bytes(e.key.bytes) || (e.signer && !c.bytes(e.signer->bytes)) ||
            !c.u64(at) || !c.bytes(e.sig) || !c.at_end() || at > std::uint64_t(INT64_MAX)) {
            error = "member record: a machine certificate is 136 bytes (sealing key, machine key, time, signature) "
                    "or, from an older puddle, 104 (no machine key)";
            return std::nullopt;
        }
        e.at = std::int64_t(at);
        envoy = e;
    }
    if (!fields.at_end()) {
        error = "member record: trailing bytes after the last field";
        return std::nullopt;
    }
    if (const char *why = host_violation(host)) {
        error = std::string("member record: ") + why;
        return std::nullopt;
    }
    const auto at = parse_time(time);
    if (!at) {
        error = "member record: time must be decimal seconds without sign or leading zeros";
        return std::nullopt;
    }
    return MemberRecord{text_of(host), *at, envoy};
}

// --- sealing ----------------------------------------------------------------------------

SealedMessage seal(const SecretBuffer &key, std::span<const std::uint8_t> plaintext, const TranscriptHash &ad) {
    init_sodium();
    if (key.size() != kPayloadKeyBytes) throw Error(Failure::failed, "cannot seal", "the key must be 32 bytes");
    SealedMessage out;
    randombytes_buf(out.nonce.data(), out.nonce.size());
    out.ciphertext.resize(plaintext.size() + kAeadTagBytes);
    unsigned long long written = 0;
    crypto_aead_xchacha20poly1305_ietf_encrypt(out.ciphertext.data(), &written, plaintext.data(), plaintext.size(),
                                               ad.data(), ad.size(), nullptr, out.nonce.data(), key.data());
    out.ciphertext.resize(written);
    return out;
}

std::optional<Bytes> open(const SecretBuffer &key, const SealedMessage &sealed, const TranscriptHash &ad) {
    init_sodium();
    if (key.size() != kPayloadKeyBytes || sealed.ciphertext.size() < kAeadTagBytes) return std::nullopt;
    Bytes plain(sealed.ciphertext.size() - kAeadTagBytes);
    unsigned long long written = 0;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(plain.data(), &written, nullptr, sealed.ciphertext.data(),
                                                   sealed.ciphertext.size(), ad.data(), ad.size(),
                                                   sealed.nonce.data(), key.data()) != 0)
        return std::nullopt;
    plain.resize(written);
    return plain;
}

PayloadMsg seal_payload(const SecretBuffer &k, const PairPayload &payload, const TranscriptHash &ad) {
    Bytes plain = encode_payload_plaintext(payload);
    PayloadMsg msg{seal(k, plain, ad)};
    sodium_memzero(plain.data(), plain.size());
    return msg;
}

std::optional<PairPayload> open_payload(const SecretBuffer &k, const PayloadMsg &message, const TranscriptHash &ad,
                                        std::string &error) {
    auto plain = open(k, message, ad);
    if (!plain) {
        error = "PAYLOAD does not authenticate under the session key";
        return std::nullopt;
    }
    auto payload = decode_payload_plaintext(*plain, error);
    sodium_memzero(plain->data(), plain->size());
    return payload;
}

AckMsg seal_ack(const SecretBuffer &k, const MemberRecord &record, const TranscriptHash &ad) {
    return AckMsg{seal(k, encode_member_record(record), ad)};
}

std::optional<MemberRecord> open_ack(const SecretBuffer &k, const AckMsg &message, const TranscriptHash &ad,
                                     std::string &error) {
    const auto plain = open(k, message, ad);
    if (!plain) {
        error = "ACK does not authenticate under the session key";
        return std::nullopt;
    }
    return decode_member_record(*plain, error);
}

} // namespace puddle::pair
