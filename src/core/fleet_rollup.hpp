// The administrator's fleet view (`puddle fleet --journal`): status entries
// gathered from many machines' journals, rolled up per puddle. Pure: the
// entries come parsed (status_entry.hpp), the page is rendered elsewhere.
#pragma once

#include "core/health.hpp"
#include "core/status_entry.hpp"

#include <string>
#include <vector>

namespace puddle {

// One user's puddle on one machine: the newest entry of that (machine key, uid).
using FleetSeat = StatusEntry;

struct FleetPuddle {
    std::string first_key;           // the lineage: every key of one rotation log shares it
    std::string key;                 // the newest generation's key (the puddle's public key now)
    std::string name;                // "" when no machine claims one
    std::uint64_t generation = 0;    // the newest generation any machine holds
    std::vector<FleetSeat> seats;    // sorted by host, then user
    std::size_t machines = 0;        // distinct machine keys (a seat without one counts by host)
    std::vector<std::string> users;  // distinct Unix user names, sorted
    std::size_t unlocked = 0;        // seats with an unlocked session
    HealthState badge = HealthState::healthy;
    std::vector<std::string> findings; // "warning: …" / "degraded: …", the disagreements first
};

// Keeps the newest entry per (machine key, uid) -- a later entry with the
// same time wins -- and groups the rest by lineage. Disagreements make the
// badge: machines behind the newest generation (warning), two keys of one
// generation (a fork: degraded), members views that differ (warning); and
// each seat reporting warning or degraded passes its state and reasons on.
// Puddles sorted by name ("(unnamed)" last), then key.
std::vector<FleetPuddle> roll_up(const std::vector<StatusEntry> &entries);

// "(unnamed)" for a puddle without a name.
std::string owner_label(const FleetPuddle &p);

} // namespace puddle
