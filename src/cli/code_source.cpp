#include "cli/code_source.hpp"

#include "util/error.hpp"
#include "util/fd.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

namespace puddle::cli {
namespace {

constexpr const char *kCodeShape = "a pairing code is 8 digits, written NNNN-NNNN";

// One line, byte by byte: whatever follows the newline (the passphrase, on
// the same pipe) stays for the next reader. Over-long lines stop early.
std::string read_line(int fd, const std::string &what) {
    std::string line;
    for (;;) {
        char c;
        const ssize_t r = ::read(fd, &c, 1);
        if (r < 0) {
            if (errno == EINTR) continue;
            throw_errno("cannot read the pairing code from " + what, errno);
        }
        if (r == 0 || c == '\n') return line;
        line += c;
        if (line.size() > kMaxCodeLineBytes) return line; // refused by the caller
    }
}

std::string checked(const std::string &verb, const std::string &line, const std::string &what) {
    auto code = parse_code_line(line);
    if (!code)
        throw Error(Failure::invalid_argument, verb, "the pairing code from " + what + " is not a code: " + kCodeShape,
                    "copy the code 'puddle pair' printed on the other machine");
    return *code;
}

std::string from_fd(const Args &args, const std::string &verb) {
    const long fd = *args.number("code-fd"); // checked open by check_fd_options
    const std::string what = "file descriptor " + std::to_string(fd);
    return checked(verb, read_line(int(fd), what), what);
}

std::string from_terminal(const std::string &verb) {
    UniqueFd tty(::open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY));
    if (!tty)
        throw Error(Failure::invalid_argument, verb, "cannot ask for the pairing code: there is no terminal",
                    "pass it on a file descriptor with --code-fd N");
    // Echoed: the code is no secret from whoever sees this screen (the other
    // machine shows it too), and a typo stays visible.
    const char prompt[] = "Pairing code (NNNN-NNNN): ";
    (void)!::write(tty.get(), prompt, sizeof prompt - 1);
    return checked(verb, read_line(tty.get(), "the terminal"), "the terminal");
}

} // namespace

std::optional<std::string> parse_code_line(std::string_view line) {
    auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r'; };
    while (!line.empty() && blank(line.back())) line.remove_suffix(1);
    while (!line.empty() && blank(line.front())) line.remove_prefix(1);
    const bool plain = line.size() == 8, hyphenated = line.size() == 9 && line[4] == '-';
    if (!plain && !hyphenated) return std::nullopt;
    for (std::size_t i = 0; i < line.size(); ++i)
        if (!(hyphenated && i == 4) && (line[i] < '0' || line[i] > '9')) return std::nullopt;
    return std::string(line);
}

void blank_code_in_command_line(int argc, char **argv) {
    for (int i = 2; i < argc; ++i) {
        if (std::strcmp(argv[i], "--") == 0) return;
        char *value = nullptr;
        if (std::strcmp(argv[i], "--code") == 0 && i + 1 < argc) value = argv[++i];
        else if (std::strncmp(argv[i], "--code=", 7) == 0) value = argv[i] + 7;
        if (value) std::memset(value, '*', std::strlen(value));
    }
}

void check_code_options(const Args &args, const std::string &verb) {
    if (args.value("code") && args.value("code-fd"))
        usage_error(verb, "--code and --code-fd both give the pairing code: give one (--code-fd)");
}

std::string pairing_code(const Args &args, const std::string &verb) {
    check_code_options(args, verb);
    const auto argv_code = args.value("code");
    if (args.value("code-fd")) return from_fd(args, verb);
    if (!argv_code) return from_terminal(verb);
    std::fprintf(stderr,
                 "puddle: warning: --code puts the pairing code on the command line, where any local user can read "
                 "it and claim the code first (ps, /proc/%d/cmdline; puddle blanks it there once started, too late "
                 "for a quicker reader, and your shell may keep it in its history); type the code when asked, or "
                 "pass it with --code-fd N\n",
                 int(::getpid()));
    return checked(verb, *argv_code, "--code");
}

} // namespace puddle::cli
