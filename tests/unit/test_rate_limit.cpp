// The pair listener's per-address limit (src/pair/rate_limit.*): 20 a
// minute per address, refused attempts counted too, the first refusal told
// apart (it is logged), old attempts forgotten, and the record capped: a new
// address past the cap is refused unless quiet ones make room.
#define BOOST_TEST_MODULE rate_limit
#ifndef BOOST_TEST_DYN_LINK
#define BOOST_TEST_DYN_LINK
#endif
#include <boost/test/unit_test.hpp>

#include "pair/rate_limit.hpp"

using puddle::pair::RateLimit;
using V = RateLimit::Verdict;

BOOST_AUTO_TEST_CASE(an_address_is_limited_after_its_share_of_the_minute) {
    RateLimit r(3, 10);
    for (int i = 0; i < 3; ++i) BOOST_TEST((r.record("a", 100) == V::allowed));
    BOOST_TEST((r.record("a", 100) == V::limited_now));
    BOOST_TEST((r.record("a", 110) == V::limited));
    BOOST_TEST((r.record("b", 110) == V::allowed));
}

BOOST_AUTO_TEST_CASE(refused_attempts_keep_an_address_limited) {
    RateLimit r(2, 10);
    r.record("a", 0);
    r.record("a", 0);
    BOOST_TEST((r.record("a", 50) == V::limited_now)); // refused, and counted
    BOOST_TEST((r.record("a", 61) == V::allowed));     // the two at 0 are gone
    BOOST_TEST((r.record("a", 62) == V::limited_now)); // the refused one at 50 still counts
}

BOOST_AUTO_TEST_CASE(prune_forgets_quiet_addresses) {
    RateLimit r(5, 10);
    r.record("a", 0);
    r.record("b", 30);
    r.prune(61);
    BOOST_TEST(r.addresses() == 1u);
    r.prune(91);
    BOOST_TEST(r.addresses() == 0u);
}

BOOST_AUTO_TEST_CASE(the_record_is_capped_but_quiet_addresses_make_room) {
    RateLimit r(5, 2);
    BOOST_TEST((r.record("a", 0) == V::allowed));
    BOOST_TEST((r.record("b", 10) == V::allowed));
    BOOST_TEST((r.record("c", 20) == V::untracked));
    BOOST_TEST(r.addresses() == 2u);
    BOOST_TEST((r.record("a", 20) == V::allowed)); // a known address still counts
    BOOST_TEST((r.record("c", 71) == V::allowed)); // "b" went quiet; "a" at 20 did not
    BOOST_TEST(r.addresses() == 2u);
}
