#include "core/config.hpp"

#include "core/encoding.hpp"
#include "util/error.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <sodium.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <sstream>
#include <sys/stat.h>

namespace puddle {
// toml++ 3.3 checks its parser's own assumptions with TOML_ASSERT, and some
// malformed files break them (fuzz-config found several). Here each check
// throws this instead of aborting, and NDEBUG is lifted for the header so
// that no check becomes an assumption the optimiser may act on.
struct TomlParserGaveUp {
    const char *check;
};
} // namespace puddle
#pragma push_macro("NDEBUG")
#undef NDEBUG
#define TOML_ASSERT(expr) ((expr) ? static_cast<void>(0) : throw ::puddle::TomlParserGaveUp{#expr})
#include <toml++/toml.h>
#pragma pop_macro("NDEBUG")

namespace puddle {

std::optional<std::string> host_key_fingerprint(std::string_view text, std::string *why) {
    auto fail = [&](std::string reason) -> std::optional<std::string> {
        if (why) *why = std::move(reason);
        return std::nullopt;
    };
    auto base64_char = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/'; };
    if (text.starts_with("SHA256:")) {
        const auto b64 = text.substr(7);
        if (b64.size() != 43 || !std::all_of(b64.begin(), b64.end(), base64_char))
            return fail("\"" + std::string(text) + "\" is not a SHA256 fingerprint: \"SHA256:\" and 43 base64 characters, "
                        "as ssh-keygen -l prints it");
        return std::string(text);
    }
    // "type base64 [comment]"
    const auto sp = text.find(' ');
    const std::string_view type = text.substr(0, sp);
    std::string_view b64 = sp == std::string_view::npos ? std::string_view() : text.substr(sp + 1);
    b64 = b64.substr(0, b64.find(' '));
    const auto blob = from_base64(b64, 16384);
    bool ok = blob && !type.empty();
    if (ok) {
        // The blob starts with its own type name: string type.
        const auto &b = *blob;
        ok = b.size() >= 4 + type.size() &&
             ((std::size_t(b[0]) << 24) | (std::size_t(b[1]) << 16) | (std::size_t(b[2]) << 8) | b[3]) == type.size() &&
             std::equal(type.begin(), type.end(), b.begin() + 4);
    }
    if (!ok)
        return fail("\"" + std::string(text.substr(0, 60)) + "\" is neither a SHA256 fingerprint (SHA256:…, as ssh-keygen "
                    "-l prints it) nor a public key line (\"ssh-ed25519 AAAA…\")");
    std::array<std::uint8_t, crypto_hash_sha256_BYTES> digest{};
    crypto_hash_sha256(digest.data(), blob->data(), blob->size());
    std::string fp = to_base64(digest);
    while (!fp.empty() && fp.back() == '=') fp.pop_back();
    return "SHA256:" + fp;
}

namespace {

std::string where(const std::string &source, const toml::source_region &r) {
    return source + ":" + std::to_string(r.begin.line);
}

const char *type_name(toml::node_type t) {
    switch (t) {
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
    default: return "nothing";
    }
}

// Thrown by Ctx::integer when asked only for a key's range (see
// describe_parse_error).
struct RangeProbe {
    std::int64_t lo, hi;
};

struct Ctx {
    const std::string &source;
    std::vector<std::string> &warnings;
    bool probe_range = false;

    [[noreturn]] void fail(const toml::node &n, const std::string &key, const std::string &why) const {
        throw Error(Failure::failed, "invalid configuration", where(source, n.source()) + ": " + key + ": " + why,
                    "fix or remove that line of " + source);
    }

    std::int64_t integer(const toml::node &n, const std::string &key, std::int64_t lo, std::int64_t hi) const {
        if (probe_range) throw RangeProbe{lo, hi};
        if (!n.is_integer()) fail(n, key, std::string("expected an integer, found ") + type_name(n.type()));
        std::int64_t v = *n.value<std::int64_t>();
        if (v < lo || v > hi)
            fail(n, key, std::to_string(v) + " is out of range " + std::to_string(lo) + ".." + std::to_string(hi));
        return v;
    }

    bool boolean(const toml::node &n, const std::string &key) const {
        if (!n.is_boolean()) fail(n, key, std::string("expected true or false, found ") + type_name(n.type()));
        return *n.value<bool>();
    }

