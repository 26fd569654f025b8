// The envelope (docs/formats.md, "Envelope"): a new generation of the
// identity, made by `puddle evict` on one member, for each kept member's
// envoy key alone. Any transport carries it -- a file, a pipe over ssh, a
// synced directory -- because only the envoys it names can open it: the
// evicted one, with the passphrase and every file of every state directory,
// cannot.
//
// Per recipient: a fresh 32-byte key k, sealed to the recipient's envoy key
// (crypto_box_seal: X25519 + XSalsa20-Poly1305), and the new v1 wrap
// encrypted under k with XChaCha20-Poly1305, the associated data binding
// identity (old and new key), generation, salt and recipient.
// The eviction statement (who was left out) is signed by the old key; the
// rotation record in `retired` by both keys, as for every rotation.
#pragma once

#include "core/envoy.hpp"
#include "core/files/rotation_log.hpp"
#include "core/identity.hpp"
#include "core/wrap.hpp"

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace puddle {

inline constexpr std::size_t kMaxEnvelopeBytes = 4 << 20;
inline constexpr std::size_t kMaxEnvelopeRecipients = 4096;
inline constexpr std::size_t kSealedKeyBytes = 32 + 48; // crypto_box_SEALBYTES + the key
inline constexpr std::size_t kEnvelopeWrapBytes = kWrappedBytes + 16;

struct EnvelopeRecipient {
    std::string host;
    EnvoyKey envoy;
    std::array<std::uint8_t, kSealedKeyBytes> sealed_key{};
    std::array<std::uint8_t, 24> nonce{};
    std::array<std::uint8_t, kEnvelopeWrapBytes> wrapped{};
    bool operator==(const EnvelopeRecipient &) const = default;
};

struct EvictedEnvoy {
    std::string host;
    std::optional<EnvoyKey> envoy; // unknown for a member never certified
    bool operator==(const EvictedEnvoy &) const = default;
};

struct Envelope {
    PublicKey old_key, new_key;
    std::int64_t at = 0;
    std::uint64_t generation = 0; // records in the rotation log up to and including this one
    Salt salt{};
    RotationLog retired;          // the evicting member's log, ending with old -> new
    std::vector<EvictedEnvoy> evicted;
    Signature sig_evict{};        // old key, over eviction_statement()
    std::vector<EnvelopeRecipient> recipients;
    bool operator==(const Envelope &) const = default;
};

std::string eviction_statement(const PublicKey &old_key, const PublicKey &new_key, std::int64_t at,
                               const std::vector<EvictedEnvoy> &evicted);
bool verify_eviction(const Envelope &e);

struct Recipient {
    std::string host;
    EnvoyKey envoy;
};
// Seals `new_wrap` (the v1 wrap of the new key, with `salt`) to each recipient.
Envelope make_envelope(const Keypair &old_pair, const PublicKey &new_key, std::int64_t at, const Salt &salt,
                       const WrappedBytes &new_wrap, RotationLog retired, std::vector<EvictedEnvoy> evicted,
                       const std::vector<Recipient> &recipients);

std::string serialize_envelope(const Envelope &e);
// Strict; throws Error(Failure::failed) naming `label`, the field and the defect.
Envelope parse_envelope(std::span<const std::uint8_t> bytes, const std::string &label);

// The recipient entry for `envoy`, or nullptr.
const EnvelopeRecipient *recipient_for(const Envelope &e, const EnvoyKey &envoy);
// The new v1 wrap, opened with this machine's envoy secret. Throws
// Error(Failure::failed) when the entry does not open.
WrappedBytes open_envelope(const Envelope &e, const EnvelopeRecipient &r, const EnvoySecret &envoy);

} // namespace puddle
