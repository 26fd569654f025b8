#include "core/fleet.hpp"

#include "core/fleet_view.hpp"

#include "core/envoy.hpp"
#include "core/files/machine_report.hpp"
#include "core/files/members.hpp"
#include "core/files/rotation_log.hpp"
#include "core/members_view.hpp"
#include "core/membership.hpp"
#include "core/rotation.hpp"
#include "core/secret.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <dirent.h>
#include <sodium.h>
#include <sys/stat.h>

namespace puddle {
namespace {

std::string sha256_hex(std::string_view text) {
    init_sodium();
    std::uint8_t hash[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(hash, reinterpret_cast<const std::uint8_t *>(text.data()), text.size());
    return to_hex(hash);
}

bool report_name(const std::string &n) {
    if (n.size() != 16 + 7 || !n.ends_with(".report")) return false;
    for (std::size_t i = 0; i < 16; ++i)
        if (!((n[i] >= '0' && n[i] <= '9') || (n[i] >= 'a' && n[i] <= 'f'))) return false;
    return true;
}

// The report file names of the carrier: bounded in entries looked at and
// files kept, whatever the directory holds.
std::vector<std::string> report_files(const std::string &carrier, std::string &problem) {
    std::vector<std::string> names;
    DIR *d = ::opendir(carrier.c_str());
    if (!d) {
        if (errno != ENOENT) problem = "cannot read the carrier directory " + carrier + ": " + std::strerror(errno);
        return names;
    }
    std::size_t entries = 0;
    while (auto *e = ::readdir(d)) {
        if (++entries > kMaxFleetEntries) {
            problem = "the carrier directory " + carrier + " holds more than " + std::to_string(kMaxFleetEntries) +
                      " entries; only the first were looked at (remove what is not a machine report)";
            break;
        }
        std::string n = e->d_name;
        if (report_name(n)) names.push_back(std::move(n));
        if (names.size() >= kMaxFleetFiles) {
            problem = "the carrier directory " + carrier + " holds more than " + std::to_string(kMaxFleetFiles) +
                      " report files; only the first were read (remove those of machines that are gone)";
            break;
        }
    }
    ::closedir(d);
    std::sort(names.begin(), names.end());
    return names;
}

struct Context {
    const StoredIdentity &id;
    const RotationLog &log;
    KeyGenerations gens;
    std::uint64_t current;
};

// Checks one opened report against what this machine knows; "" when it is to
// be accepted, else why not.
std::string judge(const MachineReport &r, const std::string &name, const Context &c, const FleetState &state,
                  const std::string &hash, bool &unchanged) {
    unchanged = false;
    if (r.machine.short_hex() + ".report" != name)
        return "it is the report of machine " + r.machine.short_hex() + ", not of " + name.substr(0, 16) +
               " as its file name says (moved or copied on the carrier)";
    if (!verify_envoy_cert(r.cert, r.certified_by, r.host))
        return "its machine certificate does not verify for " + r.certified_by.str() + " and host " + r.host;
    if (!c.gens.of(r.pubkey)) {
        if (r.generation <= c.current)
            return "a fork: " + machine_label(r.host, r.machine) + " holds " + r.pubkey.str() + " as generation " +
                   std::to_string(r.generation) + ", which this machine's rotation log does not lead to; accept "
                   "neither side's envelope until you know which rotation is yours";
        return machine_label(r.host, r.machine) + " holds generation " + std::to_string(r.generation) + " (" + r.pubkey.str() +
               "), newer than the " + std::to_string(c.current) + " held here: take it here ('puddle accept' with "
               "the envelope, or 'puddle rekey --from HOST')";
    }
    if (!c.gens.of(r.certified_by))
        return "its machine certificate is signed by " + r.certified_by.str() + ", not a key of this puddle's "
               "rotation log: a machine of another identity, or of a fork";
    for (const auto &m : state.machines) {
        if (!(m.machine == r.machine)) continue;
        if (r.seq < m.seq)
            return "replayed or rolled back: sequence " + std::to_string(r.seq) + ", and sequence " +
                   std::to_string(m.seq) + " of that machine was already read here";
        if (r.seq == m.seq) {
            if (m.hash != hash)
                return "sequence " + std::to_string(r.seq) + " was already read here with other content (a replay "
                       "of an altered report)";
            unchanged = true;
        }
    }
    return {};
}

MachineReport own_report(const StateDir &dir, const Config &config, const StoredIdentity &id, const MembersView &view,
                       const EnvoySecret &envoy, std::uint64_t generation, std::int64_t now) {
    const auto cert = load_own_envoy_cert(dir);
    const std::string host = local_host_name();
    // Certified by the key held or an older one of the log (after 'accept',
    // which unwraps nothing, until the next command that does).
    const RotationLog log = load_rotation_log(dir).value_or(RotationLog{});
    if (!cert || !KeyGenerations(log, id.pub).of(cert->pubkey) || cert->host != host || !cert->cert.signer ||
        !(*cert->cert.signer == envoy.signing_key()) || !verify_envoy_cert(cert->cert, cert->pubkey, host))
        throw Error(Failure::failed, "cannot write this machine's report",
                    "envoy.json holds no certificate of this machine key by a key of this puddle for host " + host,
                    "'puddle unlock' (or any command that unwraps the identity) certifies it");
    MachineReport r;
    r.machine = envoy.signing_key();
    r.host = host;
    r.at = now;
    r.pubkey = id.pub;
    r.generation = generation;
    r.wrapped_digest = wrapped_digest(id.wrapped.raw);
    r.cert = cert->cert;
    r.certified_by = cert->pubkey;
    for (const auto &m : view.members) {
        if (!m.machine) continue;
        auto it = std::find_if(r.members.begin(), r.members.end(),
                               [&](const ReportMember &x) { return x.machine == *m.machine; });
        if (it == r.members.end()) {
            r.members.push_back(ReportMember{*m.machine, m.host, m.wrapped_digest, std::nullopt, std::nullopt});
            it = r.members.end() - 1;
        }
        if (has_certified_envoy(m) && m.envoy->signer && *m.envoy->signer == *m.machine &&
            (!it->cert || m.envoy->at > it->cert->at)) {
            it->cert = m.envoy;
            it->certified_by = m.pubkey;
            it->host = m.host;
        }
    }
    if (r.members.size() > kMaxFleetReportMembers) r.members.resize(kMaxFleetReportMembers);
    r.members_digest = members_view_digest(member_machine_keys(view));
    const Health h = assess_health(dir, config);
    r.health = health_state_name(h.state);
    for (const auto &f : h.findings) {
        if (r.reasons.size() >= kMaxFleetReportReasons) break;
        r.reasons.push_back(f.reason.substr(0, kMaxFleetReasonBytes));
    }
    return r;
}

} // namespace

FleetSync sync_fleet(const IdentityStore &store, const Config &config, std::int64_t now) {
    FleetSync out;
    if (config.fleet.directory.empty()) return out;
    out.configured = true;
    const StateDir &dir = store.dir();
    const auto id = store.load();
    const auto envoy = EnvoySecret::load(EnvoySecret::location());
    if (!envoy || !id.envoy || !(envoy->public_key() == *id.envoy)) {
        out.problem = "this machine's secret is not the one identity.wrapped is sealed to, so it can neither "
                      "read nor sign machine reports ('puddle status' says what to do)";
        return out;
    }
    const RotationLog log = load_rotation_log(dir).value_or(RotationLog{});
    Context c{id, log, KeyGenerations(log, id.pub), 0};
    c.current = c.gens.of(id.pub).value_or(0);
    FleetState state = load_fleet_state(dir).value_or(FleetState{});
    const FleetState state_before = state;
    const std::string host = local_host_name();
    const MembersView before = load_members(dir).value_or(MembersView{});
    MembersView view = before;
    const PublicKey self_machine = envoy->signing_key();

    // ---- read
    StateDir carrier(config.fleet.directory);
    std::string problem;
    const auto names = report_files(config.fleet.directory, problem);
    std::vector<RefusedReport> refused;
    std::size_t budget = kFleetOpenBudget;
    for (const auto &name : names) {
        if (name == self_machine.short_hex() + ".report") continue;
        try {
            const auto sealed = parse_sealed_report(
                carrier.read(name, kMaxFleetReportBytes, FileTrust::unchecked), carrier.file(name));
            const MachineReport r = open_report(sealed, *envoy, budget, carrier.file(name));
            const std::string hash = sha256_hex(serialize_report_body(r));
            bool unchanged = false;
            if (auto why = judge(r, name, c, state, hash, unchanged); !why.empty()) {
                refused.push_back({name, why});
                continue;
            }
            if (r.machine == self_machine) continue;
            const bool evicted = state.is_evicted(r.cert.key);
            auto seen = std::find_if(state.machines.begin(), state.machines.end(),
                                     [&](const SeenMachine &m) { return m.machine == r.machine; });
            if (seen == state.machines.end()) {
                if (state.machines.size() >= kMaxFleetMachines) continue;
                SeenMachine fresh;
                fresh.machine = r.machine;
                state.machines.push_back(std::move(fresh));
                seen = state.machines.end() - 1;
            }
            const std::int64_t joined_at = seen->joined_at;
            *seen = SeenMachine{r.machine, r.host,       r.cert.key,       r.seq,     hash,
                                r.at,      r.pubkey,     r.generation,     r.members_digest,
                                r.health,  r.reasons,    joined_at};
            if (evicted) {
                refused.push_back({name, "written by " + machine_label(r.host, r.machine) +
                                             ", which an eviction left out: shown as evicted, never a member again"});
                continue;
            }
            // Learn: a member, with the key it holds and the name it has now.
            const MemberRecord *known = nullptr;
            for (const auto &m : view.members)
                if (m.machine && *m.machine == r.machine) known = &m;
            if (known && known->direction == MemberDirection::self) continue;
            const MemberDirection direction = known ? known->direction : MemberDirection::reported;
            // A machine's report is the word on its own name: a rename keeps
            // the member (its records follow; a certificate for the old name
            // no longer verifies and is dropped, the new one comes below).
            for (auto &m : view.members)
                if (m.machine && *m.machine == r.machine && m.host != r.host && r.at >= m.since) {
                    m.host = r.host;
                    if (m.pubkey == r.certified_by) m.envoy = r.cert;
                    else if (m.envoy && !verify_envoy_cert(*m.envoy, m.pubkey, m.host)) m.envoy.reset();
                }
            // Two records when the certificate is by an older key: the one
            // it verifies under (what envelopes are sealed by), and the key held.
            MembersView learned{{MemberRecord{r.host, r.at, direction, r.wrapped_digest, r.certified_by, r.cert,
                                              r.machine}}};
            if (!(r.certified_by == r.pubkey))
                learned.members.push_back(
                    MemberRecord{r.host, r.at, direction, r.wrapped_digest, r.pubkey, std::nullopt, r.machine});
            view = merge_members(view, learned);
            if (!known) {
                seen->joined_at = now;
                out.joined.push_back(machine_label(r.host, r.machine));
            }
            // The members it lists with a certificate of this identity are
            // members too, before their own reports reach this machine.
            for (const auto &lm : r.members) {
                if (!lm.cert || !lm.certified_by || lm.machine == self_machine || state.is_evicted(lm.cert->key))
                    continue;
                if (std::any_of(view.members.begin(), view.members.end(),
                                [&](const MemberRecord &m) { return m.machine && *m.machine == lm.machine; }))
                    continue;
                if (!c.gens.of(*lm.certified_by) || !verify_envoy_cert(*lm.cert, *lm.certified_by, lm.host)) continue;
                view = merge_members(view, MembersView{{MemberRecord{lm.host, r.at, MemberDirection::reported,
                                                                     lm.wrapped_digest, *lm.certified_by, lm.cert,
                                                                     lm.machine}}});
                out.joined.push_back(machine_label(lm.host, lm.machine));
                auto s2 = std::find_if(state.machines.begin(), state.machines.end(),
                                       [&](const SeenMachine &m) { return m.machine == lm.machine; });
                if (s2 == state.machines.end() && state.machines.size() < kMaxFleetMachines) {
                    SeenMachine fresh;
                    fresh.machine = lm.machine;
                    fresh.host = lm.host;
                    fresh.envoy = lm.cert->key;
                    fresh.pubkey = *lm.certified_by;
                    fresh.health = "";
                    fresh.joined_at = now;
                    state.machines.push_back(std::move(fresh));
                }
            }
        } catch (const Error &e) {
            refused.push_back({name, e.why()});
        }
        if (refused.size() >= kMaxFleetRefused) break;
    }
    state.refused = std::move(refused);
    if (!(view == before)) save_members(dir, view);
    if (!(state == state_before) || !dir.has(kFleetStateFile)) save_fleet_state(dir, state);

    // ---- write
    try {
        const MembersView full = members_with_self(dir, id, host);
        MachineReport r = own_report(dir, config, id, full, *envoy, c.current, now);
        MachineReport bare = r;
        bare.at = 0;
        const std::string fingerprint = sha256_hex(serialize_report_body(bare));
        const std::string file = self_machine.short_hex() + ".report";
        out.own_file = carrier.file(file);
        const bool due = fingerprint != state.written || now - state.written_at >= kFleetRewriteSeconds ||
                         now < state.written_at || !carrier.has(file);
        if (due) {
            std::vector<EnvoyKey> to{envoy->public_key()};
            std::vector<std::string> unreachable;
            for (const auto &rc : envelope_recipients(full, id.envoy, {}, unreachable))
                if (!state.is_evicted(rc.envoy) && std::find(to.begin(), to.end(), rc.envoy) == to.end() &&
                    to.size() < kMaxFleetReportKeys)
                    to.push_back(rc.envoy);
            r.seq = state.seq + 1;
            const std::string text = seal_report(r, envoy->signing_keypair(), to);
            if (!carrier.exists()) carrier.create();
            carrier.write_atomic(file, as_bytes(text), 0644);
            state.seq = r.seq;
            state.written = fingerprint;
            state.written_at = now;
            save_fleet_state(dir, state);
            out.wrote = true;
        }
    } catch (const Error &e) {
        if (problem.empty()) problem = e.what_failed() + ": " + e.why() + (e.hint().empty() ? "" : "; " + e.hint());
    }
    out.problem = problem;
    return out;
}

void note_evicted(const StateDir &dir, const std::vector<EvictedEnvoy> &evicted) {
    FleetState state = load_fleet_state(dir).value_or(FleetState{});
    bool changed = false;
    for (const auto &e : evicted)
        if (e.envoy && !state.is_evicted(*e.envoy) && state.evicted.size() < kMaxFleetMachines) {
            state.evicted.push_back(*e.envoy);
            changed = true;
        }
    if (changed) save_fleet_state(dir, state);
}

} // namespace puddle
