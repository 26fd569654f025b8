// Command-line options of one verb: --name, --name VALUE, --name=VALUE, and
// positionals. Anything unknown is a usage error (exit 2).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace puddle::cli {

struct OptionSpec {
    std::string name;   // without the leading dashes
    bool takes_value;
};

class Args {
public:
    Args(const std::string &verb, const std::vector<std::string> &argv, const std::vector<OptionSpec> &spec,
         std::size_t max_positionals);

    bool flag(const std::string &name) const { return values_.count(name) > 0; }
    std::optional<std::string> value(const std::string &name) const;
    // A non-negative integer option, or nullopt when absent; usage error if malformed.
    std::optional<long> number(const std::string &name) const;
    const std::vector<std::string> &positionals() const { return positionals_; }

private:
    std::string verb_;
    std::map<std::string, std::string> values_;
    std::vector<std::string> positionals_;
};

[[noreturn]] void usage_error(const std::string &verb, const std::string &why);

} // namespace puddle::cli
