// libFuzzer target: the configuration parser (SPEC §10) over the packaged
// toml++, as shipped.
// Invariants: an accepted file leaves every value in its documented range and
// applying it twice changes nothing more; a refused file changes nothing and
// names the file and line.
#include "fuzz_support.hpp"
#include "core/config.hpp"
#include "util/error.hpp"

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

using namespace puddle;

namespace {

const std::string kSource = "/etc/puddle/puddle.toml";

bool same(const Config &a, const Config &b) {
    return a.agent.idle_timeout_minutes == b.agent.idle_timeout_minutes &&
           a.agent.exit_idle_seconds == b.agent.exit_idle_seconds &&
           a.agent.watchdog_poll_seconds == b.agent.watchdog_poll_seconds && a.agent.polkit == b.agent.polkit &&
           a.pair.port == b.pair.port && a.pair.code_ttl_seconds == b.pair.code_ttl_seconds &&
           a.tls.ca_file == b.tls.ca_file && a.tls.cert_file == b.tls.cert_file && a.tls.key_file == b.tls.key_file &&
           a.kdf == b.kdf && a.names.claims_dirs == b.names.claims_dirs;
}

void check_ranges(const Config &c) {
    FUZZ_CHECK(c.agent.idle_timeout_minutes >= 1 && c.agent.idle_timeout_minutes <= 60 * 24 * 366);
    FUZZ_CHECK(c.agent.exit_idle_seconds >= 1 && c.agent.exit_idle_seconds <= 86400 * 7);
    FUZZ_CHECK(c.agent.watchdog_poll_seconds >= 1 && c.agent.watchdog_poll_seconds <= 3600);
    FUZZ_CHECK(c.agent.polkit == PolkitMode::automatic || c.agent.polkit == PolkitMode::required ||
               c.agent.polkit == PolkitMode::off);
    FUZZ_CHECK(c.pair.port >= 1);
    FUZZ_CHECK(c.pair.code_ttl_seconds >= 10 && c.pair.code_ttl_seconds <= 86400);
    FUZZ_CHECK(c.kdf.opslimit >= kMinOpslimit && c.kdf.opslimit <= kMaxOpslimit);
    FUZZ_CHECK(c.kdf.memlimit_kib >= kMinMemlimitKib && c.kdf.memlimit_kib <= kMaxMemlimitKib);
}

void check(std::string_view text) {
    const Config defaults;
    Config config;
    std::vector<std::string> warnings;
    try {
        apply_config_text(config, text, kSource, warnings);
    } catch (const Error &e) {
        FUZZ_CHECK(e.kind() == Failure::failed);
        FUZZ_CHECK(e.why().starts_with(kSource + ":"));
        FUZZ_CHECK(same(config, defaults)); // all or nothing
        return;
    }
    for (const auto &w : warnings) FUZZ_CHECK(w.starts_with(kSource + ":"));
    check_ranges(config);

    // Later files win key by key: applying the same file again is a no-op.
    Config again = config;
    std::vector<std::string> warnings_again;
    apply_config_text(again, text, kSource, warnings_again);
    FUZZ_CHECK(same(again, config));
    FUZZ_CHECK(warnings_again == warnings);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    try {
        check(std::string_view(reinterpret_cast<const char *>(data), size));
    } catch (const Error &) {
        // An expected rejection; anything else escapes and crashes the run.
    }
    return 0;
}
