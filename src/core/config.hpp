// Configuration (SPEC §10): /etc/puddle/puddle.toml, then the user's file,
// later wins key by key. Wrong types and malformed files are errors naming
// file:line and the key; unknown keys are warnings.
#pragma once

#include "core/tpm.hpp"
#include "core/wrap.hpp"

#include <cstdint>
#include "util/error.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace puddle {

enum class PolkitMode { automatic, required, off };
// When the agent asks the user before signing (puddle-agent(1) CONSENT).
enum class ConsentMode { never, always, new_requester, forwarded };

struct Config {
    struct Agent {
        std::uint32_t idle_timeout_minutes = 1440;
        std::uint32_t exit_idle_seconds = 60;
        std::uint32_t watchdog_poll_seconds = 10;
        std::uint32_t connection_idle_seconds = 120;
        PolkitMode polkit = PolkitMode::automatic;
        // Locking that follows the login session (logind), puddle-agent(1).
        bool lock_on_session_lock = true;
        bool lock_on_sleep = true;
        bool lock_on_logout = false;
        // A request to sign that finds the key locked, from a program in the
        // user's active login session, asks the passphrase (askpass) and
        // unlocks instead of failing at once; puddle-agent(1) CONSENT.
        bool unlock_on_request = false;
    } agent;
    struct Pair {
        std::uint16_t port = 1531;
        std::uint32_t code_ttl_seconds = 300;
    } pair;
    struct Tls {
        std::string ca_file, cert_file, key_file;
    } tls;
    KdfParams kdf;
    // The ssh door, puddle-agent(1) THE SSH-AGENT DOOR.
    struct Ssh {
        // Host keys ("SHA256:…" fingerprints) ssh logins may go to; empty:
        // any. Never applies to sshsig (git) signing.
        std::vector<std::string> destinations;
    } ssh;
    // Asking before a use, puddle-agent(1) CONSENT.
    struct Consent {
        ConsentMode mode = ConsentMode::never;
        std::uint32_t remember_seconds = 600; // a "yes" holds this long per requester; 0: ask each time
        std::uint32_t timeout_seconds = 30;   // no answer within this: refused
        std::string askpass;                  // program; "" = $SSH_ASKPASS, then the usual places
        std::string pinentry;                 // program; "" = pinentry in PATH
    } consent;
    // The record of the key's uses, puddle-agent(1) RECORD.
    struct Record {
        // Health is Warning for this many hours after a program not seen
        // before first used the key; 0: never.
        std::uint32_t new_requester_warning_hours = 0;
    } record;
    struct HealthRules {
        // Health is Warning once a member this envoy sealed a new generation
        // to has not been seen taking it for this many days; 0: never.
        std::uint32_t member_behind_days = 14;
    } health;
    struct Names {
        std::vector<std::string> claims_dirs{"/var/lib/puddle/names.d"};
    } names;
    // Machine reports (docs/formats.md, "Fleet report"): the directory that
    // whatever the user already syncs carries between machines; "" = none.
    struct Fleet {
        std::string directory;
    } fleet;
    // Where this machine's envoy secret is kept (docs/formats.md).
    TpmChoice envoy;
};

// An [ssh] destinations entry as the fingerprint the agent compares:
// "SHA256:<43 base64 characters>" as ssh-keygen -l prints it, or a public key
// line ("ssh-ed25519 AAAA… [comment]", as in known_hosts after the host
// names or in a host's /etc/ssh/ssh_host_*_key.pub). nullopt and `why` else.
std::optional<std::string> host_key_fingerprint(std::string_view text, std::string *why);

// Pure: applies one file's text on top of `config`. `source` names the file
// in messages. Throws Error(Failure::failed) on a syntax or type error; appends
// "<file>:<line>: unknown key <key>" lines to warnings.
void apply_config_text(Config &config, std::string_view text, const std::string &source,
                       std::vector<std::string> &warnings);

// "section.key" of every key the parser accepts, from its own table: what
// `puddle --list-config-keys` (hidden) prints for tests/lint_man_facts.py:
// puddle.toml(5) documents each of them.
std::vector<std::string> config_keys();

// $PUDDLE_SYSTEM_CONFIG overrides the system path (for tests and packagers'
// checks); $XDG_CONFIG_HOME, else ~/.config, locates the user's file.
std::string system_config_path();
std::string user_config_path();

// What a file with an error does. `refuse`: the error is thrown (for what
// acts with the configuration: the agent, the listener, init, unlock...; a
// policy floor must never be lost to a typo). `skip_file`: that file is
// ignored as a whole, with a warning, and the error kept in `problem` (for
// commands that only report, so they still report).
enum class ConfigErrors { refuse, skip_file };

// Reads both files (absent files are fine).
Config load_config(std::vector<std::string> &warnings, ConfigErrors errors = ConfigErrors::refuse,
                   std::optional<Error> *problem = nullptr);

} // namespace puddle
