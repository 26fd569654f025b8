// Who may take one of the pair listener's connection slots (pure: no
// sockets, no clock of its own). A listener with a handful of slots is
// cheap to hold: idle TCP connections keep each slot for the handshake's
// deadline. So the slots are shared out per source address and per source
// network (an IPv4 /24, an IPv6 /64: what one attacker easily holds many
// addresses of), and a joiner from elsewhere still finds room.
#pragma once

#include <cstddef>
#include <ctime>
#include <map>
#include <string>
#include <sys/socket.h>

namespace puddle::pair {

// Where a connection comes from: "192.0.2.7" and "192.0.2.0/24", or
// "2001:db8::1" and "2001:db8::/64". An IPv4-mapped IPv6 address (a
// dual-stack socket) is its IPv4 address. Other families: "?" for both.
struct Source {
    std::string address;
    std::string network;
};
Source source_of(const sockaddr_storage &ss);

// Connections in progress, counted in total, per address and per network.
class SlotLimit {
public:
    SlotLimit(std::size_t total, std::size_t per_network, std::size_t per_address)
        : total_(total), per_network_(per_network), per_address_(per_address) {}

    enum class Verdict { admitted, full, network_full, address_full };
    // Takes a slot for `s` when one is free for it (release it later).
    Verdict admit(const Source &s);
    void release(const Source &s);
    std::size_t in_use() const noexcept { return in_use_; }

private:
    std::size_t total_, per_network_, per_address_;
    std::size_t in_use_ = 0;
    std::map<std::string, std::size_t> by_network_, by_address_;
};

// At most one log line per interval for a recurring event; the ones held
// back are counted and reported with the next line.
class LogThrottle {
public:
    explicit LogThrottle(std::time_t interval) : interval_(interval) {}
    // True when a line is due now; `held_back` is then the number of events
    // since the last line that were not logged.
    bool due(std::time_t now, std::size_t &held_back);

private:
    std::time_t interval_;
    std::time_t last_ = 0;
    bool logged_ = false;
    std::size_t held_ = 0;
};

} // namespace puddle::pair
