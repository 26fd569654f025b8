// The agent.sock door: accepts connections, frames LF-terminated lines
// (bounded), checks SO_PEERCRED, and answers through the Service.
#pragma once

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
    SocketDoor(sd_event *loop, Service &service, UniqueFd listen_fd, std::function<void()> activity);
    std::size_t connections() const noexcept { return conns_.size(); }

private:
    struct Conn {
        UniqueFd fd;
        SdEventSource source;
        Peer peer;
        std::string in;
        std::string out;
        bool close_after_flush = false;
    };

    static int on_accept(sd_event_source *, int fd, std::uint32_t, void *userdata);
    static int on_io(sd_event_source *, int fd, std::uint32_t events, void *userdata);
    void accept_one();
    void handle_input(Conn &c);
    std::string answer(Conn &c, std::string_view line);
    // Writes what it can; returns false if the connection must close now.
    bool flush(Conn &c);
    void update_events(Conn &c);
    void drop(int fd);

    sd_event *loop_;
    Service &service_;
    UniqueFd listen_fd_;
    SdEventSource listen_source_;
    std::function<void()> activity_;
    std::unordered_map<int, std::unique_ptr<Conn>> conns_;
};

} // namespace puddle::agent
