#include "core/receipt.hpp"

#include "core/files/json_reader.hpp"
#include "core/files/members.hpp"
#include "util/error.hpp"

namespace puddle {
using namespace files_detail;

namespace {
constexpr const char *kKind = "puddle-receipt";
}

std::string receipt_statement(const Receipt &r) {
    return "puddle-statement-receipt-v1\n" + r.key.str() + "\n" + std::to_string(r.generation) + "\n" + r.host + "\n" +
           r.envoy.str() + "\n" + r.machine.str() + "\n" + std::to_string(r.at) + "\n";
}

Receipt make_receipt(const PublicKey &key, std::uint64_t generation, const std::string &host, const EnvoySecret &taker,
                     std::int64_t at) {
    Receipt r{key, generation, host, taker.public_key(), taker.signing_key(), at, {}};
    r.sig = taker.signing_keypair().sign(as_bytes(receipt_statement(r)));
    return r;
}

bool verify_receipt(const Receipt &r) {
    return r.at >= 0 && verify_signature(r.machine, as_bytes(receipt_statement(r)), r.sig);
}

std::string serialize_receipt(const Receipt &r) {
    return Json::object()
               .set("v", kVersion)
               .set("kind", kKind)
               .set("key", r.key.str())
               .set("generation", std::int64_t(r.generation))
               .set("host", r.host)
               .set("envoy", r.envoy.str())
               .set("machine", r.machine.str())
               .set("at", r.at)
               .set("sig", signature_text(r.sig))
               .dump() +
           "\n";
}

Receipt parse_receipt(std::span<const std::uint8_t> bytes, const std::string &label) {
    const Source src{label, "ask the member for its receipt again: 'puddle accept' there writes " +
                                std::string(kReceiptFile) + " in its state directory"};
    const Json doc = parse_document(src, bytes, kMaxReceiptBytes);
    const ObjectReader r(src, doc, "");
    r.version();
    r.kind(kKind);
    r.only({"v", "kind", "key", "generation", "host", "envoy", "machine", "at", "sig"});
    Receipt out;
    out.key = r.key("key");
    const std::int64_t generation = r.integer("generation");
    if (generation < 1) r.fail(r.field("generation") + " must be at least 1");
    out.generation = std::uint64_t(generation);
    std::string why;
    out.host = r.string("host");
    if (!valid_host(out.host, &why)) r.fail(r.field("host") + ": " + why);
    const auto envoy = parse_envoy_key(r.string("envoy"), &why);
    if (!envoy) r.fail(r.field("envoy") + ": " + why);
    out.envoy = *envoy;
    out.machine = r.key("machine");
    out.at = r.integer("at");
    if (out.at < 0) r.fail(r.field("at") + " must not be negative");
    out.sig = r.signature("sig");
    return out;
}

} // namespace puddle
