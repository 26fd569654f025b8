#include "core/files/export_bundle.hpp"

#include "core/files/json_reader.hpp"

#include <stdexcept>

namespace puddle {
using namespace files_detail;

constexpr const char *kKind = "puddle-export";

std::string serialize_export_bundle(const ExportBundle &b) {
    auto doc = Json::object()
                   .set("v", kVersion)
                   .set("kind", kKind)
                   .set("pub", b.pub.str())
                   .set("salt", to_base64(b.salt))
                   .set("wrapped", to_base64(b.wrapped))
                   .set("retired", rotation_log_value(b.retired));
    if (!b.members_json.empty()) {
        // Re-serialized by its own writer, so the bundle holds only what parse_members reads.
        const auto view = parse_members(as_bytes(b.members_json), "the members view to export");
        auto members = parse_json(serialize_members(view), nullptr);
        if (!members) throw std::invalid_argument("cannot export a members view");
        doc.set("members", std::move(*members));
    }
    return doc.dump() + "\n";
}

ExportBundle parse_export_bundle(std::span<const std::uint8_t> bytes, const std::string &label) {
    const Source src{label, "make a new one with 'puddle export' on a member machine"};
    const Json doc = parse_document(src, bytes, kMaxExportBundleBytes);
    const ObjectReader r(src, doc, "");
    r.version();
    r.kind(kKind);
    r.only({"v", "kind", "pub", "salt", "wrapped", "retired", "members"});
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
    if (r.has("members")) {
        const std::string text = r.get("members").dump();
        (void)parse_members(as_bytes(text), label + ", field \"members\"");
        b.members_json = text;
    }
    return b;
}

} // namespace puddle
