// Every state file through its codec in core/files: the typed loader and
// saver on a real state directory (name, mode, bytes), and the lenient
// readers of the files the agent and the listener write for others
// (session.unlocked, <purpose>.result, unlock.failed).
#define BOOST_TEST_MODULE state_codecs
#ifndef BOOST_TEST_DYN_LINK
#define BOOST_TEST_DYN_LINK
#endif
#include <boost/test/unit_test.hpp>

#include "support.hpp"

#include "core/files/members.hpp"
#include "core/files/name_claim.hpp"
#include "core/files/pair_result.hpp"
#include "core/files/pending.hpp"
#include "core/files/rotation_log.hpp"
#include "core/files/requesters.hpp"
#include "core/files/session_file.hpp"
#include "core/files/unlock_failed.hpp"
#include "core/statedir.hpp"

#include <string>
#include <sys/stat.h>

using namespace puddle;
using puddle_test::EnvVar;
using puddle_test::mode_of;
using puddle_test::read_file;
using puddle_test::TempDir;
using puddle_test::write_file;

namespace {

struct StateFixture {
    TempDir tmp;
    StateDir dir{tmp.path()};
    // This machine's envoy secret goes under $HOME: a home of the test's own.
    TempDir home;
    EnvVar home_env{"HOME", home.path()};
    StateFixture() { BOOST_REQUIRE(::chmod(tmp.path().c_str(), 0700) == 0); }
};

} // namespace

// ---- the strict formats: loaders find nothing when absent, savers write the canonical text ----

BOOST_FIXTURE_TEST_CASE(pending_saves_0600_and_loads_back, StateFixture) {
    BOOST_TEST(!load_pending(dir, kPairPendingFile));
    const PairPending p{"pair", "01234567", 100, 400};
    save_pending(dir, kPairPendingFile, p);
    BOOST_TEST(read_file(tmp / "pair.pending") == serialize_pair_pending(p));
    BOOST_TEST(mode_of(tmp / "pair.pending") == 0600u);
    BOOST_TEST((*load_pending(dir, kPairPendingFile) == p));
}

BOOST_FIXTURE_TEST_CASE(a_broken_pending_file_is_named_in_the_error, StateFixture) {
    write_file(tmp / "rekey.pending", "{");
    auto err = puddle_test::catch_error([&] { load_pending(dir, kRekeyPendingFile); });
    BOOST_REQUIRE(err);
    BOOST_TEST(err->what_failed() == "cannot read " + (tmp / "rekey.pending"));
}

BOOST_FIXTURE_TEST_CASE(members_save_0600_and_load_back, StateFixture) {
    BOOST_TEST(!load_members(dir));
    const auto kp = Keypair::generate();
    const MembersView view{{MemberRecord{"h1", 5, MemberDirection::self, wrapped_digest(as_bytes("w")), kp.public_key()}}};
    save_members(dir, view);
    BOOST_TEST(read_file(tmp / "members.json") == serialize_members(view));
    BOOST_TEST(mode_of(tmp / "members.json") == 0600u);
    BOOST_TEST((*load_members(dir) == view));
}

BOOST_FIXTURE_TEST_CASE(the_rotation_log_loads_parsed_or_as_its_bytes, StateFixture) {
    BOOST_TEST(!load_rotation_log(dir));
    BOOST_TEST(load_rotation_log_text(dir).empty());
    write_file(tmp / "retired_puddles.json", " []\n");
    BOOST_TEST(load_rotation_log(dir)->empty());
    BOOST_TEST(load_rotation_log_text(dir) == " []\n"); // handed on as it is, not re-serialized
}

BOOST_FIXTURE_TEST_CASE(name_claim_saves_0644_and_loads_back, StateFixture) {
    BOOST_TEST(!load_name_claim(dir));
    const auto claim = make_name_claim(Keypair::generate(), "laptop", 7);
    save_name_claim(dir, claim);
    BOOST_TEST(read_file(tmp / "name-claim.json") == serialize_name_claim(claim));
    BOOST_TEST(mode_of(tmp / "name-claim.json") == 0644u);
    BOOST_TEST((*load_name_claim(dir) == claim));
}

