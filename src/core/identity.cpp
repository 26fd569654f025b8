#include "core/identity.hpp"

#include <sodium.h>
#include <stdexcept>

namespace puddle {

std::string PublicKey::str() const { return std::string(kKeyPrefix) + to_hex(bytes); }

std::string PublicKey::short_hex() const { return to_hex(bytes).substr(0, 16); }

std::optional<PublicKey> parse_public_key(std::string_view text, std::string *why) {
    auto fail = [&](std::string reason) -> std::optional<PublicKey> {
        if (why) *why = std::move(reason);
        return std::nullopt;
    };
    if (!text.starts_with(kKeyPrefix)) return fail("a public key starts with \"ed25519:\"");
    auto hex = text.substr(kKeyPrefix.size());
    if (hex.size() != kPublicKeyBytes * 2)
        return fail("expected 64 hex digits after \"ed25519:\", found " + std::to_string(hex.size()) +
                    " characters");
    for (char c : hex)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return fail("the key must be lowercase hex digits (0-9, a-f)");
    auto raw = from_hex(hex);
    if (!raw) return fail("the key is not valid hex");
    PublicKey key;
    std::copy(raw->begin(), raw->end(), key.bytes.begin());
    return key;
}

Keypair Keypair::generate() {
    init_sodium();
    SecretBuffer seed(kSeedBytes);
    randombytes_buf(seed.data(), seed.size());
    return from_seed(seed.bytes());
}

Keypair Keypair::from_seed(std::span<const std::uint8_t> seed) {
    init_sodium();
    if (seed.size() != kSeedBytes) throw std::invalid_argument("Ed25519 seed must be 32 bytes");
    Keypair kp;
    kp.seed_ = SecretBuffer(kSeedBytes);
    std::copy(seed.begin(), seed.end(), kp.seed_.data());
    kp.secret_ = SecretBuffer(crypto_sign_SECRETKEYBYTES);
    crypto_sign_seed_keypair(kp.pub_.bytes.data(), kp.secret_.data(), kp.seed_.data());
    return kp;
}

Signature Keypair::sign(std::span<const std::uint8_t> message) const {
    Signature sig{};
    crypto_sign_detached(sig.data(), nullptr, message.data(), message.size(), secret_.data());
    return sig;
}

Signature sign_with_secret_key(std::span<const std::uint8_t> secret_key, std::span<const std::uint8_t> message) {
    if (secret_key.size() != crypto_sign_SECRETKEYBYTES) throw std::invalid_argument("Ed25519 secret key must be 64 bytes");
    Signature sig{};
    crypto_sign_detached(sig.data(), nullptr, message.data(), message.size(), secret_key.data());
    return sig;
}

bool verify_signature(const PublicKey &key, std::span<const std::uint8_t> message,
                      std::span<const std::uint8_t> signature) {
    init_sodium();
    if (signature.size() != kSignatureBytes) return false;
    return crypto_sign_verify_detached(signature.data(), message.data(), message.size(),
                                       key.bytes.data()) == 0;
}

} // namespace puddle
