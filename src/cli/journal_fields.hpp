// Reading puddle's own entries back from a journal (puddle log, puddle
// fleet --journal): the sd_journal owner, a match that says what failed,
// and one entry's PUDDLE_* fields.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <systemd/sd-journal.h>

namespace puddle::cli {

struct JournalCloser {
    void operator()(sd_journal *j) const { sd_journal_close(j); }
};
using Journal = std::unique_ptr<sd_journal, JournalCloser>;

using JournalFields = std::map<std::string, std::string>; // NAME -> value

// sd_journal_add_match, or Error(Failure::failed, verb, ...).
void add_journal_match(sd_journal *j, const std::string &match, const std::string &verb);
// The current entry's PUDDLE_* fields (a repeated field: the last one).
JournalFields puddle_fields(sd_journal *j);

} // namespace puddle::cli
