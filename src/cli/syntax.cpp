// The command line of every verb, declared once: Args parses with it, and
// `puddle --list-options VERB` shows it to the shell completions
// (completion/) and to tests/packaging/test_completion.sh, which fails when
// an option here is not completed or not in the verb's --help.
#include "cli/args.hpp"

#include <algorithm>

namespace puddle::cli {

namespace {

const std::vector<VerbSyntax> &table() {
    static const std::vector<VerbSyntax> t = {
        {"init", {{"passphrase-fd", "N"}}, 0, "", {}},
        {"status", {{"json", ""}}, 0, "", {}},
        {"pubkey", {{"ssh", ""}}, 0, "", {}},
        {"unlock", {{"idle-mins", "N"}, {"watch-pid", "PID"}, {"no-watch", ""}, {"passphrase-fd", "N"}}, 0, "", {}},
        {"lock", {}, 0, "", {}},
        {"sign", {{"hex", ""}}, 1, "FILE", {}},
        {"pair", {{"wait", ""}, {"cancel", ""}}, 0, "", {}},
        {"join",
         {{"from", "HOST"}, {"code-fd", "N"}, {"code", "CODE", false}, {"passphrase-fd", "N"}},
         0, "", {}},
        {"export", {}, 1, "FILE", {}},
        {"import", {{"passphrase-fd", "N"}}, 1, "FILE", {}},
        {"evict", {{"passphrase-fd", "N"}, {"envelope", "FILE"}}, 1, "HOST", {}},
        {"accept", {{"from", "HOST"}, {"receipt", "FILE"}, {"settle", ""}}, 1, "FILE", {}},
        {"members", {{"json", ""}, {"took", "RECEIPT"}}, 0, "", {}},
        {"rekey",
         {{"new-passphrase", ""}, {"new-passphrase-fd", "M"}, {"passphrase-fd", "N"}, {"from", "HOST"},
          {"code-fd", "N"}, {"code", "CODE", false}},
         0, "", {}},
        {"rekey-pair", {{"wait", ""}, {"cancel", ""}}, 0, "", {}},
        {"name", {}, 2, "NAME", {"set", "clear", "show", "resolve"}},
        {"log", {{"since", "TIME"}, {"lines", "N"}, {"json", ""}}, 0, "", {}},
        {"verify", {{"sig", "SIG"}, {"pub", "KEY"}}, 1, "FILE", {}},
        {"rotate-passphrase", {{"passphrase-fd", "N"}, {"new-passphrase-fd", "M"}}, 0, "", {}},
        {"fleet", {{"journal", "DIR"}, {"html", "FILE"}, {"json", ""}, {"sync", ""}}, 0, "", {}},
        {"setup", {{"undo", ""}, {"principal", "NAME", true, "git"}, {"sign-all", "", true, "git"}}, 1, "", {"ssh", "git"}},
    };
    return t;
}

} // namespace

const VerbSyntax *syntax_of(std::string_view verb) {
    for (const auto &s : table())
        if (s.verb == verb) return &s;
    return nullptr;
}

std::string describe_syntax(const VerbSyntax &syntax, const std::string &word) {
    const bool is_subverb =
        std::find(syntax.subverbs.begin(), syntax.subverbs.end(), word) != syntax.subverbs.end();
    std::string out;
    for (const auto &o : syntax.options)
        if (!is_subverb || o.subverb.empty() || o.subverb == word)
            out += "option --" + o.name + " " + (o.takes_value() ? o.value : "-") + (o.offered ? "" : " hidden") + "\n";
    if (!syntax.positional.empty()) out += "positional " + syntax.positional + "\n";
    for (const auto &s : syntax.subverbs) out += "subverb " + s + "\n";
    return out;
}

} // namespace puddle::cli
