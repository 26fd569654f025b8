// The members-view digest (docs/formats.md, "Members-view digest"): one
// value two machines compare to tell whether they agree on who shares the
// identity, without sending the list. Shared by the machine reports
// (core/fleet.hpp) and the agent's status entry (core/status_entry.hpp), so
// both say the same thing about the same view.
#pragma once

#include "core/files/members.hpp"
#include "core/identity.hpp"

#include <string>
#include <vector>

namespace puddle {

// The distinct machine keys of the members of `view` (members.json holds no
// evicted member: evict removes it), sorted by their bytes: a record's
// machine key, else its certificate's signer. A member known only by a v1
// certificate adds nothing: it has no key to compare.
std::vector<PublicKey> member_machine_keys(const MembersView &view);

// Lowercase hex SHA-256 of the sorted, "\n"-joined lowercase-hex Ed25519
// machine public keys (64 digits, no "ed25519:" prefix). None digests the
// empty string.
std::string members_view_digest(const std::vector<PublicKey> &machine_keys);
std::string members_view_digest(const MembersView &view);

} // namespace puddle
