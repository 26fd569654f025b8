// The wrapped-key format v1 (SPEC §4): 90 bytes, Argon2id-derived key,
// XChaCha20-Poly1305 over the Ed25519 seed with header + public key as AD.
#pragma once

#include "core/identity.hpp"
#include "core/secret.hpp"

#include <array>
#include <cstdint>
#include <span>
#include <string>

namespace puddle {

inline constexpr std::size_t kWrappedBytes = 90;
inline constexpr std::size_t kWrapHeaderBytes = 18;
inline constexpr std::size_t kSaltBytes = 16;
inline constexpr std::size_t kWrapNonceBytes = 24;
inline constexpr std::uint8_t kKdfArgon2id13 = 0x01;

// Bounds on what a blob (possibly received from a peer) may ask of the KDF,
// so a hostile blob cannot make us allocate unbounded memory or spin forever.
inline constexpr std::uint32_t kMinOpslimit = 1, kMaxOpslimit = 32;
inline constexpr std::uint32_t kMinMemlimitKib = 8, kMaxMemlimitKib = 1024 * 1024; // 1 GiB

struct KdfParams {
    std::uint32_t opslimit = 3;
    std::uint32_t memlimit_kib = 65536;
    bool operator==(const KdfParams &) const = default;
};

using WrappedBytes = std::array<std::uint8_t, kWrappedBytes>;
using Salt = std::array<std::uint8_t, kSaltBytes>;

struct WrappedKey {
    KdfParams kdf;
    std::array<std::uint8_t, kWrapNonceBytes> nonce{};
    WrappedBytes raw{}; // the whole blob, header included (the header is AD)
};

// Pure parser. `label` names the source in messages (a path, or "the peer's
// identity.wrapped"). Throws Error(Failure::bad_passphrase) — "damaged wrap" —
// for a wrong length, unknown magic or KDF id, nonzero reserved byte or
// out-of-bounds KDF parameters.
WrappedKey parse_wrapped(std::span<const std::uint8_t> bytes, const std::string &label);

// Salt from the 16-byte identity.salt file; same error rules.
Salt parse_salt(std::span<const std::uint8_t> bytes, const std::string &label);
Salt random_salt();

// Throws Error(Failure::failed) if the parameters are outside the bounds above.
void check_kdf_params(const KdfParams &kdf, const std::string &where);
// A wrap that arrives from elsewhere (an envelope, an export bundle, a
// pairing payload) becomes the one every unlock here derives: its cost
// (passes x memory) is bounded to 4 GiB-passes, about 21 times the default
// 3 x 64 MiB, before anything is derived or written, so a planted wrap cannot
// make each unlock take minutes. Throws Error(Failure::failed) naming `label`.
inline constexpr std::uint64_t kMaxReceivedKdfCostKib = 4ull * 1024 * 1024;
void check_received_kdf(const KdfParams &kdf, const std::string &label);

// Argon2id v1.3 (one lane) of the passphrase into a 32-byte key.
SecretBuffer derive_wrapping_key(std::span<const std::uint8_t> passphrase, const Salt &salt,
                                 const KdfParams &kdf);

// A fresh nonce every time.
WrappedBytes wrap_seed(const Keypair &keypair, std::span<const std::uint8_t> passphrase,
                       const Salt &salt, const KdfParams &kdf);

// Where a wrap came from, for the message of a failed unwrap: a wrong
// passphrase and a damaged wrap look the same, so the message names what was
// read (this machine's identity.wrapped, an export bundle, a holder's
// payload) and the way to a good copy of that one.
struct WrapOrigin {
    std::string what;     // "identity.wrapped", "the bundle \"FILE\""
    std::string if_right; // what to do when the passphrase is right
};
// This machine's identity.wrapped (sealed to its envoy secret, so another
// member's file does not fit: the way back is an export and an import).
WrapOrigin local_wrap();

// Throws Error(Failure::bad_passphrase) on a failed tag ("wrong passphrase (or
// damaged <origin>)") or when the seed does not derive `expected`.
Keypair unwrap_seed(const WrappedKey &wrapped, std::span<const std::uint8_t> passphrase,
                    const Salt &salt, const PublicKey &expected, const WrapOrigin &origin = local_wrap());

} // namespace puddle
