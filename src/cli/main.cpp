// The puddle command: dispatch to a verb, turn errors into messages and exit codes.
#include "cli/args.hpp"
#include "cli/code_source.hpp"
#include "cli/io.hpp"
#include "core/config.hpp"
#include "cli/verbs.hpp"
#include "core/identity_store.hpp"
#include "util/error.hpp"
#include "util/failure.hpp"
#include "util/text.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <sys/stat.h>

namespace puddle::cli {

const std::vector<Verb> &verbs() {
    static const std::vector<Verb> v = {
        {"init", "create this puddle's keypair and wrap it with a passphrase",
         "usage: puddle init [--passphrase-fd N]\n\n"
         "Generates a new Ed25519 keypair, asks for a passphrase (twice, on the terminal),\n"
         "and writes identity.wrapped, identity.salt and identity.pub to the state directory.\n"
         "Refuses if this machine is already a member (names the existing key). Ends with the\n"
         "next steps (unlock, ssh and git setup, pairing another machine).\n\n"
         "  --passphrase-fd N   read the new passphrase from file descriptor N, up to the first newline\n",
         run_init},
        {"status", "show identity, session and health",
         "usage: puddle status [--json]\n\n"
         "Shows whether this machine is initialized, its public key, and recovery hints.\n"
         "Always exits 0: a state it cannot use (unsafe files, a damaged identity, a bad\n"
         "configuration) is reported as health 'degraded', with the file and the fix.\n\n"
         "  --json   one line of JSON; see puddle(1) for the fields\n",
         run_status},
        {"pubkey", "print the public key (works while locked)",
         "usage: puddle pubkey [--ssh]\n\nPrints ed25519:<hex> and a newline. Works while locked.\n\n"
         "  --ssh   print the OpenSSH public key line instead, for authorized_keys and allowed_signers\n",
         run_pubkey},
        {"unlock", "unlock the key into the agent's session",
         "usage: puddle unlock [--idle-mins N] [--watch-pid PID | --no-watch] [--passphrase-fd N]\n\n"
         "Asks the passphrase and has the agent unwrap the key into the kernel keyring. The\n"
         "session ends after N idle minutes (default from puddle.toml, 1440), when the watched\n"
         "process exits (default: the shell that ran this command), or on 'puddle lock'.\n\n"
         "  --idle-mins N       idle timeout in minutes\n"
         "  --watch-pid PID     end the session when PID exits\n"
         "  --no-watch          watch no process\n"
         "  --passphrase-fd N   read the passphrase from file descriptor N\n",
         run_unlock},
        {"lock", "end the session now",
         "usage: puddle lock\n\nRemoves the key from the kernel keyring and the agent.\n", run_lock},
        {"sign", "sign a file or standard input through the agent",
         "usage: puddle sign [--hex] [FILE]\n\n"
         "Prints the Ed25519 signature of FILE (or standard input) in base64, or hex with\n"
         "--hex. Exit 3 when the session is locked. Inputs over 16 MiB are refused: sign a\n"
         "digest. Data starting with \"puddle-statement-\" is refused (reserved).\n",
         run_sign},
        {"pair", "print a single-use code that lets a new machine join",
         "usage: puddle pair [--wait]\n"
         "       puddle pair --cancel\n\n"
         "Writes pair.pending with a fresh 8-digit code (valid [pair] code_ttl_seconds, default 300),\n"
         "starts puddle-pair.socket through your user manager and prints the code. The listener\n"
         "hands the WRAPPED identity to the machine that proves it knows the code, then stops.\n"
         "A failed claim burns the code.\n\n"
         "  --wait   wait until the code is claimed, burned or expired, and say which, when\n"
         "           and from which address (exit 0 when claimed, 6 otherwise); warn of each\n"
         "           claim that held the code and was dropped\n"
         "  --cancel withdraw the pending code before it expires and stop the listener's socket;\n"
         "           a 'pair --wait' elsewhere ends with 'cancelled' (exit 6)\n",
         run_pair},
        {"join", "join a puddle with a code from one of its machines",
         "usage: puddle join --from HOST[:PORT] [--code-fd N] [--passphrase-fd N]\n\n"
         "Claims the code printed by 'puddle pair' on HOST, receives the wrapped identity over\n"
         "TLS + CPace, checks that the passphrase unwraps it, and only then writes the identity\n"
         "files. Refuses to replace a different puddle; joining the same puddle again changes\n"
         "nothing. A wrong code burns it: get a new one. Exit 6 when pairing fails, 5 for a\n"
         "wrong passphrase.\n\n"
         "  --from HOST[:PORT]  the machine that printed the code (default port from puddle.toml, 1531)\n"
         "  --code-fd N         read the code (NNNN-NNNN, one line) from file descriptor N;\n"
         "                      without it the code is asked on the terminal\n"
         "  --code CODE         the code on the command line: warned against, as every local\n"
         "                      user can read it there and claim the code first\n"
         "  --passphrase-fd N   read the puddle's passphrase from file descriptor N (the same N\n"
         "                      as --code-fd: the code's line first)\n",
         run_join},
        {"export", "write the identity to a file that unlocks with the passphrase alone",
         "usage: puddle export FILE|-\n\n"
         "Writes the identity as it travels between machines (the passphrase-wrapped key, its\n"
         "salt, the public key and the rotation log) to FILE (created 0600, never over an\n"
         "existing file) or, with -, to standard output (not a terminal). On this machine the\n"
         "key at rest also needs the machine secret; the export does not: keep it offline.\n",
         run_export},
        {"import", "become a member (or repair one) from a 'puddle export' file",
         "usage: puddle import [--passphrase-fd N] FILE|-\n\n"
         "Reads a bundle written by 'puddle export', checks that the passphrase unwraps it, then\n"
         "writes the identity sealed to this machine's secret. Refuses a different puddle;\n"
         "for the same puddle (a state directory copied from another machine) it seals the key to\n"
         "this machine again and keeps members and names. With - the bundle comes from standard\n"
         "input, and the passphrase from --passphrase-fd or the terminal.\n\n"
         "  --passphrase-fd N   read the puddle's passphrase from file descriptor N\n",
         run_import},
        {"evict", "leave a member out: a new key that only the kept members can take",
         "usage: puddle evict [--passphrase-fd N] [--envelope FILE|-] HOST\n\n"
         "Rotates the identity to a new key under the same passphrase, with a rotation record\n"
         "signed by the old and the new key, and seals the new key to the sealing key of every\n"
         "member this machine knows but HOST (an envelope). The envelope is written to\n"
         "envelope.json in the state directory (and to FILE, or standard output, with\n"
         "--envelope); carry it to each kept member by any means and run 'puddle accept' there.\n"
         "HOST, with the passphrase and every file, cannot open it.\n\n"
         "  --passphrase-fd N    read the passphrase from file descriptor N\n"
         "  --envelope FILE      also write the envelope to FILE (created 0600), or - for standard output\n",
         run_evict},
        {"accept", "take a new key from an envelope made by 'puddle evict' or 'puddle rekey'",
         "usage: puddle accept [--from HOST] [--receipt FILE] [--settle] FILE|-\n\n"
         "Checks the envelope's three signatures (old key, new key, the maker's machine key), that\n"
         "its maker is a certified member known here, and shows who made it and whom it evicts.\n"
         "It is taken only with your word: a yes on the terminal, or --from naming the maker\n"
         "(an evicted machine still holds the old key and can make an envelope too). Then it\n"
         "opens this machine's entry with its machine secret (no passphrase), checks the key inside\n"
         "is the one the signatures name and that the rotation log leads to it without a fork, and\n"
         "takes it. Refused, changing nothing: an altered envelope, an unknown or other maker, an\n"
         "evicted machine, an envelope not addressed here, a fork (recorded: health Degraded).\n"
         "Writes a receipt signed by this machine (receipt.json in the state directory) for the\n"
         "maker: 'puddle members --took FILE' there.\n\n"
         "  --from HOST          the maker: its host name, or 8 or more hex digits of its machine key\n"
         "                       ('puddle evict' prints it); needed without a terminal\n"
         "  --receipt FILE       also write the receipt to FILE (created 0600)\n"
         "  --settle             settle a fork in favour of this envelope's branch: the other\n"
         "                       branches leave the rotation log, and this machine takes the\n"
         "                       envelope's key if it held one of them (your own envelope.json\n"
         "                       keeps your branch)\n",
         run_accept},
        {"members", "this machine's view of the member machines",
         "usage: puddle members [--json]\n"
         "       puddle members --took RECEIPT|HOST\n\n"
         "Lists this machine (self) and the machines it has paired with or learned of while\n"
         "pairing, each with the generation of the key it was last seen holding.\n"
         "--json: {pubkey, generation, members: [{host, since, direction, wrapped_digest,\n"
         "pubkey, generation, same_wrap, envoy_key, machine}]}; see puddle(1).\n"
         "--took RECEIPT: records, on the evidence of the receipt 'puddle accept' wrote there\n"
         "(a file, or - for standard input), that its machine holds the key this machine holds,\n"
         "so 'status' stops waiting for it. --took HOST takes your word for it instead, for a\n"
         "member paired with an older puddle (no machine key).\n",
         run_members},
        {"rekey", "rotate to a new keypair, or take a rotated key from another member",
         "usage: puddle rekey [--new-passphrase | --new-passphrase-fd M] [--passphrase-fd N]\n"
         "       puddle rekey --from HOST[:PORT] [--code-fd N] [--passphrase-fd N]\n\n"
         "Without --from: needs an unlocked session and the current passphrase; the agent makes a\n"
         "new keypair, appends to retired_puddles.json a record signed by the old and the new key,\n"
         "wraps the new key (under a new passphrase with --new-passphrase) and moves the session to\n"
         "it. It also writes an envelope (envelope.json) sealed to every member whose sealing key is\n"
         "known here: 'puddle accept' there, or hand it out with 'puddle rekey-pair'.\n"
         "With --from: claims a rotated key from HOST (code from 'puddle rekey-pair' there) and\n"
         "accepts it only if the rotation log leads to it from the key held here; a fork is refused.\n\n"
         "  --new-passphrase      ask a new passphrase (twice) for the new wrap (not with --new-passphrase-fd)\n"
         "  --new-passphrase-fd M read the new passphrase from file descriptor M\n"
         "  --passphrase-fd N     read the current (with --from: the rotated key's) passphrase from N\n"
         "  --from HOST[:PORT]    the member that rotated\n"
         "  --code-fd N           read the rekey code from file descriptor N (else asked on the terminal)\n"
         "  --code CODE           the code on the command line: warned against (any local user reads it)\n",
         run_rekey},
        {"rekey-pair", "print a single-use code that hands the rotated key to a member",
         "usage: puddle rekey-pair [--wait]\n"
         "       puddle rekey-pair --cancel\n\n"
         "Like 'puddle pair', for a rotated key: writes rekey.pending and starts the listener.\n\n"
         "  --wait   wait until the code is claimed, burned or expired, and say which\n"
         "  --cancel withdraw the pending rekey code and stop the listener's socket\n",
         run_rekey_pair},
        {"name", "claim, show or resolve a friendly name",
         "usage: puddle name set NAME | name clear | name show | name resolve NAME\n\n"
         "  set NAME       sign a claim of NAME for this puddle's key (needs an unlocked session;\n"
         "                 refused when another key holds NAME in this machine's view, exit 8)\n"
         "  clear          remove this machine's claim\n"
         "  show           this puddle's name and whether it is unique in the local view\n"
         "  resolve NAME   print the key claiming NAME (exit 8 listing every claimant when\n"
         "                 contested, exit 1 when none does)\n\n"
         "Names are 1-32 characters of a-z, 0-9 and '-', starting with a letter. The local view:\n"
         "this machine's claim, claims learned while pairing, and *.json claims in the [names]\n"
         "claims_dirs and $XDG_DATA_HOME/puddle/names.d. A name is a hint; the key is the proof.\n",
         run_name},
        {"log", "what used the key: every signature and refusal, from the journal",
         "usage: puddle log [--since TIME] [--lines N] [--json]\n\n"
         "One line per request to sign that reached the agent, from any door: when, the outcome\n"
         "(signed, refused, failed), the requesting program and its unit, what it was for (ssh\n"
         "login and to which host key, sshsig namespace, raw Sign) and the door. Read from your\n"
         "journal (the agent's entries only); see RECORD in puddle-agent(1).\n\n"
         "  --since TIME   from TIME on: YYYY-MM-DD [HH:MM[:SS]], HH:MM, today, yesterday,\n"
         "                 -2h, \"30 min ago\"\n"
         "  --lines N      only the last N\n"
         "  --json         a JSON array of uses; see puddle(1) for the fields\n",
         run_log},
        {"fleet", "every machine of this puddle as their reports say; with --journal, every machine's puddles",
         "usage: puddle fleet [--json]\n"
         "       puddle fleet --sync\n"
         "       puddle fleet --journal DIR [--html FILE] [--json]\n\n"
         "Reads the machine reports in the carrier directory ([fleet] directory in puddle.toml),\n"
         "learns from those that verify (a machine whose certificate the identity signed becomes\n"
         "a member: 'new machine joined'), refuses altered, replayed, rolled-back and unknown ones\n"
         "with the reason, rewrites this machine's own report when it would say something new or\n"
         "is a day old, and lists every machine: host, short machine key, generation held against\n"
         "the current one, last report, health, evicted. Needs this machine's secret, not\n"
         "the passphrase: it works while the session is locked. Whatever syncs the directory\n"
         "(Syncthing, Nextcloud, a network home, git pull/push) is the carrier.\n"
         "--json: {carrier, generation, members_digest, machines: [{host, machine, short, self,\n"
         "generation, behind, last_report, health, reasons, evicted}], joined, refused: [{file, why}],\n"
         "wrote, problem}; see puddle(1).\n"
         "--sync: only the reading and the rewriting, with one line of outcome; nothing to do (exit 0)\n"
         "without a carrier or a puddle. puddle-fleet.service runs it: hourly (puddle-fleet.timer)\n"
         "and whenever the key, the members or the machine certificate change on disk, whoever\n"
         "changed them (puddle-fleet.path: the agent's Rekey too).\n"
         "\nWith --journal: "
         "Reads the status entries every puddle-agent writes (see STATUS ENTRY in puddle-agent(1))\n"
         "from the journal files in DIR (systemd-journal-remote's --output, or exported journals\n"
         "imported with it), keeps the newest per machine and user, and shows each puddle: its\n"
         "owner name or \"(unnamed)\", short public key, how many machines carry it, which Unix\n"
         "users, how many sessions are unlocked, and a health badge with the disagreements\n"
         "(machines behind the newest generation, a fork, members views that differ, machines\n"
         "reporting warning or degraded). Needs root or the systemd-journal group.\n\n"
         "  --journal DIR   the directory of *.journal files to read\n"
         "  --html FILE     also write the page as one static HTML file (replaced atomically)\n"
         "  --json          the roll-up as JSON; see puddle(1) for the fields\n",
         run_fleet},
        {"setup", "make ssh or git use the puddle key, or take that back",
         "usage: puddle setup ssh [--undo] | setup git [--principal NAME] [--sign-all] [--undo]\n\n"
         "ssh: puts an IdentityAgent line for puddle's ssh-agent socket at the top of ~/.ssh/config\n"
         "(between two marker lines), so ssh uses puddle-agent for every host from now on, and writes\n"
         "~/.config/environment.d/90-puddle-ssh-agent.conf, so the sessions of your next login get\n"
         "SSH_AUTH_SOCK. Says which agent it displaced (an IdentityAgent line, an SSH_AUTH_SOCK).\n"
         "git: has git sign with the puddle key (gpg.format ssh) through puddle-agent from any\n"
         "terminal, with an allowed-signers file written from the rotation log, so 'git verify-commit'\n"
         "accepts each key of this puddle for commits dated while it was current; refreshed at every\n"
         "rotation. One [include] block at the end of your global git config; the rest lives in the\n"
         "state directory. Running it again changes nothing; --undo gives your files back as they were.\n\n"
         "  --undo             take back what 'puddle setup ssh' or 'puddle setup git' did\n"
         "  --principal NAME   the name git's signatures are checked against (default: git's user.email)\n"
         "  --sign-all         sign every commit and tag (commit.gpgSign, tag.gpgSign); else 'git commit -S'\n",
         run_setup},
        {"verify", "verify an Ed25519 signature offline",
         "usage: puddle verify --sig SIG [--pub KEY] [FILE]\n\n"
         "Verifies SIG (base64 or hex) over FILE or standard input. Exit 0 on a good signature,\n"
         "1 on a bad one.\n\n"
         "  --sig SIG   the 64-byte signature, base64 (88 characters) or hex (128 digits)\n"
         "  --pub KEY   ed25519:<hex> key to verify with (default: this puddle's)\n",
         run_verify},
        {"rotate-passphrase", "re-wrap the key under a new passphrase",
         "usage: puddle rotate-passphrase [--passphrase-fd N] [--new-passphrase-fd M]\n\n"
         "Unwraps with the current passphrase, then re-wraps with a new one, a fresh salt and\n"
         "a fresh nonce. Crash safe: an interruption leaves an identity that unwraps with the\n"
         "old or the new passphrase, and the next command finishes the change.\n\n"
         "  --passphrase-fd N       read the current passphrase from file descriptor N\n"
         "  --new-passphrase-fd M   read the new passphrase from file descriptor M\n",
         run_rotate_passphrase},
    };
    return v;
}

namespace {

void print_main_help() {
    std::printf("usage: puddle [--help | --version] VERB [OPTIONS]\n\n"
                "puddle keeps one Ed25519 identity for you across your machines.\n\nverbs:\n");
    for (const auto &v : verbs()) std::printf("  %-18s %s\n", v.name, v.summary);
    std::printf("\n'puddle VERB --help' describes a verb. Exit codes: 0 ok, 1 failure, 2 usage,\n"
                "3 locked, 4 not initialized, 5 wrong passphrase or damaged wrap, 6 pairing failed,\n"
                "7 permission denied, 8 ambiguous name. See puddle(1).\n\n"
                "words:\n"
                "  machine          a computer that holds your key; it has a machine key (ed25519:, signs\n"
                "                   its receipts and envelopes) and a sealing key (x25519:, what other\n"
                "                   machines seal a new key to); files call both 'envoy'\n"
                "  members          the machines of this puddle, as this one knows them\n"
                "  generation       how many times the key has changed (rekey, evict)\n"
                "  envelope         a new key sealed for the machines you keep (evict, rekey)\n"
                "  receipt          what accept writes back for the machine that made the envelope\n"
                "  wrap             the key encrypted under your passphrase\n"
                "  door             a way into the agent: its socket, its ssh-agent socket, D-Bus\n");
}

// Optimal string alignment distance: edits, with a swap of two neighbours as
// one edit, so "stauts" is one edit from "status".
std::size_t edit_distance(const std::string &a, const std::string &b) {
    std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
    for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
    for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i)
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
        }
    return d[a.size()][b.size()];
}

