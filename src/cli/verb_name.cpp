// name set | clear | show | resolve: friendly names (SPEC §9). A name is a
// hint; the hex key is the proof.
#include "cli/agent_client.hpp"
#include "cli/args.hpp"
#include "cli/io.hpp"
#include "cli/verbs.hpp"
#include "core/identity_store.hpp"
#include "core/names.hpp"

#include <cstdio>

namespace puddle::cli {
namespace {

// One line: errors are one line (and a hint) by puddle(1).
std::string keys_list(const std::vector<PublicKey> &keys) {
    std::string out;
    for (const auto &k : keys) out += (out.empty() ? " " : ", ") + k.str();
    return out;
}

int name_set(const Args &args) {
    if (args.positionals().size() != 2) usage_error("name", "usage: puddle name set NAME");
    const std::string name = args.positionals()[1];
    std::string why;
    if (!valid_name(name, &why)) usage_error("name", "invalid name " + quoted(name) + ": " + why);
    auto config = load_config_reporting();
    PublicKey pub;
    std::string claim_file;
    {
        // Released before the agent is asked: it takes the same lock to write.
        auto st = open_state(false);
        pub = st.store.load_public_key();
        claim_file = st.dir.file(kNameClaimFile);
        auto view = load_claims(st.dir, config);
        for (const auto &k : view.claimants(name))
            if (!(k == pub))
                throw Error(Failure::ambiguous, "name set", "\"" + name + "\" is already claimed by " + k.str(),
                            "choose another name; a name is first come, and never arbitrated");
    }
    AgentClient agent;
    agent.set_name(name);
    std::printf("%s is now \"%s\" (claim in %s)\n", pub.str().c_str(), name.c_str(), claim_file.c_str());
    return 0;
}

int name_clear(const Args &args) {
    if (args.positionals().size() != 1) usage_error("name", "usage: puddle name clear");
    auto st = open_state(false);
    (void)st.store.load_public_key();
    if (!st.dir.has(kNameClaimFile)) {
        std::printf("no name was claimed\n");
        return 0;
    }
    st.dir.remove(kNameClaimFile);
    std::printf("name claim removed (copies other machines learned while pairing stay there)\n");
    return 0;
}

int name_show(const Args &args) {
    if (args.positionals().size() != 1) usage_error("name", "usage: puddle name show");
    auto config = load_config_reporting(ConfigErrors::skip_file);
    auto st = open_state(false);
    auto pub = st.store.load_public_key();
    // "No name claimed" would hide a claim that is there but broken.
    if (auto why = own_claim_problem(st.dir, pub); !why.empty())
        throw Error(Failure::failed, "name show", st.dir.file(kNameClaimFile) + " cannot be used: " + why,
                    "claim the name again with 'puddle name set NAME' (unlocked), or remove it with 'puddle name clear'");
    auto view = load_claims(st.dir, config);
    bool any = false;
    for (const auto &c : view.claims) {
        if (!(c.pubkey == pub)) continue;
        any = true;
        auto keys = view.claimants(c.name);
        if (keys.size() == 1) std::printf("%s: unique in this machine's view\n", c.name.c_str());
        else std::printf("%s: CONTESTED, claimed by %zu keys:%s\n", c.name.c_str(), keys.size(), keys_list(keys).c_str());
    }
    if (!any) std::printf("no name claimed for %s\n", pub.str().c_str());
    for (const auto &p : view.problems) print_warning("ignored claim " + p.source + ": " + p.why);
    return 0;
}

int name_resolve(const Args &args) {
    if (args.positionals().size() != 2) usage_error("name", "usage: puddle name resolve NAME");
    const std::string name = args.positionals()[1];
    std::string why;
    if (!valid_name(name, &why)) usage_error("name", "invalid name " + quoted(name) + ": " + why);
    auto config = load_config_reporting(ConfigErrors::skip_file);
    StateDir dir = StateDir::locate();
    ClaimsView view = dir.exists() ? load_claims(open_state(false).dir, config) : ClaimsView{};
    for (const auto &p : view.problems) print_warning("ignored claim " + p.source + ": " + p.why);
    auto keys = view.claimants(name);
    if (keys.empty()) throw Error(Failure::failed, "name resolve", "no key claims \"" + name + "\" in this machine's view");
    if (keys.size() > 1)
        throw Error(Failure::ambiguous, "name resolve",
                    "\"" + name + "\" is ambiguous, use the hex form; claimed by:" + keys_list(keys));
    std::printf("%s\n", keys[0].str().c_str());
    return 0;
}

} // namespace

int run_name(const std::vector<std::string> &argv) {
    Args args("name", argv);
    if (args.positionals().empty()) usage_error("name", "expected set, clear, show or resolve");
    const std::string &sub = args.positionals()[0];
    if (sub == "set") return name_set(args);
    if (sub == "clear") return name_clear(args);
    if (sub == "show") return name_show(args);
    if (sub == "resolve") return name_resolve(args);
    usage_error("name", "unknown subcommand " + quoted(sub) + " (expected set, clear, show or resolve)");
}

} // namespace puddle::cli
