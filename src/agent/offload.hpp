// Runs slow, self-contained work (the Argon2id derivation of an unlock) on
// one worker thread, so that the event loop keeps serving signatures and
// status requests meanwhile. Each job returns the continuation that runs
// back on the loop: only the loop thread touches the session.
#pragma once

#include "util/fd.hpp"
#include "util/sd.hpp"

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace puddle::agent {

class Offload {
public:
    using Continuation = std::function<void()>;
    // Runs on the worker; must not throw (catch and report through the
    // continuation it returns).
    using Job = std::function<Continuation()>;

    // Throws Error when the wake-up eventfd cannot be made.
    explicit Offload(sd_event *loop);
    // Waits for the job in progress; queued jobs and their continuations are
    // dropped (their captured state, e.g. a pending bus call, is freed).
    ~Offload();
    Offload(const Offload &) = delete;
    Offload &operator=(const Offload &) = delete;

    // Jobs run one at a time, in order: one Argon2id arena at a time bounds
    // the agent's memory however many unlocks arrive together.
    void submit(Job job);
    // Jobs submitted and not yet continued.
    std::size_t pending() const noexcept { return pending_; }

private:
    void worker_main();
    static int on_wake(sd_event_source *, int, std::uint32_t, void *userdata);

    sd_event *loop_;
    UniqueFd wake_;
    SdEventSource wake_source_;
    std::size_t pending_ = 0; // loop thread only

    std::mutex mutex_;
    std::condition_variable cv_;
    std::deque<Job> jobs_;
    std::deque<Continuation> done_;
    bool stop_ = false;
    std::thread worker_; // started with the first job: an agent that never unlocks has no second thread
};

} // namespace puddle::agent
