// The members-view digest: one value two machines compare to tell whether
// they agree on who shares the identity, without sending the list.
#pragma once

#include "core/files/members.hpp"

#include <string>

namespace puddle {

// Lowercase hex SHA-256 of the sorted, "\n"-joined lowercase-hex Ed25519
// machine public keys of the members of `view` (members.json holds no
// evicted member: evict removes it). A member whose certificate carries no
// machine key (v1) adds nothing: it has no key to compare. An empty view
// digests the empty string.
std::string members_view_digest(const MembersView &view);

} // namespace puddle
