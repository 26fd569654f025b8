#include "core/dotfiles.hpp"

#include <algorithm>
#include <cctype>

namespace puddle {
namespace {

constexpr std::string_view kAddedBreak = " (and the line break before this line)";

// Start offsets of every line of `text`.
std::vector<std::size_t> line_starts(std::string_view text) {
    std::vector<std::size_t> starts;
    std::size_t at = 0;
    while (at < text.size()) {
        starts.push_back(at);
        const auto nl = text.find('\n', at);
        if (nl == std::string_view::npos) break;
        at = nl + 1;
    }
    return starts;
}

std::string_view line_at(std::string_view text, std::size_t start) {
    const auto nl = text.find('\n', start);
    return text.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start);
}

struct Found {
    std::size_t begin = 0; // offset of the begin marker line (or of the added "\n" before it)
    std::size_t end = 0;   // offset just past the end marker line
    std::size_t body_begin = 0;
    std::size_t body_end = 0;
};

std::optional<Found> find_block(std::string_view text, const BlockMarkers &m) {
    const std::string with_break = m.begin + std::string(kAddedBreak);
    std::optional<Found> f;
    for (std::size_t start : line_starts(text)) {
        const auto line = line_at(text, start);
        if (!f) {
            if (line == m.begin) f = Found{start, 0, start + line.size() + 1, 0};
            else if (line == with_break && start > 0) f = Found{start - 1, 0, start + line.size() + 1, 0};
        } else if (line == m.end) {
            f->body_end = start;
            f->end = std::min(text.size(), start + line.size() + 1);
            return f;
        }
    }
    return std::nullopt;
}

std::string trim(std::string_view s) {
    std::size_t a = 0, b = s.size();
    while (a < b && std::isspace(static_cast<unsigned char>(s[a]))) ++a;
    while (b > a && std::isspace(static_cast<unsigned char>(s[b - 1]))) --b;
    return std::string(s.substr(a, b - a));
}

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
}

} // namespace

std::string put_block(std::string_view text, const BlockMarkers &m, std::string_view body, BlockPlace place) {
    if (auto f = find_block(text, m)) {
        std::string out(text.substr(0, f->body_begin));
        out += body;
        out += text.substr(f->body_end);
        return out;
    }
    std::string block = m.begin + "\n" + std::string(body) + m.end + "\n";
    if (place == BlockPlace::top) return block + std::string(text);
    std::string out(text);
    if (!out.empty() && out.back() != '\n') out += "\n" + m.begin + std::string(kAddedBreak) + "\n" + std::string(body) + m.end + "\n";
    else out += block;
    return out;
}

std::optional<std::string> remove_block(std::string_view text, const BlockMarkers &m) {
    auto f = find_block(text, m);
    if (!f) return std::nullopt;
    return std::string(text.substr(0, f->begin)) + std::string(text.substr(f->end));
}

std::optional<std::string> block_body(std::string_view text, const BlockMarkers &m) {
    auto f = find_block(text, m);
    if (!f) return std::nullopt;
    return std::string(text.substr(f->body_begin, f->body_end - f->body_begin));
}

std::vector<SshOption> find_ssh_option(std::string_view text, std::string_view keyword, const BlockMarkers &skip) {
    std::string rest = std::string(text);
    // Line numbers are the file's own: blank the block's lines rather than cut them.
    if (auto f = find_block(text, skip)) {
        for (std::size_t i = f->begin; i < f->end; ++i)
            if (rest[i] != '\n') rest[i] = ' ';
    }
    std::vector<SshOption> found;
    std::string context;
    int number = 0;
    for (std::size_t start : line_starts(rest)) {
        ++number;
        const std::string line = trim(line_at(rest, start));
        if (line.empty() || line[0] == '#') continue;
        // keyword, then whitespace or '=' (ssh_config(5)).
        const auto cut = line.find_first_of(" \t=");
        const std::string key = line.substr(0, cut);
        std::string value = cut == std::string::npos ? "" : trim(line.substr(cut));
        if (!value.empty() && value[0] == '=') value = trim(value.substr(1));
        if (iequals(key, "Host") || iequals(key, "Match")) {
            context = line;
            continue;
        }
        if (iequals(key, keyword)) found.push_back(SshOption{number, context, value});
    }
    return found;
}

std::string describe_agent_socket(std::string_view path) {
    auto has = [&](std::string_view part) { return path.find(part) != std::string_view::npos; };
    if (has("/puddle/ssh-agent.sock")) return "puddle's ssh-agent door";
    if (has("/gcr/ssh")) return "gcr-ssh-agent (GNOME)";
    if (has("/keyring/")) return "gnome-keyring's ssh agent";
    if (has("gnupg") && has("S.gpg-agent.ssh")) return "gpg-agent";
    if (has("/ssh-") && has("agent.")) return "OpenSSH's ssh-agent";
    if (has("/openssh_agent")) return "OpenSSH's ssh-agent, from its ssh-agent.socket";
    if (has("1password")) return "1Password's ssh agent";
    return "an ssh agent";
}

} // namespace puddle
