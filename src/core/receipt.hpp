// A receipt (docs/formats.md, "Receipt"): the machine that took a new
// generation from an envelope says so, signed by its machine key, so the
// maker records that member as holding the key on evidence rather than on
// the user's word (`puddle members --took RECEIPT`).
//
// Signed bytes: "puddle-statement-receipt-v1\n<ed25519:key taken>\n<generation>\n
//                <host>\n<x25519:envoy>\n<ed25519:machine>\n<at>\n"
#pragma once

#include "core/envoy.hpp"
#include "core/identity.hpp"

#include <cstdint>
#include <span>
#include <string>

namespace puddle {

inline constexpr std::size_t kMaxReceiptBytes = 4096;
inline constexpr const char *kReceiptFile = "receipt.json";

struct Receipt {
    PublicKey key;                // the key taken
    std::uint64_t generation = 0;
    std::string host;             // the machine that took it
    EnvoyKey envoy;
    PublicKey machine;            // its machine key, which signs
    std::int64_t at = 0;
    Signature sig{};
    bool operator==(const Receipt &) const = default;
};

std::string receipt_statement(const Receipt &r);
Receipt make_receipt(const PublicKey &key, std::uint64_t generation, const std::string &host, const EnvoySecret &taker,
                     std::int64_t at);
bool verify_receipt(const Receipt &r);

std::string serialize_receipt(const Receipt &r);
// Strict; throws Error(Failure::failed) naming `label`, the field and the defect.
Receipt parse_receipt(std::span<const std::uint8_t> bytes, const std::string &label);

} // namespace puddle
