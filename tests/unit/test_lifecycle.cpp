// The identity's lifecycle in core: rotating it (core/rotation), accepting a
// rotation from another member, and the members bookkeeping of a join on
// both sides (core/membership), each on a real state directory.
#define BOOST_TEST_MODULE lifecycle
#ifndef BOOST_TEST_DYN_LINK
#define BOOST_TEST_DYN_LINK
#endif
#include <boost/test/unit_test.hpp>

#include "support.hpp"

#include "core/identity_store.hpp"
#include "core/membership.hpp"
#include "core/rotation.hpp"
#include "core/wrap.hpp"

#include <string>
#include <sys/stat.h>

using namespace puddle;
using puddle_test::catch_error;
using puddle_test::mode_of;
using puddle_test::TempDir;

using puddle_test::OwnHome;
BOOST_TEST_GLOBAL_FIXTURE(OwnHome);

namespace {

const KdfParams kCheap{1, 8};

std::span<const std::uint8_t> pass() {
    static const std::string p = "pass";
    return as_bytes(p);
}

// A member envoy: an identity committed to a 0700 state directory.
struct Envoy {
    TempDir tmp;
    StateDir dir{tmp.path()};
    IdentityStore store{dir};
    Keypair kp = Keypair::generate();
    Salt salt = random_salt();
    WrappedBytes wrapped = wrap_seed(kp, pass(), salt, kCheap);

    Envoy() {
        BOOST_REQUIRE(::chmod(tmp.path().c_str(), 0700) == 0);
        store.commit(salt, wrapped, kp.public_key());
    }
};

} // namespace

// ---- rotation ----

BOOST_FIXTURE_TEST_CASE(rotate_commits_a_fresh_key_and_a_signed_record, Envoy) {
    const Keypair fresh = rotate(store, kp, pass(), kCheap, 1000);
    const auto id = store.load();
    BOOST_TEST(id.pub == fresh.public_key());
    BOOST_TEST(unwrap_seed(id.wrapped, pass(), id.salt, id.pub).public_key() == fresh.public_key());
    const auto log = load_rotation_log(dir);
    BOOST_REQUIRE(log);
    BOOST_REQUIRE(log->size() == 1u);
    BOOST_TEST((*log)[0].old_key == kp.public_key());
    BOOST_TEST((*log)[0].new_key == fresh.public_key());
    BOOST_TEST((*log)[0].at == 1000);
    BOOST_TEST(verify_rotation((*log)[0]));
}

BOOST_FIXTURE_TEST_CASE(a_rotation_offer_must_lead_from_our_key, Envoy) {
    Envoy holder; // rotates twice from its own key
    const Keypair a = rotate(holder.store, holder.kp, pass(), kCheap, 10);
    const Keypair b = rotate(holder.store, a, pass(), kCheap, 20);
    const std::string log = load_rotation_log_text(holder.dir);

    const auto path = check_rotation_offer(log, holder.kp.public_key(), b.public_key());
    BOOST_TEST(path.size() == 2u);

    auto err = catch_error([&] { check_rotation_offer(log, kp.public_key(), b.public_key()); });
    BOOST_REQUIRE(err);
    BOOST_TEST(err->kind() == Failure::failed);
    BOOST_TEST(err->why() == "the rotated key " + b.public_key().str() + " does not descend from the key this machine holds, " +
                                 kp.public_key().str());
    BOOST_TEST(err->hint() == "this machine belongs to a different puddle, or misses a rotation");
}

BOOST_FIXTURE_TEST_CASE(a_forked_rotation_offer_is_refused, Envoy) {
    const auto x = Keypair::generate(), y = Keypair::generate();
    const RotationLog forked{make_rotation_record(kp, x, 1), make_rotation_record(kp, y, 2)};
    auto err = catch_error([&] { check_rotation_offer(serialize_rotation_log(forked), kp.public_key(), x.public_key()); });
    BOOST_REQUIRE(err);
    BOOST_TEST(err->why() == "the holder's rotation log forks: two rotations from " + kp.public_key().str());
}