    std::string string(const toml::node &n, const std::string &key) const {
        if (!n.is_string()) fail(n, key, std::string("expected a string, found ") + type_name(n.type()));
        return *n.value<std::string>();
    }
};

using Setter = std::function<void(Config &, const toml::node &, const Ctx &, const std::string &key)>;

const std::map<std::string, std::map<std::string, Setter>> &schema() {
    static const std::map<std::string, std::map<std::string, Setter>> s = {
        {"agent",
         {{"idle_timeout_minutes",
           [](Config &c, const toml::node &n, const Ctx &x, const std::string &k) {
               c.agent.idle_timeout_minutes = std::uint32_t(x.integer(n, k, 1, 60 * 24 * 366));
           }},
          {"exit_idle_seconds",
           [](Config &c, const toml::node &n, const Ctx &x, const std::string &k) {
               c.agent.exit_idle_seconds = std::uint32_t(x.integer(n, k, 1, 86400 * 7));
           }},
          {"connection_idle_seconds",
           [](Config &c, const toml::node &n, const Ctx &x, const std::string &k) {
               c.agent.connection_idle_seconds = std::uint32_t(x.integer(n, k, 1, 86400));
           }},
          {"watchdog_poll_seconds",
           [](Config &c, const toml::node &n, const Ctx &x, const std::string &k) {
               c.agent.watchdog_poll_seconds = std::uint32_t(x.integer(n, k, 1, 3600));
           }},
          {"lock_on_session_lock",
           [](Config &c, const toml::node &n, const Ctx &x, const std::string &k) {
               c.agent.lock_on_session_lock = x.boolean(n, k);
           }},
          {"lock_on_sleep",
           [](Config &c, const toml::node &n, const Ctx &x, const std::string &k) {
               c.agent.lock_on_sleep = x.boolean(n, k);
           }},
          {"unlock_on_request",
           [](Config &c, const toml::node &n, const Ctx &x, const std::string &k) {
               c.agent.unlock_on_request = x.boolean(n, k);
           }},
          {"lock_on_logout",
           [](Config &c, const toml::node &n, const Ctx &x, const std::string &k) {
               c.agent.lock_on_logout = x.boolean(n, k);
           }},
          {"polkit", [](Config &c, const toml::node &n, const Ctx &x, const std::string &k) {
               auto v = x.string(n, k);
               if (v == "auto") c.agent.polkit = PolkitMode::automatic;
               else if (v == "required") c.agent.polkit = PolkitMode::required;
               else if (v == "off") c.agent.polkit = PolkitMode::off;
               else x.fail(n, k, "\"" + v + "\" is not one of \"auto\", \"required\", \"off\"");
           }}}},
        {"pair",
         {{"port",
           [](Config &c, const toml::node &n, const Ctx &x, const std::string &k) {
               c.pair.port = std::uint16_t(x.integer(n, k, 1, 65535));
           }},
          {"code_ttl_seconds", [](Config &c, const toml::node &n, const Ctx &x, const std::string &k) {
               c.pair.code_ttl_seconds = std::uint32_t(x.integer(n, k, 10, 86400));
           }}}},
        {"tls",
         {{"ca_file", [](Config &c, const toml::node &n, const Ctx &x,
                         const std::string &k) { c.tls.ca_file = x.string(n, k); }},
          {"cert_file", [](Config &c, const toml::node &n, const Ctx &x,
                           const std::string &k) { c.tls.cert_file = x.string(n, k); }},
          {"key_file", [](Config &c, const toml::node &n, const Ctx &x,
                          const std::string &k) { c.tls.key_file = x.string(n, k); }}}},
        {"kdf",
         {{"opslimit",
           [](Config &c, const toml::node &n, const Ctx &x, const std::string &k) {
               c.kdf.opslimit = std::uint32_t(x.integer(n, k, kMinOpslimit, kMaxOpslimit));
           }},
          {"memlimit_kib", [](Config &c, const toml::node &n, const Ctx &x, const std::string &k) {
               c.kdf.memlimit_kib = std::uint32_t(x.integer(n, k, kMinMemlimitKib, kMaxMemlimitKib));
           }}}},
        {"ssh",
         {{"destinations", [](Config &c, const toml::node &n, const Ctx &x, const std::string &k) {
               const auto *arr = n.as_array();
               if (!arr) x.fail(n, k, std::string("expected an array of strings, found ") + type_name(n.type()));
               std::vector<std::string> keys;
               for (const auto &e : *arr) {
                   std::string why;
                   auto fp = host_key_fingerprint(x.string(e, k), &why);
                   if (!fp) x.fail(e, k, why);
                   keys.push_back(*fp);
               }
               c.ssh.destinations = std::move(keys);
           }}}},
        {"consent",
         {{"policy",
           [](Config &c, const toml::node &n, const Ctx &x, const std::string &k) {
               auto v = x.string(n, k);
               if (v == "never") c.consent.mode = ConsentMode::never;
               else if (v == "always") c.consent.mode = ConsentMode::always;
               else if (v == "new-requester") c.consent.mode = ConsentMode::new_requester;
               else if (v == "forwarded") c.consent.mode = ConsentMode::forwarded;
               else x.fail(n, k, "\"" + v + "\" is not one of \"never\", \"always\", \"new-requester\", \"forwarded\"");
           }},
          {"remember_seconds",
           [](Config &c, const toml::node &n, const Ctx &x, const std::string &k) {
               c.consent.remember_seconds = std::uint32_t(x.integer(n, k, 0, 86400));
           }},
          {"timeout_seconds",
           [](Config &c, const toml::node &n, const Ctx &x, const std::string &k) {
               c.consent.timeout_seconds = std::uint32_t(x.integer(n, k, 1, 600));
           }},
          {"askpass",
           [](Config &c, const toml::node &n, const Ctx &x, const std::string &k) {
               c.consent.askpass = x.string(n, k);
               if (!c.consent.askpass.empty() && c.consent.askpass.front() != '/')
                   x.fail(n, k, "\"" + c.consent.askpass + "\" is not an absolute path");
           }},
          {"pinentry", [](Config &c, const toml::node &n, const Ctx &x, const std::string &k) {
               c.consent.pinentry = x.string(n, k);
               if (!c.consent.pinentry.empty() && c.consent.pinentry.front() != '/')
                   x.fail(n, k, "\"" + c.consent.pinentry + "\" is not an absolute path");
           }}}},
        {"record",
         {{"new_requester_warning_hours",
           [](Config &c, const toml::node &n, const Ctx &x, const std::string &k) {
               c.record.new_requester_warning_hours = std::uint32_t(x.integer(n, k, 0, 24 * 366));
           }}}},
        {"health",
         {{"member_behind_days",
           [](Config &c, const toml::node &n, const Ctx &x, const std::string &k) {
               c.health.member_behind_days = std::uint32_t(x.integer(n, k, 0, 3660));
           }}}},
        {"envoy",
         {{"tpm",
           [](Config &c, const toml::node &n, const Ctx &x, const std::string &k) {
               auto v = x.string(n, k);
               if (v == "auto") c.envoy.mode = TpmChoice::Mode::automatic;
               else if (v == "required") c.envoy.mode = TpmChoice::Mode::required;
               else if (v == "off") c.envoy.mode = TpmChoice::Mode::off;
               else x.fail(n, k, "\"" + v + "\" is not one of \"auto\", \"required\", \"off\"");
           }},
          {"tcti", [](Config &c, const toml::node &n, const Ctx &x, const std::string &k) {
               c.envoy.tcti = x.string(n, k);
           }}}},
        {"names",
         {{"claims_dirs", [](Config &c, const toml::node &n, const Ctx &x, const std::string &k) {
               const auto *arr = n.as_array();
               if (!arr) x.fail(n, k, std::string("expected an array of strings, found ") + type_name(n.type()));
               std::vector<std::string> dirs;
               for (const auto &e : *arr) dirs.push_back(x.string(e, k));
               c.names.claims_dirs = std::move(dirs);
           }}}},
        {"fleet",
         {{"directory", [](Config &c, const toml::node &n, const Ctx &x, const std::string &k) {
               auto v = x.string(n, k);
               if (!v.empty() && v[0] != '/') x.fail(n, k, "\"" + v + "\" is not an absolute path");
               c.fleet.directory = std::move(v);
           }}}},
    };
    return s;
}

std::string trim(std::string_view v) {
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t' || v.back() == '\r')) v.remove_suffix(1);
    return std::string(v);
}

// "section.key" of a plain `key = value` line, from the last [section]
// header above it; empty when the line is not of that shape.
std::string key_at_line(std::string_view text, std::size_t line) {
    std::string section;
    std::size_t n = 1, pos = 0;
    while (pos <= text.size()) {
        auto end = text.find('\n', pos);
        if (end == std::string_view::npos) end = text.size();
        std::string l = trim(text.substr(pos, end - pos));
        if (n == line) {
            auto eq = l.find('=');
            if (eq == std::string::npos || l.starts_with('[')) return {};
            std::string key = trim(std::string_view(l).substr(0, eq));
            return section.empty() ? key : section + "." + key;
        }
        if (l.starts_with('[') && !l.starts_with("[[")) {
            auto close = l.find(']');
            if (close != std::string::npos) section = trim(std::string_view(l).substr(1, close - 1));
        }
        pos = end + 1;
        ++n;
    }
    return {};
}

const std::map<std::string, std::map<std::string, Setter>> &schema();

// toml++ reports a number that does not fit 64 bits (or another bad value)
// without the key; name it, and for a known integer key its range.
std::string describe_parse_error(std::string_view text, const std::string &source, const toml::parse_error &e) {
    const std::size_t line = e.source().begin.line;
    std::string out = source + ":" + std::to_string(line) + ": ";
    const std::string key = key_at_line(text, line);
    if (key.empty()) return out + std::string(e.description());
    out += key + ": ";
    if (auto dot = key.find('.'); dot != std::string::npos) {
        auto sec = schema().find(key.substr(0, dot));
        if (sec != schema().end()) {
            auto k = sec->second.find(key.substr(dot + 1));
            if (k != sec->second.end()) {
                std::vector<std::string> ignored;
                Ctx probe{source, ignored, true};
                Config scratch;
                try {
                    k->second(scratch, toml::value<std::int64_t>(0), probe, key);
                } catch (const RangeProbe &r) {
                    if (std::string_view(e.description()).find("not representable") != std::string_view::npos)
                        return out + "the number is too large; the range is " + std::to_string(r.lo) + ".." +
                               std::to_string(r.hi);
                } catch (const Error &) {
                }
            }
        }
    }
    return out + std::string(e.description());
}

} // namespace

std::vector<std::string> config_keys() {
    std::vector<std::string> keys;
    for (const auto &[section, setters] : schema())
        for (const auto &entry : setters) keys.push_back(section + "." + entry.first);
    return keys;
}

namespace {

// puddle.toml is checked line by line before toml++ 3.3 reads it, for what
// that parser misreads instead of reporting (fuzz-config found each): it
// asserts, or reaches an unreachable point, on the forms below. A problem is
// a column (1-based) and why; an empty why is none.
struct LineProblem {
    std::size_t column = 0;
    std::string why;
};

// TOML allows no control character but tab outside a line end (TOML 1.0,
// "Comment", "String"; elsewhere one is invalid anyway); toml++ asserts on a
// NUL in a table header. `crlf`: the line ended in "\r\n".
LineProblem control_character_in(std::string_view l, bool crlf) {
    for (std::size_t i = 0; i < l.size(); ++i) {
        const auto c = static_cast<unsigned char>(l[i]);
        if (c == '\r' && crlf && i + 1 == l.size()) break;
        if ((c < 0x20 && c != '\t') || c == 0x7f) {
            char code[8];
            std::snprintf(code, sizeof code, "U+%04X", unsigned(c));
            return {i + 1, std::string("control character ") + code + " is not allowed in TOML"};
        }
    }
    return {};
}

// toml++'s whitespace test reaches an unreachable point on most characters
// from U+00A1 to U+0499, and it runs wherever toml++ scans a bare token, a key
// or a line-ending backslash in a multi-line string. So puddle.toml is ASCII
// but for comment lines (a string can write any character as \uXXXX), and
// multi-line strings, which no setting takes, are refused.
LineProblem non_ascii_in(std::string_view l) {
    for (std::size_t i = 0; i < l.size(); ++i) {
        if (static_cast<unsigned char>(l[i]) >= 0x80)
            return {i + 1, "a non-ASCII character outside a comment line (in a string, write it as \\uXXXX)"};
        if ((l[i] == '"' || l[i] == '\'') && l.substr(i, 3) == std::string(3, l[i]))
            return {i + 1, "a multi-line string (no setting of puddle's takes one; write it on one line)"};
    }
    return {};
}

// toml++ looks ahead at most 127 characters to tell a bare value's type and
// asserts past that: no setting's unquoted value comes near, so 100 or more
// characters before a string's opening quote, in a piece between the
// characters that end its look-ahead (blanks , ] } #), are refused.
LineProblem long_bare_value_in(std::string_view l) {
    constexpr std::size_t kLongest = 99;
    for (std::size_t i = 0; i < l.size();) {
        const std::size_t j = std::min(l.find_first_of(" \t,]}#", i), l.size());
        // A quote ends the run only where a string starts (the piece's start,
        // after '=' or '['): toml++ reads "70'5-0..." as one number-like value.
        const std::size_t q = std::min(l.find_first_of("\"'", i), j);
        const bool opens = q < j && (q == i || l[q - 1] == '=' || l[q - 1] == '[');
        const std::size_t bare = (opens ? q : j) - i;
        if (bare > kLongest)
            return {i + 1, std::to_string(bare) + " characters without quotes (a key or an unquoted value has at most " +
                               std::to_string(kLongest) + ")"};
        i = j + 1;
    }
    return {};
}

// toml++ asserts when a table header's name starts with a character no key
// starts with ("[`x]") or is on the next line. A header is a line whose first
// non-blank character is '['; no setting takes a multi-line value that could
// hold such a line.
LineProblem table_header_in(std::string_view l, std::size_t first) {
    if (l[first] != '[') return {};
    std::size_t i = first;
    for (int brackets = 0; brackets < 2 && i < l.size() && l[i] == '['; ++brackets) ++i;
    while (i < l.size() && (l[i] == ' ' || l[i] == '\t')) ++i;
    if (i == l.size() || l[i] == '\r') return {i + 1, "a table header names its table on the same line"};
    const auto c = static_cast<unsigned char>(l[i]);
    if (std::isalnum(c) || c == '_' || c == '-' || c == '"' || c == '\'' || c == ']') return {};
    char shown[16];
    if (c < 0x80) std::snprintf(shown, sizeof shown, "'%c'", c);
    else std::snprintf(shown, sizeof shown, "byte 0x%02X", unsigned(c));
    return {i + 1, std::string("a table name starts with a letter, a digit, '_', '-' or a quote, not ") + shown};
}

// The first problem of the file, as "FILE:LINE:COLUMN: why", or "".
std::string problem_for_toml_parser(std::string_view text, const std::string &source) {
    std::size_t line = 1;
    for (std::size_t start = 0; start < text.size(); ++line) {
        std::size_t end = text.find('\n', start);
        if (end == std::string_view::npos) end = text.size();
        const std::string_view l = text.substr(start, end - start);
        const bool crlf = end < text.size();
        start = end + 1;
        LineProblem p = control_character_in(l, crlf);
        const std::size_t first = l.find_first_not_of(" \t");
        if (p.why.empty() && first != std::string_view::npos && l[first] != '#') {
            p = non_ascii_in(l);
            if (p.why.empty()) p = table_header_in(l, first);
            if (p.why.empty()) p = long_bare_value_in(l);
        }
        if (!p.why.empty())
            return source + ":" + std::to_string(line) + ":" + std::to_string(p.column) + ": " + p.why;
    }
    return {};
}

} // namespace

void apply_config_text(Config &config, std::string_view text, const std::string &source,
                       std::vector<std::string> &warnings) {
    if (auto problem = problem_for_toml_parser(text, source); !problem.empty())
        throw Error(Failure::failed, "invalid configuration", problem, "fix that line of " + source);
    toml::table root;
    try {
        root = toml::parse(text, source);
    } catch (const toml::parse_error &e) {
        throw Error(Failure::failed, "invalid configuration", describe_parse_error(text, source, e),
                    "fix that line of " + source);
    } catch (const TomlParserGaveUp &e) {
        throw Error(Failure::failed, "invalid configuration",
                    source + ": not valid TOML, and the TOML parser cannot say where (its check " +
                        std::string(e.check) + " failed)",
                    "compare " + source + " with the examples in puddle.toml(5)");
    }
    Ctx ctx{source, warnings};
    Config next = config; // all-or-nothing: a bad file changes nothing
    for (auto &&[section, node] : root) {
        const std::string sec(section.str());
        auto it = schema().find(sec);
        if (it == schema().end()) {
            warnings.push_back(where(source, node.source()) + ": unknown section [" + sec + "] (ignored)");
            continue;
        }
        const auto *tbl = node.as_table();
        if (!tbl) ctx.fail(node, sec, std::string("expected a table, found ") + type_name(node.type()));
        for (auto &&[key, value] : *tbl) {
            const std::string k(key.str());
            auto kit = it->second.find(k);
            if (kit == it->second.end()) {
                warnings.push_back(where(source, value.source()) + ": unknown key " + sec + "." + k + " (ignored)");
                continue;
            }
            kit->second(next, value, ctx, sec + "." + k);
        }
    }
    config = std::move(next);
}

std::string system_config_path() {
    if (const char *p = std::getenv("PUDDLE_SYSTEM_CONFIG"); p && *p) return p;
    return "/etc/puddle/puddle.toml";
}

std::string user_config_path() {
    if (const char *x = std::getenv("XDG_CONFIG_HOME"); x && *x && x[0] == '/')
        return std::string(x) + "/puddle/puddle.toml";
    if (const char *h = std::getenv("HOME"); h && *h) return std::string(h) + "/.config/puddle/puddle.toml";
    return {};
}

namespace {

int strictness(PolkitMode m) { return m == PolkitMode::off ? 0 : m == PolkitMode::automatic ? 1 : 2; }

const char *polkit_mode_text(PolkitMode m) {
    return m == PolkitMode::off ? "off" : m == PolkitMode::automatic ? "auto" : "required";
}

bool sets_agent_polkit(std::string_view text) {
    try {
        auto root = toml::parse(text);
        return bool(root["agent"]["polkit"]);
    } catch (const toml::parse_error &) {
        return false; // apply_config_text has reported it
    } catch (const TomlParserGaveUp &) {
        return false;
    }
}

} // namespace

Config load_config(std::vector<std::string> &warnings, ConfigErrors errors, std::optional<Error> *problem) {
    Config c;
    // Policy: what the administrator's file says of [agent] polkit is a
    // floor; the user's file may tighten it, never loosen it (a process of
    // the user could otherwise write "off" and restart the agent).
    std::optional<PolkitMode> polkit_floor;
    const std::string system_path = system_config_path();
    for (const auto &path : {system_path, user_config_path()}) {
        if (path.empty()) continue;
        std::string text;
        try {
            std::ifstream in(path, std::ios::binary);
            if (!in) {
                if (errno == ENOENT || errno == ENOTDIR) continue;
                throw_errno("cannot read configuration " + path, errno);
            }
            std::ostringstream ss;
            constexpr std::size_t kMaxConfigBytes = 1 << 20;
            ss << in.rdbuf();
            text = ss.str();
            if (text.size() > kMaxConfigBytes)
                throw Error(Failure::failed, "invalid configuration", path + " is larger than 1 MiB",
                            "shorten " + path);
            apply_config_text(c, text, path, warnings);
        } catch (const Error &e) {
            if (errors == ConfigErrors::refuse) throw;
            warnings.push_back(e.why() + " -- the whole file is ignored until that is fixed");
            if (problem) *problem = e;
            continue;
        }
        if (path == system_path && sets_agent_polkit(text)) polkit_floor = c.agent.polkit;
    }
    if (polkit_floor && strictness(c.agent.polkit) < strictness(*polkit_floor)) {
        warnings.push_back(user_config_path() + ": agent.polkit = \"" + polkit_mode_text(c.agent.polkit) +
                           "\" would loosen \"" + polkit_mode_text(*polkit_floor) + "\" of " + system_path +
                           "; the administrator's setting stays (a user's file may only tighten it)");
        c.agent.polkit = *polkit_floor;
    }
    return c;
}

} // namespace puddle
