#include "core/members_view.hpp"

#include "core/encoding.hpp"

#include <algorithm>
#include <sodium.h>

namespace puddle {

std::string members_view_digest(const MembersView &view) {
    std::vector<std::string> keys;
    for (const auto &m : view.members)
        if (m.envoy && m.envoy->signer) keys.push_back(to_hex(m.envoy->signer->bytes));
    std::sort(keys.begin(), keys.end());
    keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
    std::string joined;
    for (std::size_t i = 0; i < keys.size(); ++i) joined += (i ? "\n" : "") + keys[i];
    std::uint8_t hash[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(hash, reinterpret_cast<const unsigned char *>(joined.data()), joined.size());
    return to_hex(hash);
}

} // namespace puddle
