#include "agent/health_cache.hpp"

#include "core/names.hpp"
#include "util/clock.hpp"

#include <sys/inotify.h>

namespace puddle::agent {

const Health &HealthCache::get() {
    if (!watching_) {
        watching_ = true;
        watch(dir_.path());
        try {
            watch(user_claims_dir());
        } catch (const std::exception &) {
            // no home to find it in: the age bound covers it
        }
        for (const auto &d : config_.names.claims_dirs) watch(d);
    }
    const std::uint64_t now = now_usec(CLOCK_MONOTONIC);
    if (!cached_ || now >= assessed_usec_ + kMaxAgeUsec) {
        cached_ = assess_health(dir_, config_);
        assessed_usec_ = now;
    }
    return *cached_;
}

void HealthCache::watch(const std::string &path) {
    // A directory that cannot be watched (absent, unreadable) is covered by
    // the age bound alone.
    sd_event_source *s = nullptr;
    constexpr std::uint32_t kMask =
        IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF;
    if (sd_event_add_inotify(loop_, &s, path.c_str(), kMask, on_change, this) >= 0) watches_.emplace_back(s);
}

int HealthCache::on_change(sd_event_source *, const struct inotify_event *, void *userdata) {
    static_cast<HealthCache *>(userdata)->invalidate();
    return 0;
}

} // namespace puddle::agent
