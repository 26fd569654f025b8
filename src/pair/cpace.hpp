// CPace (draft-irtf-cfrg-cpace) over ristretto255 with SHA-512, as PAIRING.md
// uses it, in pure functions: libsodium for the group, the hash and HMAC,
// OpenSSL 3 for HKDF-SHA-512 (libsodium 1.0.18 has none).
//
//   g   = ristretto255_from_hash(SHA-512(lv_cat(DSI, PRS, zpad, CI, sid)))
//   Ya  = ya·g (initiator = joiner),  Yb = yb·g (responder = holder)
//   K   = y_own·Y_peer, abort when Y_peer is not a canonical encoding or K is the identity
//   ISK = SHA-512(lv_cat(DSI‖"_ISK", sid, K) ‖ lv_cat(Ya, ADa) ‖ lv_cat(Yb, ADb))
//   mac_key = SHA-512("CPaceMac" ‖ sid ‖ ISK)
//   Ta  = HMAC-SHA-512(mac_key, lv_cat(Ya, ADa)),  Tb = HMAC-SHA-512(mac_key, lv_cat(Yb, ADb))
//   k   = HKDF-SHA-512(salt = sid, ikm = ISK, info = "puddle-pair/1 payload", 32 bytes)
//
// Secrets (PRS, g, the scalars, K, ISK, mac_key, k and the hash/HMAC states
// that see them) live only in SecretBuffer. The shares Y and the tags T are
// sent on the wire and are plain arrays.
//
// Checked against tests/vectors/cpace-ristretto255.json (g, Ya, Yb, K, ISK_IR
// and both must-abort points).
#pragma once

#include "core/encoding.hpp"
#include "core/secret.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace puddle::pair {

inline constexpr std::string_view kCpaceDsi = "CPaceRistretto255";
inline constexpr std::size_t kCpaceSInBytes = 128;   // SHA-512's block size
inline constexpr std::size_t kPointBytes = 32;       // a ristretto255 encoding
inline constexpr std::size_t kScalarBytes = 32;
inline constexpr std::size_t kIskBytes = 64;
inline constexpr std::size_t kTagBytes = 64;          // Ta, Tb (HMAC-SHA-512)
inline constexpr std::size_t kPayloadKeyBytes = 32;   // k
inline constexpr std::size_t kSessionNonceBytes = 16; // nJ, nH
inline constexpr std::size_t kSidBytes = 2 * kSessionNonceBytes;
inline constexpr std::size_t kCodeDigits = 8;

using Point = std::array<std::uint8_t, kPointBytes>;
using Tag = std::array<std::uint8_t, kTagBytes>;
using SessionNonce = std::array<std::uint8_t, kSessionNonceBytes>;

// --- lv / lv_cat (LEB128 length, then the bytes) --------------------------------

void append_lv(Bytes &out, std::span<const std::uint8_t> part);
Bytes lv(std::span<const std::uint8_t> part);
Bytes lv_cat(std::initializer_list<std::span<const std::uint8_t>> parts);

// Strict reader of an lv_cat: splits `bytes` into exactly `count` parts (views
// into `bytes`); nullopt on a truncated or non-minimal LEB128 length, a length
// past the end, or bytes left over.
std::optional<std::vector<std::span<const std::uint8_t>>>
split_lv_cat(std::span<const std::uint8_t> bytes, std::size_t count);

// --- the primitives ---------------------------------------------------------------

// g from the draft's generator string; throws Error if libsodium refuses.
SecretBuffer generator(std::span<const std::uint8_t> prs, std::span<const std::uint8_t> ci,
                       std::span<const std::uint8_t> sid, std::string_view dsi = kCpaceDsi,
                       std::size_t s_in_bytes = kCpaceSInBytes);

// A fresh uniformly random nonzero scalar (crypto_core_ristretto255_scalar_random).
SecretBuffer random_scalar();

// Y = y·g; throws Error if it fails (a zero scalar or a broken g).
Point public_share(const SecretBuffer &y, const SecretBuffer &g);

// K = y_own·Y_peer. nullopt — abort the exchange — when Y_peer is not a
// canonical ristretto255 encoding, or when K is the identity.
std::optional<SecretBuffer> shared_secret(const SecretBuffer &y_own, std::span<const std::uint8_t> peer_share);

// ISK in initiator–responder order: the same on both sides.
SecretBuffer derive_isk(std::span<const std::uint8_t> sid, const SecretBuffer &k_shared,
                        std::span<const std::uint8_t> ya, std::span<const std::uint8_t> ada,
                        std::span<const std::uint8_t> yb, std::span<const std::uint8_t> adb,
                        std::string_view dsi = kCpaceDsi);

SecretBuffer derive_mac_key(std::span<const std::uint8_t> sid, const SecretBuffer &isk);

// HMAC-SHA-512(mac_key, lv_cat(y, ad)).
Tag confirmation_tag(const SecretBuffer &mac_key, std::span<const std::uint8_t> y,
                     std::span<const std::uint8_t> ad);

// Constant time; false when the sizes differ.
bool tags_equal(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b);

// k; throws Error if OpenSSL's HKDF fails.
SecretBuffer derive_payload_key(std::span<const std::uint8_t> sid, const SecretBuffer &isk);

