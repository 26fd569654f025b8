// The pair listener's per-source-address limit: at most so many connections
// a minute from one address. The record of the last minute is pruned and
// capped, so that no stream of new addresses grows it without bound.
#pragma once

#include <cstddef>
#include <ctime>
#include <map>
#include <string>
#include <vector>

namespace puddle::pair {

class RateLimit {
public:
    static constexpr std::time_t kWindowSeconds = 60;

    RateLimit(std::size_t per_minute, std::size_t max_addresses)
        : per_minute_(per_minute), max_addresses_(max_addresses) {}

    enum class Verdict {
        allowed,
        limited_now, // the first attempt over the limit this minute: worth a log line
        limited,
        untracked, // no room for another address: refused, and not recorded
    };

    // Records one attempt from `address` (refused ones count too, so that a
    // client that keeps trying stays limited) and says whether it may go on.
    Verdict record(const std::string &address, std::time_t now);

    // Forgets attempts older than the window, and addresses with none left.
    void prune(std::time_t now);

    std::size_t addresses() const noexcept { return recent_.size(); }

private:
    std::size_t per_minute_, max_addresses_;
    std::map<std::string, std::vector<std::time_t>> recent_;
};

} // namespace puddle::pair
