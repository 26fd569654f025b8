// How `puddle fleet --journal` shows the roll-up: a terminal table, JSON for
// scripts, and one static HTML page. Pure, so the unit tests render
// hostile names and check the escaping.
#pragma once

#include "core/fleet_rollup.hpp"
#include "util/json.hpp"

#include <string>
#include <vector>

namespace puddle::cli {

struct FleetReport {
    std::vector<FleetPuddle> puddles;
    std::size_t entries = 0;             // status entries read
    std::vector<std::string> refused;    // why entries were left out (at most a few kept)
    std::size_t refused_count = 0;
    bool capped = false;                 // stopped at the entry cap
    std::string source;                  // the directory read
    std::int64_t generated_at = 0;       // Unix seconds
};

std::string fleet_text(const FleetReport &r);
Json fleet_json(const FleetReport &r);
std::string fleet_html(const FleetReport &r);
// &, <, >, " and ' as entities; control characters and invalid UTF-8 as
// printable() shows them.
std::string html_escape(std::string_view s);

} // namespace puddle::cli
