// libFuzzer target: the status entry's reader (core/status_entry.hpp), as
// `puddle fleet --journal` meets entries from journals of other machines,
// and the roll-up and page made of what it accepts.
// Input: "NAME=value" fields separated by NUL bytes (the journal's own
// field boundaries); a value may hold any other byte.
// Invariants: a refusal is one printable line; an accepted entry writes
// fields that read back equal; the page of an accepted entry carries no tag
// but its own (every field escaped).
#include "cli/fleet_page.hpp"
#include "core/fleet_rollup.hpp"
#include "core/status_entry.hpp"
#include "fuzz_support.hpp"
#include "util/error.hpp"

#include <cstdint>
#include <string>
#include <string_view>

using namespace puddle;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    std::string_view in(reinterpret_cast<const char *>(data), size);
    EntryFields fields;
    while (!in.empty()) {
        const auto end = in.find('\0');
        const std::string_view kv = in.substr(0, end);
        const auto eq = kv.find('=');
        if (eq != std::string_view::npos) fields[std::string(kv.substr(0, eq))] = std::string(kv.substr(eq + 1));
        if (end == std::string_view::npos) break;
        in.remove_prefix(end + 1);
    }
    StatusEntry e;
    try {
        e = parse_status_entry(fields, 1);
    } catch (const Error &err) {
        FUZZ_CHECK(fuzz::printable(err.why()));
        return 0;
    }
    EntryFields again;
    for (const auto &kv : status_entry_fields(e)) {
        const auto eq = kv.find('=');
        if (kv.starts_with("PUDDLE_")) again[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    again["_UID"] = std::to_string(e.uid);
    FUZZ_CHECK(parse_status_entry(again, 1) == e);
    cli::FleetReport r;
    r.puddles = roll_up({e});
    const std::string html = cli::fleet_html(r);
    // Every '<' in the page opens one of the page's own tags.
    for (std::size_t i = html.find('<'); i != std::string::npos; i = html.find('<', i + 1)) {
        const std::string_view rest = std::string_view(html).substr(i + 1);
        bool known = false;
        for (const char *tag : {"!DOCTYPE", "html", "/html", "head", "/head", "meta", "title", "/title", "style",
                                "/style", "body", "/body", "h1", "/h1", "p>", "/p>", "table", "/table", "thead",
                                "/thead", "tbody", "/tbody", "tr", "/tr", "th", "/th", "td", "/td", "code", "/code",
                                "span", "/span", "ul", "/ul", "li", "/li", "details", "/details", "summary", "/summary"})
            known |= rest.starts_with(tag);
        FUZZ_CHECK(known);
    }
    (void)cli::fleet_json(r).dump();
    return 0;
}
