// util/text: times in log lines and messages; labels of what a requester named itself.
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

BOOST_AUTO_TEST_CASE(one_line_label_escapes_every_byte_that_is_not_printable_ascii) {
    BOOST_TEST(one_line_label("/usr/bin/git") == "/usr/bin/git");
    BOOST_TEST(one_line_label("a\\b") == "a\\\\b");
    BOOST_TEST(one_line_label(std::string("x\ny\x1b[31m\x7f\0z", 11)) == "x\\x0ay\\x1b[31m\\x7f\\x00z");
    // UTF-8 too: a bidi override (U+202E) must not reorder the line.
    BOOST_TEST(one_line_label("\xe2\x80\xae") == "\\xe2\\x80\\xae");
    // Injective: the escape of a byte and the same characters typed differ.
    BOOST_TEST(one_line_label("\\x0a") != one_line_label("\n"));
}

BOOST_AUTO_TEST_CASE(one_line_label_cuts_whole_escapes_and_says_so) {
    BOOST_TEST(one_line_label("abcdef", 6) == "abcdef");
    BOOST_TEST(one_line_label("abcdefg", 6) == "abcdef...");
    // An escape that would cross the cap is left out whole.
    BOOST_TEST(one_line_label("abcd\n", 6) == "abcd...");
    BOOST_TEST(one_line_label("abcde\\", 6) == "abcde...");
    BOOST_TEST(one_line_label(std::string(1000, 'p')).size() == 256u + 3u);
}