// HKDF-SHA-512 (RFC 5869) through OpenSSL's EVP_KDF "HKDF".
SecretBuffer hkdf_sha512(std::span<const std::uint8_t> salt, std::span<const std::uint8_t> ikm,
                         std::span<const std::uint8_t> info, std::size_t length);

// --- one side of the exchange -------------------------------------------------------

enum class CpaceRole : std::uint8_t { initiator, responder };

// What a completed exchange yields. Move-only (it holds SecretBuffers).
struct CpaceKeys {
    CpaceRole role = CpaceRole::initiator;
    SecretBuffer isk;         // 64 bytes
    SecretBuffer payload_key; // k, 32 bytes
    Tag ta{};                 // HMAC over (Ya, ADa): the joiner sends it in CONFIRM
    Tag tb{};                 // HMAC over (Yb, ADb): the holder sends it in CPACE_B

    // The tag this side sends: Ta for the initiator, Tb for the responder.
    const Tag &own_tag() const noexcept { return role == CpaceRole::initiator ? ta : tb; }
    // Checks the peer's tag (Tb for the initiator, Ta for the responder) in constant time.
    bool peer_tag_matches(std::span<const std::uint8_t> tag) const;
};

class CpaceParty {
public:
    // Computes g, draws a fresh scalar y and Y = y·g. `own_ad` is ADa for the
    // initiator and ADb for the responder. Throws Error on a libsodium failure.
    CpaceParty(CpaceRole role, std::span<const std::uint8_t> prs, std::span<const std::uint8_t> ci,
               std::span<const std::uint8_t> sid, std::span<const std::uint8_t> own_ad);

    // Tests only: the same with a fixed scalar (32 bytes, canonical, nonzero).
    static CpaceParty with_scalar(CpaceRole role, std::span<const std::uint8_t> prs,
                                  std::span<const std::uint8_t> ci, std::span<const std::uint8_t> sid,
                                  std::span<const std::uint8_t> own_ad, SecretBuffer scalar);

    CpaceRole role() const noexcept { return role_; }
    const Point &share() const noexcept { return share_; } // Ya or Yb, to send
    const Bytes &own_ad() const noexcept { return own_ad_; }

    // K, ISK, both tags and k from the peer's share and AD. nullopt when the
    // draft says abort (invalid or identity point): stop the exchange.
    std::optional<CpaceKeys> finish(std::span<const std::uint8_t> peer_share,
                                    std::span<const std::uint8_t> peer_ad) const;

private:
    CpaceParty(CpaceRole role, std::span<const std::uint8_t> prs, std::span<const std::uint8_t> ci,
               std::span<const std::uint8_t> sid, std::span<const std::uint8_t> own_ad,
               SecretBuffer scalar);

    CpaceRole role_;
    Bytes sid_;
    Bytes own_ad_;
    SecretBuffer scalar_;
    Point share_{};
};

// --- puddle's inputs (PAIRING.md "CPace") ---------------------------------------------

inline constexpr std::uint8_t kPairProtocolVersion = 1;
inline constexpr std::string_view kPairProtocolLabel = "puddle-pair/1";
inline constexpr std::string_view kPayloadKeyInfo = "puddle-pair/1 payload";
inline constexpr std::size_t kMaxHostNameBytes = 255;
inline constexpr std::size_t kMaxPubKeyStringBytes = 100;

enum class Purpose : std::uint8_t { pair = 1, rekey = 2 };
// nullopt for any other byte.
std::optional<Purpose> purpose_from_byte(std::uint8_t b);

// PRS from the code the user typed: 8 ASCII digits, or 4 digits '-' 4 digits
// (the hyphen is dropped). nullopt for anything else.
std::optional<SecretBuffer> prs_from_code(std::string_view code);

// sid = nJ ‖ nH
Bytes make_sid(std::span<const std::uint8_t> nj, std::span<const std::uint8_t> nh);
// CI = lv_cat("puddle-pair/1", cb, "joiner", "holder", user)
Bytes make_ci(std::span<const std::uint8_t> cb, std::string_view user);
// ADa = lv_cat(version, purpose, J's host name)
Bytes make_ada(std::uint8_t version, Purpose purpose, std::string_view host);
// ADb = lv_cat(version, purpose, H's host name, H's public key string)
Bytes make_adb(std::uint8_t version, Purpose purpose, std::string_view host, std::string_view pubkey);

// The fields of ADa / ADb as received. Strict: exactly the make_ada / make_adb
// layout, version and purpose one byte each (the purpose a known one), host
// 1..255 bytes and the key string 1..100 bytes, neither with control bytes
// (< 0x20 or 0x7f). The version is returned as is: the caller compares it.
struct JoinerAd {
    std::uint8_t version = 0;
    Purpose purpose = Purpose::pair;
    std::string host;
};
struct HolderAd {
    std::uint8_t version = 0;
    Purpose purpose = Purpose::pair;
    std::string host;
    std::string pubkey;
};
std::optional<JoinerAd> parse_ada(std::span<const std::uint8_t> ada);
std::optional<HolderAd> parse_adb(std::span<const std::uint8_t> adb);

// True when every byte is printable (no byte < 0x20, no 0x7f); bytes ≥ 0x80 pass.
bool no_control_bytes(std::span<const std::uint8_t> bytes);

} // namespace puddle::pair
