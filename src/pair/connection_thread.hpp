// One pairing connection served on its own thread: the TLS handshake, CPace
// and the payload are blocking, with deadlines (pair/channel.hpp), and the
// holder may wait on the state lock. The listener's event loop hears from
// the thread through a pipe: one byte, the claim's outcome, as soon as the
// claim ends (so that no later connection is taken), then end of file when
// the thread is done and can be joined at once (an unjoined thread keeps its
// stack mapped: thousands of short connections once exhausted
// vm.max_map_count).
#pragma once

#include "pair/holder.hpp"
#include "pair/tls.hpp"
#include "util/fd.hpp"
#include "util/sd.hpp"

#include <functional>
#include <optional>
#include <string>
#include <thread>

namespace puddle::pair {

class ConnectionThread {
public:
    // Called on the loop: `outcome` once when the claim ended here (never
    // for ClaimOutcome::untouched), then `done` when the thread may be joined.
    struct Reports {
        std::function<void(ConnectionThread &, ClaimOutcome)> outcome;
        std::function<void(ConnectionThread &)> done;
    };

    // Starts serving `conn`. `ctx` and `holder` must outlive this object.
    // Throws Error when the pipe or its event source cannot be made.
    // `network` is the peer's source network (pair/admission.hpp), for the holder.
    ConnectionThread(sd_event *loop, int priority, SSL_CTX *ctx, Holder &holder, UniqueFd conn, std::string peer,
                     std::string network, Reports reports);
    // Joins: waits for the connection's deadlines at most.
    ~ConnectionThread();
    ConnectionThread(const ConnectionThread &) = delete;
    ConnectionThread &operator=(const ConnectionThread &) = delete;

    const std::string &peer() const noexcept { return peer_; }

    // Off the loop (after it ended): waits for the thread, and returns the
    // outcome it reported, if the loop has not heard it yet.
    std::optional<ClaimOutcome> join();

private:
    static void serve(SSL_CTX *ctx, Holder &holder, UniqueFd conn, const std::string &peer,
                      const std::string &network, UniqueFd report);
    static int on_report(sd_event_source *, int fd, std::uint32_t, void *userdata);
    std::optional<ClaimOutcome> read_outcome();

    std::string peer_;
    Reports reports_;
    UniqueFd report_; // read end; the thread owns the write end
    SdEventSource source_;
    std::thread thread_;
};

} // namespace puddle::pair
