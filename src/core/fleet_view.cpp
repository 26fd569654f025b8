#include "core/fleet_view.hpp"

#include "core/files/members.hpp"
#include "core/files/rotation_log.hpp"
#include "core/members_view.hpp"
#include "core/membership.hpp"
#include "core/rotation.hpp"
#include "util/text.hpp"

#include <algorithm>
#include <ctime>
#include <optional>
#include <tuple>

namespace puddle {

std::string machine_label(const std::string &host, const PublicKey &machine) {
    return host + " (" + machine.short_hex() + ")";
}

void add_fleet_findings(const StateDir &dir, const Config &config, Health &h) {
    if (!dir.has(kFleetStateFile)) return;
    FleetState state;
    try {
        state = load_fleet_state(dir).value_or(FleetState{});
    } catch (const Error &e) {
        h.add(HealthState::warning, "fleet.json cannot be read: " + e.why());
        return;
    }
    IdentityStore store(dir);
    std::optional<StoredIdentity> loaded;
    RotationLog log;
    std::string mine;
    try {
        loaded = store.load();
        log = load_rotation_log(dir).value_or(RotationLog{});
        mine = members_view_digest(members_with_self(dir, *loaded, local_host_name()));
    } catch (const Error &) {
        return; // the identity's own findings say what is wrong
    }
    const StoredIdentity &id = *loaded;
    const KeyGenerations gens(log, id.pub);
    const std::uint64_t current = gens.of(id.pub).value_or(0);
    const std::int64_t now = std::int64_t(std::time(nullptr));
    for (const auto &m : state.machines) {
        if (state.is_evicted(m.envoy)) {
            // Its key was retired by the rotation that left it out; a report
            // written after that rotation means the machine is still in use
            // by whoever holds it (a lost laptop is someone's now).
            for (const auto &rec : log)
                if (rec.old_key == m.pubkey && m.at > rec.at)
                    h.add(HealthState::warning,
                          "machine " + machine_label(m.host, m.machine) + " was evicted at " + local_iso_time(rec.at) +
                              " but wrote a report at " + local_iso_time(m.at) + ", signed with the retired key " +
                              m.pubkey.str() + ": whoever has it still runs it, and servers that still list that "
                              "key let them in; fix: remove the retired key from every authorized_keys "
                              "('puddle pubkey --ssh' is the one to keep)");
            continue;
        }
        const auto g = gens.of(m.pubkey);
        if (g && *g < current && config.health.member_behind_days > 0) {
            std::int64_t since = now;
            for (const auto &rec : log)
                if (rec.old_key == m.pubkey) since = std::min(since, rec.at);
            const std::int64_t days = (now - since) / 86400;
            if (days >= std::int64_t(config.health.member_behind_days))
                h.add(HealthState::warning, "machine " + machine_label(m.host, m.machine) + " still holds generation " +
                                                std::to_string(*g) + " of " + std::to_string(current) + ", " +
                                                std::to_string(days) + " days after the rotation, as its report of " +
                                                local_iso_time(m.at) + " says; fix: 'puddle accept' the envelope there");
        }
        if (g && *g == current && m.digest != mine)
            h.add(HealthState::warning, "machine " + machine_label(m.host, m.machine) +
                                            " sees other members than this one (members view " +
                                            m.digest.substr(0, 12) + ", here " + mine.substr(0, 12) +
                                            "); fix: 'puddle fleet' there once the carrier has synced, and "
                                            "'puddle members' on both if it stays");
        if (m.health == "degraded")
            h.add(HealthState::warning, "machine " + machine_label(m.host, m.machine) + " reports itself degraded" +
                                            (m.reasons.empty() ? std::string() : ": " + m.reasons.front()) +
                                            "; fix: 'puddle status' there");
    }
    for (const auto &r : state.refused) {
        if (r.why.find("evicted") != std::string::npos || r.why.find("not sealed to this machine") != std::string::npos)
            continue; // shown by 'puddle fleet'; nothing to fix here
        h.add(r.why.starts_with("a fork") ? HealthState::degraded : HealthState::warning,
              "machine report " + r.file + " refused: " + r.why);
    }
}

std::vector<std::string> fleet_notices(const StateDir &dir, std::int64_t now) {
    std::vector<std::string> out;
    try {
        const auto state = load_fleet_state(dir);
        if (!state) return out;
        for (const auto &m : state->machines)
            if (m.joined_at > 0 && m.joined_at + 7 * 86400 > now && !state->is_evicted(m.envoy))
                out.push_back("new machine joined: " + machine_label(m.host, m.machine) + " at " + local_iso_time(m.joined_at));
    } catch (const Error &) {
        // health says fleet.json cannot be read
    }
    return out;
}

FleetView fleet_view(const IdentityStore &store, const Config &config) {
    const StateDir &dir = store.dir();
    const auto id = store.load();
    const RotationLog log = load_rotation_log(dir).value_or(RotationLog{});
    const KeyGenerations gens(log, id.pub);
    FleetView v;
    v.current = gens.of(id.pub).value_or(0);
    const FleetState state = load_fleet_state(dir).value_or(FleetState{});
    const MembersView view = members_with_self(dir, id, local_host_name());
    v.digest = members_view_digest(view);
    v.refused = state.refused;
    const Health own = assess_health(dir, config);
    for (const auto &m : view.members) {
        if (!m.machine) continue;
        if (std::any_of(v.machines.begin(), v.machines.end(), [&](const FleetMachine &x) { return x.machine == *m.machine; }))
            continue;
        FleetMachine f;
        f.host = m.host;
        f.machine = *m.machine;
        f.self = m.direction == MemberDirection::self;
        // The newest key this view records for that machine.
        std::optional<std::uint64_t> best;
        for (const auto &o : view.members)
            if (o.machine && *o.machine == *m.machine)
                if (auto g = gens.of(o.pubkey); g && (!best || *g > *best)) best = g;
        f.generation = best.value_or(0);
        f.known_generation = best.has_value();
        if (f.self) {
            f.last_report = state.written_at;
            f.health = health_state_name(own.state);
            for (const auto &x : own.findings) f.reasons.push_back(x.reason);
        }
        v.machines.push_back(std::move(f));
    }
    for (const auto &s : state.machines) {
        auto it = std::find_if(v.machines.begin(), v.machines.end(), [&](const FleetMachine &x) { return x.machine == s.machine; });
        if (it == v.machines.end()) {
            FleetMachine f;
            f.machine = s.machine;
            v.machines.push_back(std::move(f));
            it = v.machines.end() - 1;
        }
        it->host = s.host;
        const auto g = gens.of(s.pubkey);
        it->generation = g.value_or(s.generation);
        it->known_generation = g.has_value();
        it->last_report = s.at;
        it->health = s.health;
        it->reasons = s.reasons;
        it->evicted = state.is_evicted(s.envoy);
    }
    std::sort(v.machines.begin(), v.machines.end(), [](const FleetMachine &a, const FleetMachine &b) {
        return std::tie(b.self, a.host, a.machine.bytes) < std::tie(a.self, b.host, b.machine.bytes);
    });
    return v;
}

} // namespace puddle
