// What fleet.json (core/fleet.hpp, files/fleet_state.hpp) says, for the
// people and checks that read it: health findings, status notices and the
// per-machine table of `puddle fleet`. Reads the state directory only, never
// the carrier, so status and the agent cost what reading a few files costs.
#pragma once

#include "core/config.hpp"
#include "core/files/fleet_state.hpp"
#include "core/health.hpp"
#include "core/identity_store.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace puddle {

// "host (1a2b3c4d5e6f7a8b)": a machine as messages name it.
std::string machine_label(const std::string &host, const PublicKey &machine);

// Health findings from fleet.json (behind, other members views, refused
// reports, a fork), for assess_health.
void add_fleet_findings(const StateDir &dir, const Config &config, Health &h);

// "new machine joined: HOST (KEY) at TIME" for the members learned from a
// report in the last 7 days, for status.
std::vector<std::string> fleet_notices(const StateDir &dir, std::int64_t now);

// One machine as `puddle fleet` shows it.
struct FleetMachine {
    std::string host;
    PublicKey machine;
    std::uint64_t generation = 0; // held
    bool known_generation = true; // its key is in this machine's log
    std::int64_t last_report = 0; // 0: none read
    std::string health;
    std::vector<std::string> reasons;
    bool evicted = false;
    bool self = false;
};
struct FleetView {
    std::uint64_t current = 0; // the generation this machine holds
    std::string digest;        // this machine's members-view digest
    std::vector<FleetMachine> machines;
    std::vector<RefusedReport> refused;
};
FleetView fleet_view(const IdentityStore &store, const Config &config);

} // namespace puddle
