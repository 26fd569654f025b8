// Machine reports through a carrier directory (issue 25; docs/formats.md,
// "Fleet report"; puddle(1) FLEET): each machine writes one sealed, signed
// report of itself to [fleet] directory, which whatever the user already
// syncs (Syncthing, Nextcloud, a network home, a git repository) carries to
// the others, and reads theirs. No network code of ours: the carrier is a
// directory.
//
// Who writes: the puddle command, never the agent -- `puddle fleet` and
// `puddle status`, and the commands that change what a report says (import,
// join, accept, evict, members --took) -- when the report would say something
// new, and otherwise when the last one is a day old. What is read is kept in
// fleet.json (files/fleet_state.hpp); health, status and `fleet` read that
// file (core/fleet_view.hpp), not the carrier.
#pragma once

#include "core/config.hpp"
#include "core/envelope.hpp"
#include "core/files/fleet_state.hpp"
#include "core/identity_store.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace puddle {

// Bounds on one reading, so a carrier of 10,000 hostile files costs little:
// directory entries looked at, report files read, sealed keys tried.
inline constexpr std::size_t kMaxFleetEntries = 4096;
inline constexpr std::size_t kMaxFleetFiles = 1024;
inline constexpr std::size_t kFleetOpenBudget = 16384;
inline constexpr std::int64_t kFleetRewriteSeconds = 86400;

struct FleetSync {
    bool configured = false;           // [fleet] directory set
    std::vector<std::string> joined;   // "host (short key)" of machines that became members in this reading
                                       // (the caller tells the user and the journal)
    bool wrote = false;                // this machine's report was rewritten
    std::string own_file;              // its path
    std::string problem;               // what kept it from writing or reading (the rest was done)
};

// Reads the carrier, learns from what verifies (new members, generations
// taken, renames), refuses the rest with reasons, and rewrites this
// machine's report when due. Needs this machine's envoy secret, not the
// passphrase. Call under StateLock. Throws only for a state directory it
// cannot read or write; carrier trouble goes into `problem` and fleet.json.
FleetSync sync_fleet(const IdentityStore &store, const Config &config, std::int64_t now);

// Remembers envoys an eviction named (made here, or an envelope taken), so
// their reports never re-admit them. Call under StateLock.
void note_evicted(const StateDir &dir, const std::vector<EvictedEnvoy> &evicted);

} // namespace puddle
