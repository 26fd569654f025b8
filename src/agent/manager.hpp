// The one owner of the agent's event loop, bus connection, doors and
// session, and of the decision to exit when idle.
#pragma once

#include "agent/authorizer.hpp"
#include "agent/bus_door.hpp"
#include "agent/login_watch.hpp"
#include "agent/service.hpp"
#include "agent/session.hpp"
#include "agent/status_report.hpp"
#include "agent/stream_door.hpp"
#include "core/config.hpp"

#include <memory>
#include <optional>
#include <vector>

namespace puddle::agent {

struct ListenSockets {
    std::vector<UniqueFd> agent; // line protocol
    std::vector<UniqueFd> ssh;   // OpenSSH agent protocol
};

class Manager {
public:
    Manager(const Config &config, StateDir dir, ListenSockets sockets, bool want_bus);
    int run();

private:
    void activity();
    void arm_exit_timer();
    static int on_exit_timer(sd_event_source *, std::uint64_t, void *userdata);
    static int on_trim_timer(sd_event_source *, std::uint64_t, void *userdata);
    void arm_trim_timer();
    static constexpr std::uint64_t kTrimQuietUsec = 1000000;
    static int on_signal(sd_event_source *, const struct signalfd_siginfo *, void *userdata);
    // The status entry is gathered again this often while the agent runs, so
    // a change made by a command (a rotation taken, a name claimed, a member
    // evicted) reaches the journal without a request to the agent.
    static constexpr std::uint64_t kStatusEveryUsec = 60 * 1000000ULL;
    static constexpr std::uint64_t kStatusFirstUsec = 200000;
    static int on_status_timer(sd_event_source *, std::uint64_t, void *userdata);
    void refresh_status();
    // The user bus door and the logind watch: at once when there is no
    // socket, else once the loop has answered what the sockets brought.
    void start_bus_side();
    static int on_start_bus_side(sd_event_source *, void *userdata);
    static int on_start_bus_side_timer(sd_event_source *, std::uint64_t, void *userdata);

    SdEvent loop_;
    Config config_;
    std::unique_ptr<Session> session_;
    std::unique_ptr<StatusReport> status_; // after session_: reads its state directory
    std::unique_ptr<Service> service_;
    std::unique_ptr<LoginWatch> login_; // after session_: goes first
    std::unique_ptr<BusDoor> bus_;
    std::vector<std::unique_ptr<StreamDoor>> socket_doors_;
    // Declared after the doors so it goes first: pending polkit calls hold
    // callbacks into the doors.
    std::unique_ptr<Authorizer> authorizer_;
    SdEventSource exit_timer_, trim_timer_, status_timer_, sigterm_, sigint_, bus_side_, bus_side_timer_;
    bool want_bus_ = false, bus_side_started_ = false;
    bool trim_armed_ = false;
    std::uint64_t last_activity_ = 0;
};

} // namespace puddle::agent
