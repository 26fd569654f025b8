// The agent's worker thread (src/agent/offload.*): jobs run off the event
// loop, one at a time and in order; their continuations run on the loop
// thread; pending() counts until the continuation ran; a destroyed Offload
// drops what is queued without running it.
#define BOOST_TEST_MODULE offload
#ifndef BOOST_TEST_DYN_LINK
#define BOOST_TEST_DYN_LINK
#endif
#include <boost/test/unit_test.hpp>

#include "agent/offload.hpp"

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

using namespace puddle;
using puddle::agent::Offload;

namespace {

struct Loop {
    SdEvent e;
    Loop() {
        sd_event *raw = nullptr;
        BOOST_REQUIRE(sd_event_new(&raw) >= 0);
        e.reset(raw);
    }
    // Runs the loop until `done` or 10 s; false on timeout.
    template <class F>
    bool run_until(F done) {
        auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (!done()) {
            if (std::chrono::steady_clock::now() > end) return false;
            BOOST_REQUIRE(sd_event_run(e.get(), 100000) >= 0);
        }
        return true;
    }
};

} // namespace

BOOST_AUTO_TEST_CASE(jobs_run_off_the_loop_in_order_and_continue_on_it) {
    Loop loop;
    Offload off(loop.e.get());
    const auto loop_thread = std::this_thread::get_id();
    std::mutex mu;
    std::vector<int> ran;                   // order the jobs ran in (worker)
    std::vector<int> continued;             // order the continuations ran in (loop)
    std::atomic<bool> job_on_loop{false}, cont_off_loop{false};
    std::atomic<int> running{0}, overlap{0};
    for (int i = 0; i < 5; ++i) {
        off.submit([&, i]() -> Offload::Continuation {
            if (std::this_thread::get_id() == loop_thread) job_on_loop = true;
            if (++running > 1) ++overlap;
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
            {
                std::lock_guard l(mu);
                ran.push_back(i);
            }
            --running;
            return [&, i] {
                if (std::this_thread::get_id() != loop_thread) cont_off_loop = true;
                continued.push_back(i);
            };
        });
    }
    BOOST_TEST(off.pending() == 5u);
    BOOST_REQUIRE(loop.run_until([&] { return continued.size() == 5; }));
    BOOST_TEST(off.pending() == 0u);
    BOOST_TEST(ran == (std::vector<int>{0, 1, 2, 3, 4}));
    BOOST_TEST(continued == (std::vector<int>{0, 1, 2, 3, 4}));
    BOOST_TEST(!job_on_loop);
    BOOST_TEST(!cont_off_loop);
    BOOST_TEST(overlap == 0);
}

BOOST_AUTO_TEST_CASE(the_loop_serves_other_events_while_a_job_runs) {
    Loop loop;
    Offload off(loop.e.get());
    std::atomic<bool> release{false};
    bool continued = false;
    off.submit([&]() -> Offload::Continuation {
        while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        return [&] { continued = true; };
    });
    // A timer on the same loop fires while the job is still blocked.
    int ticks = 0;
    sd_event_source *src = nullptr;
    BOOST_REQUIRE(sd_event_add_time_relative(
                      loop.e.get(), &src, CLOCK_MONOTONIC, 1000, 0,
                      [](sd_event_source *, std::uint64_t, void *ud) {
                          ++*static_cast<int *>(ud);
                          return 0;
                      },
                      &ticks) >= 0);
    SdEventSource timer(src);
    BOOST_REQUIRE(loop.run_until([&] { return ticks == 1; }));
    BOOST_TEST(!continued);
    BOOST_TEST(off.pending() == 1u);
    release = true;
    BOOST_REQUIRE(loop.run_until([&] { return continued; }));
    BOOST_TEST(off.pending() == 0u);
}

BOOST_AUTO_TEST_CASE(a_continuation_that_throws_does_not_stop_the_others) {
    Loop loop;
    Offload off(loop.e.get());
    int after = 0;
    off.submit([]() -> Offload::Continuation { return [] { throw std::runtime_error("boom"); }; });
    off.submit([&]() -> Offload::Continuation { return [&] { ++after; }; });
    BOOST_REQUIRE(loop.run_until([&] { return after == 1; }));
    BOOST_TEST(off.pending() == 0u);
}

BOOST_AUTO_TEST_CASE(destroying_waits_for_the_running_job_and_drops_the_queued_ones) {
    Loop loop;
    auto captured = std::make_shared<int>(0); // freed with the dropped job
    std::atomic<bool> started{false}, finished{false}, second_ran{false};
    bool continued = false;
    {
        Offload off(loop.e.get());
        off.submit([&]() -> Offload::Continuation {
            started = true;
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
            finished = true;
            return [&] { continued = true; };
        });
        off.submit([&, captured]() -> Offload::Continuation {
            second_ran = true;
            return [] {};
        });
        while (!started) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    BOOST_TEST(finished.load());     // joined, not abandoned mid-job
    BOOST_TEST(!second_ran.load());  // the queued job was dropped
    BOOST_TEST(!continued);          // no continuation runs after destruction
    BOOST_TEST(captured.use_count() == 1);
}
