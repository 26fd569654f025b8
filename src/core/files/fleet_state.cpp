#include "core/files/fleet_state.hpp"

#include "core/files/json_reader.hpp"
#include "core/files/members.hpp"

#include <algorithm>

namespace puddle {
using namespace files_detail;

namespace {

const std::string kHint = "fleet.json is only what this machine learned from machine reports: move it aside and "
                          "'puddle fleet' reads the carrier directory again";

EnvoyKey envoy_field(const ObjectReader &r, const char *name) {
    std::string why;
    const auto k = parse_envoy_key(r.string(name), &why);
    if (!k) r.fail(r.field(name) + ": " + why);
    return *k;
}

std::uint64_t count(const ObjectReader &r, const char *name) {
    const auto v = r.integer(name);
    if (v < 0) r.fail(r.field(name) + " must not be negative");
    return std::uint64_t(v);
}

} // namespace

bool FleetState::is_evicted(const EnvoyKey &k) const {
    return std::find(evicted.begin(), evicted.end(), k) != evicted.end();
}

FleetState parse_fleet_state(std::span<const std::uint8_t> bytes, const std::string &label) {
    const Source src{label, kHint};
    const Json doc = parse_document(src, bytes, kMaxFleetStateBytes);
    const ObjectReader top(src, doc, "");
    top.version();
    top.only({"v", "seq", "written_at", "written", "evicted", "machines", "refused"});
    FleetState s;
    s.seq = count(top, "seq");
    s.written_at = std::int64_t(count(top, "written_at"));
    s.written = top.string("written");
    if (s.written.size() > 64) top.fail(top.field("written") + " is longer than 64 characters");
    const auto &ev = top.array("evicted");
    if (ev.size() > kMaxFleetMachines) top.fail("more than " + std::to_string(kMaxFleetMachines) + " evicted keys");
    for (const auto &e : ev) {
        std::string why;
        const auto k = e.as_string() ? parse_envoy_key(*e.as_string(), &why) : std::nullopt;
        if (!k) top.fail(top.field("evicted") + " must hold sealing keys (x25519:<hex>)");
        s.evicted.push_back(*k);
    }
    const auto &ms = top.array("machines");
    if (ms.size() > kMaxFleetMachines) top.fail("more than " + std::to_string(kMaxFleetMachines) + " machines");
    for (std::size_t i = 0; i < ms.size(); ++i) {
        const ObjectReader r(src, ms[i], "machines[" + std::to_string(i) + "]");
        r.only({"machine", "host", "envoy", "seq", "hash", "at", "pubkey", "generation", "digest", "health", "reasons",
                "joined_at"});
        SeenMachine m;
        m.machine = r.key("machine");
        m.host = r.string("host");
        std::string why;
        if (!valid_host(m.host, &why)) r.fail(r.field("host") + ": " + why);
        m.envoy = envoy_field(r, "envoy");
        m.seq = count(r, "seq");
        m.hash = r.string("hash");
        m.at = std::int64_t(count(r, "at"));
        m.pubkey = r.key("pubkey");
        m.generation = count(r, "generation");
        m.digest = r.string("digest");
        m.health = r.string("health");
        if (m.hash.size() > 64 || m.digest.size() > 64 || m.health.size() > 16)
            r.fail("field \"hash\", \"digest\" or \"health\" is too long");
        const auto &reasons = r.array("reasons");
        if (reasons.size() > 64) r.fail("more than 64 reasons");
        for (const auto &x : reasons) {
            if (!x.as_string() || x.as_string()->size() > 1024) r.fail(r.field("reasons") + " must hold short strings");
            m.reasons.push_back(*x.as_string());
        }
        m.joined_at = std::int64_t(count(r, "joined_at"));
        s.machines.push_back(std::move(m));
    }
    const auto &rf = top.array("refused");
    if (rf.size() > kMaxFleetRefused) top.fail("more than " + std::to_string(kMaxFleetRefused) + " refused reports");
    for (std::size_t i = 0; i < rf.size(); ++i) {
        const ObjectReader r(src, rf[i], "refused[" + std::to_string(i) + "]");
        r.only({"file", "why"});
        RefusedReport x{r.string("file"), r.string("why")};
        if (x.file.size() > 255 || x.why.size() > 2048) r.fail("a refused report's file or reason is too long");
        s.refused.push_back(std::move(x));
    }
    return s;
}

std::string serialize_fleet_state(const FleetState &s) {
    auto ev = Json::array();
    for (const auto &e : s.evicted) ev.push(Json(e.str()));
    auto ms = Json::array();
    for (const auto &m : s.machines) {
        auto reasons = Json::array();
        for (const auto &x : m.reasons) reasons.push(Json(x));
        ms.push(Json::object()
                    .set("machine", m.machine.str())
                    .set("host", m.host)
                    .set("envoy", m.envoy.str())
                    .set("seq", std::int64_t(m.seq))
                    .set("hash", m.hash)
                    .set("at", m.at)
                    .set("pubkey", m.pubkey.str())
                    .set("generation", std::int64_t(m.generation))
                    .set("digest", m.digest)
                    .set("health", m.health)
                    .set("reasons", std::move(reasons))
                    .set("joined_at", m.joined_at));
    }
    auto rf = Json::array();
    for (const auto &r : s.refused) rf.push(Json::object().set("file", r.file).set("why", r.why));
    return Json::object()
               .set("v", kVersion)
               .set("seq", std::int64_t(s.seq))
               .set("written_at", s.written_at)
               .set("written", s.written)
               .set("evicted", std::move(ev))
               .set("machines", std::move(ms))
               .set("refused", std::move(rf))
               .dump() +
           "\n";
}

std::optional<FleetState> load_fleet_state(const StateDir &dir) {
    if (!dir.has(kFleetStateFile)) return std::nullopt;
    return parse_fleet_state(dir.read(kFleetStateFile, kMaxFleetStateBytes, FileTrust::private_file),
                             dir.file(kFleetStateFile));
}

void save_fleet_state(const StateDir &dir, const FleetState &s) {
    const std::string text = serialize_fleet_state(s);
    dir.write_atomic(kFleetStateFile, as_bytes(text), 0600);
}

} // namespace puddle
