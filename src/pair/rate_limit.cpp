#include "pair/rate_limit.hpp"

#include <iterator>

namespace puddle::pair {
namespace {

void drop_older(std::vector<std::time_t> &times, std::time_t now) {
    std::erase_if(times, [&](std::time_t t) { return t < now - RateLimit::kWindowSeconds; });
}

} // namespace

RateLimit::Verdict RateLimit::record(const std::string &address, std::time_t now) {
    if (!recent_.count(address) && recent_.size() >= max_addresses_) {
        prune(now); // addresses gone quiet make room before a new one is refused
        if (recent_.size() >= max_addresses_) return Verdict::untracked;
    }
    auto &times = recent_[address];
    drop_older(times, now);
    const std::size_t before = times.size();
    times.push_back(now);
    if (before < per_minute_) return Verdict::allowed;
    return before == per_minute_ ? Verdict::limited_now : Verdict::limited;
}

void RateLimit::prune(std::time_t now) {
    for (auto it = recent_.begin(); it != recent_.end();) {
        drop_older(it->second, now);
        it = it->second.empty() ? recent_.erase(it) : std::next(it);
    }
}

} // namespace puddle::pair
