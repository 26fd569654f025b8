// util/proc: the start time that pins a pid, read from /proc/PID/stat, must
// survive whatever a program names itself — a newline included, else that
// program could not be identified for polkit or as a requester.
#define BOOST_TEST_MODULE proc
#ifndef BOOST_TEST_DYN_LINK
#define BOOST_TEST_DYN_LINK
#endif
#include <boost/test/unit_test.hpp>

#include "util/proc.hpp"

#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

using namespace puddle;

BOOST_AUTO_TEST_CASE(the_start_time_is_read_whatever_the_command_name) {
    const std::uint64_t before = process_start_time(::getpid());
    BOOST_TEST(before != 0u);
    char old_name[17] = {};
    ::prctl(PR_GET_NAME, old_name);
    for (const char *name : {"a\nb) c (d", "x)\n) 1 2 3", "plain"}) {
        BOOST_REQUIRE(::prctl(PR_SET_NAME, name) == 0);
        BOOST_TEST(process_start_time(::getpid()) == before, name);
    }
    ::prctl(PR_SET_NAME, old_name);
}

BOOST_AUTO_TEST_CASE(a_pidfd_matches_its_own_pid_only) {
    const int pidfd = int(::syscall(SYS_pidfd_open, ::getpid(), 0));
    BOOST_REQUIRE(pidfd >= 0);
    BOOST_TEST(pidfd_matches(pidfd, ::getpid()));
    BOOST_TEST(!pidfd_matches(pidfd, ::getpid() + 1));
    ::close(pidfd);
}
