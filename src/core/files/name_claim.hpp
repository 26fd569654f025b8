// name-claim.json (names design): this envoy's signed claim of a short name
// for its key, and the statement the claim signs.
// parse_* is a pure function from the file's bytes to a typed value; it throws
// Error(Failure::failed, "cannot read <label>", <precise reason>, <hint>) on
// anything but a well-formed file. serialize_* writes the canonical text (one
// line of compact JSON and "\n") and refuses (std::invalid_argument) what the
// parser would refuse. load_* and save_* do the same on the state directory,
// so no caller spells the file name, its limit or its mode.
#pragma once

#include "core/identity.hpp"
#include "core/statedir.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace puddle {

inline constexpr const char *kNameClaimFile = "name-claim.json";
inline constexpr std::size_t kMaxNameClaimBytes = 4096;

// {"v":1,"name":"<name>","pubkey":"ed25519:…","at":<s>,"sig":"<b64>"}

inline constexpr std::size_t kMaxNameChars = 32;

struct NameClaim {
    std::string name;    // see valid_name()
    PublicKey pubkey;
    std::int64_t at = 0; // Unix seconds, >= 0
    Signature sig{};
    bool operator==(const NameClaim &) const = default;
};

// 1-32 characters of a-z, 0-9 and '-', starting with a letter. On failure
// *why (if given) names the rule broken.
bool valid_name(std::string_view name, std::string *why = nullptr);
// "puddle-statement-name-v1\n<name>\n<pubkey>\n<at>\n"
std::string name_statement(std::string_view name, const PublicKey &pubkey, std::int64_t at);
// Signs a claim of `name` for the keypair's public key; the name must be valid.
NameClaim make_name_claim(const Keypair &keypair, std::string name, std::int64_t at);
bool verify_claim(const NameClaim &claim);

NameClaim parse_name_claim(std::span<const std::uint8_t> bytes, const std::string &label);
std::string serialize_name_claim(const NameClaim &claim);

// nullopt when the file is absent. Not a secret: read without the owner and
// mode checks, as the claims directories are.
std::optional<NameClaim> load_name_claim(const StateDir &dir);
void save_name_claim(const StateDir &dir, const NameClaim &claim);

} // namespace puddle
