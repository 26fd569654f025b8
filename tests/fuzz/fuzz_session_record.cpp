// libFuzzer target: the keyring session record decoder.
// Invariants: an accepted record has the documented shape, and re-encoding
// its settings and secret key gives back the same bytes.
#include "fuzz_support.hpp"
#include "agent/session_record.hpp"
#include "util/error.hpp"

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <span>

using namespace puddle;
using namespace puddle::agent;

namespace {

void check(std::span<const std::uint8_t> record) {
    const auto decoded = decode_session_record(record);
    if (!decoded) return;
    const SessionSettings &settings = decoded->settings;
    FUZZ_CHECK(record.size() == kSessionRecordBytes);
    FUZZ_CHECK(std::memcmp(record.data(), "PDS1", 4) == 0);
    FUZZ_CHECK(settings.idle_usec != 0);
    FUZZ_CHECK(settings.watch_pid >= 0);

    const auto key = decoded->secret_key;
    FUZZ_CHECK(key.size() == kSecretKeyBytes);
    FUZZ_CHECK(key.data() == record.data() + 4);
    FUZZ_CHECK(decoded->seed().data() == key.data() && decoded->seed().size() == kSeedBytes);
    const SecretBuffer again = encode_session_record(key, settings);
    FUZZ_CHECK(again.size() == record.size());
    FUZZ_CHECK(std::memcmp(again.data(), record.data(), record.size()) == 0);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    try {
        check(std::span<const std::uint8_t>(data, size));
    } catch (const Error &) {
        // An expected rejection; anything else escapes and crashes the run.
    }
    return 0;
}
