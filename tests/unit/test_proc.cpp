// util/proc: the start time that pins a pid, read from /proc/PID/stat, must
// survive whatever a program names itself — a newline included, else that
// program could not be identified for polkit or as a requester.
// util/resident: unmapping the read-only segments loses nothing of the
// process's own and leaves fewer file pages resident.
#define BOOST_TEST_MODULE proc
#ifndef BOOST_TEST_DYN_LINK
#define BOOST_TEST_DYN_LINK
#endif
#include <boost/test/unit_test.hpp>

#include "util/proc.hpp"
#include "util/resident.hpp"

#include <cstdio>
#include <cstring>
#include <string>

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

namespace {
// Written at run time (data), and a constant (read-only segment).
int written_value = 0;
const char kConstant[] = "a constant in .rodata";

long resident_file_pages() {
    // statm: size resident shared ... (shared = resident file-backed pages)
    long size = 0, resident = 0, shared = 0;
    std::FILE *f = std::fopen("/proc/self/statm", "r");
    if (!f) return -1;
    const int n = std::fscanf(f, "%ld %ld %ld", &size, &resident, &shared);
    std::fclose(f);
    return n == 3 ? shared : -1;
}
} // namespace

BOOST_AUTO_TEST_CASE(unmapping_the_read_only_segments_keeps_everything_and_maps_less) {
    written_value = 42;
    const std::string heap(1000, 'x');
    const long before = resident_file_pages();
    const std::size_t covered = unmap_read_only_segments();
    const long after = resident_file_pages();
    BOOST_TEST(covered > 0u);
    BOOST_TEST(before > 0);
    BOOST_TEST(after < before);
    // Data, heap and constants read the same; code (this test's, libc's
    // through the PLT, Boost's) runs again.
    BOOST_TEST(written_value == 42);
    BOOST_TEST(heap == std::string(1000, 'x'));
    BOOST_TEST(std::strcmp(kConstant, "a constant in .rodata") == 0);
    BOOST_TEST(std::to_string(12345) == "12345");
    BOOST_TEST(unmap_read_only_segments() > 0u);
}
