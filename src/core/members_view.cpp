#include "core/members_view.hpp"

#include "core/encoding.hpp"
#include "core/secret.hpp"

#include <algorithm>
#include <sodium.h>

namespace puddle {

std::vector<PublicKey> member_machine_keys(const MembersView &view) {
    std::vector<PublicKey> keys;
    for (const auto &m : view.members) {
        if (m.machine) keys.push_back(*m.machine);
        else if (m.envoy && m.envoy->signer) keys.push_back(*m.envoy->signer);
    }
    std::sort(keys.begin(), keys.end(), [](const PublicKey &a, const PublicKey &b) { return a.bytes < b.bytes; });
    keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
    return keys;
}

std::string members_view_digest(const std::vector<PublicKey> &machine_keys) {
    std::vector<std::string> hex;
    hex.reserve(machine_keys.size());
    for (const auto &k : machine_keys) hex.push_back(to_hex(k.bytes));
    std::sort(hex.begin(), hex.end());
    hex.erase(std::unique(hex.begin(), hex.end()), hex.end());
    std::string joined;
    for (std::size_t i = 0; i < hex.size(); ++i) joined += (i ? "\n" : "") + hex[i];
    init_sodium();
    std::uint8_t hash[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(hash, reinterpret_cast<const std::uint8_t *>(joined.data()), joined.size());
    return to_hex(hash);
}

std::string members_view_digest(const MembersView &view) { return members_view_digest(member_machine_keys(view)); }

} // namespace puddle
