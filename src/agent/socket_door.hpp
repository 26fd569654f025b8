// The agent.sock door: accepts connections, frames LF-terminated lines
// (bounded), checks SO_PEERCRED, authorizes each request, and answers
// through the Service. Requests on one connection are answered in order: a
// connection waits while polkit decides on its current request.
#pragma once

#include "agent/authorizer.hpp"
#include "agent/line_protocol.hpp"
#include "agent/service.hpp"
#include "util/fd.hpp"
#include "util/sd.hpp"

#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

namespace puddle::agent {

class SocketDoor {
public:
    SocketDoor(sd_event *loop, Service &service, Authorizer &authorizer, UniqueFd listen_fd,
               std::function<void()> activity);
    std::size_t connections() const noexcept { return conns_.size(); }

private:
    struct Conn {
        UniqueFd fd;
        SdEventSource source;
        Peer peer;
        std::shared_ptr<AuthzCache> cache = std::make_shared<AuthzCache>();
        std::string in;
        std::size_t consumed = 0; // of `in`, by requests already taken
        std::string out;
        bool waiting = false;     // on polkit for the current request
        bool close_after_flush = false;
    };
    using ConnPtr = std::shared_ptr<Conn>;

    static int on_accept(sd_event_source *, int fd, std::uint32_t, void *userdata);
    static int on_io(sd_event_source *, int fd, std::uint32_t events, void *userdata);
    void accept_one();
    // Takes complete lines until one must wait for polkit.
    void process(const ConnPtr &c);
    void execute(Conn &c, const LineRequest &request, const Verdict &verdict);
    std::string act(Conn &c, const LineRequest &request);
    // Writes what it can, then closes or re-arms the connection.
    void settle(const ConnPtr &c);
    bool flush(Conn &c);

    sd_event *loop_;
    Service &service_;
    Authorizer &authorizer_;
    UniqueFd listen_fd_;
    SdEventSource listen_source_;
    std::function<void()> activity_;
    std::unordered_map<int, ConnPtr> conns_;
};

} // namespace puddle::agent
