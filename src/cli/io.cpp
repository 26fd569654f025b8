#include "cli/io.hpp"

#include "cli/args.hpp"
#include "util/fd.hpp"
#include "util/text.hpp"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <unistd.h>

namespace puddle::cli {

void write_new_file(const std::string &path, std::string_view text, const std::string &what) {
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!fd) {
        const int err = errno;
        if (err == EEXIST)
            throw Error(Failure::failed, "cannot write " + what + " to " + quoted(path), "the file exists",
                        "choose another name, or remove it first");
        throw_errno("cannot create " + quoted(path), err);
    }
    write_all(fd.get(), reinterpret_cast<const std::uint8_t *>(text.data()), text.size(), path);
    if (::fsync(fd.get()) != 0) throw_errno("cannot sync " + quoted(path), errno);
}

Bytes read_input(const std::string &path, std::size_t max_bytes) {
    UniqueFd owned;
    int fd = 0;
    if (path != "-") {
        owned.reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
        if (!owned) throw_errno("cannot read " + path, errno);
        fd = owned.get();
    }
    Bytes data;
    std::uint8_t buf[65536];
    for (;;) {
        ssize_t r = ::read(fd, buf, sizeof buf);
        if (r < 0) {
            if (errno == EINTR) continue;
            throw_errno("cannot read " + (path == "-" ? std::string("standard input") : path), errno);
        }
        if (r == 0) break;
        if (data.size() + std::size_t(r) > max_bytes)
            throw Error(Failure::invalid_argument, "cannot read " + (path == "-" ? std::string("standard input") : path),
                        "it is larger than " + std::to_string(max_bytes) + " bytes", "check that it is the right file");
        data.insert(data.end(), buf, buf + r);
    }
    return data;
}

Signature decode_signature(const std::string &text) {
    std::optional<Bytes> raw;
    if (text.size() == kSignatureBytes * 2) raw = from_hex(text);
    else raw = from_base64(text, kSignatureBytes);
    if (!raw || raw->size() != kSignatureBytes)
        usage_error("verify", "--sig must be a 64-byte Ed25519 signature in base64 (88 characters) or hex (128 digits)");
    Signature s;
    std::copy(raw->begin(), raw->end(), s.begin());
    return s;
}

Config load_config_reporting(ConfigErrors errors, std::optional<Error> *problem) {
    std::vector<std::string> warnings;
    auto c = load_config(warnings, errors, problem);
    for (const auto &w : warnings) print_warning(w);
    return c;
}

void print_error(const Error &e) {
    // One line each, whatever a path or an argument in them holds.
    std::fprintf(stderr, "puddle: %s: %s\n", printable(e.what_failed()).c_str(), printable(e.why()).c_str());
    if (!e.hint().empty()) std::fprintf(stderr, "hint: %s\n", printable(e.hint()).c_str());
}

void print_warning(const std::string &text) {
    std::fprintf(stderr, "puddle: warning: %s\n", printable(text).c_str());
}

void print_notice(const std::string &text) {
    std::fprintf(stderr, "puddle: notice: %s\n", printable(text).c_str());
}

std::string quoted(const std::string &s) { return quote_for_message(s); }

bool use_colour() {
    const char *nc = std::getenv("NO_COLOR");
    return ::isatty(1) && !(nc && *nc);
}

} // namespace puddle::cli
