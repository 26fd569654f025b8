#include "cli/args.hpp"

#include "util/error.hpp"
#include "util/text.hpp"

#include <cerrno>
#include <cstdlib>

namespace puddle::cli {

void usage_error(const std::string &verb, const std::string &why) {
    throw Error(Failure::invalid_argument, verb.empty() ? "usage" : verb, why,
                "see 'puddle " + (verb.empty() ? std::string("--help") : verb + " --help") + "'");
}

Args::Args(const std::string &verb, const std::vector<std::string> &argv) : verb_(verb) {
    const VerbSyntax *syntax = syntax_of(verb);
    if (!syntax) throw Error(Failure::internal, verb, "no entry in the syntax table for this verb");
    parse(argv, syntax->options, syntax->max_positionals);
}

Args::Args(const std::string &verb, const std::vector<std::string> &argv, const std::vector<OptionSpec> &spec,
           std::size_t max_positionals)
    : verb_(verb) {
    parse(argv, spec, max_positionals);
}

void Args::parse(const std::vector<std::string> &argv, const std::vector<OptionSpec> &spec,
                 std::size_t max_positionals) {
    const std::string &verb = verb_;
    bool only_positionals = false;
    for (std::size_t i = 0; i < argv.size(); ++i) {
        const std::string &a = argv[i];
        if (only_positionals || a == "-" || !a.starts_with("--")) {
            if (positionals_.size() == max_positionals) usage_error(verb, "unexpected argument " + quote_for_message(a));
            positionals_.push_back(a);
            continue;
        }
        if (a == "--") {
            only_positionals = true;
            continue;
        }
        std::string name = a.substr(2), val;
        bool inline_value = false;
        if (auto eq = name.find('='); eq != std::string::npos) {
            val = name.substr(eq + 1);
            name.resize(eq);
            inline_value = true;
        }
        const OptionSpec *s = nullptr;
        for (const auto &o : spec)
            if (o.name == name) s = &o;
        if (!s) usage_error(verb, "unknown option " + quote_for_message("--" + name));
        if (s->takes_value() && !inline_value) {
            if (i + 1 >= argv.size()) usage_error(verb, "option '--" + name + "' needs a value");
            val = argv[++i];
        } else if (!s->takes_value() && inline_value) {
            usage_error(verb, "option '--" + name + "' takes no value");
        }
        if (values_.count(name)) usage_error(verb, "option '--" + name + "' given twice");
        values_[name] = val;
    }
}

std::optional<std::string> Args::value(const std::string &name) const {
    auto it = values_.find(name);
    if (it == values_.end()) return std::nullopt;
    return it->second;
}

std::optional<long> Args::number(const std::string &name) const {
    auto v = value(name);
    if (!v) return std::nullopt;
    errno = 0;
    char *end = nullptr;
    long n = std::strtol(v->c_str(), &end, 10);
    if (v->empty() || *end || errno || n < 0 || (*v)[0] == '+' || (*v)[0] == '-')
        usage_error(verb_, "option '--" + name + "' needs a non-negative integer, not " + quote_for_message(*v));
    return n;
}

} // namespace puddle::cli
