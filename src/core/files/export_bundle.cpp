#include "core/files/export_bundle.hpp"

#include "core/files/json_reader.hpp"

namespace puddle {
using namespace files_detail;

constexpr const char *kKind = "puddle-export";

std::string serialize_export_bundle(const ExportBundle &b) {
    return Json::object()
               .set("v", kVersion)
               .set("kind", kKind)
               .set("pub", b.pub.str())
               .set("salt", to_base64(b.salt))
               .set("wrapped", to_base64(b.wrapped))
               .set("retired", rotation_log_value(b.retired))
               .dump() +
           "\n";
}

ExportBundle parse_export_bundle(std::span<const std::uint8_t> bytes, const std::string &label) {
    const Source src{label, "make a new one with 'puddle export' on a member machine"};
    const Json doc = parse_document(src, bytes, kMaxExportBundleBytes);
    const ObjectReader r(src, doc, "");
    r.version();
    r.kind(kKind);
    r.only({"v", "kind", "pub", "salt", "wrapped", "retired"});
    ExportBundle b;
    b.pub = r.key("pub");
    b.salt = r.fixed_bytes<kSaltBytes>("salt");
    b.wrapped = r.fixed_bytes<kWrappedBytes>("wrapped");
    try {
        (void)parse_wrapped(b.wrapped, label + ", field \"wrapped\"");
    } catch (const Error &e) {
        r.fail(r.field("wrapped") + ": " + e.why());
    }
    r.array("retired"); // type checked here, content by the rotation log's own parser
    b.retired = parse_rotation_log_value(r.get("retired"), label + ", field \"retired\"");
    return b;
}

} // namespace puddle
