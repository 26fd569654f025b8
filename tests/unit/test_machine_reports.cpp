// Issue 25: members keyed by machine key, the members-view digest, and the
// machine report (seal, open, refusals) -- docs/formats.md.
#define BOOST_TEST_MODULE machine_reports
#include <boost/test/unit_test.hpp>

#include "support.hpp"

#include "core/envoy_cert.hpp"
#include "core/files/machine_report.hpp"
#include "core/files/fleet_state.hpp"
#include "core/files/members.hpp"
#include "core/fleet_view.hpp"
#include "core/health.hpp"
#include "core/identity_store.hpp"
#include "core/members_view.hpp"
#include "core/rotation.hpp"
#include "core/wrap.hpp"

#include <sodium.h>
#include <sys/stat.h>

using namespace puddle;
using puddle_test::OwnHome;
using puddle_test::TempDir;
BOOST_TEST_GLOBAL_FIXTURE(OwnHome);

namespace {

EnvoySecret fixed_envoy(std::uint8_t fill) {
    std::array<std::uint8_t, 32> s;
    s.fill(fill);
    return EnvoySecret::from_bytes(s);
}

MemberRecord record(const Keypair &id, const EnvoySecret &e, const std::string &host, std::int64_t since) {
    const auto cert = make_envoy_cert(id, e.public_key(), e.signing_key(), host, since);
    return MemberRecord{host, since, MemberDirection::admitted, "sha256:" + std::string(64, '0'), id.public_key(),
                        cert, e.signing_key()};
}

MachineReport report_of(const Keypair &id, const EnvoySecret &e, const std::string &host) {
    MachineReport r;
    r.machine = e.signing_key();
    r.host = host;
    r.seq = 3;
    r.at = 1000;
    r.pubkey = id.public_key();
    r.wrapped_digest = "sha256:" + std::string(64, '1');
    r.cert = make_envoy_cert(id, e.public_key(), e.signing_key(), host, 900);
    r.certified_by = id.public_key();
    r.members = {ReportMember{e.signing_key(), host, r.wrapped_digest, r.cert, id.public_key()}};
    r.members_digest = members_view_digest(std::vector<PublicKey>{e.signing_key()});
    r.health = "warning";
    r.reasons = {"something"};
    return r;
}

std::string why_refused(const std::function<void()> &f) {
    try {
        f();
    } catch (const Error &e) {
        return e.why();
    }
    return "(accepted)";
}

} // namespace

BOOST_AUTO_TEST_CASE(two_machines_of_one_host_name_stay_two_and_a_rename_stays_one) {
    const Keypair id = Keypair::generate();
    const auto b = fixed_envoy(2), c = fixed_envoy(3);
    MembersView v = merge_members(MembersView{{record(id, b, "debian", 10)}}, MembersView{{record(id, c, "debian", 11)}});
    BOOST_TEST(v.members.size() == 2u);
    v = merge_members(v, MembersView{{record(id, c, "renamed", 20)}});
    BOOST_REQUIRE(v.members.size() == 2u);
    BOOST_TEST(v.members[0].host == "debian");
    BOOST_TEST(v.members[1].host == "renamed");
    // Round trip through the file.
    BOOST_TEST((parse_members(as_bytes(serialize_members(v)), "m") == v));
}