BOOST_FIXTURE_TEST_CASE(adopt_rotation_appends_the_path_and_takes_the_key, Envoy) {
    const auto fresh = Keypair::generate();
    const Salt s2 = random_salt();
    const WrappedBytes w2 = wrap_seed(fresh, pass(), s2, kCheap);
    const std::vector<RotationRecord> path{make_rotation_record(kp, fresh, 5)};
    adopt_rotation(store, kp.public_key(), path, s2, w2, fresh.public_key());
    BOOST_TEST(store.load().pub == fresh.public_key());
    BOOST_TEST((*load_rotation_log(dir) == RotationLog(path.begin(), path.end())));

    // Rotated meanwhile: refused, nothing written.
    auto err = catch_error([&] { adopt_rotation(store, kp.public_key(), path, s2, w2, fresh.public_key()); });
    BOOST_REQUIRE(err);
    BOOST_TEST(err->why() == "the identity changed meanwhile; run the command again");
}

// ---- membership ----

BOOST_FIXTURE_TEST_CASE(the_holder_hands_out_its_view_with_itself, Envoy) {
    const auto id = store.load();
    const auto view = parse_members(as_bytes(members_for_joiner(dir, id, "holder", 50)), "x");
    BOOST_REQUIRE(view.members.size() == 1u);
    BOOST_TEST(view.members[0].host == "holder");
    BOOST_TEST(view.members[0].since == 50);
    BOOST_TEST((view.members[0].direction == MemberDirection::self));
    BOOST_TEST(view.members[0].wrapped_digest == wrapped_digest(wrapped));
    BOOST_TEST(!load_members(dir)); // handing out writes nothing
}

BOOST_FIXTURE_TEST_CASE(record_admitted_adds_the_joiner, Envoy) {
    const auto id = store.load();
    record_admitted(dir, id, "newbie", 60);
    const auto view = load_members(dir);
    BOOST_REQUIRE(view);
    BOOST_REQUIRE(view->members.size() == 1u);
    BOOST_TEST(view->members[0].host == "newbie");
    BOOST_TEST((view->members[0].direction == MemberDirection::admitted));
    BOOST_TEST(mode_of(dir.file(kMembersFile)) == 0600u);
}

BOOST_AUTO_TEST_CASE(a_join_takes_the_identity_and_the_relabelled_view) {
    Envoy holder;
    const auto hid = holder.store.load();
    // The holder once recorded this host (a previous join): our own record supersedes it.
    record_admitted(holder.dir, hid, "joiner", 1);
    const std::string members = members_for_joiner(holder.dir, hid, "holder", 50);

    TempDir tmp;
    BOOST_REQUIRE(::chmod(tmp.path().c_str(), 0700) == 0);
    StateDir dir(tmp.path());
    IdentityStore store(dir);
    const auto offer = read_join_offer(holder.salt, holder.wrapped, holder.kp.public_key(), members, "", "joiner");
    BOOST_REQUIRE(offer.members.members.size() == 1u);
    BOOST_TEST((offer.members.members[0].direction == MemberDirection::joined));
    accept_join(store, offer, "joiner", 70);

    BOOST_TEST(store.load().pub == holder.kp.public_key());
    BOOST_TEST(!load_rotation_log(dir));
    const auto view = load_members(dir);
    BOOST_REQUIRE(view);
    BOOST_REQUIRE(view->members.size() == 2u);
    BOOST_TEST(view->members[0].host == "holder");
    BOOST_TEST(view->members[1].host == "joiner");
    BOOST_TEST((view->members[1].direction == MemberDirection::self));
    BOOST_TEST(view->members[1].since == 70);

    auto err = catch_error([&] { accept_join(store, offer, "joiner", 80); });
    BOOST_REQUIRE(err);
    BOOST_TEST(err->why() == "another command initialized this machine meanwhile");
}

BOOST_FIXTURE_TEST_CASE(members_with_self_puts_an_init_envoy_first, Envoy) {
    const auto id = store.load();
    record_admitted(dir, id, "other", 60);
    const auto view = members_with_self(dir, id, "here");
    BOOST_REQUIRE(view.members.size() == 2u);
    BOOST_TEST(view.members[0].host == "here");
    BOOST_TEST((view.members[0].direction == MemberDirection::self));
}
