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
// The envelope statement covers everything a kept member acts on -- old and
// new key, time, generation, salt, the digest of the new v1 wrap (the same
// for every recipient, checked after an entry is opened), the maker, who was
// left out and whom it is for -- and is signed three times: by the old key,
// by the new key, and by the maker's machine key (EnvoySecret::signing_key,
// certified by the identity in the maker's envoy certificate). The identity's
// signatures say the rotation is the identity's; only the machine key says
// which member made it, since an evicted member still holds the old key.
// The rotation record in `retired` is signed by both keys, as for every
// rotation.
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

// The member that made the envelope: its host and the two public halves of
// its envoy certificate.
struct EnvelopeMaker {
    std::string host;
    EnvoyKey envoy;
    PublicKey signer; // machine key
    bool operator==(const EnvelopeMaker &) const = default;
};

struct Envelope {
    PublicKey old_key, new_key;
    std::int64_t at = 0;
    std::uint64_t generation = 0; // records in the rotation log up to and including this one
    Salt salt{};
    std::string wrap_digest;      // wrapped_digest() of the new v1 wrap: "sha256:<hex>"
    EnvelopeMaker maker;
    RotationLog retired;          // the maker's log, ending with old -> new
    std::vector<EvictedEnvoy> evicted;
    std::vector<EnvelopeRecipient> recipients;
    Signature sig_old{}, sig_new{}, sig_maker{}; // over envelope_statement()
    bool operator==(const Envelope &) const = default;
};

std::string envelope_statement(const Envelope &e);
// Which of the three signatures does not verify over the statement ("" when
// all do): "the old key's", "the new key's" or "the maker's machine key's".
std::string envelope_signature_problem(const Envelope &e);

struct Recipient {
    std::string host;
    EnvoyKey envoy;
};
// Seals `new_wrap` (the v1 wrap of `new_pair`, with `salt`) to each recipient
// and signs the statement with the old key, the new key and `maker` (this
// machine's signing key; `maker_host` its host name).
Envelope make_envelope(const Keypair &old_pair, const Keypair &new_pair, const EnvoySecret &maker,
                       const std::string &maker_host, std::int64_t at, const Salt &salt, const WrappedBytes &new_wrap,
                       RotationLog retired, std::vector<EvictedEnvoy> evicted, const std::vector<Recipient> &recipients);

std::string serialize_envelope(const Envelope &e);
// Strict; throws Error(Failure::failed) naming `label`, the field and the defect.
Envelope parse_envelope(std::span<const std::uint8_t> bytes, const std::string &label);

// The recipient entry for `envoy`, or nullptr.
const EnvelopeRecipient *recipient_for(const Envelope &e, const EnvoyKey &envoy);
// The new v1 wrap, opened with this machine's envoy secret. Throws
// Error(Failure::failed) when the entry does not open, or opens to another
// wrap than the one the statement names (an entry rewritten on the way).
WrappedBytes open_envelope(const Envelope &e, const EnvelopeRecipient &r, const EnvoySecret &envoy);

} // namespace puddle
