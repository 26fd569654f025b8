#include "core/files/json_reader.hpp"

#include <cstdio>
#include <stdexcept>

namespace puddle::files_detail {

std::string describe_char(unsigned char c) {
    if (c > 0x20 && c < 0x7f) return std::string("'") + char(c) + "'";
    if (c == ' ') return "a space";
    char buf[16];
    std::snprintf(buf, sizeof buf, "byte 0x%02x", c);
    return buf;
}

Json parse_document(const Source &src, std::span<const std::uint8_t> bytes, std::size_t max_bytes) {
    if (bytes.size() > max_bytes)
        src.fail("the file is " + std::to_string(bytes.size()) + " bytes, more than the limit of " +
                 std::to_string(max_bytes));
    const std::string_view text(reinterpret_cast<const char *>(bytes.data()), bytes.size());
    JsonLimits limits;
    limits.max_bytes = max_bytes;
    limits.max_depth = 5; // the deepest: an export bundle's members and a machine report's list nest five
    std::string error;
    auto doc = parse_json(text, &error, limits);
    if (!doc) src.fail("not valid JSON: " + error);
    return std::move(*doc);
}

void must_be_fine(const std::string &what, const std::string &problem) {
    if (!problem.empty()) throw std::invalid_argument("cannot write " + what + ": " + problem);
}

std::string with_where(const std::string &where, const std::string &problem) {
    return where.empty() ? problem : where + ": " + problem;
}

} // namespace puddle::files_detail