// ---- session.unlocked ----

BOOST_AUTO_TEST_CASE(session_file_text_is_the_agents) {
    const SessionFile f{1234, 0, 1700000000, 900, "ed25519:ab"};
    BOOST_TEST(serialize_session_file(f) ==
               "{\"agent_pid\":1234,\"watch_pid\":0,\"lock_deadline\":1700000000,\"idle_timeout_s\":900,"
               "\"pubkey\":\"ed25519:ab\"}\n");
}

BOOST_FIXTURE_TEST_CASE(session_file_round_trips_and_is_removed, StateFixture) {
    BOOST_TEST(!load_session_file(dir));
    save_session_file(dir, SessionFile{42, 7, 99, 60, "ed25519:cd"});
    BOOST_TEST(mode_of(tmp / "session.unlocked") == 0600u);
    const auto view = load_session_file(dir);
    BOOST_REQUIRE(view);
    BOOST_TEST(*view->agent_pid == 42);
    BOOST_TEST(*view->lock_deadline == 99);
    BOOST_TEST(*view->pubkey == "ed25519:cd");
    remove_session_file(dir);
    BOOST_TEST(!load_session_file(dir));
    remove_session_file(dir); // absent is fine
}

BOOST_AUTO_TEST_CASE(a_damaged_session_file_reads_as_fields_absent) {
    const auto garbage = parse_session_file(as_bytes("not json"));
    BOOST_TEST(!garbage.agent_pid);
    BOOST_TEST(!garbage.pubkey);
    const auto mistyped = parse_session_file(as_bytes(R"({"agent_pid":"1","lock_deadline":5,"pubkey":3})"));
    BOOST_TEST(!mistyped.agent_pid);
    BOOST_TEST(*mistyped.lock_deadline == 5);
    BOOST_TEST(!mistyped.pubkey);
}

// ---- <purpose>.result ----

BOOST_AUTO_TEST_CASE(pair_result_text_is_the_listeners) {
    const PairResult r{"pair", 100, "claimed", "laptop", "192.0.2.1:4000", 130};
    BOOST_TEST(serialize_pair_result(r) == "{\"v\":1,\"purpose\":\"pair\",\"created\":100,\"result\":\"claimed\","
                                           "\"host\":\"laptop\",\"peer\":\"192.0.2.1:4000\",\"at\":130}\n");
    BOOST_TEST(pair_result_file("rekey") == "rekey.result");
}

BOOST_FIXTURE_TEST_CASE(pair_result_round_trips_per_purpose, StateFixture) {
    BOOST_TEST(!load_pair_result(dir, "pair"));
    save_pair_result(dir, PairResult{"rekey", 100, "burned", "", "peer", 130});
    BOOST_TEST(mode_of(tmp / "rekey.result") == 0600u);
    BOOST_TEST(!load_pair_result(dir, "pair"));
    const auto r = load_pair_result(dir, "rekey");
    BOOST_REQUIRE(r);
    BOOST_TEST(*r->created == 100);
    BOOST_TEST(r->result == "burned");
    BOOST_TEST(r->peer == "peer");
    remove_pair_result(dir, "rekey");
    BOOST_TEST(!load_pair_result(dir, "rekey"));
}

BOOST_AUTO_TEST_CASE(an_unreadable_result_is_not_there_yet) {
    BOOST_TEST(!parse_pair_result(as_bytes("{\"created\":")));
    const auto partial = parse_pair_result(as_bytes(R"({"result":"claimed"})"));
    BOOST_REQUIRE(partial);
    BOOST_TEST(!partial->created); // so it matches no code
    BOOST_TEST(partial->host.empty());
}

// ---- unlock.failed ----

