// init, pubkey, verify, rotate-passphrase: the verbs that need no agent.
#include "agent/ssh_protocol.hpp"
#include "cli/agent_client.hpp"
#include "cli/args.hpp"
#include "cli/io.hpp"
#include "cli/passphrase_source.hpp"
#include "cli/verbs.hpp"
#include "core/config.hpp"
#include "core/identity_store.hpp"
#include "core/membership.hpp"
#include "util/error.hpp"
#include "util/harden.hpp"

#include <cstdio>
#include <ctime>

namespace puddle::cli {

int run_init(const std::vector<std::string> &argv) {
    Args args("init", argv);
    check_fd_options(args, {"passphrase-fd"});
    harden({"puddle init", "the new key"}); // before the passphrase is asked and the seed made
    auto config = load_config_reporting();
    auto refuse_existing = [](const OpenState &st) {
        if (st.store.is_member()) {
            auto existing = st.store.load_public_key();
            throw Error(Failure::failed, "init", "this machine is already a member of puddle " + existing.str(),
                        "use 'puddle rotate-passphrase' to change the passphrase");
        }
        if (st.store.is_partial()) {
            auto e = st.store.partial_error();
            throw Error(Failure::failed, "init: refusing to overwrite an " + e.what_failed(), e.why(), e.hint());
        }
    };
    StateDir dir = StateDir::locate();
    CreatedDirCleanup cleanup(dir);
    if (dir.exists() && dir.repair_mode())
        std::fprintf(stderr, "puddle: notice: %s was open to other users; its mode is now 0700\n",
                     quoted(dir.path()).c_str());
    refuse_existing(open_state(true)); // before asking anything; the lock is let go again
    // The state lock is not held across the prompt (the agent and other
    // commands would wait on it); checked again under it before writing.
    auto pass = new_passphrase(args, "passphrase-fd", "New passphrase");
    {
        auto st = open_state(true);
        refuse_existing(st);
        auto keypair = Keypair::generate();
        auto salt = random_salt();
        auto wrapped = wrap_seed(keypair, pass.bytes(), salt, config.kdf);
        st.store.commit(salt, wrapped, keypair.public_key());
        (void)certify_this_envoy(st.store, keypair, std::int64_t(std::time(nullptr)));
        cleanup.keep();
        std::printf("initialized puddle %s\nstate directory: %s\n", keypair.public_key().str().c_str(),
                    st.dir.path().c_str());
    }
    // What a new user does next, so init does not end in silence.
    std::printf("\nnext steps:\n"
                "  puddle unlock             unlock the key for this login session\n"
                "  puddle setup ssh          use the key for ssh logins\n"
                "  puddle setup git          sign git commits with it\n"
                "  puddle pair               on this machine, then 'puddle join' on another one to share it\n");
    return 0;
}

int run_pubkey(const std::vector<std::string> &argv) {
    Args args("pubkey", argv);
    auto st = open_state(false);
    auto key = st.store.load_public_key();
    if (args.flag("ssh")) std::printf("%s\n", agent::ssh::openssh_public_key_line(key, "puddle:" + key.short_hex()).c_str());
    else std::printf("%s\n", key.str().c_str());
    return 0;
}

int run_verify(const std::vector<std::string> &argv) {
    Args args("verify", argv);
    auto sig_text = args.value("sig");
    if (!sig_text) usage_error("verify", "--sig SIGNATURE is required");
    auto sig = decode_signature(*sig_text);

    PublicKey key;
    if (auto pub = args.value("pub")) {
        std::string why;
        auto parsed = parse_public_key(*pub, &why);
        if (!parsed) usage_error("verify", "--pub: " + why);
        key = *parsed;
    } else {
        key = open_state(false).store.load_public_key();
    }

    auto data = read_input(args.positionals().empty() ? "-" : args.positionals()[0]);
    if (!verify_signature(key, data, sig))
        throw Error(Failure::failed, "verify", "bad signature: it was not made by " + key.str() + " over this data");
    std::printf("good signature by %s\n", key.str().c_str());
    return 0;
}

int run_rotate_passphrase(const std::vector<std::string> &argv) {
    Args args("rotate-passphrase", argv);
    check_fd_options(args, {"passphrase-fd", "new-passphrase-fd"});
    harden({"puddle rotate-passphrase", "the key"}); // before the passphrases are asked and the seed unwrapped
    auto config = load_config_reporting();
    // The state lock is not held across the prompts (the agent and other
    // commands would wait on it): read, ask, then commit under the lock only
    // if the identity is still the one the passphrase was checked against.
    auto id = open_state(false).store.load();
    auto old_pass = current_passphrase(args, "Current passphrase");
    auto keypair = unwrap_seed(id.wrapped, old_pass.bytes(), id.salt, id.pub);
    auto new_pass = new_passphrase(args, "new-passphrase-fd", "New passphrase");
    auto salt = random_salt();
    auto wrapped = wrap_seed(keypair, new_pass.bytes(), salt, config.kdf);
    auto st = open_state(false);
    auto now = st.store.load();
    if (!(now.pub == id.pub) || now.wrapped.raw != id.wrapped.raw)
        throw Error(Failure::failed, "rotate-passphrase", "the identity changed while the passphrases were read",
                    "run 'puddle rotate-passphrase' again");
    st.store.commit(salt, wrapped, id.pub);
    (void)certify_this_envoy(st.store, keypair, std::int64_t(std::time(nullptr)));
    std::printf("passphrase changed for %s\n", id.pub.str().c_str());
    std::fprintf(stderr, "hint: your other machines keep the old passphrase until you change it there too\n");
    return 0;
}

} // namespace puddle::cli
