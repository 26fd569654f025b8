#include "core/files/pair_result.hpp"

#include "core/files/json_reader.hpp"
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
    const files_detail::LooseReader r(bytes);
    if (!r.parsed()) return std::nullopt;
    PairResultView view;
    r.integer("created", view.created);
    r.string("result", view.result);
    r.string("host", view.host);
    r.string("peer", view.peer);
    r.integer("at", view.at);
    return view;
}

std::optional<PairResultView> load_pair_result(const StateDir &dir, std::string_view purpose) {
    const std::string name = pair_result_file(purpose);
    if (!dir.has(name)) return std::nullopt;
    return parse_pair_result(dir.read(name, kMaxPairResultBytes, FileTrust::private_file));
}

void save_pair_result(const StateDir &dir, const PairResult &result) {
    const std::string text = serialize_pair_result(result);
    dir.write_atomic(pair_result_file(result.purpose), as_bytes(text), 0600);
}

void remove_pair_result(const StateDir &dir, std::string_view purpose) { dir.remove(pair_result_file(purpose)); }

} // namespace puddle
