// One recorded use of the key as `puddle log` shows it, from a journal
// entry's fields (puddle-agent(1) RECORD). Pure, so the unit tests feed it
// entries as hostile as the journal can hold.
#pragma once

#include "util/json.hpp"

#include <cstdint>
#include <map>
#include <string>

namespace puddle::cli {

using JournalFields = std::map<std::string, std::string>; // NAME -> value

struct LoggedUse {
    std::uint64_t time_usec = 0; // the entry's realtime timestamp
    std::string outcome;         // signed, refused, failed
    std::string door, program, unit, session, purpose, summary, reason, key;
    std::string sig_namespace, ssh_user, host_key, host_key_verified;
    bool forwarded = false;
    std::int64_t pid = 0, length = -1;
    std::string sha256;
};

LoggedUse logged_use(const JournalFields &fields, std::uint64_t time_usec);
// "2026-12-01 10:42:03 signed  /usr/bin/git (app-….scope) sshsig namespace=git via ssh-agent.sock"
std::string format_use(const LoggedUse &use);
Json use_json(const LoggedUse &use);

} // namespace puddle::cli
