// A door on a stream socket: accepts connections, checks SO_PEERCRED, reads
// into a bounded buffer, and hands complete requests — framed by the
// subclass's protocol — to authorization and then to the Service. Requests
// on one connection are answered in order: a connection waits while polkit
// decides on its current request.
#pragma once

#include "agent/authorizer.hpp"
#include "agent/line_protocol.hpp"
#include "agent/service.hpp"
#include "agent/ssh_policy.hpp"
#include "agent/ssh_protocol.hpp"
#include "agent/usage.hpp"
#include "util/fd.hpp"
#include "util/sd.hpp"

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

namespace puddle::agent {

// A request a door acts on once it is authorized: the parsed request
// itself, kept until polkit answers, so each kind reaches its own named
// handler through one visit.
using Request = std::variant<SignRequest, StatusRequest, PubkeyRequest, LockRequest, ssh::RequestIdentities,
                             ssh::SignRequest, ssh::SessionBind>;
// Lambdas as one visitor: std::visit(Overloaded{...}, request).
template <class... F> struct Overloaded : F... {
    using F::operator()...;
};
// Spelled out for clang 14 (Debian 12), which lacks C++20's implicit
// deduction guides for aggregates.
template <class... F> Overloaded(F...) -> Overloaded<F...>;

// What polkit is asked before a request of this kind runs.
Action action_of(const Request &request);

// What a door knows of one connection beyond its bytes.
struct Connection {
    Peer peer; // pinned and described at accept (requester.hpp)
    std::vector<Binding> bindings; // ssh door only; in the order received
};

// One framed request, as the protocol understood it.
struct Step {
    std::size_t consumed = 0;       // bytes of input it used
    std::string reply;              // an immediate reply (e.g. a parse error)
    bool close = false;             // close after the reply
    std::optional<Request> request; // if set: authorize, then handle it
};

class StreamDoor {
public:
    StreamDoor(sd_event *loop, Service &service, Authorizer &authorizer, UniqueFd listen_fd,
               std::function<void()> activity, std::string name);
    virtual ~StreamDoor();
    std::size_t connections() const noexcept { return conns_.size(); }

protected:
    // The next complete request in `input`, or nullopt if more bytes are
    // needed. Also answers a request that can never complete (too large).
    virtual std::optional<Step> next_request(std::string_view input) = 0;
    // Performs an authorized request, with the facts facts_of() gave, and
    // returns its reply; throws Error (told() for the requester).
    virtual std::string handle(const Request &request, Connection &conn, const Facts &facts) = 0;
    // The request's facts as this door reads them (a signing request's use,
    // the door's own refusals), once per request.
    virtual Facts facts_of(const Request &request, const Connection &conn) = 0;
    // The reply to a refused or failed request.
    virtual std::string failure_reply(const Error &e) = 0;
    // What a peer of another uid gets before the connection closes.
    virtual std::string foreign_uid_reply(const std::string &why) = 0;

    Service &service_;

private:
    struct Conn {
        UniqueFd fd;
        // Set when bytes came from another process than the one that
        // connected (SCM_CREDENTIALS): its pid, 0 when unknown. Every later
        // request is refused and the connection closed.
        std::optional<pid_t> stranger;
        SdEventSource source;
        Connection ctx;
        std::shared_ptr<AuthzCache> cache = std::make_shared<AuthzCache>();
        std::string in;
        std::size_t consumed = 0; // of `in`, by requests already taken
        std::string out;
        bool waiting = false;     // on polkit for the current request
        bool close_after_flush = false;
        std::uint64_t last_active = 0; // CLOCK_MONOTONIC µs of the last I/O
    };
    using ConnPtr = std::shared_ptr<Conn>;

    static int on_accept(sd_event_source *, int fd, std::uint32_t, void *userdata);
    static int on_idle_scan(sd_event_source *, std::uint64_t, void *userdata);
    static bool idle(const Conn &c);
    // Closes the connection idle the longest to make room; false when all are busy.
    bool evict_idlest();
    void arm_idle_scan();
    std::uint64_t idle_close_usec() const;
    std::uint64_t scan_usec() const;
    static int on_io(sd_event_source *, int fd, std::uint32_t events, void *userdata);
    void accept_one();
    // Reads what is there; false at end of file or an error.
    bool receive(Conn &c);
    void process(const ConnPtr &c);
    // A request taken from the input: its facts, then polkit.
    void take(const ConnPtr &c, const Step &step);
    void execute(Conn &c, const Step &step, const Facts &facts, const Verdict &verdict);
    // After polkit's verdict: the approval step (Service::approve; the
    // connection may wait for the user), then execute.
    void decided(const ConnPtr &c, const Step &step, const std::shared_ptr<const Facts> &facts, Verdict verdict);
    // Called back later from the loop with a verdict: executes and goes on
    // with the connection's next requests.
    std::function<void(Verdict)> resume(const ConnPtr &c, const Step &step, std::shared_ptr<const Facts> facts,
                                        bool approved);
    void settle(const ConnPtr &c);
    bool flush(Conn &c);

    sd_event *loop_;
    Authorizer &authorizer_;
    UniqueFd listen_fd_;
    SdEventSource listen_source_, idle_scan_;
    std::function<void()> activity_;
    std::string name_;
    std::unordered_map<int, ConnPtr> conns_;
};

} // namespace puddle::agent
