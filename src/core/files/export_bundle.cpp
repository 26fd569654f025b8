#include "core/files/export_bundle.hpp"

#include "core/files/json_reader.hpp"

namespace puddle {
using namespace files_detail;

namespace {

constexpr const char *kKind = "puddle-export";

template <std::size_t N>
std::array<std::uint8_t, N> fixed_base64(const ObjectReader &r, const char *name) {
    const std::string &text = r.string(name);
    const auto raw = from_base64(text, N);
    if (!raw || raw->size() != N || to_base64(*raw) != text)
        r.fail(r.field(name) + " must be the base64 of " + std::to_string(N) + " bytes");
    std::array<std::uint8_t, N> out{};
    std::copy(raw->begin(), raw->end(), out.begin());
    return out;
}

} // namespace

std::string serialize_export_bundle(const ExportBundle &b) {
    const std::string retired = serialize_rotation_log(b.retired);
    auto list = parse_json(retired, nullptr);
    return Json::object()
               .set("v", kVersion)
               .set("kind", kKind)
               .set("pub", b.pub.str())
               .set("salt", to_base64(b.salt))
               .set("wrapped", to_base64(b.wrapped))
               .set("retired", list ? std::move(*list) : Json::array())
               .dump() +
           "\n";
}

ExportBundle parse_export_bundle(std::span<const std::uint8_t> bytes, const std::string &label) {
    const Source src{label, "make a new one with 'puddle export' on a member envoy"};
    const Json doc = parse_document(src, bytes, kMaxExportBundleBytes);
    const ObjectReader r(src, doc, "");
    r.version();
    if (r.string("kind") != kKind)
        r.fail(r.field("kind") + " is " + quote_for_message(r.string("kind")) + ", not \"puddle-export\"");
    r.only({"v", "kind", "pub", "salt", "wrapped", "retired"});
    ExportBundle b;
    b.pub = r.key("pub");
    b.salt = fixed_base64<kSaltBytes>(r, "salt");
    b.wrapped = fixed_base64<kWrappedBytes>(r, "wrapped");
    try {
        (void)parse_wrapped(b.wrapped, label + ", field \"wrapped\"");
    } catch (const Error &e) {
        r.fail(r.field("wrapped") + ": " + e.why());
    }
    r.array("retired"); // type checked here, content by the rotation log's own parser
    const std::string retired = r.get("retired").dump();
    b.retired = parse_rotation_log(as_bytes(retired), label + ", field \"retired\"");
    return b;
}

} // namespace puddle
