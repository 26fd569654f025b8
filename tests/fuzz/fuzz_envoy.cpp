// libFuzzer target: what issue 17 added to parse, all of it input another
// machine or a file may hand puddle -- the envelope (`puddle accept`), the
// export bundle (`puddle import`), the sealed wrap v2 (identity.wrapped) and
// the envoy secret file, the receipt (`puddle members --took`). The first
// byte picks the parser (modulo 8: '0' envelope, '1' bundle, '2' sealed
// wrap, '3' envoy secret file, '4' receipt, the rest the envoy secret file
// again); the rest is the input.
// Invariants: a refusal is an Error naming the source, printable; an
// accepted envelope or bundle serializes to one line that parses back equal;
// an accepted sealed wrap has exactly the documented length and header.
#include "fuzz_support.hpp"
#include "core/envelope.hpp"
#include "core/envoy.hpp"
#include "core/envoy_wrap.hpp"
#include "core/files/export_bundle.hpp"
#include "core/files/members.hpp"
#include "core/receipt.hpp"
#include "util/error.hpp"

#include <cstdint>
#include <cstring>
#include <span>
#include <string>

using namespace puddle;

namespace {

const std::string kLabel = "/somewhere/input";

bool one_line(const std::string &text) {
    return !text.empty() && text.back() == '\n' && text.find('\n') == text.size() - 1;
}

void check_refusal(const Error &e) {
    FUZZ_CHECK(e.what_failed().find(kLabel) != std::string::npos);
    FUZZ_CHECK(!e.why().empty());
    FUZZ_CHECK(fuzz::printable(e.what()));
}

void check_envelope(std::span<const std::uint8_t> in) {
    const Envelope e = parse_envelope(in, kLabel);
    FUZZ_CHECK(!(e.old_key == e.new_key));
    FUZZ_CHECK(e.generation == e.retired.size() && e.generation >= 1);
    FUZZ_CHECK(e.retired.back().old_key == e.old_key && e.retired.back().new_key == e.new_key);
    FUZZ_CHECK(e.recipients.size() <= kMaxEnvelopeRecipients);
    const std::string text = serialize_envelope(e);
    FUZZ_CHECK(one_line(text));
    FUZZ_CHECK(parse_envelope(as_bytes(text), kLabel) == e);
    FUZZ_CHECK(wrapped_digest_problem(e.wrap_digest).empty());
    (void)envelope_signature_problem(e); // never crashes, whatever it says
}

void check_bundle(std::span<const std::uint8_t> in) {
    const ExportBundle b = parse_export_bundle(in, kLabel);
    FUZZ_CHECK(std::memcmp(b.wrapped.data(), "PUDDLEW1", 8) == 0);
    const std::string text = serialize_export_bundle(b);
    FUZZ_CHECK(one_line(text));
    const ExportBundle back = parse_export_bundle(as_bytes(text), kLabel);
    FUZZ_CHECK(back.pub == b.pub && back.salt == b.salt && back.wrapped == b.wrapped && back.retired == b.retired);
}

void check_sealed(std::span<const std::uint8_t> in) {
    const SealedWrap s = parse_sealed_wrap(in, kLabel);
    FUZZ_CHECK(in.size() == kSealedWrapBytes);
    FUZZ_CHECK(is_sealed_wrap(in));
    FUZZ_CHECK(s.protection == Protection::file || s.protection == Protection::tpm2);
    FUZZ_CHECK(std::memcmp(s.envoy.bytes.data(), in.data() + 12, kEnvoyKeyBytes) == 0);
}

void check_receipt(std::span<const std::uint8_t> in) {
    const Receipt r = parse_receipt(in, kLabel);
    FUZZ_CHECK(r.generation >= 1 && r.at >= 0);
    const std::string text = serialize_receipt(r);
    FUZZ_CHECK(one_line(text));
    FUZZ_CHECK(parse_receipt(as_bytes(text), kLabel) == r);
    (void)verify_receipt(r);
}

void check_secret_file(std::span<const std::uint8_t> in) {
    const SecretBuffer s = parse_envoy_secret_file(in, kLabel);
    FUZZ_CHECK(s.size() == kEnvoySecretBytes && in.size() == 40);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    if (size == 0) return 0;
    const std::span<const std::uint8_t> in(data + 1, size - 1);
    try {
        switch (data[0] % 8) {
        case 0: check_envelope(in); break;
        case 1: check_bundle(in); break;
        case 2: check_sealed(in); break;
        case 4: check_receipt(in); break;
        default: check_secret_file(in); break;
        }
    } catch (const Error &e) {
        check_refusal(e);
    }
    return 0;
}
