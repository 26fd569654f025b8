// Small helpers shared by the unit tests: catching puddle::Error to look at
// it, printing puddle types in Boost.Test messages, temporary directories.
#pragma once

#include "core/envoy.hpp"
#include "core/encoding.hpp"
#include "core/identity.hpp"
#include "util/error.hpp"

#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <ostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <sys/stat.h>

namespace puddle {

// Found by argument-dependent lookup when BOOST_TEST prints a failed comparison.
inline std::ostream &operator<<(std::ostream &os, Failure f) {
    return os << "Failure(" << static_cast<int>(f) << ")";
}
inline std::ostream &operator<<(std::ostream &os, const PublicKey &k) { return os << k.str(); }
inline std::ostream &operator<<(std::ostream &os, const EnvoyKey &k) { return os << k.str(); }
inline std::ostream &operator<<(std::ostream &os, Protection p) { return os << protection_name(p); }

} // namespace puddle

namespace puddle_test {

// Runs f and returns the puddle::Error it threw, or nullopt if it threw none.
// Any other exception propagates and fails the test case.
template <class F>
std::optional<puddle::Error> catch_error(F &&f) {
    try {
        f();
    } catch (const puddle::Error &e) {
        return e;
    }
    return std::nullopt;
}

inline bool contains(const std::string &hay, const std::string &needle) {
    return hay.find(needle) != std::string::npos;
}

// A private directory under /tmp, removed with everything in it at the end.
class TempDir {
public:
    TempDir() {
        std::string tmpl = "/tmp/puddle-unit-XXXXXX";
        if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
        path_ = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    TempDir(const TempDir &) = delete;
    TempDir &operator=(const TempDir &) = delete;

    const std::string &path() const noexcept { return path_; }
    std::string operator/(const std::string &name) const { return path_ + "/" + name; }

private:
    std::string path_;
};

inline void write_file(const std::string &path, const std::string &content) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << content;
    if (!out) throw std::runtime_error("cannot write " + path);
}

inline std::string read_file(const std::string &path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + path);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

inline mode_t mode_of(const std::string &path) {
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0) throw std::runtime_error("cannot stat " + path);
    return st.st_mode & 07777;
}

inline puddle::Bytes bytes_of(const std::string &s) { return puddle::Bytes(s.begin(), s.end()); }

// An environment variable set for one test, restored at its end.
class EnvVar {
public:
    EnvVar(const char *name, const std::string &value) : name_(name) {
        if (const char *old = std::getenv(name)) old_ = old;
        ::setenv(name, value.c_str(), 1);
    }
    ~EnvVar() {
        if (old_) ::setenv(name_, old_->c_str(), 1);
        else ::unsetenv(name_);
    }
    EnvVar(const EnvVar &) = delete;
    EnvVar &operator=(const EnvVar &) = delete;

private:
    const char *name_;
    std::optional<std::string> old_;
};

// Commits make this machine's envoy secret under $HOME/.local/state: a home
// of the tests' own, never the runner's (BOOST_TEST_GLOBAL_FIXTURE(OwnHome)).
struct OwnHome {
    TempDir home;
    EnvVar env{"HOME", home.path()};
};

} // namespace puddle_test

// Checks that `hay` contains `needle`, printing both when it does not.
#define CHECK_CONTAINS(hay, needle)                                                                \
    BOOST_CHECK_MESSAGE(::puddle_test::contains((hay), (needle)),                                 \
                        "\"" << (hay) << "\" does not contain \"" << (needle) << "\"")
