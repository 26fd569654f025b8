// puddle fleet --journal DIR: the administrator's roll-up of the agents'
// status entries (puddle-agent(1) STATUS ENTRY) from journals gathered off
// many machines (systemd-journal-remote's output, or exported files).
#include "cli/args.hpp"
#include "cli/fleet_page.hpp"
#include "cli/journal_fields.hpp"
#include "cli/user_files.hpp"
#include "cli/verbs.hpp"
#include "core/fleet_rollup.hpp"
#include "core/status_entry.hpp"
#include "util/error.hpp"
#include "util/text.hpp"

#include <cerrno>
#include <cstdio>
#include <ctime>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace puddle::cli {
namespace {

// Enough for thousands of machines with weeks of changes; past it the
// newest entries are read and the page says it stopped.
constexpr std::size_t kMaxEntries = 200000;
constexpr std::size_t kMaxDirEntries = 10000;
constexpr std::size_t kKeptRefusals = 5;

const char *const kReaderHint = "run it as root or as a member of the systemd-journal group (journal readers)";

// The directory is there, a directory, readable, and its *.journal files
// are regular files (a FIFO or device named so must not hang the reader);
// returns how many there are.
std::size_t check_directory(const std::string &dir) {
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0) {
        const int e = errno;
        throw Error(Failure::failed, "fleet", "cannot read the journal directory " + quote_for_message(dir) + ": " +
                                                  errno_text(e),
                    e == ENOENT ? "give the directory systemd-journal-remote writes to (--output), "
                                  "e.g. /var/log/journal/remote"
                                : kReaderHint);
    }
    if (!S_ISDIR(st.st_mode))
        throw Error(Failure::failed, "fleet", quote_for_message(dir) + " is not a directory",
                    "give the directory holding the *.journal files, not a file");
    DIR *d = ::opendir(dir.c_str());
    if (!d)
        throw Error(Failure::failed, "fleet",
                    "cannot read the journal directory " + quote_for_message(dir) + ": " + errno_text(errno), kReaderHint);
    std::size_t files = 0, readable = 0, seen = 0;
    std::string odd;
    while (dirent *ent = ::readdir(d)) {
        if (++seen > kMaxDirEntries) break;
        const std::string name = ent->d_name;
        if (!(name.ends_with(".journal") || name.ends_with(".journal~"))) continue;
        struct stat fs {};
        if (::fstatat(::dirfd(d), ent->d_name, &fs, AT_SYMLINK_NOFOLLOW) != 0) continue;
        if (S_ISREG(fs.st_mode)) {
            ++files;
            // sd-journal skips a file it cannot open without a word.
            if (::faccessat(::dirfd(d), ent->d_name, R_OK, AT_EACCESS) == 0) ++readable;
        } else if (odd.empty())
            odd = name;
    }
    ::closedir(d);
    if (!odd.empty())
        throw Error(Failure::failed, "fleet",
                    quote_for_message(dir + "/" + odd) + " is not a regular file (a symlink, FIFO or device)",
                    "journal directories hold only the journal's own files; move it away");
    if (files > 0 && readable == 0)
        throw Error(Failure::failed, "fleet",
                    "none of the " + std::to_string(files) + " journal files in " + quote_for_message(dir) +
                        " is readable by this user",
                    kReaderHint);
    return files;
}

FleetReport read_fleet(const std::string &dir) {
    const std::size_t files = check_directory(dir);
    if (files == 0)
        throw Error(Failure::failed, "fleet", "no journal files (*.journal) in " + quote_for_message(dir),
                    "hand the machines' journals to systemd-journal-remote (--output=" + dir +
                        "/), or import exported ones: systemd-journal-remote --output=" + dir +
                        "/NAME.journal FILE.export");
    sd_journal *raw = nullptr;
    if (int r = sd_journal_open_directory(&raw, dir.c_str(), 0); r < 0)
        throw Error(Failure::failed, "fleet", "cannot open the journal in " + quote_for_message(dir) + ": " + errno_text(-r),
                    kReaderHint);
    Journal j(raw);
    // Fields past the bound are not decompressed whole; they are then refused.
    sd_journal_set_data_threshold(j.get(), kStatusMaxField + 64);
    add_journal_match(j.get(), std::string("MESSAGE_ID=") + status_message::kId, "fleet");
    // The agent's own entries: journald sets the unit from the sender's
    // credentials, so no other program passes for the agent; each entry
    // speaks for its own _UID only.
    add_journal_match(j.get(), "_SYSTEMD_USER_UNIT=puddle-agent.service", "fleet");

    FleetReport report;
    report.source = dir;
    report.generated_at = std::int64_t(std::time(nullptr));
    std::vector<StatusEntry> entries;
    // Newest first, so the cap keeps what matters.
    sd_journal_seek_tail(j.get());
    while (sd_journal_previous(j.get()) > 0) {
        if (report.entries == kMaxEntries) {
            report.capped = true;
            break;
        }
        ++report.entries;
        std::uint64_t t = 0;
        sd_journal_get_realtime_usec(j.get(), &t);
        auto fields = puddle_fields(j.get());
        const void *data = nullptr;
        size_t len = 0;
        if (sd_journal_get_data(j.get(), "_UID", &data, &len) >= 0 && len > 5)
            fields["_UID"] = std::string(static_cast<const char *>(data) + 5, len - 5);
        try {
            entries.push_back(parse_status_entry(fields, t));
        } catch (const Error &e) {
            if (++report.refused_count <= kKeptRefusals) report.refused.push_back(e.why());
        }
    }
    report.puddles = roll_up(entries);
    return report;
}

} // namespace

int run_fleet_journal(const Args &args) {
    const auto dir = args.value("journal");
    if (!dir || dir->empty()) usage_error("fleet", "--journal needs a directory");
    const FleetReport report = read_fleet(*dir);
    for (const auto &why : report.refused) std::fprintf(stderr, "puddle: fleet: left out an entry: %s\n", printable(why).c_str());
    if (report.refused_count > report.refused.size())
        std::fprintf(stderr, "puddle: fleet: left out %zu more entries\n", report.refused_count - report.refused.size());
    if (report.capped)
        std::fprintf(stderr, "puddle: fleet: stopped after the newest %zu entries; older ones were not read\n",
                     report.entries);
    if (auto html = args.value("html")) write_text(*html, fleet_html(report), 0644);
    if (args.flag("json")) {
        std::printf("%s\n", fleet_json(report).dump().c_str());
        return 0;
    }
    if (report.puddles.empty())
        std::fprintf(stderr, "puddle: fleet: no puddle-agent status entries in %s\n", printable(*dir).c_str());
    std::fputs(fleet_text(report).c_str(), stdout);
    return 0;
}

} // namespace puddle::cli
