// export, import: the identity by hand (docs/formats.md, "Export bundle") --
// for an air-gapped machine, and to repair a state directory that was copied
// from another machine and is sealed to that machine's envoy.
#include "cli/args.hpp"
#include "cli/io.hpp"
#include "cli/passphrase_source.hpp"
#include "cli/verbs.hpp"
#include "cli/fleet_sync.hpp"
#include "core/files/export_bundle.hpp"
#include "core/files/rotation_log.hpp"
#include "core/identity_store.hpp"
#include "core/membership.hpp"
#include "pair/holder.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/harden.hpp"

#include <cerrno>
#include <cstdio>
#include <ctime>
#include <fcntl.h>
#include <unistd.h>

namespace puddle::cli {

int run_export(const std::vector<std::string> &argv) {
    Args args("export", argv);
    if (args.positionals().empty()) usage_error("export", "name a FILE to write, or - for standard output");
    const std::string target = args.positionals()[0];
    if (target == "-" && ::isatty(STDOUT_FILENO))
        usage_error("export", "standard output is a terminal; redirect it to a file or a pipe");
    ExportBundle b;
    {
        auto st = open_state(false);
        auto id = st.store.load();
        b.pub = id.pub;
        b.salt = id.salt;
        b.wrapped = id.wrapped.raw;
        if (auto log = load_rotation_log(st.dir)) b.retired = *log;
        b.members_json = members_for_joiner(st.dir, id, pair::local_host_name(), std::int64_t(std::time(nullptr)));
    }
    const std::string text = serialize_export_bundle(b);
    if (target == "-") {
        write_all(STDOUT_FILENO, reinterpret_cast<const std::uint8_t *>(text.data()), text.size(), "standard output");
    } else {
        write_new_file(target, text, "the export");
    }
    std::fprintf(stderr,
                 "puddle: exported puddle %s%s%s. The file unlocks with the passphrase alone, on any machine:\n"
                 "keep it offline and remove it once imported.\n",
                 b.pub.str().c_str(), target == "-" ? "" : " to ", target == "-" ? "" : target.c_str());
    return 0;
}

int run_import(const std::vector<std::string> &argv) {
    Args args("import", argv);
    check_fd_options(args, {"passphrase-fd"});
    if (args.positionals().empty()) usage_error("import", "name the FILE 'puddle export' wrote, or - for standard input");
    const std::string source = args.positionals()[0];
    harden({"puddle import", "the key"}); // before the passphrase is asked and the seed unwrapped
    (void)load_config_reporting();
    const auto bytes = read_input(source, kMaxExportBundleBytes);
    const auto bundle = parse_export_bundle(bytes, source == "-" ? "standard input" : quoted(source));

    CreatedDirCleanup cleanup(StateDir::locate());
    std::optional<PublicKey> current;
    {
        auto st = open_state(true);
        if (st.store.is_member() || st.dir.has(kPubFile)) current = st.store.load_public_key();
    }
    if (current && !(*current == bundle.pub))
        throw Error(Failure::failed, "import",
                    "this machine already belongs to a different puddle (" + current->str() + ")",
                    "move " + StateDir::locate().path() + " away first if you really want to switch");
    // Passphrase on a stdin bundle: only through --passphrase-fd (stdin is taken).
    if (source == "-" && !args.value("passphrase-fd") && !::isatty(STDIN_FILENO) && ::access("/dev/tty", R_OK | W_OK) != 0)
        usage_error("import", "standard input carries the bundle: give the passphrase with --passphrase-fd N");
    const auto wrapped = parse_wrapped(bundle.wrapped, "the bundle's wrap");
    check_received_kdf(wrapped.kdf, "the bundle's wrap");
    auto pass = current_passphrase(args, "Passphrase of the puddle you are importing");
    const std::string bundle_name = source == "-" ? "the bundle on standard input" : "the bundle " + quoted(source);
    const auto keypair = unwrap_seed(wrapped, pass.bytes(), bundle.salt, bundle.pub, // before anything is written
                                     {bundle_name, "the bundle is damaged: write it again with 'puddle export' on a member"});
    pass = SecretBuffer();

    auto st = open_state(true);
    const std::string own_host = pair::local_host_name();
    if (!current) {
        const std::string retired = bundle.retired.empty() ? std::string() : serialize_rotation_log(bundle.retired);
        const auto offer =
            read_join_offer(bundle.salt, bundle.wrapped, bundle.pub, bundle.members_json, retired, own_host,
                            this_machine_key());
        accept_join(st.store, offer, own_host, std::int64_t(std::time(nullptr)));
        (void)certify_this_envoy(st.store, keypair, std::int64_t(std::time(nullptr)));
        cleanup.keep();
        std::printf("imported puddle %s into %s\n", bundle.pub.str().c_str(), st.dir.path().c_str());
        sync_fleet_quietly(st.store, std::int64_t(std::time(nullptr)));
        return 0;
    }
    // The same puddle: a state directory sealed elsewhere (or with a file
    // lost) is sealed to this machine again; members and names stay.
    st.store.commit(bundle.salt, bundle.wrapped, bundle.pub,
                    st.dir.has(kRotationLogFile) || bundle.retired.empty()
                        ? std::nullopt
                        : std::optional<std::string>(serialize_rotation_log(bundle.retired)));
    (void)certify_this_envoy(st.store, keypair, std::int64_t(std::time(nullptr)));
    std::printf("re-sealed puddle %s to this machine in %s\n", bundle.pub.str().c_str(), st.dir.path().c_str());
    sync_fleet_quietly(st.store, std::int64_t(std::time(nullptr)));
    return 0;
}

} // namespace puddle::cli
