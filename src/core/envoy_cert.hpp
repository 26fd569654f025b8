// An envoy certificate (docs/formats.md, "Envoy certificate"): the identity
// vouches that an envoy key belongs to one of its member machines. Members
// exchange them while pairing; `evict` seals a new generation only to envoy
// keys certified so.
//
// Signed bytes (v2, with the machine's signing key):
//   "puddle-statement-envoy-v2\n<ed25519:identity>\n<x25519:envoy>\n<ed25519:machine>\n<host>\n<at>\n"
// and of an older certificate without one (v1, still read: it lets a member
// seal to that machine, but nothing that machine signs can be checked):
//   "puddle-statement-envoy-v1\n<ed25519:identity>\n<x25519:envoy>\n<host>\n<at>\n"
#pragma once

#include "core/envoy.hpp"
#include "core/identity.hpp"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace puddle {

struct EnvoyCert {
    EnvoyKey key;
    std::optional<PublicKey> signer; // the machine key (EnvoySecret::signing_key); none in a v1 certificate
    std::int64_t at = 0; // Unix seconds
    Signature sig{};     // by the identity key of the member record it sits in
    bool operator==(const EnvoyCert &) const = default;
};

std::string envoy_statement(const PublicKey &identity, const EnvoyKey &envoy, const std::optional<PublicKey> &signer,
                            const std::string &host, std::int64_t at);
EnvoyCert make_envoy_cert(const Keypair &identity, const EnvoyKey &envoy, const PublicKey &signer,
                          const std::string &host, std::int64_t at);
bool verify_envoy_cert(const EnvoyCert &cert, const PublicKey &identity, const std::string &host);

// This machine's own certificate, envoy.json in the state directory:
// {"v":1,"pubkey":…,"host":…,"envoy":{"key":…,"signer":…,"at":…,"sig":…}}.
inline constexpr const char *kOwnEnvoyCertFile = "envoy.json";
struct OwnEnvoyCert {
    PublicKey pubkey;
    std::string host;
    EnvoyCert cert;
};
std::optional<OwnEnvoyCert> load_own_envoy_cert(const StateDir &dir);
// Signs and saves a certificate for this machine's envoy key under `identity`,
// unless one that verifies for this key, host and identity, with a machine
// key, is there (a v1 certificate is replaced: the upgrade). `envoy_secret`
// is asked for the machine key only when a certificate is signed. Call under
// StateLock, with the identity just unwrapped.
void ensure_own_envoy_cert(const StateDir &dir, const Keypair &identity, const EnvoyKey &envoy,
                           const std::function<PublicKey()> &machine_key, const std::string &host, std::int64_t now);

} // namespace puddle
