// The usage record's way to journald (src/agent/journal_queue.*), against a
// real datagram socket standing in for journald: entries leave in order once
// the loop runs; a journald that stops reading makes a bounded backlog, then
// counted losses, never a blocked caller; a journald that is not there counts
// every entry as not written; the native protocol's binary-safe form for a
// value with a line break; an entry after a quiet spell leaves at once,
// entries close behind a send wait for the coalescing window and leave
// together, none lost at exit.
#define BOOST_TEST_MODULE journal_queue
#ifndef BOOST_TEST_DYN_LINK
#define BOOST_TEST_DYN_LINK
#endif
#include <boost/test/unit_test.hpp>

#include "agent/journal_queue.hpp"
#include "support.hpp"

#include <chrono>
#include <cstring>
#include <memory>
#include <sys/socket.h>
#include <sys/un.h>

using namespace puddle;
using puddle::agent::JournalQueue;
using puddle::agent::journal_datagram;

namespace {

struct Loop {
    SdEvent e;
    Loop() {
        sd_event *raw = nullptr;
        BOOST_REQUIRE(sd_event_new(&raw) >= 0);
        e.reset(raw);
    }
    // Runs the loop until `done`, or until it has nothing to do for 100 ms.
    template <class F> void run_until(F done) {
        auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (!done() && std::chrono::steady_clock::now() < end)
            if (sd_event_run(e.get(), 100000) == 0) break;
    }
};

// A journald that reads only when told to.
struct FakeJournald {
    puddle_test::TempDir dir;
    std::string path = dir.path() + "/socket";
    UniqueFd fd{::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)};
    FakeJournald() {
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        std::strcpy(a.sun_path, path.c_str());
        BOOST_REQUIRE(::bind(fd.get(), reinterpret_cast<sockaddr *>(&a), sizeof a) == 0);
    }
    std::vector<std::string> read_all() {
        std::vector<std::string> out;
        char buf[65536];
        for (ssize_t n; (n = ::recv(fd.get(), buf, sizeof buf, 0)) >= 0;) out.emplace_back(buf, std::size_t(n));
        return out;
    }
};

std::vector<std::string> entry(int i) {
    return {"MESSAGE=signed " + std::to_string(i), "PRIORITY=6", "PUDDLE_OUTCOME=signed",
            "PUDDLE_SUMMARY=" + std::string(300, 'x')};
}

} // namespace

BOOST_AUTO_TEST_CASE(native_protocol_form) {
    BOOST_TEST(journal_datagram({"MESSAGE=hi", "A=b=c"}) == "MESSAGE=hi\nA=b=c\n");
    const std::string binary = journal_datagram({"MESSAGE=two\nlines"});
    BOOST_TEST(binary == std::string("MESSAGE\n\x09\0\0\0\0\0\0\0two\nlines\n", 8 + 8 + 10));
}

BOOST_AUTO_TEST_CASE(entries_leave_after_the_caller_in_order) {
    Loop loop;
    FakeJournald jd;
    JournalQueue q(loop.e.get(), jd.path);
    for (int i = 0; i < 300; ++i) q.submit(entry(i));
    // The first, after a quiet spell, is sent at once (before the caller
    // replies); the rest wait for the loop, after the replies.
    std::vector<std::string> got = jd.read_all();
    BOOST_TEST(got.size() == 1u);
    BOOST_TEST(q.backlog() == 299u);
    // journald reads as it can (a datagram socket's queue holds a few).
    for (int k = 0; k < 10000 && got.size() < 300; ++k) {
        loop.run_until([&] { return q.backlog() == 0; });
        for (auto &d : jd.read_all()) got.push_back(std::move(d));
    }
    BOOST_REQUIRE(got.size() == 300u);
    for (int i = 0; i < 300; ++i) BOOST_TEST(got[i] == journal_datagram(entry(i)));
    BOOST_TEST(q.written() == 300u);
    BOOST_TEST(q.not_written() == 0u);
}

