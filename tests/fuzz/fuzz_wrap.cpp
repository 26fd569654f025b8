// libFuzzer target: the wrapped-key parser (SPEC §4) and the salt parser.
// Only parsing is fuzzed: an unwrap costs an Argon2id run and proves nothing
// about the parser. Invariants: an accepted blob has exactly the documented
// header, its fields are read big-endian and within the KDF bounds, and a
// refusal is exit code 5 with a message safe to print on a terminal.
#include "fuzz_support.hpp"
#include "core/wrap.hpp"
#include "util/error.hpp"

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <span>
#include <string>

using namespace puddle;

namespace {

const std::string kLabel = "/state/identity.wrapped";

std::uint32_t be32(const std::uint8_t *p) {
    return (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) | p[3];
}

void check_refusal(const Error &e, const std::string &label) {
    FUZZ_CHECK(e.kind() == Failure::bad_passphrase);
    FUZZ_CHECK(e.what_failed().find(label) != std::string::npos);
    FUZZ_CHECK(!e.why().empty());
    FUZZ_CHECK(fuzz::printable(e.what()));
}

void check_wrapped(std::span<const std::uint8_t> bytes) {
    WrappedKey w;
    try {
        w = parse_wrapped(bytes, kLabel);
    } catch (const Error &e) {
        check_refusal(e, kLabel);
        return;
    }
    FUZZ_CHECK(bytes.size() == kWrappedBytes);
    FUZZ_CHECK(std::memcmp(bytes.data(), "PUDDLEW1", 8) == 0);
    FUZZ_CHECK(bytes[8] == kKdfArgon2id13);
    FUZZ_CHECK(bytes[17] == 0);
    FUZZ_CHECK(w.kdf.opslimit == be32(bytes.data() + 9));
    FUZZ_CHECK(w.kdf.memlimit_kib == be32(bytes.data() + 13));
    FUZZ_CHECK(w.kdf.opslimit >= kMinOpslimit && w.kdf.opslimit <= kMaxOpslimit);
    FUZZ_CHECK(w.kdf.memlimit_kib >= kMinMemlimitKib && w.kdf.memlimit_kib <= kMaxMemlimitKib);
    FUZZ_CHECK(std::memcmp(w.nonce.data(), bytes.data() + kWrapHeaderBytes, kWrapNonceBytes) == 0);
    FUZZ_CHECK(std::memcmp(w.raw.data(), bytes.data(), kWrappedBytes) == 0);
    // What the parser accepted, the KDF accepts too.
    check_kdf_params(w.kdf, "fuzz");
}

void check_salt(std::span<const std::uint8_t> bytes) {
    const std::string label = "/state/identity.salt";
    try {
        Salt s = parse_salt(bytes, label);
        FUZZ_CHECK(bytes.size() == kSaltBytes);
        FUZZ_CHECK(std::memcmp(s.data(), bytes.data(), kSaltBytes) == 0);
    } catch (const Error &e) {
        FUZZ_CHECK(bytes.size() != kSaltBytes);
        check_refusal(e, label);
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    const std::span<const std::uint8_t> bytes(data, size);
    try {
        check_wrapped(bytes);
        check_salt(bytes);
    } catch (const Error &) {
        // An expected rejection; anything else escapes and crashes the run.
    }
    return 0;
}
