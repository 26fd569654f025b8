// libFuzzer target: what issue 25 reads from the carrier directory and from
// fleet.json -- the sealed machine report (outer file), the report body (what
// the box holds after the signature), opening a report with a fixed envoy
// secret, and the fleet state file. The first byte picks (modulo 4: '0'
// sealed file, '1' body, '2' open, '3' fleet state); the rest is the input.
// Invariants: a refusal is an Error naming the source, printable; an accepted
// body or state serializes to text that parses back equal; opening never
// tries more sealed keys than its budget.
#include "fuzz_support.hpp"
#include "core/envoy.hpp"
#include "core/files/machine_report.hpp"
#include "core/files/fleet_state.hpp"
#include "util/error.hpp"

#include <cstdint>
#include <span>
#include <string>

using namespace puddle;

namespace {

const std::string kLabel = "/somewhere/0123456789abcdef.report";

void check_refusal(const Error &e) {
    FUZZ_CHECK(e.what_failed().find(kLabel) != std::string::npos);
    FUZZ_CHECK(!e.why().empty());
    FUZZ_CHECK(fuzz::printable(e.what()));
}

void check_sealed(std::span<const std::uint8_t> in) {
    const SealedReport s = parse_sealed_report(in, kLabel);
    FUZZ_CHECK(!s.keys.empty() && s.keys.size() <= kMaxFleetReportKeys);
    FUZZ_CHECK(s.box.size() <= kMaxFleetReportBytes);
}

void check_body(std::span<const std::uint8_t> in) {
    const MachineReport r = parse_report_body(in, kLabel);
    FUZZ_CHECK(r.members.size() <= kMaxFleetReportMembers && r.reasons.size() <= kMaxFleetReportReasons);
    FUZZ_CHECK(r.cert.signer && *r.cert.signer == r.machine);
    const std::string text = serialize_report_body(r);
    FUZZ_CHECK(parse_report_body(as_bytes(text), kLabel) == r);
}

void check_open(std::span<const std::uint8_t> in) {
    static const std::uint8_t secret[kEnvoySecretBytes] = {7};
    static const EnvoySecret envoy = EnvoySecret::from_bytes(secret);
    const SealedReport s = parse_sealed_report(in, kLabel);
    std::size_t budget = 3;
    try {
        (void)open_report(s, envoy, budget, kLabel);
    } catch (const Error &e) {
        FUZZ_CHECK(budget <= 3);
        throw;
    }
}

void check_state(std::span<const std::uint8_t> in) {
    const FleetState s = parse_fleet_state(in, "/somewhere/0123456789abcdef.report");
    const std::string text = serialize_fleet_state(s);
    FUZZ_CHECK(parse_fleet_state(as_bytes(text), kLabel) == s);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    if (size == 0) return 0;
    const std::span<const std::uint8_t> in(data + 1, size - 1);
    try {
        switch (data[0] % 4) {
        case 0: check_sealed(in); break;
        case 1: check_body(in); break;
        case 2: check_open(in); break;
        default: check_state(in); break;
        }
    } catch (const Error &e) {
        check_refusal(e);
    }
    return 0;
}