// The verb a mistyped word most likely meant: the nearest within two edits
// (one for words of up to four letters: two edits turn a short word into
// almost any other), and only when no other verb is as near.
std::string closest_verb(const std::string &word) {
    if (word.size() > 64) return {};
    const std::size_t limit = word.size() <= 4 ? 1 : 2;
    std::string best;
    std::size_t best_distance = limit + 1;
    bool tie = false;
    for (const auto &v : verbs()) {
        const std::size_t d = edit_distance(word, v.name);
        if (d < best_distance) {
            best = v.name, best_distance = d, tie = false;
        } else if (d == best_distance) {
            tie = true;
        }
    }
    return best_distance <= limit && !tie ? best : std::string();
}

// Hidden: the parser's own table of VERB's options, positionals and
// sub-verbs (cli/syntax.cpp), for the shell completions and their test;
// WORD, the first word after the verb, narrows the options to a sub-verb's.
int list_options(const std::string &verb, const std::string &word) {
    const VerbSyntax *syntax = syntax_of(verb);
    if (!syntax) throw Error(Failure::invalid_argument, "usage", "--list-options needs a verb, not " + quote_for_message(verb));
    std::fputs(describe_syntax(*syntax, word).c_str(), stdout);
    return 0;
}

int dispatch(int argc, char **argv) {
    if (argc < 2) {
        print_main_help();
        return int(Exit::usage);
    }
    std::string first = argv[1];
    if (first == "--help" || first == "-h" || first == "help") {
        print_main_help();
        return 0;
    }
    if (first == "--version") {
        std::printf("puddle %s\n", PUDDLE_VERSION);
        return 0;
    }
    if (first == "--list-options") return list_options(argc > 2 ? argv[2] : "", argc > 3 ? argv[3] : "");
    if (first == "--list-config-keys") { // hidden: for tests/lint_man_facts.py
        for (const auto &key : config_keys()) std::printf("%s\n", key.c_str());
        return 0;
    }
    for (const auto &v : verbs()) {
        if (first != v.name) continue;
        std::vector<std::string> rest(argv + 2, argv + argc);
        if (first == "join" || first == "rekey") blank_code_in_command_line(argc, argv);
        for (const auto &a : rest) {
            if (a == "--") break;
            if (a == "--help" || a == "-h") {
                std::fputs(v.help, stdout);
                return 0;
            }
            if (a == "--version") {
                std::printf("puddle %s\n", PUDDLE_VERSION);
                return 0;
            }
        }
        return v.run(rest);
    }
    const std::string near = closest_verb(first);
    throw Error(Failure::invalid_argument, "usage", "unknown verb " + quote_for_message(first),
                near.empty() ? "see 'puddle --help' for the verbs"
                             : "did you mean '" + near + "'? See 'puddle --help' for the verbs");
}

} // namespace
} // namespace puddle::cli

int main(int argc, char **argv) {
    ::umask(077);
    puddle::set_repair_notice([](const std::string &text) { puddle::cli::print_notice(text); });
    // Which TPM holds the envoy secret, for every verb: read quietly here
    // (the verbs that act on the configuration report its errors).
    try {
        std::vector<std::string> ignored;
        puddle::set_tpm_choice(puddle::load_config(ignored, puddle::ConfigErrors::skip_file).envoy);
    } catch (const std::exception &) {
    }
    try {
        return puddle::cli::dispatch(argc, argv);
    } catch (const puddle::Error &e) {
        puddle::cli::print_error(e);
        return int(exit_code(e.kind()));
    } catch (const std::bad_alloc &) {
        std::fprintf(stderr, "puddle: out of memory (locked memory for secrets may be limited: see ulimit -l)\n");
        return 1;
    } catch (const std::exception &e) {
        std::fprintf(stderr, "puddle: internal error: %s\n", e.what());
        return 1;
    }
}