BOOST_AUTO_TEST_CASE(an_older_members_file_is_migrated_as_it_is_read) {
    const Keypair id = Keypair::generate();
    const auto b = fixed_envoy(2);
    MemberRecord certified = record(id, b, "b-host", 10);
    certified.machine.reset(); // as written before issue 25
    const Keypair next = Keypair::generate();
    const MemberRecord took{"b-host", 30, MemberDirection::admitted, "sha256:" + std::string(64, '0'),
                            next.public_key(), std::nullopt, std::nullopt};
    const auto v = parse_members(as_bytes(serialize_members(MembersView{{certified, took}})), "m");
    BOOST_REQUIRE(v.members.size() == 2u);
    BOOST_TEST(v.members[0].machine.value() == b.signing_key());
    BOOST_TEST(v.members[1].machine.value() == b.signing_key()); // the one machine of that name
    // A machine key that contradicts the certificate is refused.
    MemberRecord wrong = record(id, b, "b-host", 10);
    wrong.machine = fixed_envoy(9).signing_key();
    BOOST_TEST(why_refused([&] { (void)parse_members(as_bytes(serialize_members(MembersView{{wrong}})), "m"); })
                   .find("is not the machine key its machine certificate names") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(members_view_digest_is_the_sha256_of_the_sorted_hex_keys) {
    const auto a = fixed_envoy(1).signing_key(), b = fixed_envoy(2).signing_key();
    const std::string lo = std::min(to_hex(a.bytes), to_hex(b.bytes)), hi = std::max(to_hex(a.bytes), to_hex(b.bytes));
    const std::string joined = lo + "\n" + hi;
    std::uint8_t h[32];
    crypto_hash_sha256(h, reinterpret_cast<const std::uint8_t *>(joined.data()), joined.size());
    BOOST_TEST(members_view_digest(std::vector<PublicKey>{b, a}) == to_hex(h));
    BOOST_TEST(members_view_digest(std::vector<PublicKey>{a, b, a}) == to_hex(h));
    BOOST_TEST(members_view_digest(std::vector<PublicKey>{}) ==
               "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

BOOST_AUTO_TEST_CASE(a_report_opens_for_its_recipients_only_and_refuses_alteration) {
    const Keypair id = Keypair::generate();
    const auto writer = fixed_envoy(2), reader = fixed_envoy(3), stranger = fixed_envoy(4);
    const MachineReport r = report_of(id, writer, "b-host");
    const std::string text = seal_report(r, writer.signing_keypair(), {writer.public_key(), reader.public_key()});
    std::size_t budget = 100;
    const auto sealed = parse_sealed_report(as_bytes(text), "f");
    BOOST_TEST((open_report(sealed, reader, budget, "f") == r));
    BOOST_TEST(budget <= 99u);
    BOOST_TEST(text.find("b-host") == std::string::npos); // the carrier reads nothing of it
    BOOST_TEST(why_refused([&] { (void)open_report(sealed, stranger, budget, "f"); })
                   .find("not sealed to this machine") != std::string::npos);
    SealedReport altered = sealed;
    altered.box[altered.box.size() / 2] ^= 1;
    BOOST_TEST(why_refused([&] { (void)open_report(altered, reader, budget, "f"); }).find("altered") !=
               std::string::npos);
    // A budget spent refuses without trying.
    std::size_t none = 0;
    BOOST_TEST(why_refused([&] { (void)open_report(sealed, reader, none, "f"); }).find("as many sealed keys") !=
               std::string::npos);
    // Signed by another machine key than the body names: refused.
    BOOST_CHECK_THROW((void)seal_report(r, reader.signing_keypair(), {reader.public_key()}), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(report_body_and_fleet_state_parsers_are_strict) {
    const Keypair id = Keypair::generate();
    const auto writer = fixed_envoy(2);
    const MachineReport r = report_of(id, writer, "b-host");
    const std::string body = serialize_report_body(r);
    BOOST_TEST((parse_report_body(as_bytes(body), "b") == r));
    std::string bad = body;
    bad.replace(bad.find("\"warning\""), 9, "\"fine\"");
    BOOST_TEST(why_refused([&] { (void)parse_report_body(as_bytes(bad), "b"); }).find("must be \"healthy\"") !=
               std::string::npos);
    bad = body;
    bad.insert(1, "\"extra\":1,");
    BOOST_TEST(why_refused([&] { (void)parse_report_body(as_bytes(bad), "b"); }).find("unknown field") !=
               std::string::npos);
    FleetState s;
    s.seq = 4;
    s.written = "ab";
    s.evicted = {writer.public_key()};
    SeenMachine m;
    m.machine = writer.signing_key();
    m.host = "b-host";
    m.envoy = writer.public_key();
    m.seq = 2;
    m.pubkey = id.public_key();
    m.reasons = {"x"};
    s.machines = {m};
    s.refused = {RefusedReport{"f.report", "why"}};
    BOOST_TEST((parse_fleet_state(as_bytes(serialize_fleet_state(s)), "s") == s));
    BOOST_TEST(why_refused([] { (void)parse_fleet_state(as_bytes(std::string("{\"v\":1}")), "s"); }).find("missing") !=
               std::string::npos);
}

namespace {

// A member whose identity rotated once, long ago (Unix second 1000).
struct Rotated {
    TempDir tmp;
    StateDir dir{tmp.path()};
    IdentityStore store{dir};
    Keypair kp = Keypair::generate();
    Keypair fresh = Keypair::generate();
    Rotated() {
        BOOST_REQUIRE(::chmod(tmp.path().c_str(), 0700) == 0);
        const std::string p = "pass";
        const Salt salt = random_salt();
        store.commit(salt, wrap_seed(kp, as_bytes(p), salt, KdfParams{1, 8}), kp.public_key());
        fresh = rotate(store, kp, as_bytes(p), KdfParams{1, 8}, 1000);
    }
    SeenMachine seen(const PublicKey &holds, std::uint8_t fill) const {
        SeenMachine m;
        m.machine = fixed_envoy(fill).signing_key();
        m.host = "other-" + std::to_string(fill);
        m.envoy = fixed_envoy(fill).public_key();
        m.seq = 1;
        m.at = 2000;
        m.pubkey = holds;
        m.health = "healthy";
        return m;
    }
    std::string findings(std::uint32_t behind_days = 14) const {
        Config c;
        c.health.member_behind_days = behind_days;
        Health h;
        add_fleet_findings(dir, c, h);
        std::string all = health_state_name(h.state);
        for (const auto &f : h.findings) all += " | " + f.reason;
        return all;
    }
};

} // namespace

BOOST_FIXTURE_TEST_CASE(fleet_json_findings_behind_other_views_and_forks, Rotated) {
    FleetState s;
    s.machines = {seen(kp.public_key(), 5)}; // still on generation 0
    save_fleet_state(dir, s);
    BOOST_TEST(findings().find("warning | machine other-5 (") == 0u, findings());
    BOOST_TEST(findings().find("still holds generation 0 of 1") != std::string::npos, findings());
    BOOST_TEST(findings(0) == "healthy"); // [health] member_behind_days = 0: never
    // Evicted, last heard of before the rotation that left it out: shown by
    // 'fleet', not a finding.
    s.evicted = {fixed_envoy(5).public_key()};
    s.machines[0].at = 999;
    save_fleet_state(dir, s);
    BOOST_TEST(findings() == "healthy");
    // A report it wrote after that rotation: still in someone's use.
    s.machines[0].at = 2000;
    save_fleet_state(dir, s);
    BOOST_TEST(findings().find("warning | machine other-5 (") == 0u, findings());
    BOOST_TEST(findings().find("was evicted at") != std::string::npos, findings());
    BOOST_TEST(findings().find("with the retired key " + kp.public_key().str()) != std::string::npos, findings());
    // The current generation, but another members view.
    s.evicted.clear();
    s.machines = {seen(fresh.public_key(), 6)};
    s.machines[0].digest = std::string(64, 'a');
    save_fleet_state(dir, s);
    BOOST_TEST(findings().find("sees other members") != std::string::npos, findings());
    // A fork refused at the last reading: Degraded.
    s.machines.clear();
    s.refused = {RefusedReport{"0123456789abcdef.report", "a fork: other (0123456789abcdef) holds ..."}};
    save_fleet_state(dir, s);
    BOOST_TEST(findings().find("degraded | machine report 0123456789abcdef.report refused: a fork") == 0u, findings());
    BOOST_TEST(fleet_notices(dir, 3000).empty());
}
