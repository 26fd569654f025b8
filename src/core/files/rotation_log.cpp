#include "core/files/rotation_log.hpp"

#include "core/files/json_reader.hpp"

#include <stdexcept>

namespace puddle {
using namespace files_detail;

namespace {

Json rotation_json(const RotationRecord &r) {
    return Json::object()
        .set("v", kVersion)
        .set("old", r.old_key.str())
        .set("new", r.new_key.str())
        .set("at", r.at)
        .set("sig_old", signature_text(r.sig_old))
        .set("sig_new", signature_text(r.sig_new));
}

} // namespace

std::string rotation_record_problem(const RotationRecord &r) {
    if (r.at < 0) return "field \"at\" must not be negative (it is a time in Unix seconds)";
    if (r.old_key == r.new_key) return "fields \"old\" and \"new\" hold the same key";
    return {};
}

RotationLog parse_rotation_log(std::span<const std::uint8_t> bytes, const std::string &label) {
    const Source src{label, "copy " + label + " from another of your machines"};
    if (std::all_of(bytes.begin(), bytes.end(),
                    [](std::uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }) &&
        bytes.size() <= kMaxRotationLogBytes)
        return {};
    const Json doc = parse_document(src, bytes, kMaxRotationLogBytes);
    const auto *list = doc.as_array();
    if (!list) src.fail(std::string("expected a JSON array of rotation records, found ") + doc.kind());
    if (list->size() > kMaxRotationRecords)
        src.fail("more than " + std::to_string(kMaxRotationRecords) + " rotation records (found " +
                 std::to_string(list->size()) + ")");
    RotationLog log;
    log.reserve(list->size());
    for (std::size_t i = 0; i < list->size(); ++i) {
        const std::string where = "[" + std::to_string(i) + "]";
        const ObjectReader r(src, (*list)[i], "record " + where);
        r.version();
        r.only({"v", "old", "new", "at", "sig_old", "sig_new"});
        RotationRecord rec;
        rec.old_key = r.key("old");
        rec.new_key = r.key("new");
        rec.at = r.integer("at");
        rec.sig_old = r.signature("sig_old");
        rec.sig_new = r.signature("sig_new");
        if (auto problem = rotation_record_problem(rec); !problem.empty()) src.fail(with_where("record " + where, problem));
        for (std::size_t j = 0; j < log.size(); ++j)
            if (log[j] == rec) src.fail("record " + where + " repeats record [" + std::to_string(j) + "]");
        log.push_back(rec);
    }
    return log;
}

std::string serialize_rotation_log(const RotationLog &log) {
    if (log.size() > kMaxRotationRecords)
        throw std::invalid_argument("cannot write a rotation log: more than " +
                                    std::to_string(kMaxRotationRecords) + " records");
    auto list = Json::array();
    for (const auto &r : log) {
        must_be_fine("a rotation log", rotation_record_problem(r));
        list.push(rotation_json(r));
    }
    return list.dump() + "\n";
}

Json rotation_log_value(const RotationLog &log) {
    auto value = parse_json(serialize_rotation_log(log), nullptr);
    return value ? std::move(*value) : Json::array();
}

RotationLog parse_rotation_log_value(const Json &value, const std::string &label) {
    const std::string text = value.dump();
    return parse_rotation_log(as_bytes(text), label);
}

std::optional<RotationLog> load_rotation_log(const StateDir &dir) {
    if (!dir.has(kRotationLogFile)) return std::nullopt;
    return parse_rotation_log(dir.read(kRotationLogFile, kMaxRotationLogBytes, FileTrust::private_file), dir.file(kRotationLogFile));
}

std::string load_rotation_log_text(const StateDir &dir) {
    if (!dir.has(kRotationLogFile)) return {};
    const auto bytes = dir.read(kRotationLogFile, kMaxRotationLogBytes, FileTrust::private_file);
    return std::string(bytes.begin(), bytes.end());
}

} // namespace puddle
