#include "cli/passphrase_source.hpp"

#include "core/passphrase.hpp"

#include <fcntl.h>

namespace puddle::cli {
namespace {

void check_fd_option(const Args &args, const std::string &option) {
    long fd = *args.number(option);
    if (fd > INT32_MAX || ::fcntl(int(fd), F_GETFD) < 0)
        usage_error("", "--" + option + " " + std::to_string(fd) + ": that file descriptor is not open");
}

SecretBuffer from_fd_option(const Args &args, const std::string &option) {
    check_fd_option(args, option);
    long fd = *args.number(option);
    return read_passphrase_fd(int(fd), "file descriptor " + std::to_string(fd));
}

} // namespace

void check_fd_options(const Args &args, std::initializer_list<const char *> options) {
    for (const char *o : options)
        if (args.value(o)) check_fd_option(args, o);
}

SecretBuffer current_passphrase(const Args &args, const std::string &prompt) {
    if (args.value("passphrase-fd")) return from_fd_option(args, "passphrase-fd");
    return read_passphrase_tty(prompt, false, "--passphrase-fd");
}

SecretBuffer new_passphrase(const Args &args, const std::string &fd_option, const std::string &prompt) {
    if (args.value(fd_option)) return from_fd_option(args, fd_option);
    return read_passphrase_tty(prompt, true, "--" + fd_option);
}

} // namespace puddle::cli
