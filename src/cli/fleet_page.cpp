#include "cli/fleet_page.hpp"

#include "util/text.hpp"

namespace puddle::cli {
namespace {

std::string short_key(const std::string &key) { return key.size() > 24 ? key.substr(8, 16) : key; }

std::string joined(const std::vector<std::string> &v, const char *sep) {
    std::string out;
    for (const auto &s : v) out += (out.empty() ? "" : sep) + s;
    return out;
}

Json seat_json(const FleetSeat &s) {
    auto reasons = Json::array();
    for (const auto &r : s.reasons) reasons.push(valid_utf8(r));
    return Json::object()
        .set("host", valid_utf8(s.host))
        .set("user", valid_utf8(s.user))
        .set("uid", long(s.uid))
        .set("machine_key", s.machine_key.empty() ? Json() : Json(s.machine_key))
        .set("pubkey", s.key)
        .set("generation", long(s.generation))
        .set("unlocked", s.unlocked)
        .set("health", s.health)
        .set("reasons", reasons)
        .set("members_digest", s.members_digest.empty() ? Json() : Json(s.members_digest))
        .set("name", s.name.empty() ? Json() : Json(valid_utf8(s.name)))
        .set("time_usec", long(s.time_usec));
}

} // namespace

std::string html_escape(std::string_view s) {
    std::string out;
    for (char c : printable(s, 4096)) {
        switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&quot;"; break;
        case '\'': out += "&#39;"; break;
        default: out += c;
        }
    }
    return out;
}

std::string fleet_text(const FleetReport &r) {
    std::string out;
    for (const auto &p : r.puddles) {
        out += printable(owner_label(p), 80) + "  " + short_key(p.key) + "  " + std::to_string(p.machines) +
               (p.machines == 1 ? " machine" : " machines") + "  users: " + printable(joined(p.users, ", "), 400) +
               "  unlocked: " + std::to_string(p.unlocked) + "  health: " + health_state_name(p.badge) + "\n";
        for (const auto &f : p.findings) out += "    " + printable(f, 600) + "\n";
        for (const auto &s : p.seats)
            out += "    " + printable(s.user, 80) + "@" + printable(s.host, 80) + "  machine " +
                   (s.machine_key.empty() ? std::string("(none)") : short_key(s.machine_key)) + "  generation " +
                   std::to_string(s.generation) + "  " + (s.unlocked ? "unlocked" : "locked") + "  " + s.health +
                   "  as of " + local_iso_time(std::int64_t(s.time_usec / 1000000)) + "\n";
    }
    return out;
}

Json fleet_json(const FleetReport &r) {
    auto puddles = Json::array();
    for (const auto &p : r.puddles) {
        auto users = Json::array(), findings = Json::array(), seats = Json::array();
        for (const auto &u : p.users) users.push(valid_utf8(u));
        for (const auto &f : p.findings) findings.push(valid_utf8(f));
        for (const auto &s : p.seats) seats.push(seat_json(s));
        puddles.push(Json::object()
                         .set("owner", valid_utf8(owner_label(p)))
                         .set("name", p.name.empty() ? Json() : Json(valid_utf8(p.name)))
                         .set("pubkey", p.key)
                         .set("short", short_key(p.key))
                         .set("first_key", p.first_key)
                         .set("generation", long(p.generation))
                         .set("machines", long(p.machines))
                         .set("users", users)
                         .set("unlocked", long(p.unlocked))
                         .set("health", health_state_name(p.badge))
                         .set("findings", findings)
                         .set("seats", seats));
    }
    auto refused = Json::array();
    for (const auto &x : r.refused) refused.push(valid_utf8(x));
    return Json::object()
        .set("puddles", puddles)
        .set("entries", long(r.entries))
        .set("refused", long(r.refused_count))
        .set("refused_reasons", refused)
        .set("capped", r.capped);
}

std::string fleet_html(const FleetReport &r) {
    std::string h;
    h += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
         // Nothing is loaded or run: the page is the data.
         "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n"
         "<title>puddle fleet</title>\n<style>\n"
         "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
         "td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}"
         ".healthy{background:#d9f2d9}.warning{background:#fff1c2}.degraded{background:#f8d0d0}"
         "code{font-size:90%}\n</style>\n</head>\n<body>\n<h1>puddle fleet</h1>\n";
    h += "<p>From " + html_escape(r.source) + ": " + std::to_string(r.puddles.size()) + " puddles, " +
         std::to_string(r.entries) + " status entries read";
    if (r.refused_count) h += ", " + std::to_string(r.refused_count) + " left out";
    if (r.capped) h += " (stopped at the cap: older entries not read)";
    h += ". Generated " + html_escape(local_iso_time(r.generated_at)) + ".</p>\n";
    h += "<table id=\"puddles\">\n<thead><tr><th>owner</th><th>public key</th><th>machines</th><th>users</th>"
         "<th>unlocked</th><th>health</th></tr></thead>\n<tbody>\n";
    for (const auto &p : r.puddles) {
        const char *badge = health_state_name(p.badge);
        h += "<tr class=\"puddle\"><td class=\"owner\">" + html_escape(owner_label(p)) + "</td><td class=\"key\"><code title=\"" +
             html_escape(p.key) + "\">" + html_escape(short_key(p.key)) + "</code></td><td class=\"machines\">" +
             std::to_string(p.machines) + "</td><td class=\"users\">" + html_escape(joined(p.users, ", ")) +
             "</td><td class=\"unlocked\">" + std::to_string(p.unlocked) + "</td><td class=\"health " + badge +
             "\"><span class=\"badge\">" + badge + "</span> ";
        if (!p.findings.empty()) {
            h += "<ul>";
            for (const auto &f : p.findings) h += "<li>" + html_escape(f) + "</li>";
            h += "</ul>";
        }
        h += "<details><summary>machines</summary><ul>";
        for (const auto &s : p.seats)
            h += "<li class=\"seat\">" + html_escape(s.user) + "@" + html_escape(s.host) + ", machine <code>" +
                 html_escape(s.machine_key.empty() ? std::string("(none)") : short_key(s.machine_key)) +
                 "</code>, generation " + std::to_string(s.generation) + ", " + (s.unlocked ? "unlocked" : "locked") +
                 ", " + html_escape(s.health) + ", as of " + html_escape(local_iso_time(std::int64_t(s.time_usec / 1000000))) +
                 "</li>";
        h += "</ul></details></td></tr>\n";
    }
    h += "</tbody>\n</table>\n</body>\n</html>\n";
    return h;
}

} // namespace puddle::cli
