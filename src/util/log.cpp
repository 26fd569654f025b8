#include "util/log.hpp"

#include <cerrno> // program_invocation_short_name (GNU)
#include <cstdio>
#include <cstdlib>

namespace puddle {

void log(LogLevel level, const std::string &message) {
    // systemd sets JOURNAL_STREAM when stderr goes to the journal; the
    // "<N>" prefix is then parsed as the priority. On a terminal it is noise.
    static const bool prefixed = std::getenv("JOURNAL_STREAM") || std::getenv("INVOCATION_ID");
    if (prefixed) std::fprintf(stderr, "<%d>%s\n", int(level), message.c_str());
    else std::fprintf(stderr, "%s: %s\n", program_invocation_short_name, message.c_str());
}

} // namespace puddle
