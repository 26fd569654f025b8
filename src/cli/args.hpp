// Command-line options of one verb: --name, --name VALUE, --name=VALUE, and
// positionals. Anything unknown is a usage error (exit 2).
//
// What each verb accepts is declared once, in the table of cli/syntax.cpp:
// the parser reads it, and so do `puddle --list-options VERB` (hidden), the
// shell completions and the test that every option is completable.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace puddle::cli {

struct OptionSpec {
    std::string name;   // without the leading dashes
    std::string value;  // the value's placeholder as --help spells it (N, FILE, HOST); empty: a flag
    // false: parsed but not offered by completion (--code: a code on the
    // command line is for every local user to read, so it is not suggested).
    bool offered = true;
    // The sub-verb the option belongs to (setup git --sign-all); empty: all.
    // Completion offers it after that sub-verb only.
    std::string subverb = {};
    bool takes_value() const { return !value.empty(); }
};

// The command line one verb accepts.
struct VerbSyntax {
    std::string verb;
    std::vector<OptionSpec> options;
    std::size_t max_positionals = 0;
    std::string positional;              // the positionals' placeholder (FILE, HOST, NAME), or empty
    std::vector<std::string> subverbs;   // the first positional is one of these (name set|clear|...)
};

// The verb's entry in the table; nullptr for a verb with none.
const VerbSyntax *syntax_of(std::string_view verb);
// `puddle --list-options VERB [WORD]`: one line per item, for completion and tests:
//   option --NAME PLACEHOLDER|- [hidden]
//   positional PLACEHOLDER
//   subverb NAME
// When WORD (the first word after the verb on the command line being
// completed) is one of the verb's sub-verbs, only the options that sub-verb
// takes; any other WORD changes nothing.
std::string describe_syntax(const VerbSyntax &syntax, const std::string &word = {});

class Args {
public:
    // Parses argv with the verb's entry in the syntax table.
    Args(const std::string &verb, const std::vector<std::string> &argv);
    [[deprecated("declare the verb's options in the table of cli/syntax.cpp and use Args(verb, argv)")]]
    Args(const std::string &verb, const std::vector<std::string> &argv, const std::vector<OptionSpec> &spec,
         std::size_t max_positionals);

    bool flag(const std::string &name) const { return values_.count(name) > 0; }
    std::optional<std::string> value(const std::string &name) const;
    // A non-negative integer option, or nullopt when absent; usage error if malformed.
    std::optional<long> number(const std::string &name) const;
    const std::vector<std::string> &positionals() const { return positionals_; }

private:
    void parse(const std::vector<std::string> &argv, const std::vector<OptionSpec> &spec, std::size_t max_positionals);

    std::string verb_;
    std::map<std::string, std::string> values_;
    std::vector<std::string> positionals_;
};

[[noreturn]] void usage_error(const std::string &verb, const std::string &why);

} // namespace puddle::cli
