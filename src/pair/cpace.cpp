#include "pair/cpace.hpp"

#include "util/error.hpp"

#include <algorithm>
#include <memory>
#include <new>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <sodium.h>

namespace puddle::pair {

namespace {

// A libsodium state struct (hash or HMAC) that sees secrets, held in a
// SecretBuffer so it is wiped with it. The size is a multiple of 16, so the
// sodium_malloc'd address (the end of the region sits on a guard page) is
// 16-byte aligned.
template <class State>
class SecretState {
public:
    SecretState() : buf_((sizeof(State) + 15) / 16 * 16) { new (buf_.data()) State{}; }
    State *get() noexcept { return std::launder(reinterpret_cast<State *>(buf_.data())); }

private:
    SecretBuffer buf_;
};

std::size_t leb128_size(std::size_t n) {
    std::size_t size = 1;
    while (n >= 0x80) {
        n >>= 7;
        ++size;
    }
    return size;
}

// Writes the LEB128 encoding of n into out (at least 10 bytes); returns its size.
std::size_t leb128_encode(std::size_t n, std::uint8_t *out) {
    std::size_t i = 0;
    while (n >= 0x80) {
        out[i++] = static_cast<std::uint8_t>(n & 0x7f) | 0x80;
        n >>= 7;
    }
    out[i++] = static_cast<std::uint8_t>(n);
    return i;
}

class Sha512 {
public:
    Sha512() { crypto_hash_sha512_init(state_.get()); }

