#include "core/files/pair_result.hpp"

#include "util/json.hpp"

namespace puddle {

std::string pair_result_file(std::string_view purpose) { return std::string(purpose) + ".result"; }

std::string serialize_pair_result(const PairResult &r) {
    return Json::object()
               .set("v", 1)
               .set("purpose", r.purpose)
               .set("created", r.created)
               .set("result", r.result)
               .set("host", r.host)
               .set("peer", r.peer)
               .set("at", r.at)
               .dump() +
           "\n";
}

std::optional<PairResultView> parse_pair_result(std::span<const std::uint8_t> bytes) {
    std::string error;
    auto doc = parse_json(std::string_view(reinterpret_cast<const char *>(bytes.data()), bytes.size()), &error);
    if (!doc) return std::nullopt;
    PairResultView view;
    if (const Json *v = doc->get("created"); v && v->as_int()) view.created = *v->as_int();
    auto text = [&](const char *name) {
        const Json *v = doc->get(name);
        return v && v->as_string() ? *v->as_string() : std::string();
    };
    view.result = text("result");
    view.host = text("host");
    view.peer = text("peer");
    return view;
}

std::optional<PairResultView> load_pair_result(const StateDir &dir, std::string_view purpose) {
    const std::string name = pair_result_file(purpose);
    if (!dir.has(name)) return std::nullopt;
    return parse_pair_result(dir.read(name, kMaxPairResultBytes, true));
}

void save_pair_result(const StateDir &dir, const PairResult &result) {
    const std::string text = serialize_pair_result(result);
    dir.write_atomic(pair_result_file(result.purpose), as_bytes(text), 0600);
}

void remove_pair_result(const StateDir &dir, std::string_view purpose) { dir.remove(pair_result_file(purpose)); }

} // namespace puddle
