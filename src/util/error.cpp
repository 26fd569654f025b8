#include "util/error.hpp"

#include <cstring>

namespace puddle {

std::string errno_text(int err) {
    char buf[256];
    // GNU strerror_r returns the message pointer, which may or may not be buf.
    return ::strerror_r(err, buf, sizeof buf);
}

void throw_errno(const std::string &what, int err, std::string hint) {
    throw Error(Failure::failed, what, errno_text(err), std::move(hint));
}

} // namespace puddle
