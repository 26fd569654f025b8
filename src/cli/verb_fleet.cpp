// fleet: every machine of this puddle as their reports say (issue 25,
// core/fleet.hpp). Reads the carrier directory and rewrites this machine's
// report when due; needs the envoy secret, never the passphrase, so it works
// while the session is locked.
#include "cli/args.hpp"
#include "cli/io.hpp"
#include "cli/verbs.hpp"
#include "cli/fleet_sync.hpp"
#include "core/fleet_view.hpp"
#include "core/identity_store.hpp"
#include "util/json.hpp"
#include "util/text.hpp"

#include <cstdio>
#include <ctime>
#include <optional>

namespace puddle::cli {

namespace {

std::string when(std::int64_t t) {
    if (t <= 0) return "never";
    std::time_t tt = std::time_t(t);
    char buf[32] = "?";
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M", std::localtime(&tt));
    return buf;
}

} // namespace

int run_fleet(const std::vector<std::string> &argv) {
    Args args("fleet", argv);
    if (args.value("journal")) return run_fleet_journal(args); // the administrator's roll-up
    if (args.value("html")) usage_error("fleet", "--html writes the roll-up's page: give --journal DIR too");
    const bool sync_only = args.flag("sync");
    if (sync_only && args.flag("json")) usage_error("fleet", "--sync prints no table: leave out --json");
    const Config config = load_config_reporting(ConfigErrors::skip_file);
    // --sync is what puddle-fleet.service runs (hourly, and when the state
    // files change under it): a user without a puddle or without a carrier
    // has nothing to do, and a failed unit would only be noise.
    if (sync_only && config.fleet.directory.empty()) {
        std::printf("no carrier directory ([fleet] directory in puddle.toml): nothing to read or write\n");
        return 0;
    }
    std::optional<OpenState> opened;
    try {
        opened.emplace(open_state(false));
        opened->store.load();
    } catch (const Error &e) {
        if (e.kind() != Failure::not_initialized) throw;
        if (sync_only) {
            std::printf("no puddle on this machine yet: nothing to report\n");
            return 0;
        }
        throw Error(Failure::not_initialized, e.what_failed(), e.why(),
                    e.hint() + "; for the administrator's roll-up of gathered journals: 'puddle fleet --journal DIR'");
    }
    auto &st = *opened;
    const auto now = std::int64_t(std::time(nullptr));
    const FleetSync sync = sync_fleet(st.store, config, now);
    journal_joined(sync.joined);
    if (sync_only) {
        for (const auto &j : sync.joined) std::printf("new machine joined: %s\n", printable(j).c_str());
        if (!sync.problem.empty())
            throw Error(Failure::failed, "cannot update this machine's report", sync.problem,
                        "once that is fixed, 'puddle fleet --sync' (puddle-fleet.timer runs it hourly)");
        std::printf("carrier %s read; this machine's report %s\n", printable(config.fleet.directory).c_str(),
                    sync.wrote ? "rewritten" : "unchanged (rewritten when something changes, and daily)");
        return 0;
    }
    const FleetView view = fleet_view(st.store, config);
    if (args.flag("json")) {
        auto machines = Json::array();
        for (const auto &m : view.machines) {
            auto reasons = Json::array();
            for (const auto &r : m.reasons) reasons.push(Json(r));
            machines.push(Json::object()
                              .set("host", m.host)
                              .set("machine", m.machine.str())
                              .set("short", m.machine.short_hex())
                              .set("self", m.self)
                              .set("generation", m.known_generation ? Json(long(m.generation)) : Json())
                              .set("behind", m.known_generation && m.generation < view.current)
                              .set("last_report", m.last_report > 0 ? Json(m.last_report) : Json())
                              .set("health", m.health.empty() ? Json() : Json(m.health))
                              .set("reasons", std::move(reasons))
                              .set("evicted", m.evicted));
        }
        auto refused = Json::array();
        for (const auto &r : view.refused) refused.push(Json::object().set("file", r.file).set("why", r.why));
        auto joined = Json::array();
        for (const auto &j : sync.joined) joined.push(Json(j));
        std::printf("%s\n", Json::object()
                                .set("carrier", config.fleet.directory.empty() ? Json() : Json(config.fleet.directory))
                                .set("generation", long(view.current))
                                .set("members_digest", view.digest)
                                .set("machines", std::move(machines))
                                .set("joined", std::move(joined))
                                .set("refused", std::move(refused))
                                .set("wrote", sync.wrote)
                                .set("problem", sync.problem.empty() ? Json() : Json(sync.problem))
                                .dump()
                                .c_str());
        return 0;
    }
    if (!sync.configured)
        std::printf("no carrier directory: set [fleet] directory in puddle.toml to exchange machine reports "
                    "(puddle.toml(5)); this is what this machine knows alone\n");
    else
        std::printf("carrier %s; this machine's report %s\n", printable(config.fleet.directory).c_str(),
                    sync.wrote ? "rewritten" : "unchanged");
    for (const auto &j : sync.joined) std::printf("new machine joined: %s\n", printable(j).c_str());
    std::printf("generation %llu; members view %s\n", (unsigned long long)view.current, view.digest.substr(0, 16).c_str());
    std::printf("  %-24s %-16s %-10s %-16s %s\n", "HOST", "MACHINE", "GEN", "LAST REPORT", "HEALTH");
    for (const auto &m : view.machines) {
        std::string gen = m.known_generation ? std::to_string(m.generation) : "?";
        if (m.known_generation && m.generation < view.current) gen += " behind";
        std::printf("  %-24s %-16s %-10s %-16s %s%s%s\n", printable(m.host, 64).c_str(), m.machine.short_hex().c_str(),
                    gen.c_str(), when(m.last_report).c_str(), m.health.empty() ? "?" : m.health.c_str(),
                    m.evicted ? "  EVICTED" : "", m.self ? "  (this machine)" : "");
        for (const auto &r : m.reasons) std::printf("      %s\n", printable(r, 400).c_str());
    }
    for (const auto &r : view.refused)
        std::printf("refused %s: %s\n", printable(r.file).c_str(), printable(r.why, 400).c_str());
    if (!sync.problem.empty()) std::fprintf(stderr, "puddle: warning: %s\n", printable(sync.problem, 600).c_str());
    return 0;
}

} // namespace puddle::cli
