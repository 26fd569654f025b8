// Authorization of one request: the peer's uid must be the agent's, and
// polkit (org.freedesktop.PolicyKit1 on the system bus) must allow the
// action for the calling process. Asynchronous, so a slow polkitd never
// stalls other clients; answers at once when it can (uid refusal, polkit
// off, a cached allow).
//
// Cache: an allow is kept for one second per (peer, action) — per
// connection on the socket, per unique bus name on the bus — so a burst of
// signatures costs one polkit round trip per second, while a rules change
// takes effect within a second and a cached allow dies with its
// connection. Denials are never cached.
#pragma once

#include "core/config.hpp"
#include "util/fd.hpp"
#include "util/sd.hpp"

#include <array>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <sys/types.h>

namespace puddle::agent {

enum class Action { sign, unlock, lock, status, manage };
inline constexpr std::size_t kActionCount = 5;
// The polkit action id, or nullptr for requests polkit does not gate
// (STATUS, PUBKEY, properties: the uid check alone applies).
const char *polkit_action_id(Action a);

struct Requester; // requester.hpp

// Who is asking, as the door learned it from the kernel (SO_PEERCRED,
// SO_PEERPIDFD) or from the bus (sender credentials).
// /proc/PID and /proc/PID/comm of a peer, opened while it is pinned: the
// check before each request (requester.hpp) reads them again without
// looking up the path, and cannot reach another process that got the PID.
struct ProcFiles {
    UniqueFd dir, comm;
};

struct Peer {
    pid_t pid = 0;
    uid_t uid = uid_t(-1);
    std::uint64_t start_time = 0;  // /proc/PID/stat field 22, pins the PID
    std::shared_ptr<UniqueFd> pidfd; // where the kernel gives one
    // Filled by requester_of() on first use (requester.hpp); shared by copies.
    std::shared_ptr<std::shared_ptr<const Requester>> described =
        std::make_shared<std::shared_ptr<const Requester>>();
    // Opened by describe_peer(); shared by copies.
    std::shared_ptr<ProcFiles> proc = std::make_shared<ProcFiles>();
};

Peer make_peer(pid_t pid, uid_t uid, int pidfd = -1);

struct Verdict {
    bool allowed;
    std::string why; // for a refusal: names the action and the reason
};

struct AuthzCache {
    std::array<std::uint64_t, kActionCount> allowed_until{}; // CLOCK_MONOTONIC µs
};

// polkit's answer decides; only polkit being absent from the system (no
// system bus, no such name and nothing to activate it) lets "auto" fall back
// to the uid check. Any other failure -- an error reply, a timeout, a bus
// limit, a caller that is gone -- denies that one request: nothing a client
// can cause opens an allow. At most kMaxInFlight checks are on the bus at
// once: polkitd answers them one after another, so every further one in
// flight only waits longer inside polkitd against its own timeout, and a
// burst of new clients on a loaded machine would be refused for nothing.
// More wait in a bounded queue, each for at most kMaxQueuedUsec; past either
// bound they are refused.
class Authorizer {
public:
    static constexpr std::size_t kMaxInFlight = 8;
    static constexpr std::size_t kMaxQueued = 4096;
    static constexpr std::uint64_t kMaxQueuedUsec = 60 * 1000000ull;

    Authorizer(sd_event *loop, PolkitMode mode);
    ~Authorizer();

    // Returns the verdict if it is known now; otherwise returns nullopt and
    // calls `done` later from the event loop (never from inside this call).
    // `cache` belongs to the door's peer (connection or bus name); a reply
    // that arrives after the peer is gone updates nothing.
    std::optional<Verdict> check(const Peer &peer, Action action, const std::shared_ptr<AuthzCache> &cache,
                                 std::function<void(Verdict)> done);

    std::size_t in_flight() const noexcept { return in_flight_; }
    std::size_t queued() const noexcept { return queue_.size(); }

private:
    struct Pending;
    static int on_reply(sd_bus_message *reply, void *userdata, sd_bus_error *error);
    static void on_destroy(void *userdata);
    static int on_pump(sd_event_source *, void *userdata);
    sd_bus *system_bus();
    // polkit is not on this system: "required" denies, "auto" allows (and
    // says so once); remembered for a few seconds.
    Verdict absent(Action action, const std::string &why, bool found_now = true);
    // Puts the request on the bus; a verdict when that failed at once.
    std::optional<Verdict> send(std::unique_ptr<Pending> p);
    void pump();

    sd_event *loop_;
    PolkitMode mode_;
    uid_t own_uid_;
    SdBus bus_;
    bool warned_ = false;
    bool closing_ = false;
    // While polkit is absent, ask again only every few seconds.
    std::uint64_t absent_until_ = 0;
    std::size_t in_flight_ = 0;
    std::deque<std::unique_ptr<Pending>> queue_;
    SdEventSource pump_source_;
};

} // namespace puddle::agent
