// puddle log: the record of the key's uses, read back from the journal.
#include "agent/usage.hpp"
#include "cli/args.hpp"
#include "cli/journal_fields.hpp"
#include "cli/since.hpp"
#include "cli/usage_log.hpp"
#include "cli/verbs.hpp"
#include "util/error.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <ctime>
#include <memory>
#include <systemd/sd-journal.h>
#include <unistd.h>

namespace puddle::cli {
namespace {

const char *const kHint = "the journal keeps a user's own entries readable to them only with persistent storage "
                          "(/var/log/journal); journalctl --user shows what is readable";

// Whether the system keeps any journal file at all, readable or not: a
// machine whose journal is empty (a fresh container, journald not running,
// Storage=none) has nothing to show, which is not this user's permissions.
// nullopt when a directory cannot be listed, so it cannot tell.
std::optional<bool> journal_files_exist() {
    namespace fs = std::filesystem;
    for (const char *root : {"/var/log/journal", "/run/log/journal"}) {
        std::error_code ec;
        if (!fs::exists(root, ec)) continue;
        fs::recursive_directory_iterator it(root, fs::directory_options::none, ec), end;
        if (ec) return std::nullopt;
        for (; it != end; it.increment(ec)) {
            if (ec) return std::nullopt;
            const auto ext = it->path().extension();
            if (ext == ".journal" || ext == ".journal~") return true;
        }
    }
    return false;
}

} // namespace

int run_log(const std::vector<std::string> &argv) {
    Args args("log", argv);
    std::optional<std::uint64_t> since;
    if (auto text = args.value("since")) {
        std::string why;
        since = parse_since(*text, std::time(nullptr), &why);
        if (!since) usage_error("log", "--since " + *text + ": " + why);
    }
    const auto lines = args.number("lines");

    sd_journal *raw = nullptr;
    if (int r = sd_journal_open(&raw, SD_JOURNAL_LOCAL_ONLY | SD_JOURNAL_CURRENT_USER); r < 0)
        throw Error(Failure::failed, "log", "cannot open the journal: " + errno_text(-r), kHint);
    Journal j(raw);
    std::uint64_t usage = 0;
    if (sd_journal_get_usage(j.get(), &usage) >= 0 && usage == 0) {
        if (journal_files_exist() == false) {
            // Nothing recorded yet, by anyone: an empty record, not a failure.
            if (args.flag("json")) {
                std::printf("[]\n");
                return 0;
            }
            std::fprintf(stderr, "puddle: log: no use of the key is recorded: the journal has no entries at all yet "
                                 "(no journal files in /var/log/journal or /run/log/journal)\n"
                                 "hint: check that journald runs: 'systemctl status systemd-journald'; once the agent "
                                 "signed something, 'journalctl --user -u puddle-agent.service' shows it\n");
            return 0;
        }
        throw Error(Failure::failed, "log", "the journal has files, but none is readable by this user", kHint);
    }
    // The agent's own entries only: journald sets these fields from the
    // sender's credentials, so another program cannot pass for the agent
    // by sending the same MESSAGE_IDs.
    for (const char *id : {agent::message_id::kSigned, agent::message_id::kRefused, agent::message_id::kFailed})
        add_journal_match(j.get(), std::string("MESSAGE_ID=") + id, "log");
    add_journal_match(j.get(), "_SYSTEMD_USER_UNIT=puddle-agent.service", "log");
    add_journal_match(j.get(), "_UID=" + std::to_string(::getuid()), "log");

    std::vector<LoggedUse> uses;
    if (lines) {
        // The last N: walk back from the tail.
        sd_journal_seek_tail(j.get());
        while (uses.size() < std::size_t(*lines) && sd_journal_previous(j.get()) > 0) {
            std::uint64_t t = 0;
            sd_journal_get_realtime_usec(j.get(), &t);
            if (since && t < *since) break;
            uses.push_back(logged_use(puddle_fields(j.get()), t));
        }
        std::reverse(uses.begin(), uses.end());
    } else {
        if (since) sd_journal_seek_realtime_usec(j.get(), *since);
        else sd_journal_seek_head(j.get());
        while (sd_journal_next(j.get()) > 0) {
            std::uint64_t t = 0;
            sd_journal_get_realtime_usec(j.get(), &t);
            if (since && t < *since) continue;
            uses.push_back(logged_use(puddle_fields(j.get()), t));
        }
    }

    if (args.flag("json")) {
        auto list = Json::array();
        for (const auto &u : uses) list.push(use_json(u));
        std::printf("%s\n", list.dump().c_str());
        return 0;
    }
    if (uses.empty()) std::fprintf(stderr, "puddle: log: no use of the key is recorded%s\n", since ? " since then" : "");
    for (const auto &u : uses) std::printf("%s\n", format_use(u).c_str());
    return 0;
}

} // namespace puddle::cli