    Sha512 &add(std::span<const std::uint8_t> bytes) {
        crypto_hash_sha512_update(state_.get(), bytes.data(), bytes.size());
        return *this;
    }
    Sha512 &add_lv(std::span<const std::uint8_t> bytes) {
        add_length(bytes.size());
        return add(bytes);
    }
    Sha512 &add_length(std::size_t n) {
        std::uint8_t prefix[10];
        return add({prefix, leb128_encode(n, prefix)});
    }
    SecretBuffer finish() {
        SecretBuffer digest(crypto_hash_sha512_BYTES);
        crypto_hash_sha512_final(state_.get(), digest.data());
        return digest;
    }

private:
    SecretState<crypto_hash_sha512_state> state_;
};

[[noreturn]] void fail(const std::string &what, const std::string &why) {
    throw Error(Failure::failed, what, why);
}

std::string openssl_reason() {
    const unsigned long e = ERR_get_error();
    if (e == 0) return "unknown OpenSSL error";
    char text[256];
    ERR_error_string_n(e, text, sizeof text);
    ERR_clear_error();
    return text;
}

struct KdfDeleter {
    void operator()(EVP_KDF *k) const { EVP_KDF_free(k); }
};
struct KdfCtxDeleter {
    void operator()(EVP_KDF_CTX *c) const { EVP_KDF_CTX_free(c); }
};

std::span<const std::uint8_t> byte_of(const std::uint8_t &b) { return {&b, 1}; }

bool text_field_ok(std::span<const std::uint8_t> bytes, std::size_t max) {
    return !bytes.empty() && bytes.size() <= max && no_control_bytes(bytes);
}

void check_text(std::string_view name, std::string_view value, std::size_t max) {
    if (!text_field_ok(as_bytes(value), max))
        fail("pairing", std::string(name) + " must be 1.." + std::to_string(max) +
                            " bytes without control characters");
}

std::string as_string(std::span<const std::uint8_t> bytes) {
    return {reinterpret_cast<const char *>(bytes.data()), bytes.size()};
}

} // namespace

// --- lv ---------------------------------------------------------------------------

void append_lv(Bytes &out, std::span<const std::uint8_t> part) {
    std::uint8_t prefix[10];
    const std::size_t n = leb128_encode(part.size(), prefix);
    out.insert(out.end(), prefix, prefix + n);
    out.insert(out.end(), part.begin(), part.end());
}

Bytes lv(std::span<const std::uint8_t> part) {
    Bytes out;
    out.reserve(leb128_size(part.size()) + part.size());
    append_lv(out, part);
    return out;
}

Bytes lv_cat(std::initializer_list<std::span<const std::uint8_t>> parts) {
    Bytes out;
    for (const auto &part : parts) append_lv(out, part);
    return out;
}

std::optional<std::vector<std::span<const std::uint8_t>>>
split_lv_cat(std::span<const std::uint8_t> bytes, std::size_t count) {
    std::vector<std::span<const std::uint8_t>> parts;
    std::size_t pos = 0;
    while (parts.size() < count) {
        std::size_t length = 0;
        std::size_t shift = 0;
        std::size_t used = 0;
        for (;;) {
            if (pos + used >= bytes.size()) return std::nullopt; // truncated length
            const std::uint8_t b = bytes[pos + used++];
            // Lengths past 2^28 are never valid here; refusing them also keeps the shift in range.
            if (used > 4) return std::nullopt;
            length |= std::size_t(b & 0x7f) << shift;
            shift += 7;
            if ((b & 0x80) == 0) {
                if (used > 1 && b == 0) return std::nullopt; // non-minimal
                break;
            }
        }
        pos += used;
        if (length > bytes.size() - pos) return std::nullopt;
        parts.push_back(bytes.subspan(pos, length));
        pos += length;
    }
    if (pos != bytes.size()) return std::nullopt;
    return parts;
}

// --- primitives -------------------------------------------------------------------

SecretBuffer generator(std::span<const std::uint8_t> prs, std::span<const std::uint8_t> ci,
                       std::span<const std::uint8_t> sid, std::string_view dsi, std::size_t s_in_bytes) {
    init_sodium();
    // len_zpad = max(0, s_in_bytes - len(lv(PRS)) - len(lv(DSI)) - 1)
    const std::size_t used = (leb128_size(prs.size()) + prs.size()) + (leb128_size(dsi.size()) + dsi.size()) + 1;
    const std::size_t zpad = s_in_bytes > used ? s_in_bytes - used : 0;

    Sha512 h;
    h.add_lv(as_bytes(dsi)).add_lv(prs);
    h.add_length(zpad);
    static constexpr std::uint8_t zeros[64] = {};
    for (std::size_t left = zpad; left > 0;) {
        const std::size_t n = std::min(left, sizeof zeros);
        h.add({zeros, n});
        left -= n;
    }
    h.add_lv(ci).add_lv(sid);
    const SecretBuffer digest = h.finish();

    SecretBuffer g(kPointBytes);
    if (crypto_core_ristretto255_from_hash(g.data(), digest.data()) != 0)
        fail("CPace generator", "ristretto255 hash-to-group failed");
    return g;
}

SecretBuffer random_scalar() {
    init_sodium();
    SecretBuffer y(kScalarBytes);
    crypto_core_ristretto255_scalar_random(y.data());
    return y;
}

Point public_share(const SecretBuffer &y, const SecretBuffer &g) {
    if (y.size() != kScalarBytes || g.size() != kPointBytes)
        fail("CPace share", "scalar or generator of the wrong size");
    Point share{};
    if (crypto_scalarmult_ristretto255(share.data(), y.data(), g.data()) != 0)
        fail("CPace share", "scalar multiplication gave the identity");
    return share;
}

std::optional<SecretBuffer> shared_secret(const SecretBuffer &y_own, std::span<const std::uint8_t> peer_share) {
    init_sodium();
    if (y_own.size() != kScalarBytes) fail("CPace", "scalar of the wrong size");
    if (peer_share.size() != kPointBytes) return std::nullopt;
    if (crypto_core_ristretto255_is_valid_point(peer_share.data()) != 1) return std::nullopt;
    SecretBuffer k(kPointBytes);
    // -1 for an invalid point or an identity result; checked again below
    // so the abort does not rest on one library detail.
    if (crypto_scalarmult_ristretto255(k.data(), y_own.data(), peer_share.data()) != 0) return std::nullopt;
    if (sodium_is_zero(k.data(), k.size())) return std::nullopt;
    return k;
}

SecretBuffer derive_isk(std::span<const std::uint8_t> sid, const SecretBuffer &k_shared,
                        std::span<const std::uint8_t> ya, std::span<const std::uint8_t> ada,
                        std::span<const std::uint8_t> yb, std::span<const std::uint8_t> adb,
                        std::string_view dsi) {
    const std::string label = std::string(dsi) + "_ISK";
    Sha512 h;
    h.add_lv(as_bytes(label)).add_lv(sid).add_lv(k_shared.bytes());
    h.add_lv(ya).add_lv(ada);
    h.add_lv(yb).add_lv(adb);
    return h.finish();
}

SecretBuffer derive_mac_key(std::span<const std::uint8_t> sid, const SecretBuffer &isk) {
    Sha512 h;
    h.add(as_bytes("CPaceMac")).add(sid).add(isk.bytes());
    return h.finish();
}

Tag confirmation_tag(const SecretBuffer &mac_key, std::span<const std::uint8_t> y,
                     std::span<const std::uint8_t> ad) {
    SecretState<crypto_auth_hmacsha512_state> state;
    crypto_auth_hmacsha512_init(state.get(), mac_key.data(), mac_key.size());
    const Bytes message = lv_cat({y, ad}); // public: both parts go on the wire
    crypto_auth_hmacsha512_update(state.get(), message.data(), message.size());
    Tag tag{};
    crypto_auth_hmacsha512_final(state.get(), tag.data());
    return tag;
}

bool tags_equal(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) {
    if (a.size() != b.size() || a.empty()) return false;
    return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

SecretBuffer hkdf_sha512(std::span<const std::uint8_t> salt, std::span<const std::uint8_t> ikm,
                         std::span<const std::uint8_t> info, std::size_t length) {
    std::unique_ptr<EVP_KDF, KdfDeleter> kdf(EVP_KDF_fetch(nullptr, "HKDF", nullptr));
    if (!kdf) fail("HKDF-SHA-512", openssl_reason());
    std::unique_ptr<EVP_KDF_CTX, KdfCtxDeleter> ctx(EVP_KDF_CTX_new(kdf.get()));
    if (!ctx) fail("HKDF-SHA-512", openssl_reason());

    // OpenSSL copies the key into its context and clears it when the context is freed.
    static constexpr std::uint8_t empty = 0;
    auto octets = [](std::span<const std::uint8_t> s) {
        return const_cast<std::uint8_t *>(s.empty() ? &empty : s.data());
    };
    char digest[] = "SHA512";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, octets(ikm), ikm.size()),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, octets(salt), salt.size()),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, octets(info), info.size()),
        OSSL_PARAM_construct_end(),
    };
    SecretBuffer out(length);
    if (EVP_KDF_derive(ctx.get(), out.data(), out.size(), params) <= 0)
        fail("HKDF-SHA-512", openssl_reason());
    return out;
}

