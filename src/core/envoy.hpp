// This machine's envoy secret (docs/formats.md, "Envoy secret"): 32 random
// bytes made on the first command that needs them, which never leave the
// machine and never live in the state directory. The identity at rest is
// sealed under a key derived from it (envoy_wrap.hpp), so a copy of the
// state directory elsewhere -- a backup, a synced home, a disk image -- does
// not unlock with the passphrase alone; and the envoy's X25519 key, derived
// from it too, is what other members seal a new generation of the identity
// to (envelope.hpp).
//
// Where: $HOME/.local/state/puddle/envoy.secret (0600, directory 0700).
// $XDG_STATE_HOME is deliberately not read: the agent (started by the user
// manager) and a shell must find the same file, and they share $HOME, not
// necessarily XDG_STATE_HOME.
#pragma once

#include "core/identity.hpp"
#include "core/secret.hpp"
#include "core/statedir.hpp"
#include "core/tpm.hpp"

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace puddle {

inline constexpr const char *kEnvoySecretFile = "envoy.secret";
inline constexpr std::size_t kEnvoySecretBytes = 32;
inline constexpr std::size_t kEnvoyKeyBytes = 32;

// How the envoy secret is kept: the byte in a sealed wrap's header.
enum class Protection : std::uint8_t {
    passphrase_only = 0, // a PUDDLEW1 wrap: not sealed to any envoy (yet)
    file = 1,            // envoy secret in a 0600 file outside the state directory
    tpm2 = 2,            // envoy secret sealed in this machine's TPM 2.0 (tpm.hpp)
};
const char *protection_name(Protection p); // "passphrase", "envoy-file", "envoy-tpm2"

// An envoy's public key: X25519, "x25519:<64 lowercase hex>".
struct EnvoyKey {
    std::array<std::uint8_t, kEnvoyKeyBytes> bytes{};
    std::string str() const;
    bool operator==(const EnvoyKey &) const = default;
};
std::optional<EnvoyKey> parse_envoy_key(std::string_view text, std::string *why = nullptr);

class EnvoySecret {
public:
    // $HOME/.local/state/puddle (HOME, else the passwd entry's home).
    static StateDir location();
    // The secret in `where` (envoy.tpm unsealed by the TPM, else
    // envoy.secret), or nullopt if there is none. Throws for an unsafe or
    // damaged file, or a TPM that does not unseal it (naming it and the fix).
    static std::optional<EnvoySecret> load(const StateDir &where);
    // The same, making one if there is none: sealed in the TPM where
    // tpm_choice() says so and one answers, else a 0600 file.
    static EnvoySecret load_or_create(const StateDir &where);
    // From known bytes (test vectors).
    static EnvoySecret from_bytes(std::span<const std::uint8_t> secret, std::string path = {});

    const EnvoyKey &public_key() const noexcept { return pub_; }
    Protection protection() const noexcept { return protection_; }
    const std::string &path() const noexcept { return path_; }

    // Subkeys (crypto_kdf, BLAKE2b): 1/"puddlew2" seals the identity at
    // rest, 2/"puddlebx" seeds the X25519 key pair envelopes are sealed to,
    // 3/"puddlesg" seeds the machine's Ed25519 signing key (the machine key:
    // it signs the envelopes this machine makes and the receipts of those it
    // takes, so a member can tell which machine made a rotation, which the
    // identity's own signature cannot say: every member holds that key).
    SecretBuffer wrap_key() const;
    SecretBuffer box_secret_key() const;
    Keypair signing_keypair() const;
    const PublicKey &signing_key() const noexcept { return signer_; }

private:
    EnvoySecret() = default;
    SecretBuffer secret_;
    EnvoyKey pub_;
    PublicKey signer_;
    std::string path_;
    Protection protection_ = Protection::file;
};

// Pure parser of envoy.secret: "PUDDLEE1" and the 32 bytes.
SecretBuffer parse_envoy_secret_file(std::span<const std::uint8_t> bytes, const std::string &label);

} // namespace puddle
