// The wrapped key at rest, format v2 (docs/formats.md): the v1 wrap (SPEC §4,
// passphrase only, the same bytes on every member) sealed once more under
// this machine's envoy secret. Taking the seal off needs the envoy secret and
// no passphrase, so what crosses machines -- pairing, an export -- is the v1
// wrap as before; what stays on disk needs both.
//
//   0  8  magic "PUDDLEW2"
//   8  1  protection (1 = envoy secret in a file)
//   9  3  reserved, 0
//  12 32  the envoy's X25519 public key (which machine it is sealed to)
//  44 24  XChaCha20-Poly1305 nonce
//  68 106 ciphertext of the 90-byte v1 wrap, then the tag
// Key: the envoy secret's wrap subkey. Associated data: bytes 0..43 and the
// 32 bytes of the identity's public key.
#pragma once

#include "core/envoy.hpp"
#include "core/wrap.hpp"

namespace puddle {

inline constexpr std::size_t kSealedWrapBytes = 174;
using SealedWrapBytes = std::array<std::uint8_t, kSealedWrapBytes>;

struct SealedWrap {
    Protection protection = Protection::file;
    EnvoyKey envoy;
    SealedWrapBytes raw{};
};

// True when the bytes start with the v2 magic (the caller then parses them
// with parse_sealed_wrap, anything else with parse_wrapped).
bool is_sealed_wrap(std::span<const std::uint8_t> bytes) noexcept;

// Pure parser; throws Error(Failure::bad_passphrase) naming `label` and the defect.
SealedWrap parse_sealed_wrap(std::span<const std::uint8_t> bytes, const std::string &label);

// A fresh nonce every time.
SealedWrapBytes seal_wrap(const WrappedBytes &inner, const PublicKey &pub, const EnvoySecret &envoy);

// The v1 wrap inside. Throws Error(Failure::bad_passphrase) when the seal is
// for another envoy (a state directory copied from another machine) or does
// not open, saying which and the way out.
WrappedKey open_sealed_wrap(const SealedWrap &sealed, const PublicKey &pub, const EnvoySecret &envoy,
                            const std::string &label);

// The error for a sealed wrap on a machine without an envoy secret.
Error no_envoy_secret_error(const SealedWrap &sealed, const std::string &label, const std::string &secret_path);

} // namespace puddle
