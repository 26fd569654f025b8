#include "util/proc.hpp"

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>

namespace puddle {

std::uint64_t process_start_time(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    // The whole file, not a line: the command name may hold a newline (a
    // program named so could not otherwise be identified, for polkit or as
    // a requester), as well as spaces and parentheses.
    const std::string stat{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    auto close = stat.rfind(')');
    if (close == std::string::npos || close + 2 > stat.size()) return 0;
    std::string rest = stat.substr(close + 2);
    std::size_t pos = 0;
    for (int field = 3; field < 22; ++field) {
        pos = rest.find(' ', pos);
        if (pos == std::string::npos) return 0;
        ++pos;
    }
    return std::strtoull(rest.c_str() + pos, nullptr, 10);
}

bool pidfd_matches(int pidfd, pid_t pid) {
    std::ifstream in("/proc/self/fdinfo/" + std::to_string(pidfd));
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("Pid:", 0) == 0) return std::strtol(line.c_str() + 4, nullptr, 10) == long(pid);
    return false;
}

} // namespace puddle
