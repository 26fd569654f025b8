#include "core/passphrase.hpp"

#include "util/error.hpp"
#include "util/fd.hpp"

#include <cctype>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <iterator>
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

// While a passphrase is typed the terminal does not echo. A signal that
// ends the program there (Ctrl-C, a hang-up, kill) must not leave the
// user's terminal that way, and Ctrl-Z must not stop the program with echo
// off or resume it with echo on: what readpassphrase(3) does. One prompt at
// a time, so the handler's state is plain statics, set before it is armed.
int g_tty_fd = -1;
struct termios g_tty_old {}, g_tty_quiet {};
constexpr int kTtySignals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGALRM, SIGPIPE, SIGTSTP};

extern "C" void restore_terminal_on_signal(int sig) {
    const int saved = errno;
    ::tcsetattr(g_tty_fd, TCSANOW, &g_tty_old);
    struct sigaction dfl {}, mine {};
    dfl.sa_handler = SIG_DFL;
    ::sigaction(sig, &dfl, &mine);
    sigset_t just;
    ::sigemptyset(&just);
    ::sigaddset(&just, sig);
    ::raise(sig);
    ::sigprocmask(SIG_UNBLOCK, &just, nullptr); // delivered here: the default action
    // Only a stop comes back (SIGCONT): quiet again, as before it.
    ::sigaction(sig, &mine, nullptr);
    ::tcsetattr(g_tty_fd, TCSANOW, &g_tty_quiet);
    errno = saved;
}

class QuietTerminal {
public:
    QuietTerminal(int fd, const struct termios &old, const struct termios &quiet) {
        g_tty_fd = fd;
        g_tty_old = old;
        g_tty_quiet = quiet;
        struct sigaction sa {};
        sa.sa_handler = restore_terminal_on_signal;
        ::sigemptyset(&sa.sa_mask);
        for (std::size_t i = 0; i < std::size(kTtySignals); ++i) ::sigaction(kTtySignals[i], &sa, &saved_[i]);
        // TCSAFLUSH: what was typed before the prompt is not the passphrase.
        ::tcsetattr(fd, TCSAFLUSH, &quiet);
    }
    ~QuietTerminal() {
        // TCSANOW: what is typed after Enter is the shell's.
        ::tcsetattr(g_tty_fd, TCSANOW, &g_tty_old);
        for (std::size_t i = 0; i < std::size(kTtySignals); ++i) ::sigaction(kTtySignals[i], &saved_[i], nullptr);
        g_tty_fd = -1;
    }
    QuietTerminal(const QuietTerminal &) = delete;
    QuietTerminal &operator=(const QuietTerminal &) = delete;

private:
    struct sigaction saved_[std::size(kTtySignals)] {};
};

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
        SecretBuffer p;
        {
            // Echo off before the prompt shows: nothing typed after it is echoed.
            QuietTerminal q(tty.get(), old, quiet);
            (void)!::write(tty.get(), text.data(), text.size());
            p = read_line(tty.get(), "the terminal");
        }
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
