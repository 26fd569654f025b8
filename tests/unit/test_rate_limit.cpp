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

// The listener's connection slots (src/pair/admission.*): where a connection
// comes from, counted per address and per /24 or /64, so that one network's
// idle connections cannot take every slot.
#include "pair/admission.hpp"

#include <arpa/inet.h>
#include <cstring>
#include <netinet/in.h>

namespace {

sockaddr_storage v4(const char *text) {
    sockaddr_storage ss{};
    auto &sin = reinterpret_cast<sockaddr_in &>(ss);
    sin.sin_family = AF_INET;
    inet_pton(AF_INET, text, &sin.sin_addr);
    return ss;
}

sockaddr_storage v6(const char *text) {
    sockaddr_storage ss{};
    auto &sin6 = reinterpret_cast<sockaddr_in6 &>(ss);
    sin6.sin6_family = AF_INET6;
    inet_pton(AF_INET6, text, &sin6.sin6_addr);
    return ss;
}

} // namespace

using puddle::pair::LogThrottle;
using puddle::pair::SlotLimit;
using puddle::pair::source_of;
using S = SlotLimit::Verdict;

BOOST_AUTO_TEST_CASE(a_source_is_its_address_and_its_24_or_64) {
    BOOST_TEST(source_of(v4("192.0.2.77")).address == "192.0.2.77");
    BOOST_TEST(source_of(v4("192.0.2.77")).network == "192.0.2.0/24");
    BOOST_TEST(source_of(v6("2001:db8:1:2:3:4:5:6")).address == "2001:db8:1:2:3:4:5:6");
    BOOST_TEST(source_of(v6("2001:db8:1:2:3:4:5:6")).network == "2001:db8:1:2::/64");
    // A dual-stack socket sees IPv4 peers as ::ffff:a.b.c.d: the same /24.
    BOOST_TEST(source_of(v6("::ffff:192.0.2.77")).address == "192.0.2.77");
    BOOST_TEST(source_of(v6("::ffff:192.0.2.77")).network == "192.0.2.0/24");
    sockaddr_storage unix_peer{};
    unix_peer.ss_family = AF_UNIX;
    BOOST_TEST(source_of(unix_peer).network == "?");
}

BOOST_AUTO_TEST_CASE(one_network_cannot_take_every_slot) {
    SlotLimit slots(16, 4, 2);
    // Eight idle connections from eight addresses of one /24: four get in.
    int admitted = 0;
    for (int i = 1; i <= 8; ++i) {
        const auto s = source_of(v4(("198.51.100." + std::to_string(i)).c_str()));
        const auto v = slots.admit(s);
        admitted += v == S::admitted;
        if (i > 4) BOOST_TEST((v == S::network_full));
    }
    BOOST_TEST(admitted == 4);
    // The joiner from another network still finds a slot.
    BOOST_TEST((slots.admit(source_of(v4("203.0.113.9"))) == S::admitted));
    BOOST_TEST(slots.in_use() == 5u);
}

BOOST_AUTO_TEST_CASE(one_address_holds_at_most_its_share_and_gets_it_back) {
    SlotLimit slots(16, 4, 2);
    const auto a = source_of(v6("2001:db8::1"));
    BOOST_TEST((slots.admit(a) == S::admitted));
    BOOST_TEST((slots.admit(a) == S::admitted));
    BOOST_TEST((slots.admit(a) == S::address_full));
    slots.release(a);
    BOOST_TEST((slots.admit(a) == S::admitted));
    // Another address of the same /64 shares the network's four.
    const auto b = source_of(v6("2001:db8::2"));
    BOOST_TEST((slots.admit(b) == S::admitted));
    BOOST_TEST((slots.admit(b) == S::admitted));
    BOOST_TEST((slots.admit(source_of(v6("2001:db8::3"))) == S::network_full));
}

BOOST_AUTO_TEST_CASE(the_total_caps_many_networks) {
    SlotLimit slots(3, 4, 2);
    for (int i = 1; i <= 3; ++i)
        BOOST_TEST((slots.admit(source_of(v4(("10.0." + std::to_string(i) + ".1").c_str()))) == S::admitted));
    BOOST_TEST((slots.admit(source_of(v4("10.0.9.1"))) == S::full));
    slots.release(source_of(v4("10.0.1.1")));
    BOOST_TEST((slots.admit(source_of(v4("10.0.9.1"))) == S::admitted));
}

BOOST_AUTO_TEST_CASE(a_throttled_log_counts_what_it_held_back) {
    LogThrottle t(10);
    std::size_t held = 99;
    BOOST_TEST(t.due(100, held));
    BOOST_TEST(held == 0u);
    BOOST_TEST(!t.due(101, held));
    BOOST_TEST(!t.due(109, held));
    BOOST_TEST(t.due(110, held));
    BOOST_TEST(held == 2u);
    BOOST_TEST(t.due(200, held));
    BOOST_TEST(held == 0u);
}
