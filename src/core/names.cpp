#include "core/names.hpp"

#include "util/error.hpp"
#include "util/json.hpp"

#include <algorithm>
#include <cstdlib>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace puddle {
namespace {

void add_claim(ClaimsView &view, const NameClaim &c, const std::string &source) {
    if (!verify_claim(c)) {
        view.problems.push_back({source, "bad signature"});
        return;
    }
    for (const auto &have : view.claims)
        if (have.name == c.name && have.pubkey == c.pubkey) return;
    view.claims.push_back(c);
}

void load_file(ClaimsView &view, const StateDir &dir, const std::string &name) {
    const std::string path = dir.file(name);
    try {
        auto claim = parse_name_claim(dir.read(name, kMaxNameClaimBytes, FileTrust::unchecked), path);
        add_claim(view, claim, path);
    } catch (const Error &e) {
        view.problems.push_back({path, e.why()});
    }
}

// A claims directory may be shared or synced: whatever it holds, status and
// the agent look at a bounded number of entries and read a bounded number of
// claims (each one a signature check).
constexpr std::size_t kMaxClaimDirEntries = 4096;
constexpr std::size_t kMaxClaimFiles = 1024;

void load_dir(ClaimsView &view, const std::string &path) {
    DIR *d = ::opendir(path.c_str());
    if (!d) return; // a missing directory holds no claims
    std::vector<std::string> names;
    std::size_t entries = 0;
    while (auto *e = ::readdir(d)) {
        if (++entries > kMaxClaimDirEntries) {
            view.problems.push_back({path, "more than " + std::to_string(kMaxClaimDirEntries) +
                                               " entries; only the first were looked at (remove what is not a claim)"});
            break;
        }
        std::string n = e->d_name;
        if (n.size() > 5 && n.ends_with(".json") && n[0] != '.') names.push_back(n);
        if (names.size() >= kMaxClaimFiles) {
            view.problems.push_back({path, "more than " + std::to_string(kMaxClaimFiles) +
                                               " claim files; only the first were read (remove those you do not need)"});
            break;
        }
    }
    ::closedir(d);
    std::sort(names.begin(), names.end());
    StateDir dir(path);
    const std::size_t before = view.problems.size();
    for (const auto &n : names) load_file(view, dir, n);
    // A few named, the rest counted: a directory of junk is one finding, not
    // a thousand lines of status.
    constexpr std::size_t kNamedProblems = 8;
    if (view.problems.size() - before > kNamedProblems + 1) {
        const std::size_t more = view.problems.size() - before - kNamedProblems;
        view.problems.resize(before + kNamedProblems);
        view.problems.push_back({path, std::to_string(more) + " more files there are not usable claims either"});
    }
}

} // namespace

std::vector<PublicKey> ClaimsView::claimants(const std::string &name) const {
    std::vector<PublicKey> keys;
    for (const auto &c : claims)
        if (c.name == name && std::find(keys.begin(), keys.end(), c.pubkey) == keys.end()) keys.push_back(c.pubkey);
    return keys;
}

std::string user_claims_dir() {
    if (const char *x = std::getenv("XDG_DATA_HOME"); x && x[0] == '/') return std::string(x) + "/puddle/names.d";
    const char *h = std::getenv("HOME");
    return std::string(h && *h ? h : "/") + "/.local/share/puddle/names.d";
}

std::string own_claim_problem(const StateDir &state, const PublicKey &own) {
    try {
        const auto claim = load_name_claim(state);
        if (!claim) return {};
        if (!verify_claim(*claim)) return "its signature does not verify";
        if (!(claim->pubkey == own)) return "it claims \"" + claim->name + "\" for another key, " + claim->pubkey.str();
        return {};
    } catch (const Error &e) {
        return e.why();
    }
}

ClaimsView load_claims(const StateDir &state, const Config &config) {
    ClaimsView view;
    if (state.has(kNameClaimFile)) load_file(view, state, kNameClaimFile);
    for (const auto &d : config.names.claims_dirs) load_dir(view, d);
    load_dir(view, user_claims_dir());
    return view;
}

std::vector<ClaimProblem> store_learned_claims(std::string_view claims_json) {
    std::vector<ClaimProblem> problems;
    std::string error;
    auto doc = parse_json(claims_json, &error);
    if (!doc || !doc->as_array()) {
        problems.push_back({"the holder's claims", doc ? "not a JSON array" : error});
        return problems;
    }
    StateDir dir(user_claims_dir());
    for (const auto &item : *doc->as_array()) {
        std::string text = item.dump() + "\n";
        try {
            auto claim = parse_name_claim(as_bytes(text), "a claim from the holder");
            if (!verify_claim(claim)) {
                problems.push_back({"a claim from the holder", "bad signature"});
                continue;
            }
            if (!dir.exists()) dir.create();
            const std::string file = "learned-" + to_hex(claim.pubkey.bytes).substr(0, 16) + "-" + claim.name + ".json";
            std::string canonical = serialize_name_claim(claim);
            dir.write_atomic(file, as_bytes(canonical), 0644);
        } catch (const Error &e) {
            problems.push_back({"a claim from the holder", e.why()});
        }
    }
    return problems;
}

std::string claims_for_payload(const ClaimsView &view) {
    std::string out = "[";
    for (std::size_t i = 0; i < view.claims.size(); ++i) {
        std::string c = serialize_name_claim(view.claims[i]);
        while (!c.empty() && c.back() == '\n') c.pop_back();
        out += (i ? "," : "") + c;
    }
    return out + "]";
}

} // namespace puddle
