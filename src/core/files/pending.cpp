#include "core/files/pending.hpp"

#include "core/files/json_reader.hpp"

namespace puddle {
using namespace files_detail;

namespace {

std::string pending_problem(const PairPending &p) {
    if (p.purpose != kPurposePair && p.purpose != kPurposeRekey)
        return "field \"purpose\" must be \"pair\" or \"rekey\", found " + quote_for_message(p.purpose);
    if (p.code.size() != 8)
        return "field \"code\" must be exactly 8 digits, found " + std::to_string(p.code.size()) + " characters";
    for (std::size_t i = 0; i < p.code.size(); ++i)
        if (p.code[i] < '0' || p.code[i] > '9')
            return "field \"code\" must be exactly 8 digits, found " + describe_char(p.code[i]) +
                   " at position " + std::to_string(i + 1);
    if (p.created < 0) return "field \"created\" must not be negative (it is a time in Unix seconds)";
    if (p.expires <= p.created) return "field \"expires\" must be later than \"created\"";
    return {};
}

} // namespace

PairPending parse_pair_pending(std::span<const std::uint8_t> bytes, const std::string &label) {
    const Source src{label, "remove " + label +
                                " and run 'puddle pair' (or 'puddle rekey-pair') again for a new code"};
    const Json doc = parse_document(src, bytes, kMaxPendingBytes);
    const ObjectReader r(src, doc, "");
    r.version();
    r.only({"v", "purpose", "code", "created", "expires"});
    PairPending p;
    p.purpose = r.string("purpose");
    p.code = r.string("code");
    p.created = r.integer("created");
    p.expires = r.integer("expires");
    if (auto problem = pending_problem(p); !problem.empty()) src.fail(problem);
    return p;
}

std::string serialize_pair_pending(const PairPending &p) {
    must_be_fine("a pending pairing", pending_problem(p));
    return Json::object()
               .set("v", kVersion)
               .set("purpose", p.purpose)
               .set("code", p.code)
               .set("created", p.created)
               .set("expires", p.expires)
               .dump() +
           "\n";
}

std::optional<PairPending> load_pending(const StateDir &dir, const std::string &name) {
    if (!dir.has(name)) return std::nullopt;
    return parse_pair_pending(dir.read(name, kMaxPendingBytes, FileTrust::private_file), dir.file(name));
}

void save_pending(const StateDir &dir, const std::string &name, const PairPending &pending) {
    const std::string text = serialize_pair_pending(pending);
    dir.write_atomic(name, as_bytes(text), 0600);
}

} // namespace puddle