BOOST_FIXTURE_TEST_CASE(unlock_failure_round_trips_and_is_cleared, StateFixture) {
    BOOST_TEST(!load_unlock_failure(dir));
    save_unlock_failure(dir, UnlockFailure{1700000000, "the keyring refused"});
    BOOST_TEST(read_file(tmp / "unlock.failed") == "{\"time\":1700000000,\"reason\":\"the keyring refused\"}\n");
    BOOST_TEST(mode_of(tmp / "unlock.failed") == 0600u);
    const auto view = load_unlock_failure(dir);
    BOOST_REQUIRE(view);
    BOOST_TEST(*view->time == 1700000000);
    BOOST_TEST(*view->reason == "the keyring refused");
    remove_unlock_failure(dir);
    BOOST_TEST(!load_unlock_failure(dir));
    remove_unlock_failure(dir);
}

BOOST_AUTO_TEST_CASE(a_damaged_unlock_failure_reads_as_fields_absent) {
    const auto view = parse_unlock_failure(as_bytes("\x01garbage"));
    BOOST_TEST(!view.time);
    BOOST_TEST(!view.reason);
}

// ---- requesters.json: who used the key before ----

BOOST_FIXTURE_TEST_CASE(requesters_save_0600_and_load_back, StateFixture) {
    BOOST_TEST(!load_requesters(dir));
    RequestersView v;
    BOOST_TEST(add_requester(v, {"/usr/bin/git", "session-3.scope", 100}));
    BOOST_TEST(!add_requester(v, {"/usr/bin/git", "other.scope", 200})); // known: first sight stays
    BOOST_TEST(add_requester(v, {"[gone]", "", 300}));
    save_requesters(dir, v);
    BOOST_TEST(read_file(tmp / "requesters.json") ==
               R"({"v":1,"requesters":[{"program":"/usr/bin/git","unit":"session-3.scope","first_seen":100},)"
               R"({"program":"[gone]","unit":"","first_seen":300}]})"
               "\n");
    BOOST_TEST(mode_of(tmp / "requesters.json") == 0600u);
    auto back = load_requesters(dir);
    BOOST_REQUIRE(back);
    BOOST_REQUIRE(back->requesters.size() == 2u);
    BOOST_TEST(back->requesters[0].unit == "session-3.scope");
    BOOST_TEST(back->requesters[1].first_seen == 300);
}

BOOST_AUTO_TEST_CASE(requesters_are_bounded_oldest_first_out) {
    RequestersView v;
    for (std::size_t i = 0; i < kMaxRequesters + 5; ++i)
        BOOST_TEST(add_requester(v, {"/p/" + std::to_string(i), "", std::int64_t(i)}));
    BOOST_TEST(v.requesters.size() == kMaxRequesters);
    BOOST_TEST(v.requesters.front().program == "/p/5");
    BOOST_TEST(parse_requesters(as_bytes(serialize_requesters(v))).requesters.size() == kMaxRequesters);
}

BOOST_AUTO_TEST_CASE(a_bad_requesters_file_says_where) {
    struct Case {
        const char *text, *says;
    };
    for (const auto &c : {
             Case{"{", "JSON"},
             Case{R"({"v":2,"requesters":[]})", "format version 2"},
             Case{R"({"v":1})", "missing field \"requesters\""},
             Case{R"({"v":1,"requesters":[{"program":"","unit":"","first_seen":1}]})", "requesters[0]"},
             Case{R"({"v":1,"requesters":[{"program":"a","unit":"","first_seen":-1}]})", "negative"},
             Case{R"({"v":1,"requesters":[{"program":"a","unit":"","first_seen":1,"x":1}]})", "unknown field \"x\""},
             Case{R"({"v":1,"requesters":[{"program":"a","unit":"","first_seen":1},{"program":"a","unit":"","first_seen":2}]})",
                  "requesters[1] repeats the program"},
             Case{R"({"v":1,"requesters":[{"program":"a","unit":5,"first_seen":1}]})", "must be a string"},
         }) {
        BOOST_TEST_CONTEXT(c.text) {
            auto err = puddle_test::catch_error([&] { parse_requesters(as_bytes(std::string(c.text))); });
            BOOST_REQUIRE(err);
            BOOST_TEST(err->why().find(c.says) != std::string::npos, err->why());
            BOOST_TEST(err->what_failed() == "cannot read requesters.json");
        }
    }
}
