// puddle log's side of the record: --since in each accepted form (and the
// refusals), and an entry's fields read back, including entries missing
// fields or holding bytes a terminal must not see.
#define BOOST_TEST_MODULE usage_log
#ifndef BOOST_TEST_DYN_LINK
#define BOOST_TEST_DYN_LINK
#endif
#include <boost/test/unit_test.hpp>

#include "cli/since.hpp"
#include "cli/usage_log.hpp"

#include <cstdlib>
#include <ctime>

using namespace puddle;
using namespace puddle::cli;

namespace {

struct Utc {
    Utc() {
        setenv("TZ", "UTC", 1);
        tzset();
    }
};

// 2026-12-01 10:42:03 UTC
constexpr std::time_t kNow = 1796121723;
constexpr std::uint64_t usec(std::time_t t) { return std::uint64_t(t) * 1000000; }

} // namespace

BOOST_FIXTURE_TEST_SUITE(since, Utc)

BOOST_AUTO_TEST_CASE(every_accepted_form) {
    std::string why;
    const std::time_t midnight = kNow - (10 * 3600 + 42 * 60 + 3);
    BOOST_TEST(*parse_since("now", kNow, &why) == usec(kNow));
    BOOST_TEST(*parse_since("today", kNow, &why) == usec(midnight));
    BOOST_TEST(*parse_since("yesterday", kNow, &why) == usec(midnight - 86400));
    BOOST_TEST(*parse_since("-2h", kNow, &why) == usec(kNow - 7200));
    BOOST_TEST(*parse_since("-90s", kNow, &why) == usec(kNow - 90));
    BOOST_TEST(*parse_since("30 min ago", kNow, &why) == usec(kNow - 1800));
    BOOST_TEST(*parse_since("1w ago", kNow, &why) == usec(kNow - 7 * 86400));
    BOOST_TEST(*parse_since("09:30", kNow, &why) == usec(midnight + 9 * 3600 + 1800));
    BOOST_TEST(*parse_since("09:30:15", kNow, &why) == usec(midnight + 9 * 3600 + 1815));
    BOOST_TEST(*parse_since("2026-12-01", kNow, &why) == usec(midnight));
    BOOST_TEST(*parse_since("2026-11-30 23:59", kNow, &why) == usec(midnight - 60));
    BOOST_TEST(*parse_since("2026-11-30T23:59:30", kNow, &why) == usec(midnight - 30));
}

BOOST_AUTO_TEST_CASE(refusals_say_what_is_accepted) {
    for (const char *bad : {"", "soon", "-2", "-h", "25:00", "10:61", "2026-13-01", "2026-12-01 9:30", "-1y",
                            "99999999999h ago", "2026-12-01 10:00 extra"}) {
        std::string why;
        BOOST_TEST(!parse_since(bad, kNow, &why), bad);
        BOOST_TEST(why.find("YYYY-MM-DD") != std::string::npos, bad);
    }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(entries, Utc)

BOOST_AUTO_TEST_CASE(a_full_entry_reads_back) {
    JournalFields f{{"PUDDLE_OUTCOME", "signed"},
                    {"PUDDLE_DOOR", "ssh-agent.sock"},
                    {"PUDDLE_REQUESTER_EXE", "/usr/bin/ssh-keygen"},
                    {"PUDDLE_REQUESTER_UNIT", "session-3.scope"},
                    {"PUDDLE_REQUESTER_PID", "77"},
                    {"PUDDLE_PURPOSE", "sshsig"},
                    {"PUDDLE_SUMMARY", "sshsig namespace=git"},
                    {"PUDDLE_SSH_NAMESPACE", "git"},
                    {"PUDDLE_DATA_LENGTH", "117"},
                    {"PUDDLE_DATA_SHA256", "ab"}};
    auto u = logged_use(f, usec(kNow));
    BOOST_TEST(format_use(u) ==
               "2026-12-01 10:42:03 signed  /usr/bin/ssh-keygen (session-3.scope) sshsig namespace=git via ssh-agent.sock");
    BOOST_TEST(use_json(u).dump() ==
               R"({"time":1796121723,"time_usec":1796121723000000,"outcome":"signed","door":"ssh-agent.sock",)"
               R"("pid":77,"program":"/usr/bin/ssh-keygen","unit":"session-3.scope","session":null,"purpose":"sshsig",)"
               R"("summary":"sshsig namespace=git","namespace":"git","ssh_user":null,"host_key":null,)"
               R"("host_key_verified":null,"forwarded":false,"length":117,"sha256":"ab","reason":null,"key":null})");
}

BOOST_AUTO_TEST_CASE(missing_and_hostile_fields) {
    auto u = logged_use({{"PUDDLE_REQUESTER_PID", "12x"}, {"PUDDLE_DATA_LENGTH", "-"},
                         {"PUDDLE_REQUESTER_EXE", "/tmp/a\nb\x1b[2J"}, {"PUDDLE_REASON", "denied"}},
                        usec(kNow));
    BOOST_TEST(u.pid == 0);
    BOOST_TEST(u.length == -1);
    const std::string line = format_use(u);
    BOOST_TEST(line.find('\n') == std::string::npos);
    BOOST_TEST(line.find('\x1b') == std::string::npos);
    BOOST_TEST(line.find(": denied") != std::string::npos);
    BOOST_TEST(use_json(u).get("length")->is_null());
}

BOOST_AUTO_TEST_SUITE_END()
