#include "cli/fleet_sync.hpp"

#include "cli/io.hpp"
#include "util/text.hpp"

#include <cstdio>
#include <syslog.h>
#include <systemd/sd-journal.h>

namespace puddle::cli {

void journal_joined(const std::vector<std::string> &joined) {
    for (const auto &j : joined)
        (void)sd_journal_send("MESSAGE=new machine joined: %s (known from its machine report)", j.c_str(),
                              "PRIORITY=%i", LOG_NOTICE, "SYSLOG_IDENTIFIER=puddle", "PUDDLE_FLEET_JOINED=%s",
                              j.c_str(), nullptr);
}

void sync_fleet_quietly(const IdentityStore &store, std::int64_t now) {
    try {
        const Config config = load_config_reporting(ConfigErrors::skip_file);
        const auto s = sync_fleet(store, config, now);
        journal_joined(s.joined);
        for (const auto &j : s.joined) std::fprintf(stderr, "puddle: new machine joined: %s\n", printable(j).c_str());
        if (!s.problem.empty())
            std::fprintf(stderr, "puddle: warning: machine report: %s\n", printable(s.problem, 600).c_str());
    } catch (const std::exception &e) {
        std::fprintf(stderr, "puddle: warning: machine reports not updated: %s\n", e.what());
    }
}

} // namespace puddle::cli
