#include "core/files/requesters.hpp"

#include "core/files/json_reader.hpp"

#include <algorithm>
#include <set>
#include <stdexcept>

namespace puddle {
using namespace files_detail;

namespace {

std::string record_problem(const RequesterRecord &r) {
    if (r.program.empty()) return "field \"program\" must not be empty";
    if (r.program.size() > kMaxRequesterTextBytes || r.unit.size() > kMaxRequesterTextBytes)
        return "a program or unit is at most " + std::to_string(kMaxRequesterTextBytes) + " bytes";
    if (r.first_seen < 0) return "field \"first_seen\" must not be negative (it is a time in Unix seconds)";
    return {};
}

} // namespace

RequestersView parse_requesters(std::span<const std::uint8_t> bytes, const std::string &label) {
    const Source src{label, label + " only lists who used the key before: fix it, or remove it (every "
                                    "program then counts as new once more)"};
    const Json doc = parse_document(src, bytes, kMaxRequestersBytes);
    const ObjectReader top(src, doc, "");
    top.version();
    top.only({"v", "requesters"});
    const auto &list = top.array("requesters");
    if (list.size() > kMaxRequesters)
        src.fail("more than " + std::to_string(kMaxRequesters) + " requesters (found " + std::to_string(list.size()) +
                 ")");
    RequestersView view;
    std::set<std::string> seen;
    for (std::size_t i = 0; i < list.size(); ++i) {
        const std::string where = "requesters[" + std::to_string(i) + "]";
        const ObjectReader r(src, list[i], where);
        r.only({"program", "unit", "first_seen"});
        RequesterRecord rec{r.string("program"), r.string("unit"), r.integer("first_seen")};
        if (auto problem = record_problem(rec); !problem.empty()) src.fail(with_where(where, problem));
        if (!seen.insert(rec.program).second) src.fail(where + " repeats the program " + quote_for_message(rec.program));
        view.requesters.push_back(std::move(rec));
    }
    return view;
}

std::string serialize_requesters(const RequestersView &view) {
    if (view.requesters.size() > kMaxRequesters)
        throw std::invalid_argument("cannot write requesters.json: more than " + std::to_string(kMaxRequesters) +
                                    " requesters");
    auto list = Json::array();
    for (const auto &r : view.requesters) {
        must_be_fine("a requester record", record_problem(r));
        list.push(Json::object().set("program", r.program).set("unit", r.unit).set("first_seen", r.first_seen));
    }
    return Json::object().set("v", kVersion).set("requesters", std::move(list)).dump() + "\n";
}

bool add_requester(RequestersView &view, RequesterRecord record) {
    auto &list = view.requesters;
    if (std::any_of(list.begin(), list.end(), [&](const auto &r) { return r.program == record.program; }))
        return false;
    if (record.program.size() > kMaxRequesterTextBytes) record.program.resize(kMaxRequesterTextBytes);
    if (record.unit.size() > kMaxRequesterTextBytes) record.unit.resize(kMaxRequesterTextBytes);
    list.push_back(std::move(record));
    if (list.size() > kMaxRequesters) list.erase(list.begin(), list.begin() + std::ptrdiff_t(list.size() - kMaxRequesters));
    return true;
}

std::optional<RequestersView> load_requesters(const StateDir &dir) {
    if (!dir.has(kRequestersFile)) return std::nullopt;
    return parse_requesters(dir.read(kRequestersFile, kMaxRequestersBytes, FileTrust::private_file),
                            dir.path() + "/" + kRequestersFile);
}

void save_requesters(const StateDir &dir, const RequestersView &view) {
    const std::string text = serialize_requesters(view);
    dir.write_atomic(kRequestersFile, as_bytes(text), 0600);
}

} // namespace puddle