SecretBuffer derive_payload_key(std::span<const std::uint8_t> sid, const SecretBuffer &isk) {
    return hkdf_sha512(sid, isk.bytes(), as_bytes(kPayloadKeyInfo), kPayloadKeyBytes);
}

// --- a party ----------------------------------------------------------------------

bool CpaceKeys::peer_tag_matches(std::span<const std::uint8_t> tag) const {
    return tags_equal(tag, role == CpaceRole::initiator ? tb : ta);
}

CpaceParty::CpaceParty(CpaceRole role, std::span<const std::uint8_t> prs, std::span<const std::uint8_t> ci,
                       std::span<const std::uint8_t> sid, std::span<const std::uint8_t> own_ad)
    : CpaceParty(role, prs, ci, sid, own_ad, random_scalar()) {}

CpaceParty CpaceParty::with_scalar(CpaceRole role, std::span<const std::uint8_t> prs,
                                   std::span<const std::uint8_t> ci, std::span<const std::uint8_t> sid,
                                   std::span<const std::uint8_t> own_ad, SecretBuffer scalar) {
    return CpaceParty(role, prs, ci, sid, own_ad, std::move(scalar));
}

CpaceParty::CpaceParty(CpaceRole role, std::span<const std::uint8_t> prs, std::span<const std::uint8_t> ci,
                       std::span<const std::uint8_t> sid, std::span<const std::uint8_t> own_ad,
                       SecretBuffer scalar)
    : role_(role), sid_(sid.begin(), sid.end()), own_ad_(own_ad.begin(), own_ad.end()),
      scalar_(std::move(scalar)) {
    if (scalar_.size() != kScalarBytes || sodium_is_zero(scalar_.data(), scalar_.size()))
        fail("CPace", "the scalar must be 32 bytes and nonzero");
    const SecretBuffer g = generator(prs, ci, sid);
    share_ = public_share(scalar_, g);
}

std::optional<CpaceKeys> CpaceParty::finish(std::span<const std::uint8_t> peer_share,
                                            std::span<const std::uint8_t> peer_ad) const {
    auto k_shared = shared_secret(scalar_, peer_share);
    if (!k_shared) return std::nullopt;

    const bool initiator = role_ == CpaceRole::initiator;
    const std::span<const std::uint8_t> ya = initiator ? std::span<const std::uint8_t>(share_) : peer_share;
    const std::span<const std::uint8_t> ada = initiator ? std::span<const std::uint8_t>(own_ad_) : peer_ad;
    const std::span<const std::uint8_t> yb = initiator ? peer_share : std::span<const std::uint8_t>(share_);
    const std::span<const std::uint8_t> adb = initiator ? peer_ad : std::span<const std::uint8_t>(own_ad_);

    CpaceKeys keys;
    keys.role = role_;
    keys.isk = derive_isk(sid_, *k_shared, ya, ada, yb, adb);
    {
        const SecretBuffer mac_key = derive_mac_key(sid_, keys.isk);
        keys.ta = confirmation_tag(mac_key, ya, ada);
        keys.tb = confirmation_tag(mac_key, yb, adb);
    }
    keys.payload_key = derive_payload_key(sid_, keys.isk);
    return keys;
}

