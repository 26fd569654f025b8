// Ed25519 identities: the public key and its `ed25519:<hex>` form, the
// keypair derived from a 32-byte seed, signing and verification.
#pragma once

#include "core/encoding.hpp"
#include "core/secret.hpp"

#include <array>
#include <optional>
#include <string>
#include <string_view>

namespace puddle {

inline constexpr std::size_t kSeedBytes = 32;
inline constexpr std::size_t kPublicKeyBytes = 32;
inline constexpr std::size_t kSignatureBytes = 64;
inline constexpr std::string_view kKeyPrefix = "ed25519:";

using Signature = std::array<std::uint8_t, kSignatureBytes>;

struct PublicKey {
    std::array<std::uint8_t, kPublicKeyBytes> bytes{};

    std::string str() const;   // ed25519:<64 lowercase hex>
    std::string short_hex() const; // first 16 hex digits, for display
    bool operator==(const PublicKey &) const = default;
};

// Strict parser: exactly "ed25519:" + 64 lowercase hex digits, nothing else.
// Returns nullopt and sets *why (if given) to a precise reason on failure.
std::optional<PublicKey> parse_public_key(std::string_view text, std::string *why = nullptr);

// A keypair lives in locked memory: the seed and libsodium's 64-byte secret key.
class Keypair {
public:
    static Keypair generate();
    static Keypair from_seed(std::span<const std::uint8_t> seed);

    const PublicKey &public_key() const noexcept { return pub_; }
    const SecretBuffer &seed() const noexcept { return seed_; }
    // libsodium's 64-byte form (seed || public key), for the agent's keyring record.
    const SecretBuffer &secret_key() const noexcept { return secret_; }
    Signature sign(std::span<const std::uint8_t> message) const;

private:
    Keypair() = default;
    SecretBuffer seed_;
    SecretBuffer secret_; // libsodium's seed||pk form
    PublicKey pub_;
};

// Signs with libsodium's 64-byte secret key (seed || public key).
Signature sign_with_secret_key(std::span<const std::uint8_t> secret_key, std::span<const std::uint8_t> message);

bool verify_signature(const PublicKey &key, std::span<const std::uint8_t> message,
                      std::span<const std::uint8_t> signature);

} // namespace puddle
