#include "cli/since.hpp"

#include <cctype>
#include <charconv>

namespace puddle::cli {
namespace {

bool number(std::string_view s, long &out) {
    if (s.empty() || s.size() > 9) return false;
    for (char c : s)
        if (!std::isdigit(static_cast<unsigned char>(c))) return false;
    return std::from_chars(s.data(), s.data() + s.size(), out).ec == std::errc();
}

std::optional<long> unit_seconds(std::string_view u) {
    if (u == "s" || u == "sec" || u == "second" || u == "seconds") return 1;
    if (u == "m" || u == "min" || u == "minute" || u == "minutes") return 60;
    if (u == "h" || u == "hour" || u == "hours") return 3600;
    if (u == "d" || u == "day" || u == "days") return 86400;
    if (u == "w" || u == "week" || u == "weeks") return 7 * 86400;
    return std::nullopt;
}

// "N<unit>" (the number and the unit may be apart by spaces).
std::optional<long> span_seconds(std::string_view s) {
    std::size_t i = 0;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
    long n = 0;
    if (!number(s.substr(0, i), n)) return std::nullopt;
    std::string_view unit = s.substr(i);
    while (!unit.empty() && unit.front() == ' ') unit.remove_prefix(1);
    auto per = unit_seconds(unit);
    if (!per) return std::nullopt;
    return n * *per;
}

// "HH:MM" or "HH:MM:SS".
bool clock_time(std::string_view s, int &h, int &m, int &sec) {
    long hh = 0, mm = 0, ss = 0;
    if (s.size() == 5 && s[2] == ':' && number(s.substr(0, 2), hh) && number(s.substr(3, 2), mm)) {
        ss = 0;
    } else if (s.size() == 8 && s[2] == ':' && s[5] == ':' && number(s.substr(0, 2), hh) &&
               number(s.substr(3, 2), mm) && number(s.substr(6, 2), ss)) {
    } else {
        return false;
    }
    if (hh > 23 || mm > 59 || ss > 60) return false;
    h = int(hh), m = int(mm), sec = int(ss);
    return true;
}

std::optional<std::uint64_t> local(std::tm tm) {
    tm.tm_isdst = -1;
    const std::time_t t = std::mktime(&tm);
    if (t == std::time_t(-1) || t < 0) return std::nullopt;
    return std::uint64_t(t) * 1000000;
}

} // namespace

std::optional<std::uint64_t> parse_since(std::string_view text, std::time_t now, std::string *why) {
    auto fail = [&](std::string reason) -> std::optional<std::uint64_t> {
        if (why) *why = std::move(reason);
        return std::nullopt;
    };
    std::tm today{};
    localtime_r(&now, &today);
    today.tm_hour = today.tm_min = today.tm_sec = 0;
    if (text == "now") return std::uint64_t(now) * 1000000;
    if (text == "today") return local(today);
    if (text == "yesterday") {
        today.tm_mday -= 1;
        return local(today);
    }
    std::optional<long> back;
    if (text.starts_with("-")) back = span_seconds(text.substr(1));
    else if (text.ends_with(" ago")) back = span_seconds(text.substr(0, text.size() - 4));
    if (back) {
        if (*back > now) return fail("that is before 1970");
        return std::uint64_t(now - *back) * 1000000;
    }
    int h = 0, m = 0, s = 0;
    if (clock_time(text, h, m, s)) {
        today.tm_hour = h, today.tm_min = m, today.tm_sec = s;
        return local(today);
    }
    // YYYY-MM-DD[ HH:MM[:SS]]
    long y = 0, mo = 0, d = 0;
    if (text.size() >= 10 && text[4] == '-' && text[7] == '-' && number(text.substr(0, 4), y) &&
        number(text.substr(5, 2), mo) && number(text.substr(8, 2), d) && mo >= 1 && mo <= 12 && d >= 1 && d <= 31) {
        std::tm tm{};
        tm.tm_year = int(y) - 1900, tm.tm_mon = int(mo) - 1, tm.tm_mday = int(d);
        std::string_view rest = text.substr(10);
        if (rest.empty()) return local(tm);
        if ((rest.front() == ' ' || rest.front() == 'T') && clock_time(rest.substr(1), h, m, s)) {
            tm.tm_hour = h, tm.tm_min = m, tm.tm_sec = s;
            return local(tm);
        }
    }
    return fail("expected YYYY-MM-DD [HH:MM[:SS]], HH:MM[:SS], today, yesterday, now, -N<unit> or "
                "\"N<unit> ago\" (unit s, min, h, d, w)");
}

} // namespace puddle::cli
