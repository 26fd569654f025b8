#include "agent/manager.hpp"

#include "agent/line_door.hpp"
#include "agent/ssh_door.hpp"
#include "util/clock.hpp"
#include "util/error.hpp"
#include "util/log.hpp"
#include "util/resident.hpp"

#include <csignal>
#include <malloc.h>
#include <systemd/sd-daemon.h>
#include <time.h>

namespace puddle::agent {
namespace {

std::uint64_t now_monotonic() { return now_usec(CLOCK_MONOTONIC); }

// What a burst or a status gathering left: the heap's free pages, and the
// code start-up, an unlock or a status gathering ran (the next signature
// maps again only what it uses).
void hand_back_memory() {
    ::malloc_trim(0);
    unmap_read_only_segments();
}

} // namespace

Manager::Manager(const Config &config, StateDir dir, ListenSockets sockets, bool want_bus) : config_(config) {
    sd_event *e = nullptr;
    int r = sd_event_new(&e);
    if (r < 0) throw_errno("cannot create the event loop", -r);
    loop_.reset(e);

    Session::Hooks hooks{
        [this](LockReason reason) {
            if (service_) service_->on_locked();
            if (bus_) bus_->emit_locked(reason);
        },
        [this] {
            if (bus_) bus_->emit_properties_changed();
            if (login_) login_->session_changed(session_->unlocked());
            refresh_status();
        },
    };
    session_ = std::make_unique<Session>(loop_.get(), std::move(dir), config_, hooks);
    service_ = std::make_unique<Service>(loop_.get(), *session_, config_);
    authorizer_ = std::make_unique<Authorizer>(loop_.get(), config_.agent.polkit);

    for (auto &fd : sockets.agent)
        socket_doors_.push_back(
            std::make_unique<LineDoor>(loop_.get(), *service_, *authorizer_, std::move(fd), [this] { activity(); }));
    for (auto &fd : sockets.ssh)
        socket_doors_.push_back(
            std::make_unique<SshDoor>(loop_.get(), *service_, *authorizer_, std::move(fd), [this] { activity(); }));

    want_bus_ = want_bus;
    if (socket_doors_.empty()) {
        start_bus_side();
    } else {
        // Socket activation: the request that started the agent is waiting
        // on a socket, and its answer needs neither the user bus nor logind
        // (a cold agent is locked: nothing to lock when the login locks).
        // At a lower priority than the doors, so the loop answers it first;
        // the timer bounds the wait when the sockets stay busy.
        sd_event_source *src = nullptr;
        if (sd_event_add_defer(loop_.get(), &src, on_start_bus_side, this) >= 0) {
            bus_side_.reset(src);
            sd_event_source_set_priority(src, SD_EVENT_PRIORITY_NORMAL + 1);
            sd_event_source_set_enabled(src, SD_EVENT_ONESHOT);
        }
        if (sd_event_add_time_relative(loop_.get(), &src, CLOCK_MONOTONIC, 50000, 10000, on_start_bus_side_timer,
                                       this) >= 0)
            bus_side_timer_.reset(src);
        if (!bus_side_ && !bus_side_timer_) start_bus_side();
    }
    session_->clean_up_earlier_session();
    status_ = std::make_unique<StatusReport>(session_->state_dir(), config_);
    // The first entry just after start, off the path of the request that
    // socket-activated the agent; then every kStatusEveryUsec.
    sd_event_source *status_src = nullptr;
    if (sd_event_add_time_relative(loop_.get(), &status_src, CLOCK_MONOTONIC, kStatusFirstUsec, 50000,
                                   on_status_timer, this) >= 0)
        status_timer_.reset(status_src);

    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigprocmask(SIG_BLOCK, &mask, nullptr);
    sd_event_source *src = nullptr;
    sd_event_add_signal(loop_.get(), &src, SIGTERM, on_signal, this);
    sigterm_.reset(src);
    sd_event_add_signal(loop_.get(), &src, SIGINT, on_signal, this);
    sigint_.reset(src);

    last_activity_ = now_monotonic();
    arm_exit_timer();
}

void Manager::refresh_status() {
    if (status_ && session_) status_->refresh(session_->unlocked());
}

int Manager::on_status_timer(sd_event_source *src, std::uint64_t, void *userdata) {
    auto *self = static_cast<Manager *>(userdata);
    self->refresh_status();
    // Gathering the entry runs code signing never does, and frees what it
    // read: both handed back here, unless a trim is pending (it does both).
    if (!self->trim_armed_) hand_back_memory();
    sd_event_source_set_time_relative(src, kStatusEveryUsec);
    sd_event_source_set_enabled(src, SD_EVENT_ONESHOT);
    return 0;
}

void Manager::start_bus_side() {
    if (bus_side_started_) return;
    bus_side_started_ = true;
    bus_side_.reset();
    bus_side_timer_.reset();
    login_ = std::make_unique<LoginWatch>(loop_.get(), config_.agent,
                                          [this](LockReason reason) { session_->lock(reason); });
    login_->session_changed(session_->unlocked());
    if (want_bus_) {
        try {
            bus_ = std::make_unique<BusDoor>(loop_.get(), *service_, *authorizer_, [this] { activity(); });
        } catch (const Error &err) {
            if (socket_doors_.empty()) throw;
            log_warning(std::string(err.what()) + "; serving the socket door only");
        }
    }
    // Ready once every door is open, and after the answer to the request
    // that socket-activated the agent: the manager's work on READY=1 (the
    // unit's state, its log line, bus signals, journald writing them) would
    // otherwise take the CPU from that answer. The constructor's 50 ms timer
    // bounds the wait for a start without a request (systemctl start).
    sd_notify(0, "READY=1");
}

int Manager::on_start_bus_side(sd_event_source *, void *userdata) {
    static_cast<Manager *>(userdata)->start_bus_side();
    return 0;
}

int Manager::on_start_bus_side_timer(sd_event_source *, std::uint64_t, void *userdata) {
    static_cast<Manager *>(userdata)->start_bus_side();
    return 0;
}

void Manager::activity() {
    last_activity_ = now_monotonic();
    if (!trim_armed_) arm_trim_timer();
}

void Manager::arm_trim_timer() {
    trim_armed_ = true;
    if (!trim_timer_) {
        sd_event_source *src = nullptr;
        if (sd_event_add_time_relative(loop_.get(), &src, CLOCK_MONOTONIC, kTrimQuietUsec, 100000, on_trim_timer,
                                       this) >= 0)
            trim_timer_.reset(src);
        else
            trim_armed_ = false;
        return;
    }
    sd_event_source_set_time_relative(trim_timer_.get(), kTrimQuietUsec);
    sd_event_source_set_enabled(trim_timer_.get(), SD_EVENT_ONESHOT);
}

int Manager::on_trim_timer(sd_event_source *, std::uint64_t, void *userdata) {
    // A burst of clients leaves glibc holding the freed connection buffers
    // and bus messages below the top of the heap, so the agent's memory
    // would stay at its peak. Once traffic has been quiet for a second, hand
    // it back: one call per burst, never on the signing path.
    auto *self = static_cast<Manager *>(userdata);
    self->trim_armed_ = false;
    // A burst also leaves the usage record's backlog draining into a slower
    // journald: trimming before it has drained would leave what it frees in
    // the heap, and its code mapped.
    if (now_monotonic() < self->last_activity_ + kTrimQuietUsec || self->service_->record_backlog() > 0) {
        self->arm_trim_timer();
        return 0;
    }
    // After a burst of requests (a name claimed, a rotation): once, off the
    // signing path; before the trim, so what its reading of the state files
    // frees goes back too.
    self->refresh_status();
    hand_back_memory();
    return 0;
}

void Manager::arm_exit_timer() {
    const std::uint64_t idle = std::uint64_t(config_.agent.exit_idle_seconds) * 1000000;
    const std::uint64_t at = last_activity_ + idle;
    if (!exit_timer_) {
        sd_event_source *src = nullptr;
        if (sd_event_add_time(loop_.get(), &src, CLOCK_MONOTONIC, at, 100000, on_exit_timer, this) >= 0)
            exit_timer_.reset(src);
        return;
    }
    sd_event_source_set_time(exit_timer_.get(), at);
    sd_event_source_set_enabled(exit_timer_.get(), SD_EVENT_ONESHOT);
}

int Manager::on_exit_timer(sd_event_source *, std::uint64_t, void *userdata) {
    auto *self = static_cast<Manager *>(userdata);
    const std::uint64_t idle = std::uint64_t(self->config_.agent.exit_idle_seconds) * 1000000;
    bool clients = false;
    for (auto &d : self->socket_doors_) clients |= d->connections() > 0;
    const bool busy = self->session_->unlocked() || self->session_->busy() || clients;
    if (busy || now_monotonic() < self->last_activity_ + idle) {
        if (busy) self->activity();
        self->arm_exit_timer();
        return 0;
    }
    log_info("locked and idle for " + std::to_string(self->config_.agent.exit_idle_seconds) + " s; exiting");
    sd_notify(0, "STOPPING=1");
    if (self->bus_) self->bus_->release_name();
    sd_event_exit(self->loop_.get(), 0);
    return 0;
}

int Manager::on_signal(sd_event_source *, const struct signalfd_siginfo *, void *userdata) {
    auto *self = static_cast<Manager *>(userdata);
    // The session ends with the agent (stopped at logout, or by hand): the
    // last status entry must not say unlocked.
    if (self->status_) self->status_->refresh(false);
    sd_notify(0, "STOPPING=1");
    if (self->bus_) self->bus_->release_name();
    sd_event_exit(self->loop_.get(), 0);
    return 0;
}

int Manager::run() {
    int r = sd_event_loop(loop_.get());
    if (r < 0) {
        log_error("event loop failed: " + errno_text(-r));
        return 1;
    }
    return 0;
}

} // namespace puddle::agent
