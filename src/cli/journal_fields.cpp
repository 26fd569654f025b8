#include "cli/journal_fields.hpp"

#include "util/error.hpp"

#include <string_view>

namespace puddle::cli {

void add_journal_match(sd_journal *j, const std::string &m, const std::string &verb) {
    if (int r = sd_journal_add_match(j, m.data(), m.size()); r < 0)
        throw Error(Failure::failed, verb, "cannot filter the journal: " + errno_text(-r));
}

JournalFields puddle_fields(sd_journal *j) {
    JournalFields f;
    const void *data = nullptr;
    size_t len = 0;
    sd_journal_restart_data(j);
    while (sd_journal_enumerate_data(j, &data, &len) > 0) {
        std::string_view kv(static_cast<const char *>(data), len);
        auto eq = kv.find('=');
        if (eq == std::string_view::npos || !kv.starts_with("PUDDLE_")) continue;
        f.insert_or_assign(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
    }
    return f;
}

} // namespace puddle::cli
