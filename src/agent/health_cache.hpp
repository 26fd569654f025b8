// Health as the agent's bus property reports it, assessed from disk once and
// kept until something it is assessed from may have changed: a file in the
// state directory or the user's claims directory (inotify), the session
// (the agent's own hook), or the clock (findings that age: a stale session
// file, a member behind for days, a new requester's warning window), for
// which an assessment is kept at most kMaxAgeUsec.
#pragma once

#include "core/config.hpp"
#include "core/health.hpp"
#include "core/statedir.hpp"
#include "util/sd.hpp"

#include <cstdint>
#include <optional>
#include <vector>

namespace puddle::agent {

class HealthCache {
public:
    static constexpr std::uint64_t kMaxAgeUsec = 5'000'000;

    HealthCache(sd_event *loop, const StateDir &dir, const Config &config) : loop_(loop), dir_(dir), config_(config) {}
    const Health &get();
    void invalidate() noexcept { cached_.reset(); }

private:
    static int on_change(sd_event_source *s, const struct inotify_event *ev, void *userdata);
    void watch(const std::string &path);

    sd_event *loop_;
    const StateDir &dir_;
    const Config &config_;
    std::optional<Health> cached_;
    std::uint64_t assessed_usec_ = 0;
    bool watching_ = false; // watches are added at the first read, not at start
    std::vector<SdEventSource> watches_;
};

} // namespace puddle::agent
