// libFuzzer target: the public key text form and identity.pub.
// Invariants: a parsed key formats back to exactly the text it came from
// (one spelling per key), identity.pub accepts that text with at most one
// newline, and every refusal says why.
#include "fuzz_support.hpp"
#include "core/identity.hpp"
#include "core/identity_store.hpp"
#include "util/error.hpp"

#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <string_view>

using namespace puddle;

namespace {

void check(std::span<const std::uint8_t> bytes) {
    const std::string_view text(reinterpret_cast<const char *>(bytes.data()), bytes.size());

    std::string why;
    const auto key = parse_public_key(text, &why);
    if (key) {
        FUZZ_CHECK(key->str() == text);
        FUZZ_CHECK(text.size() == kKeyPrefix.size() + 2 * kPublicKeyBytes);
        FUZZ_CHECK(key->short_hex() == text.substr(kKeyPrefix.size(), 16));
        FUZZ_CHECK(parse_public_key(key->str()) == key);
    } else {
        FUZZ_CHECK(!why.empty());
        FUZZ_CHECK(fuzz::printable(why));
    }

    // identity.pub: the same text and at most one trailing newline.
    std::string_view line = text;
    if (line.ends_with('\n')) line.remove_suffix(1);
    const auto expected = parse_public_key(line);
    const std::string label = "/state/identity.pub";
    try {
        const PublicKey pub = parse_pub_file(bytes, label);
        FUZZ_CHECK(expected && pub == *expected);
        FUZZ_CHECK(pub.str() == line);
    } catch (const Error &e) {
        FUZZ_CHECK(!expected);
        FUZZ_CHECK(e.kind() == Failure::bad_passphrase);
        FUZZ_CHECK(e.what_failed().find(label) != std::string::npos);
        FUZZ_CHECK(fuzz::printable(e.what()));
    }
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
