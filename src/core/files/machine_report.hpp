// A machine report (docs/formats.md, "Fleet report"; issue 25): what one
// machine says of itself to the other members, through a carrier directory
// that any sync tool carries. One file per machine, <short machine key>.report.
//
// The file: {"v":1,"kind":"puddle-fleet-report","keys":["<b64>",…],"nonce":"<b64>","box":"<b64>"}.
// A fresh 32-byte content key is sealed to each member's envoy key
// (crypto_box_seal, as envelopes seal theirs; no recipient is named, so the
// carrier learns only sizes and times), and the box is XChaCha20-Poly1305
// under it, with the associated data "puddle-fleet-report-v1". Inside: a
// 64-byte Ed25519 signature by the machine key over
// "puddle-statement-fleet-report-v1\n" + the body, then the body (JSON).
// A member can open any report but forge none: only the machine key signs.
// parse_* are pure and strict; they throw Error(Failure::failed) naming the
// label, the field and the defect.
#pragma once

#include "core/envoy.hpp"
#include "core/envoy_cert.hpp"
#include "core/identity.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace puddle {

inline constexpr std::size_t kMaxFleetReportBytes = 256 << 10;
inline constexpr std::size_t kMaxFleetReportKeys = 256;   // sealed content keys: members reached
inline constexpr std::size_t kMaxFleetReportMembers = 1024;
inline constexpr std::size_t kMaxFleetReportReasons = 64;
inline constexpr std::size_t kMaxFleetReasonBytes = 1024;

// A member as the writer knows it. With its envoy certificate and the key
// that signed it, a reader can verify that the identity certified it and
// learn it even if its own report is not sealed to the reader yet.
struct ReportMember {
    PublicKey machine;
    std::string host;
    std::string wrapped_digest;            // of the wrap the writer last saw it hold
    std::optional<EnvoyCert> cert;         // signer == machine
    std::optional<PublicKey> certified_by; // set with cert
    bool operator==(const ReportMember &) const = default;
};

struct MachineReport {
    PublicKey machine;          // the machine key that signs
    std::string host;
    std::uint64_t seq = 0;      // grows with every report this machine writes
    std::int64_t at = 0;        // Unix seconds
    PublicKey pubkey;           // the identity key it holds
    std::uint64_t generation = 0; // in its own rotation log
    std::string wrapped_digest;   // of its wrap ("sha256:<hex>")
    EnvoyCert cert;               // its envoy certificate, for `host`; signer == machine
    PublicKey certified_by;       // the identity key (of this puddle's log) that signed `cert`
    std::string members_digest;   // members_view_digest() of `members`
    std::vector<ReportMember> members;
    std::string health;           // "healthy", "warning", "degraded"
    std::vector<std::string> reasons;
    bool operator==(const MachineReport &) const = default;
};

std::string serialize_report_body(const MachineReport &r);
MachineReport parse_report_body(std::span<const std::uint8_t> bytes, const std::string &label);
std::string report_statement(std::string_view body);

// The file's text: signed by `machine` (whose public key is r.machine) and
// sealed to each of `to`.
std::string seal_report(const MachineReport &r, const Keypair &machine, const std::vector<EnvoyKey> &to);

// The outer file, parsed (no secret involved).
struct SealedReport {
    std::vector<std::array<std::uint8_t, 80>> keys;
    std::array<std::uint8_t, 24> nonce{};
    std::vector<std::uint8_t> box;
};
SealedReport parse_sealed_report(std::span<const std::uint8_t> bytes, const std::string &label);

// Opens with this machine's envoy secret, trying at most `budget` sealed keys
// (decremented: a scan of many hostile files costs a bounded time), then
// checks the machine key's signature. Throws Error(Failure::failed) with why:
// not sealed to this machine, altered, or malformed.
MachineReport open_report(const SealedReport &s, const EnvoySecret &envoy, std::size_t &budget,
                        const std::string &label);

} // namespace puddle
