// The one failure table (util/failure.hpp, SPEC §5, §6): each kind of failure has the bus
// error name, ERR code and exit code the SPEC gives it, and a bus name the
// agent sends decodes back to the same kind in the CLI.
#define BOOST_TEST_MODULE agent_api
#ifndef BOOST_TEST_DYN_LINK
#define BOOST_TEST_DYN_LINK
#endif
#include <boost/test/unit_test.hpp>

#include "agent/api.hpp"
#include "agent/line_protocol.hpp"

#include <string>
#include <utility>

using namespace puddle;
using namespace puddle::agent;

namespace {

constexpr Failure kAll[] = {Failure::locked, Failure::not_initialized, Failure::bad_passphrase,
                            Failure::reserved_prefix, Failure::invalid_argument, Failure::denied,
                            Failure::busy, Failure::internal};

struct Expected {
    Failure failure;
    std::string bus_error, err_code;
    int exit;
};

const Expected kSpec[] = {
    {Failure::locked, "org.puddle.Agent1.Error.Locked", "locked", 3},
    {Failure::not_initialized, "org.puddle.Agent1.Error.NotInitialized", "not-initialized", 4},
    {Failure::bad_passphrase, "org.puddle.Agent1.Error.BadPassphrase", "bad-request", 5},
    {Failure::reserved_prefix, "org.puddle.Agent1.Error.ReservedPrefix", "reserved-prefix", 1},
    {Failure::invalid_argument, "org.puddle.Agent1.Error.InvalidArgument", "bad-request", 2},
    {Failure::denied, "org.freedesktop.DBus.Error.AccessDenied", "denied", 7},
    {Failure::busy, "org.freedesktop.DBus.Error.LimitsExceeded", "internal", 1},
    {Failure::internal, "org.freedesktop.DBus.Error.Failed", "internal", 1},
};

} // namespace

BOOST_AUTO_TEST_CASE(every_failure_is_spelled_as_the_spec_says) {
    for (const auto &e : kSpec) {
        const auto &s = spelling(e.failure);
        BOOST_TEST(s.bus_error == e.bus_error);
        BOOST_TEST(err_code_name(s.line_code) == e.err_code);
        BOOST_TEST(int(s.exit) == e.exit);
    }
}

BOOST_AUTO_TEST_CASE(a_bus_error_the_agent_sends_decodes_to_its_failure) {
    for (Failure f : kAll) {
        auto back = failure_from_bus_error(spelling(f).bus_error);
        BOOST_TEST_REQUIRE(back.has_value());
        BOOST_TEST(int(*back) == int(f));
    }
}

BOOST_AUTO_TEST_CASE(bus_errors_of_the_bus_itself_are_no_agent_failure) {
    BOOST_TEST(!failure_from_bus_error("org.freedesktop.DBus.Error.ServiceUnknown"));
    BOOST_TEST(!failure_from_bus_error("org.freedesktop.DBus.Error.NoReply"));
}

BOOST_AUTO_TEST_CASE(only_a_missing_identity_or_a_wrong_passphrase_cross_from_core) {
    BOOST_TEST(int(identity_failure_kind(Error(Failure::bad_passphrase, "unlock", "wrong"))) ==
               int(Failure::bad_passphrase));
    BOOST_TEST(int(identity_failure_kind(Error(Failure::not_initialized, "unlock", "none"))) ==
               int(Failure::not_initialized));
    BOOST_TEST(int(identity_failure_kind(Error(Failure::failed, "unlock", "io"))) == int(Failure::internal));
    BOOST_TEST(int(identity_failure_kind(Error(Failure::locked, "unlock", "x"))) == int(Failure::internal));
}

BOOST_AUTO_TEST_CASE(a_told_error_is_one_text_for_the_requester_and_keeps_its_kind) {
    const Error e = told(Failure::busy, "4 unlock requests are already being checked");
    BOOST_TEST(e.is_told());
    BOOST_TEST(std::string(e.what()) == "4 unlock requests are already being checked");
    BOOST_TEST(int(e.kind()) == int(Failure::busy));
    BOOST_TEST(int(identity_failure_kind(e)) == int(Failure::busy));
    // A core error is not told: the doors answer it as an internal error.
    BOOST_TEST(!Error(Failure::invalid_argument, "read", "bad").is_told());
}

BOOST_AUTO_TEST_CASE(every_kind_exits_with_its_spec_code) {
    // SPEC §5: the exit codes of the puddle command, whichever layer raised it.
    const std::pair<Failure, int> expected[] = {
        {Failure::failed, 1},         {Failure::invalid_argument, 2}, {Failure::locked, 3},
        {Failure::not_initialized, 4}, {Failure::bad_passphrase, 5},  {Failure::pairing_failed, 6},
        {Failure::denied, 7},          {Failure::ambiguous, 8},       {Failure::reserved_prefix, 1},
        {Failure::busy, 1},            {Failure::internal, 1},
    };
    for (const auto &[f, code] : expected) {
        BOOST_TEST(int(spelling(f).failure) == int(f));
        BOOST_TEST(int(exit_code(f)) == code);
    }
    // The generic bus name the agent uses for internal failures decodes to
    // internal, not to a kind the agent never sends.
    BOOST_TEST(int(*failure_from_bus_error("org.freedesktop.DBus.Error.Failed")) == int(Failure::internal));
}