// --- puddle's inputs ------------------------------------------------------------------

std::optional<Purpose> purpose_from_byte(std::uint8_t b) {
    switch (b) {
    case static_cast<std::uint8_t>(Purpose::pair): return Purpose::pair;
    case static_cast<std::uint8_t>(Purpose::rekey): return Purpose::rekey;
    default: return std::nullopt;
    }
}

std::optional<SecretBuffer> prs_from_code(std::string_view code) {
    const bool plain = code.size() == kCodeDigits;
    const bool hyphenated = code.size() == kCodeDigits + 1 && code[4] == '-';
    if (!plain && !hyphenated) return std::nullopt;
    SecretBuffer prs(kCodeDigits);
    std::size_t n = 0;
    for (std::size_t i = 0; i < code.size(); ++i) {
        if (hyphenated && i == 4) continue;
        if (code[i] < '0' || code[i] > '9') return std::nullopt;
        prs.data()[n++] = static_cast<std::uint8_t>(code[i]);
    }
    return prs;
}

Bytes make_sid(std::span<const std::uint8_t> nj, std::span<const std::uint8_t> nh) {
    if (nj.size() != kSessionNonceBytes || nh.size() != kSessionNonceBytes)
        fail("pairing", "nJ and nH must be 16 bytes each");
    Bytes sid(nj.begin(), nj.end());
    sid.insert(sid.end(), nh.begin(), nh.end());
    return sid;
}

Bytes make_ci(std::span<const std::uint8_t> cb, std::string_view user) {
    return lv_cat({as_bytes(kPairProtocolLabel), cb, as_bytes("joiner"), as_bytes("holder"), as_bytes(user)});
}

Bytes make_ada(std::uint8_t version, Purpose purpose, std::string_view host) {
    check_text("the host name", host, kMaxHostNameBytes);
    const auto p = static_cast<std::uint8_t>(purpose);
    return lv_cat({byte_of(version), byte_of(p), as_bytes(host)});
}

Bytes make_adb(std::uint8_t version, Purpose purpose, std::string_view host, std::string_view pubkey) {
    check_text("the host name", host, kMaxHostNameBytes);
    check_text("the public key string", pubkey, kMaxPubKeyStringBytes);
    const auto p = static_cast<std::uint8_t>(purpose);
    return lv_cat({byte_of(version), byte_of(p), as_bytes(host), as_bytes(pubkey)});
}

namespace {

// The version and purpose parts shared by ADa and ADb.
bool read_header(const std::vector<std::span<const std::uint8_t>> &parts, std::uint8_t &version,
                 Purpose &purpose) {
    if (parts[0].size() != 1 || parts[1].size() != 1) return false;
    const auto p = purpose_from_byte(parts[1][0]);
    if (!p) return false;
    version = parts[0][0];
    purpose = *p;
    return true;
}

} // namespace

std::optional<JoinerAd> parse_ada(std::span<const std::uint8_t> ada) {
    const auto parts = split_lv_cat(ada, 3);
    if (!parts) return std::nullopt;
    JoinerAd out;
    if (!read_header(*parts, out.version, out.purpose)) return std::nullopt;
    if (!text_field_ok((*parts)[2], kMaxHostNameBytes)) return std::nullopt;
    out.host = as_string((*parts)[2]);
    return out;
}

std::optional<HolderAd> parse_adb(std::span<const std::uint8_t> adb) {
    const auto parts = split_lv_cat(adb, 4);
    if (!parts) return std::nullopt;
    HolderAd out;
    if (!read_header(*parts, out.version, out.purpose)) return std::nullopt;
    if (!text_field_ok((*parts)[2], kMaxHostNameBytes)) return std::nullopt;
    if (!text_field_ok((*parts)[3], kMaxPubKeyStringBytes)) return std::nullopt;
    out.host = as_string((*parts)[2]);
    out.pubkey = as_string((*parts)[3]);
    return out;
}

bool no_control_bytes(std::span<const std::uint8_t> bytes) {
    return std::none_of(bytes.begin(), bytes.end(), [](std::uint8_t c) { return c < 0x20 || c == 0x7f; });
}

} // namespace puddle::pair