BOOST_AUTO_TEST_CASE(a_journald_behind_bounds_the_backlog_and_counts_losses) {
    Loop loop;
    FakeJournald jd;
    int small = 4096;
    ::setsockopt(jd.fd.get(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    JournalQueue q(loop.e.get(), jd.path, 64 * 1024);
    const int total = 5000;
    for (int i = 0; i < total; ++i) {
        q.submit(entry(i));
        if (i % 50 == 0) loop.run_until([] { return true; });
    }
    loop.run_until([&] { return q.backlog() == 0; });
    // journald read nothing: what it holds is written, what fits waits, the rest is counted.
    BOOST_TEST(q.not_written() > 0u);
    BOOST_TEST(q.backlog() > 0u);
    BOOST_TEST(q.written() + q.backlog() + q.not_written() == std::uint64_t(total));
    std::size_t received = 0;
    for (int k = 0; k < 1000 && q.backlog() > 0; ++k) {
        received += jd.read_all().size();
        loop.run_until([&] { return q.backlog() == 0; });
    }
    received += jd.read_all().size();
    BOOST_TEST(q.backlog() == 0u);
    BOOST_TEST(received == q.written());
    BOOST_TEST(q.written() + q.not_written() == std::uint64_t(total));
}

BOOST_AUTO_TEST_CASE(no_journald_counts_every_entry) {
    Loop loop;
    puddle_test::TempDir dir;
    JournalQueue q(loop.e.get(), dir.path() + "/nobody-listens");
    for (int i = 0; i < 10; ++i) q.submit(entry(i));
    loop.run_until([&] { return q.backlog() == 0; });
    BOOST_TEST(q.backlog() == 0u);
    BOOST_TEST(q.written() == 0u);
    BOOST_TEST(q.not_written() == 10u);
}

BOOST_AUTO_TEST_CASE(a_burst_waits_for_the_window_and_leaves_together) {
    Loop loop;
    FakeJournald jd;
    // A window no test run outlasts: what it holds back leaves only when the
    // queue is destroyed (the agent exiting), which writes what is left.
    auto q = std::make_unique<JournalQueue>(loop.e.get(), jd.path, JournalQueue::kDefaultBacklogBytes,
                                            3600ull * 1000000);
    q->submit(entry(0));
    // After a quiet spell the entry leaves at once, without the loop: an
    // agent killed right after this reply has already sent it.
    BOOST_TEST(q->backlog() == 0u);
    BOOST_TEST(jd.read_all().size() == 1u);
    for (int i = 1; i <= 5; ++i) q->submit(entry(i)); // fewer than the socket's queue holds
    // Within the window after that send, the loop holds the burst back...
    for (int k = 0; k < 5; ++k) sd_event_run(loop.e.get(), 0);
    BOOST_TEST(q->backlog() == 5u);
    BOOST_TEST(jd.read_all().empty());
    // ...and nothing of it is lost when the agent exits inside the window.
    q.reset();
    auto got = jd.read_all();
    BOOST_REQUIRE(got.size() == 5u);
    for (int i = 1; i <= 5; ++i) BOOST_TEST(got[std::size_t(i - 1)] == journal_datagram(entry(i)));
}

BOOST_AUTO_TEST_CASE(the_window_closes_by_itself) {
    Loop loop;
    FakeJournald jd;
    JournalQueue q(loop.e.get(), jd.path, JournalQueue::kDefaultBacklogBytes, 20000);
    q.submit(entry(0));
    loop.run_until([&] { return q.backlog() == 0; });
    BOOST_TEST(jd.read_all().size() == 1u);
    for (int i = 1; i <= 100; ++i) q.submit(entry(i));
    // The loop's timer sends the burst when the 20 ms are over, in order
    // (journald reading as it can: a datagram socket's queue holds a few).
    std::vector<std::string> got;
    for (int k = 0; k < 10000 && got.size() < 100; ++k) {
        loop.run_until([&] { return q.backlog() == 0; });
        for (auto &d : jd.read_all()) got.push_back(std::move(d));
    }
    BOOST_TEST(q.backlog() == 0u);
    BOOST_REQUIRE(got.size() == 100u);
    for (int i = 1; i <= 100; ++i) BOOST_TEST(got[std::size_t(i - 1)] == journal_datagram(entry(i)));
    BOOST_TEST(q.written() == 101u);
}

BOOST_AUTO_TEST_CASE(the_entries_of_one_use_leave_together) {
    Loop loop;
    FakeJournald jd;
    JournalQueue q(loop.e.get(), jd.path, JournalQueue::kDefaultBacklogBytes, 3600ull * 1000000);
    // A first use's notice, then its own entry: nothing leaves until the
    // last of them, then both at once (a kill in between loses neither).
    q.submit(entry(0), true);
    BOOST_TEST(jd.read_all().empty());
    q.submit(entry(1));
    auto got = jd.read_all();
    BOOST_REQUIRE(got.size() == 2u);
    BOOST_TEST(got[0] == journal_datagram(entry(0)));
    BOOST_TEST(got[1] == journal_datagram(entry(1)));
    BOOST_TEST(q.backlog() == 0u);
}
