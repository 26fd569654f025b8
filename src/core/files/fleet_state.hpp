// fleet.json in the state directory (docs/formats.md, "Fleet state"): what
// this machine has learned from the carrier directory -- the last report it
// accepted from each machine (its sequence number, so a replayed or rolled-
// back one is refused), the envoy keys it knows to be evicted, the reports it
// refused and why -- and its own last report (sequence, time, fingerprint).
// parse_* is pure and strict (Error(Failure::failed) naming the field);
// load_/save_ on the state directory (0600, atomic).
#pragma once

#include "core/envoy.hpp"
#include "core/identity.hpp"
#include "core/statedir.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace puddle {

inline constexpr const char *kFleetStateFile = "fleet.json";
inline constexpr std::size_t kMaxFleetStateBytes = 4 << 20;
inline constexpr std::size_t kMaxFleetMachines = 1024;
inline constexpr std::size_t kMaxFleetRefused = 256;

struct SeenMachine {
    PublicKey machine;
    std::string host;
    EnvoyKey envoy;
    std::uint64_t seq = 0;
    std::string hash;         // SHA-256 hex of the accepted body: same sequence, other body = a forgery
    std::int64_t at = 0;      // the report's time
    PublicKey pubkey;         // identity key it holds
    std::uint64_t generation = 0;
    std::string digest;       // its members-view digest
    std::string health;
    std::vector<std::string> reasons;
    std::int64_t joined_at = 0; // when its report made it a member here; 0: it was one already
    bool operator==(const SeenMachine &) const = default;
};

struct RefusedReport {
    std::string file;
    std::string why;
    bool operator==(const RefusedReport &) const = default;
};

struct FleetState {
    std::uint64_t seq = 0;         // of this machine's last report
    std::int64_t written_at = 0;
    std::string written;           // fingerprint of what it said (without seq and time)
    std::vector<EnvoyKey> evicted; // envoy keys evictions named
    std::vector<SeenMachine> machines;
    std::vector<RefusedReport> refused; // at the last reading
    bool is_evicted(const EnvoyKey &k) const;
    bool operator==(const FleetState &) const = default;
};

FleetState parse_fleet_state(std::span<const std::uint8_t> bytes, const std::string &label);
std::string serialize_fleet_state(const FleetState &s);
std::optional<FleetState> load_fleet_state(const StateDir &dir);
void save_fleet_state(const StateDir &dir, const FleetState &s);

} // namespace puddle
