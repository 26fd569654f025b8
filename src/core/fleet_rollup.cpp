#include "core/fleet_rollup.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

namespace puddle {
namespace {

std::string seat_label(const FleetSeat &s) { return s.user + "@" + s.host; }

// A machine is its machine key; an agent that has none to report yet
// (identity never unwrapped since the upgrade) is told apart by host name.
std::string machine_of(const FleetSeat &s) { return s.machine_key.empty() ? "host:" + s.host : s.machine_key; }

HealthState state_of(const std::string &name) {
    if (name == "degraded") return HealthState::degraded;
    if (name == "warning") return HealthState::warning;
    return HealthState::healthy;
}

std::string short_key(const std::string &key) { return key.size() > 24 ? key.substr(8, 16) : key; }

} // namespace

std::string owner_label(const FleetPuddle &p) { return p.name.empty() ? "(unnamed)" : p.name; }

std::vector<FleetPuddle> roll_up(const std::vector<StatusEntry> &entries) {
    std::map<std::pair<std::string, std::int64_t>, const StatusEntry *> newest;
    for (const auto &e : entries) {
        auto &slot = newest[{machine_of(e), e.uid}];
        if (!slot || e.time_usec >= slot->time_usec) slot = &e;
    }
    std::map<std::string, FleetPuddle> by_lineage;
    for (const auto &[k, e] : newest) {
        auto &p = by_lineage[e->first_key];
        p.first_key = e->first_key;
        p.seats.push_back(*e);
    }
    std::vector<FleetPuddle> out;
    for (auto &lineage : by_lineage) {
        FleetPuddle &p = lineage.second; // a plain reference: clang 14 captures no structured binding
        std::sort(p.seats.begin(), p.seats.end(), [](const FleetSeat &a, const FleetSeat &b) {
            return std::tie(a.host, a.user, a.uid, a.machine_key) < std::tie(b.host, b.user, b.uid, b.machine_key);
        });
        std::set<std::string> machines, users, newest_keys;
        std::map<std::string, std::vector<std::string>> digests; // digest -> seats
        const FleetSeat *named = nullptr;
        for (const auto &s : p.seats) {
            machines.insert(machine_of(s));
            users.insert(s.user);
            if (s.unlocked) ++p.unlocked;
            p.generation = std::max(p.generation, s.generation);
            if (!s.members_digest.empty()) digests[s.members_digest].push_back(seat_label(s));
        }
        for (const auto &s : p.seats) {
            if (s.generation != p.generation) continue;
            newest_keys.insert(s.key);
            // The name: the newest entry's claim among the seats holding the newest key.
            if (!s.name.empty() && (!named || s.time_usec >= named->time_usec)) named = &s;
        }
        p.machines = machines.size();
        p.users.assign(users.begin(), users.end());
        p.key = *newest_keys.begin();
        if (named) p.name = named->name;

        auto add = [&p](HealthState st, std::string text) {
            p.badge = std::max(p.badge, st);
            p.findings.push_back(std::string(health_state_name(st)) + ": " + std::move(text));
        };
        if (newest_keys.size() > 1) {
            std::string keys;
            for (const auto &k : newest_keys) keys += (keys.empty() ? "" : ", ") + short_key(k);
            add(HealthState::degraded, "fork: generation " + std::to_string(p.generation) + " has " +
                                           std::to_string(newest_keys.size()) + " keys (" + keys + ")");
        }
        for (const auto &s : p.seats)
            if (s.generation < p.generation)
                add(HealthState::warning, seat_label(s) + " is behind: it holds generation " +
                                              std::to_string(s.generation) + " (" + short_key(s.key) + "), the newest is " +
                                              std::to_string(p.generation));
        if (digests.size() > 1) {
            std::string views;
            for (const auto &[d, seats] : digests) {
                std::string who;
                for (const auto &s : seats) who += (who.empty() ? "" : ", ") + s;
                views += (views.empty() ? "" : "; ") + d.substr(0, 12) + " on " + who;
            }
            add(HealthState::warning, "members views differ: " + views);
        }
        for (const auto &s : p.seats) {
            const HealthState st = state_of(s.health);
            if (st == HealthState::healthy) continue;
            p.badge = std::max(p.badge, st);
            if (s.reasons.empty()) p.findings.push_back(s.health + ": " + seat_label(s) + " reports " + s.health);
            for (const auto &r : s.reasons) p.findings.push_back(seat_label(s) + ": " + r);
        }
        out.push_back(std::move(p));
    }
    std::sort(out.begin(), out.end(), [](const FleetPuddle &a, const FleetPuddle &b) {
        return std::make_tuple(a.name.empty(), a.name, a.key) < std::make_tuple(b.name.empty(), b.name, b.key);
    });
    return out;
}

} // namespace puddle
