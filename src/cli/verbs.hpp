// The verbs of the puddle command. Each verb is a function from its
// arguments to an exit code; errors are thrown as puddle::Error.
#pragma once

#include "core/identity_store.hpp"

#include <string>
#include <vector>

namespace puddle::cli {

struct Verb {
    const char *name;
    const char *summary;
    const char *help; // full text for `puddle VERB --help`
    int (*run)(const std::vector<std::string> &args);
};

const std::vector<Verb> &verbs();

int run_init(const std::vector<std::string> &args);
int run_status(const std::vector<std::string> &args);
int run_pubkey(const std::vector<std::string> &args);
int run_verify(const std::vector<std::string> &args);
int run_rotate_passphrase(const std::vector<std::string> &args);
int run_unlock(const std::vector<std::string> &args);
int run_lock(const std::vector<std::string> &args);
int run_sign(const std::vector<std::string> &args);
int run_pair(const std::vector<std::string> &args);
int run_join(const std::vector<std::string> &args);
int run_members(const std::vector<std::string> &args);
int run_rekey(const std::vector<std::string> &args);
int run_rekey_pair(const std::vector<std::string> &args);
int run_name(const std::vector<std::string> &args);
int run_log(const std::vector<std::string> &args);
int run_export(const std::vector<std::string> &args);
int run_import(const std::vector<std::string> &args);
int run_evict(const std::vector<std::string> &args);
int run_accept(const std::vector<std::string> &args);
int run_setup(const std::vector<std::string> &args);
int run_fleet(const std::vector<std::string> &args);
// fleet --journal DIR: the roll-up of gathered journals (verb_fleet_journal.cpp).
class Args;
int run_fleet_journal(const Args &args);

} // namespace puddle::cli
