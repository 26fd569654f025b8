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

// Who is asking, as the door learned it from the kernel (SO_PEERCRED,
// SO_PEERPIDFD) or from the bus (sender credentials).
struct Peer {
    pid_t pid = 0;
    uid_t uid = uid_t(-1);
    std::uint64_t start_time = 0;  // /proc/PID/stat field 22, pins the PID
    std::shared_ptr<UniqueFd> pidfd; // where the kernel gives one
};

Peer make_peer(pid_t pid, uid_t uid, int pidfd = -1);

struct Verdict {
    bool allowed;
    std::string why; // for a refusal: names the action and the reason
};

struct AuthzCache {
    std::array<std::uint64_t, kActionCount> allowed_until{}; // CLOCK_MONOTONIC µs
};

class Authorizer {
public:
    Authorizer(sd_event *loop, PolkitMode mode);
    ~Authorizer();

    // Returns the verdict if it is known now; otherwise returns nullopt and
    // calls `done` later from the event loop (never from inside this call).
    // `cache` belongs to the door's peer (connection or bus name); a reply
    // that arrives after the peer is gone updates nothing.
    std::optional<Verdict> check(const Peer &peer, Action action, const std::shared_ptr<AuthzCache> &cache,
                                 std::function<void(Verdict)> done);

private:
    struct Pending;
    static int on_reply(sd_bus_message *reply, void *userdata, sd_bus_error *error);
    static void on_destroy(void *userdata);
    sd_bus *system_bus();
    Verdict unavailable(Action action, const std::string &why);

    sd_event *loop_;
    PolkitMode mode_;
    uid_t own_uid_;
    SdBus bus_;
    bool warned_ = false;
    // While polkit does not answer, ask again only every few seconds.
    std::uint64_t retry_after_ = 0;
};

} // namespace puddle::agent
