// The CLI's side of machine reports (core/fleet.hpp): the commands that
// change what a report says read the carrier and rewrite it afterwards, and
// a machine learned from a report is announced on standard error and in the
// journal.
#pragma once

#include "core/fleet.hpp"
#include "core/identity_store.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace puddle::cli {

// "new machine joined: …" in the journal (PRIORITY notice, PUDDLE_FLEET_JOINED).
void journal_joined(const std::vector<std::string> &joined);

// After a change: sync_fleet under the state lock the caller holds; never
// throws; what went wrong is a warning on standard error.
void sync_fleet_quietly(const IdentityStore &store, std::int64_t now);

} // namespace puddle::cli
