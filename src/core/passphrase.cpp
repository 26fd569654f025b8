#include "core/passphrase.hpp"

#include "util/error.hpp"
#include "util/fd.hpp"

#include <cctype>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <sodium.h>
#include <termios.h>
#include <unistd.h>

namespace puddle {
namespace {

// Reads one line (without its newline) into a locked buffer; EOF ends it too.
SecretBuffer read_line(int fd, const std::string &what) {
    SecretBuffer buf(kMaxPassphraseBytes + 1);
    std::size_t n = 0;
    for (;;) {
        std::uint8_t c;
        ssize_t r = ::read(fd, &c, 1);
        if (r < 0) {
            if (errno == EINTR) continue;
            throw_errno("cannot read the passphrase from " + what, errno);
        }
        if (r == 0 || c == '\n') break;
        if (n == kMaxPassphraseBytes)
            throw Error(Failure::invalid_argument, "cannot use the passphrase from " + what,
                        "it is longer than " + std::to_string(kMaxPassphraseBytes) + " bytes",
                        "use a passphrase of at most " + std::to_string(kMaxPassphraseBytes) + " bytes");
        buf.data()[n++] = c;
        sodium_memzero(&c, 1);
    }
    // A CRLF terminal or file: the CR is not part of the passphrase
    // (documented in puddle(1), PASSPHRASES; a passphrase cannot end in CR).
    if (n > 0 && buf.data()[n - 1] == '\r') --n;
    buf.truncate(n);
    return buf;
}

void refuse_empty(const SecretBuffer &p, const std::string &what) {
    if (p.empty())
        throw Error(Failure::invalid_argument, "cannot use the passphrase from " + what, "an empty passphrase is refused",
                    "give a non-empty passphrase");
}

} // namespace

SecretBuffer read_passphrase_fd(int fd, const std::string &what) {
    auto p = read_line(fd, what);
    refuse_empty(p, what);
    return p;
}

SecretBuffer read_passphrase_tty(const std::string &prompt, bool confirm, const std::string &fd_option) {
    UniqueFd tty(::open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY));
    if (!tty)
        throw Error(Failure::invalid_argument, "cannot ask for the passphrase", "there is no terminal",
                    "pass it on a file descriptor with " + fd_option + " N");
    struct termios old {};
    if (::tcgetattr(tty.get(), &old) != 0)
        throw Error(Failure::invalid_argument, "cannot ask for the passphrase", "/dev/tty is not a terminal",
                    "pass it on a file descriptor with " + fd_option + " N");
    struct termios quiet = old;
    quiet.c_lflag &= ~tcflag_t(ECHO);
    quiet.c_lflag |= ECHONL;

    auto ask = [&](const std::string &text) {
        (void)!::write(tty.get(), text.data(), text.size());
        ::tcsetattr(tty.get(), TCSAFLUSH, &quiet);
        SecretBuffer p;
        try {
            p = read_line(tty.get(), "the terminal");
        } catch (...) {
            ::tcsetattr(tty.get(), TCSAFLUSH, &old);
            throw;
        }
        ::tcsetattr(tty.get(), TCSAFLUSH, &old);
        refuse_empty(p, "the terminal");
        return p;
    };

    auto first = ask(prompt + ": ");
    if (confirm) {
        std::string again = prompt;
        if (!again.empty()) again[0] = char(std::tolower(static_cast<unsigned char>(again[0])));
        auto second = ask("Repeat " + again + ": ");
        if (first.size() != second.size() || sodium_memcmp(first.data(), second.data(), first.size()) != 0)
            throw Error(Failure::invalid_argument, "passphrases do not match", "the two entries differ", "run the command again");
    }
    return first;
}

} // namespace puddle
