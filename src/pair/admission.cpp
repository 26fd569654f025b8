#include "pair/admission.hpp"

#include <arpa/inet.h>
#include <cstring>
#include <netinet/in.h>

namespace puddle::pair {
namespace {

Source ipv4(const in_addr &a) {
    char text[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &a, text, sizeof text);
    in_addr net = a;
    net.s_addr &= htonl(0xffffff00u);
    char net_text[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &net, net_text, sizeof net_text);
    return {text, std::string(net_text) + "/24"};
}

Source ipv6(const in6_addr &a) {
    char text[INET6_ADDRSTRLEN];
    inet_ntop(AF_INET6, &a, text, sizeof text);
    in6_addr net = a;
    std::memset(net.s6_addr + 8, 0, 8);
    char net_text[INET6_ADDRSTRLEN];
    inet_ntop(AF_INET6, &net, net_text, sizeof net_text);
    return {text, std::string(net_text) + "/64"};
}

} // namespace

Source source_of(const sockaddr_storage &ss) {
    if (ss.ss_family == AF_INET) return ipv4(reinterpret_cast<const sockaddr_in &>(ss).sin_addr);
    if (ss.ss_family == AF_INET6) {
        const auto &a = reinterpret_cast<const sockaddr_in6 &>(ss).sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(&a)) {
            in_addr v4;
            std::memcpy(&v4, a.s6_addr + 12, 4);
            return ipv4(v4);
        }
        return ipv6(a);
    }
    return {"?", "?"};
}

SlotLimit::Verdict SlotLimit::admit(const Source &s) {
    if (in_use_ >= total_) return Verdict::full;
    auto &net = by_network_[s.network];
    auto &addr = by_address_[s.address];
    Verdict v = Verdict::admitted;
    if (net >= per_network_) v = Verdict::network_full;
    else if (addr >= per_address_) v = Verdict::address_full;
    if (v != Verdict::admitted) {
        // Nothing counted: drop the entries the look-up made.
        if (net == 0) by_network_.erase(s.network);
        if (addr == 0) by_address_.erase(s.address);
        return v;
    }
    ++net;
    ++addr;
    ++in_use_;
    return v;
}

void SlotLimit::release(const Source &s) {
    auto drop = [](std::map<std::string, std::size_t> &m, const std::string &key) {
        auto it = m.find(key);
        if (it == m.end()) return;
        if (--it->second == 0) m.erase(it);
    };
    drop(by_network_, s.network);
    drop(by_address_, s.address);
    if (in_use_ > 0) --in_use_;
}

bool LogThrottle::due(std::time_t now, std::size_t &held_back) {
    if (logged_ && now < last_ + interval_) {
        ++held_;
        return false;
    }
    held_back = held_;
    held_ = 0;
    last_ = now;
    logged_ = true;
    return true;
}

} // namespace puddle::pair
