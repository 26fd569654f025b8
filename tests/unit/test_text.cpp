// util/text: times in log lines and messages.
#define BOOST_TEST_MODULE text
#ifndef BOOST_TEST_DYN_LINK
#define BOOST_TEST_DYN_LINK
#endif
#include <boost/test/unit_test.hpp>

#include "util/text.hpp"

#include <cstdlib>
#include <ctime>

using namespace puddle;

namespace {
void set_zone(const char *tz) {
    ::setenv("TZ", tz, 1);
    ::tzset();
}
} // namespace

BOOST_AUTO_TEST_CASE(local_iso_time_is_iso_8601_with_the_offset) {
    set_zone("UTC0");
    BOOST_TEST(local_iso_time(0) == "1970-01-01T00:00:00+00:00");
    BOOST_TEST(local_iso_time(1796637562) == "2026-12-07T09:59:22+00:00");
    set_zone("CET-1");
    BOOST_TEST(local_iso_time(1796637562) == "2026-12-07T10:59:22+01:00");
    set_zone("EST5");
    BOOST_TEST(local_iso_time(0) == "1969-12-31T19:00:00-05:00");
}
