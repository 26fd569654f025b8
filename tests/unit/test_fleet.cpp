// The fleet roll-up (puddle fleet --journal): a status entry written and read
// back, the reader's refusals of hostile fields, the roll-up's counts and
// disagreements, the members-view digest, and the HTML page's escaping.
#define BOOST_TEST_MODULE fleet
#ifndef BOOST_TEST_DYN_LINK
#define BOOST_TEST_DYN_LINK
#endif
#include <boost/test/unit_test.hpp>

#include "cli/fleet_page.hpp"
#include "core/encoding.hpp"
#include "core/fleet_rollup.hpp"
#include "core/members_view.hpp"
#include "core/status_entry.hpp"
#include "util/error.hpp"

#include <sodium.h>

using namespace puddle;
using namespace puddle::cli;

namespace {

std::string key(char c) { return "ed25519:" + std::string(64, c); }

StatusEntry entry(const std::string &user, std::int64_t uid, const std::string &host, char machine, char pub,
                  std::uint64_t generation = 0, std::uint64_t t = 1000) {
    StatusEntry e;
    e.user = user;
    e.uid = uid;
    e.key = key(pub);
    e.first_key = key(pub);
    e.host = host;
    e.machine_key = key(machine);
    e.generation = generation;
    e.members_digest = std::string(64, 'd');
    e.time_usec = t;
    return e;
}

// The fields as the journal hands them back: PUDDLE_* and _UID.
EntryFields as_read(const StatusEntry &e) {
    EntryFields f;
    for (const auto &kv : status_entry_fields(e)) {
        const auto eq = kv.find('=');
        if (kv.starts_with("PUDDLE_")) f[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    f["_UID"] = std::to_string(e.uid);
    return f;
}

std::string refusal(EntryFields f) {
    try {
        parse_status_entry(f, 1);
    } catch (const Error &e) {
        return e.why();
    }
    return "";
}

} // namespace

BOOST_AUTO_TEST_CASE(an_entry_reads_back_as_written) {
    StatusEntry e = entry("alice", 1000, "box", 'a', 'b', 3, 77);
    e.name = "alice-laptop";
    e.unlocked = true;
    e.health = "warning";
    e.reasons = {"warning: one", "degraded: two"};
    const StatusEntry back = parse_status_entry(as_read(e), 77);
    BOOST_TEST((back == e));
    BOOST_TEST(same_status(e, back));
    const auto fields = status_entry_fields(e);
    BOOST_TEST(fields[0] == std::string("MESSAGE_ID=") + status_message::kId);
}

BOOST_AUTO_TEST_CASE(hostile_fields_are_refused_with_the_field_named) {
    const EntryFields good = as_read(entry("alice", 1000, "box", 'a', 'b'));
    BOOST_TEST(refusal(good) == "");
    auto with = [&](const std::string &name, const std::string &value) {
        EntryFields f = good;
        f[name] = value;
        return refusal(f);
    };
    auto without = [&](const std::string &name) {
        EntryFields f = good;
        f.erase(name);
        return refusal(f);
    };
    BOOST_TEST(without("PUDDLE_KEY").find("PUDDLE_KEY is missing") == 0);
    BOOST_TEST(without("_UID").find("_UID is missing") == 0);
    BOOST_TEST(with("PUDDLE_STATUS_V", "2").find("another version") != std::string::npos);
    BOOST_TEST(with("PUDDLE_KEY", "ed25519:zz").find("PUDDLE_KEY is not an Ed25519 key") == 0);
    BOOST_TEST(with("PUDDLE_MACHINE_KEY", "x").find("PUDDLE_MACHINE_KEY") == 0);
    BOOST_TEST(with("PUDDLE_NAME", "a\x1b[31m").find("control character") != std::string::npos);
    BOOST_TEST(with("PUDDLE_NAME", "a\xc2\x85").find("control character") != std::string::npos);
    BOOST_TEST(with("PUDDLE_NAME", "\xff").find("not UTF-8") != std::string::npos);
    BOOST_TEST(with("PUDDLE_NAME", std::string(65, 'a')).find("more than 64") != std::string::npos);
    BOOST_TEST(with("PUDDLE_HOST", "a b").find("PUDDLE_HOST") == 0);
    BOOST_TEST(with("PUDDLE_USER", "").find("PUDDLE_USER is empty") == 0);
    BOOST_TEST(with("PUDDLE_GENERATION", "-1").find("decimal") != std::string::npos);
    BOOST_TEST(with("PUDDLE_GENERATION", "01").find("decimal") != std::string::npos);
    BOOST_TEST(with("PUDDLE_GENERATION", "1000000000000000").find("decimal") != std::string::npos);
    BOOST_TEST(with("PUDDLE_UNLOCKED", "yep").find("neither yes nor no") != std::string::npos);
    BOOST_TEST(with("PUDDLE_HEALTH", "fine").find("PUDDLE_HEALTH") == 0);
    BOOST_TEST(with("PUDDLE_HEALTH_REASONS", "a\n").find("empty line") != std::string::npos);
    std::string many;
    for (int i = 0; i < 17; ++i) many += (i ? "\n" : "") + std::string("r");
    BOOST_TEST(with("PUDDLE_HEALTH_REASONS", many).find("more than 16") != std::string::npos);
    BOOST_TEST(with("PUDDLE_MEMBERS_DIGEST", std::string(64, 'G')).find("lowercase hex") != std::string::npos);
    BOOST_TEST(with("PUDDLE_OTHER", std::string(5000, 'x')).find("more than 4096") != std::string::npos);
    BOOST_TEST(with("_UID", "4294967295").find("not a uid") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(the_newest_entry_per_machine_and_user_counts) {
    std::vector<StatusEntry> es = {
        entry("alice", 1000, "one", 'a', '1', 0, 10),
        entry("alice", 1000, "one", 'a', '1', 0, 20), // the same seat, newer
        entry("alice", 1000, "two", 'b', '1', 0, 10), // a second machine
        entry("bob", 1001, "one", 'c', '2', 0, 10),
    };
    es[1].unlocked = true;
    es[1].name = "alice";
    const auto p = roll_up(es);
    BOOST_TEST_REQUIRE(p.size() == 2u);
    BOOST_TEST(owner_label(p[0]) == "alice");
    BOOST_TEST(p[0].machines == 2u);
    BOOST_TEST(p[0].seats.size() == 2u);
    BOOST_TEST(p[0].unlocked == 1u);
    BOOST_TEST(p[0].users == std::vector<std::string>{"alice"});
    BOOST_TEST((p[0].badge == HealthState::healthy));
    BOOST_TEST(owner_label(p[1]) == "(unnamed)");
    BOOST_TEST(p[1].machines == 1u);
    BOOST_TEST(p[1].unlocked == 0u);
    // An older entry arriving later does not replace the newer.
    std::vector<StatusEntry> late = {es[1], es[0]};
    BOOST_TEST(roll_up(late)[0].unlocked == 1u);
}

BOOST_AUTO_TEST_CASE(disagreements_make_the_badge) {
    // One lineage: machine b is behind (generation 0), c took generation 1.
    StatusEntry a = entry("alice", 1000, "one", 'a', '2', 1);
    StatusEntry b = entry("alice", 1000, "two", 'b', '1', 0);
    StatusEntry c = entry("carol", 1002, "three", 'c', '2', 1);
    a.first_key = b.first_key = c.first_key = key('1');
    c.members_digest = std::string(64, 'e');
    auto p = roll_up({a, b, c});
    BOOST_TEST_REQUIRE(p.size() == 1u);
    BOOST_TEST(p[0].key == key('2'));
    BOOST_TEST(p[0].generation == 1u);
    BOOST_TEST(p[0].machines == 3u);
    BOOST_TEST((p[0].users == std::vector<std::string>{"alice", "carol"}));
    BOOST_TEST((p[0].badge == HealthState::warning));
    std::string all;
    for (const auto &f : p[0].findings) all += f + "\n";
    BOOST_TEST(all.find("warning: alice@two is behind: it holds generation 0") != std::string::npos, all);
    BOOST_TEST(all.find("warning: members views differ") != std::string::npos, all);
    // A fork: two keys at the newest generation.
    StatusEntry d = entry("dave", 1003, "four", 'd', '3', 1);
    d.first_key = key('1');
    p = roll_up({a, d});
    BOOST_TEST((p[0].badge == HealthState::degraded));
    BOOST_TEST(p[0].findings[0].find("degraded: fork: generation 1 has 2 keys") == 0);
    // A machine reporting degraded passes it on, with why.
    StatusEntry e = entry("erin", 1004, "five", 'e', '5');
    e.health = "degraded";
    e.reasons = {"degraded: identity.wrapped is damaged"};
    p = roll_up({e});
    BOOST_TEST((p[0].badge == HealthState::degraded));
    BOOST_TEST(p[0].findings.at(0) == "erin@five: degraded: identity.wrapped is damaged");
}

BOOST_AUTO_TEST_CASE(members_view_digest_is_the_sorted_machine_keys) {
    MembersView v;
    for (char c : {'b', 'a'}) {
        MemberRecord m;
        EnvoyCert cert;
        PublicKey k;
        k.bytes.fill(std::uint8_t(c));
        cert.signer = k;
        m.envoy = cert;
        v.members.push_back(m);
    }
    v.members.push_back(MemberRecord{}); // no certificate: adds nothing
    const std::string joined = to_hex(std::vector<std::uint8_t>(32, 'a')) + "\n" + to_hex(std::vector<std::uint8_t>(32, 'b'));
    std::uint8_t h[32];
    crypto_hash_sha256(h, reinterpret_cast<const unsigned char *>(joined.data()), joined.size());
    BOOST_TEST(members_view_digest(v) == to_hex(h));
    std::reverse(v.members.begin(), v.members.end());
    BOOST_TEST(members_view_digest(v) == to_hex(h));
}

BOOST_AUTO_TEST_CASE(the_page_escapes_every_field) {
    StatusEntry e = entry("alice", 1000, "<b>x&y\"'", 'a', '1');
    e.name = "<script>alert(1)</script>";
    e.health = "warning";
    e.reasons = {"warning: <img src=x onerror=alert(2)>"};
    FleetReport r;
    r.source = "/var/log/<journal>";
    r.puddles = roll_up({e});
    const std::string html = fleet_html(r);
    BOOST_TEST(html.find("<script>") == std::string::npos);
    BOOST_TEST(html.find("<img") == std::string::npos);
    BOOST_TEST(html.find("&lt;script&gt;alert(1)&lt;/script&gt;") != std::string::npos);
    BOOST_TEST(html.find("&lt;b&gt;x&amp;y&quot;&#39;") != std::string::npos);
    BOOST_TEST(html.find("/var/log/&lt;journal&gt;") != std::string::npos);
    BOOST_TEST(html_escape("a\x1b[31m") == "a\\x1b[31m");
    const Json j = fleet_json(r);
    BOOST_TEST(*j.get("puddles")->as_array()->at(0).get("owner")->as_string() == "<script>alert(1)</script>");
    BOOST_TEST(fleet_text(r).find("\x1b") == std::string::npos);
}
