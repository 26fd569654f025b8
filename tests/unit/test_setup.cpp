// `puddle setup`'s pure parts: puddle's block in a user's file (put in, taken
// out to the same bytes, idempotent), what other agents a file names, the
// allowed-signers file rendered from a rotation log; and the refresh of git's
// files that every commit of the identity triggers once setup git was run.
#define BOOST_TEST_MODULE setup
#ifndef BOOST_TEST_DYN_LINK
#define BOOST_TEST_DYN_LINK
#endif
#include <boost/test/unit_test.hpp>

#include "support.hpp"

#include "core/dotfiles.hpp"
#include "core/git_signers.hpp"
#include "core/identity_store.hpp"
#include "core/rotation.hpp"
#include "core/setup_state.hpp"
#include "core/wrap.hpp"

#include <string>
#include <sys/stat.h>

using namespace puddle;
using puddle_test::TempDir;
using puddle_test::OwnHome;
BOOST_TEST_GLOBAL_FIXTURE(OwnHome);

namespace {

const BlockMarkers kMarkers{"# >>> puddle test", "# <<< puddle test"};
const std::string kBody = "IdentityAgent /run/user/%i/puddle/ssh-agent.sock\n";

std::size_t count(const std::string &hay, const std::string &needle) {
    std::size_t n = 0;
    for (auto at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + 1)) ++n;
    return n;
}

} // namespace

// ---- blocks ----

BOOST_AUTO_TEST_CASE(a_block_at_the_top_comes_out_to_the_same_bytes) {
    for (const std::string before : {"", "Host x\n  User y\n", "Host x\n  User y", "\n\n", "# only a comment"}) {
        const auto with = put_block(before, kMarkers, kBody, BlockPlace::top);
        BOOST_TEST(with.rfind(kMarkers.begin + "\n" + kBody + kMarkers.end + "\n", 0) == 0u);
        BOOST_TEST(put_block(with, kMarkers, kBody, BlockPlace::top) == with); // idempotent
        const auto back = remove_block(with, kMarkers);
        BOOST_REQUIRE(back);
        BOOST_TEST(*back == before);
    }
}

BOOST_AUTO_TEST_CASE(a_block_at_the_bottom_comes_out_to_the_same_bytes_even_without_a_final_line_break) {
    for (const std::string before : {"", "[user]\n\temail = a@b\n", "[user]\n\temail = a@b", "x"}) {
        const auto with = put_block(before, kMarkers, kBody, BlockPlace::bottom);
        BOOST_TEST(with.size() > before.size());
        BOOST_TEST(put_block(with, kMarkers, kBody, BlockPlace::bottom) == with);
        const auto back = remove_block(with, kMarkers);
        BOOST_REQUIRE(back);
        BOOST_TEST(*back == before);
    }
}

BOOST_AUTO_TEST_CASE(a_changed_body_is_replaced_in_place_and_lines_after_it_stay) {
    const auto with = put_block("Host a\n", kMarkers, "old\n", BlockPlace::top) + "Host b\n";
    const auto changed = put_block(with, kMarkers, "new\n", BlockPlace::top);
    BOOST_TEST(count(changed, kMarkers.begin) == 1u);
    BOOST_TEST(*block_body(changed, kMarkers) == "new\n");
    BOOST_TEST(*remove_block(changed, kMarkers) == "Host a\nHost b\n");
}

BOOST_AUTO_TEST_CASE(no_block_or_a_begin_without_an_end_is_no_block) {
    BOOST_TEST(!remove_block("Host a\n", kMarkers));
    BOOST_TEST(!remove_block(kMarkers.begin + "\nIdentityAgent x\n", kMarkers));
    BOOST_TEST(!block_body("", kMarkers));
}

// ---- what other agents a file names ----

BOOST_AUTO_TEST_CASE(identity_agent_lines_are_found_with_their_host_outside_puddles_block) {
    const std::string text = put_block("IdentityAgent /tmp/a\nHost work\n  identityagent=~/.1password/agent.sock\n"
                                       "Match host x\n  IdentityFile ~/.ssh/x\n",
                                       kMarkers, "IdentityAgent /ours\n", BlockPlace::top);
    const auto found = find_ssh_option(text, "IdentityAgent", kMarkers);
    BOOST_REQUIRE(found.size() == 2u);
    BOOST_TEST(found[0].line == 4); // after the 3 lines of the block
    BOOST_TEST(found[0].context == "");
    BOOST_TEST(found[0].value == "/tmp/a");
    BOOST_TEST(found[1].line == 6);
    BOOST_TEST(found[1].context == "Host work");
    BOOST_TEST(found[1].value == "~/.1password/agent.sock");
}

BOOST_AUTO_TEST_CASE(agent_sockets_are_named_by_their_owner) {
    BOOST_TEST(describe_agent_socket("/run/user/1000/keyring/ssh") == "gnome-keyring's ssh agent");
    BOOST_TEST(describe_agent_socket("/run/user/1000/gcr/ssh") == "gcr-ssh-agent (GNOME)");
    BOOST_TEST(describe_agent_socket("/run/user/1000/gnupg/S.gpg-agent.ssh") == "gpg-agent");
    BOOST_TEST(describe_agent_socket("/run/user/1000/openssh_agent") == "OpenSSH's ssh-agent, from its ssh-agent.socket");
    BOOST_TEST(describe_agent_socket("/tmp/ssh-XXXXabcd/agent.1234") == "OpenSSH's ssh-agent");
    BOOST_TEST(describe_agent_socket("/run/user/1000/puddle/ssh-agent.sock") == "puddle's ssh-agent door");
    BOOST_TEST(describe_agent_socket("/somewhere/else") == "an ssh agent");
}

// ---- allowed signers ----

BOOST_AUTO_TEST_CASE(the_ssh_key_text_is_the_rfc8709_blob) {
    PublicKey k;
    for (std::size_t i = 0; i < k.bytes.size(); ++i) k.bytes[i] = std::uint8_t(i);
    // The blob: string "ssh-ed25519", string 32 bytes.
    BOOST_TEST(ssh_key_text(k) == "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f");
}

BOOST_AUTO_TEST_CASE(times_are_utc_in_the_form_ssh_keygen_reads) {
    BOOST_TEST(allowed_signers_time(0) == "19700101000000Z");
    BOOST_TEST(allowed_signers_time(1765112400) == "20251207130000Z");
}

BOOST_AUTO_TEST_CASE(a_key_never_rotated_is_one_line_without_times) {
    const auto k = Keypair::generate();
    BOOST_TEST(render_allowed_signers({}, k.public_key(), "me@example.org") ==
               "me@example.org namespaces=\"git\" " + ssh_key_text(k.public_key()) + "\n");
}

BOOST_AUTO_TEST_CASE(each_key_of_the_chain_is_valid_while_it_was_current) {
    const auto a = Keypair::generate(), b = Keypair::generate(), c = Keypair::generate();
    const RotationLog log{make_rotation_record(a, b, 1000), make_rotation_record(b, c, 2000)};
    const std::string t1 = allowed_signers_time(1000), t2 = allowed_signers_time(2000);
    BOOST_TEST(render_allowed_signers(log, c.public_key(), "me") ==
               "me namespaces=\"git\",valid-before=\"" + t1 + "\" " + ssh_key_text(a.public_key()) + "\n" +
               "me namespaces=\"git\",valid-after=\"" + t1 + "\",valid-before=\"" + t2 + "\" " +
               ssh_key_text(b.public_key()) + "\n" +
               "me namespaces=\"git\",valid-after=\"" + t2 + "\" " + ssh_key_text(c.public_key()) + "\n");
}

BOOST_AUTO_TEST_CASE(keys_of_another_branch_and_records_that_do_not_verify_are_left_out) {
    const auto a = Keypair::generate(), b = Keypair::generate(), other = Keypair::generate(), x = Keypair::generate();
    auto forged = make_rotation_record(x, b, 500);
    forged.sig_old[0] ^= 1;
    const RotationLog log{make_rotation_record(a, b, 1000), make_rotation_record(a, other, 1500), forged};
    // a -> other is a branch b never took, and the forged record proves nothing: neither is b's history.
    const auto text = render_allowed_signers(log, b.public_key(), "me");
    BOOST_TEST(text.find(ssh_key_text(other.public_key())) == std::string::npos);
    BOOST_TEST(text.find(ssh_key_text(x.public_key())) == std::string::npos);
    BOOST_TEST(text.find(ssh_key_text(b.public_key())) != std::string::npos);
}

BOOST_AUTO_TEST_CASE(principals_that_would_be_read_as_syntax_are_refused) {
    BOOST_TEST(allowed_signers_principal_problem("me@example.org").empty());
    for (const std::string bad : {"", "a b", "a,b", "*@x", "a\"b", "x?", "!x", "#x"})
        BOOST_TEST(!allowed_signers_principal_problem(bad).empty());
    BOOST_CHECK_THROW(render_allowed_signers({}, Keypair::generate().public_key(), "a b"), std::invalid_argument);
}

// ---- the refresh that follows the key ----

namespace {
const KdfParams kCheap{1, 8};
std::span<const std::uint8_t> pass() {
    static const std::string p = "pass";
    return as_bytes(p);
}
std::string read(const StateDir &dir, const char *name) {
    auto b = dir.read(name, 1 << 20, FileTrust::unchecked);
    return std::string(b.begin(), b.end());
}
} // namespace

BOOST_AUTO_TEST_CASE(a_rotation_refreshes_git_files_only_after_setup_git) {
    TempDir tmp;
    BOOST_REQUIRE(::chmod(tmp.path().c_str(), 0700) == 0);
    StateDir dir(tmp.path());
    IdentityStore store(dir);
    const auto kp = Keypair::generate();
    const Salt salt = random_salt();
    store.commit(salt, wrap_seed(kp, pass(), salt, kCheap), kp.public_key());
    // Not set up: a rotation writes nothing for git.
    const auto second = rotate(store, kp, pass(), kCheap, 1000);
    BOOST_TEST(!dir.has(kGitSignersFile));

    const GitSetup setup{tmp.path() + "/gitconfig", true, "me@example.org", false};
    save_git_setup(dir, setup);
    const auto written = write_git_signing(dir, setup, second.public_key(), *load_rotation_log(dir));
    BOOST_TEST(written.size() == 4u);
    BOOST_TEST(write_git_signing(dir, setup, second.public_key(), *load_rotation_log(dir)).empty()); // same bytes
    const auto third = rotate(store, second, pass(), kCheap, 2000);
    const auto signers = read(dir, kGitSignersFile);
    BOOST_TEST(signers == render_allowed_signers(*load_rotation_log(dir), third.public_key(), "me@example.org"));
    BOOST_TEST(count(signers, "\n") == 3u);
    BOOST_TEST(read(dir, kGitSigningKeyFile).rfind(ssh_key_text(third.public_key()) + " ", 0) == 0u);
    struct stat st{};
    BOOST_REQUIRE(::stat(dir.file(kGitProgramFile).c_str(), &st) == 0);
    BOOST_TEST((st.st_mode & 0777) == 0700u);
}

BOOST_AUTO_TEST_CASE(setup_records_read_back_and_damaged_ones_are_named) {
    const SshSetup s{"/h/.ssh/config", true, false, "/h/.config/environment.d/90-puddle-ssh-agent.conf"};
    const auto text = serialize_ssh_setup(s);
    const auto back = parse_ssh_setup(as_bytes(text), "setup-ssh.json");
    BOOST_TEST(back.ssh_config == s.ssh_config);
    BOOST_TEST(back.created_ssh_config);
    BOOST_TEST(!back.created_ssh_dir);
    const GitSetup g{"/h/.gitconfig", false, "me@x", true};
    const auto gb = parse_git_setup(as_bytes(serialize_git_setup(g)), "setup-git.json");
    BOOST_TEST(gb.principal == "me@x");
    BOOST_TEST(gb.sign_all);
    const std::string bad = "{\"v\":1,\"git_config\":3}";
    const auto e = puddle_test::catch_error([&] { (void)parse_git_setup(as_bytes(bad), "setup-git.json"); });
    BOOST_REQUIRE(e);
    CHECK_CONTAINS(std::string(e->what()), "setup-git.json");
    CHECK_CONTAINS(std::string(e->what()), "field \"git_config\" must be a string, found");
    const auto flag = puddle_test::catch_error([&] {
        (void)parse_ssh_setup(as_bytes(std::string("{\"v\":1,\"ssh_config\":\"/c\",\"created_ssh_config\":\"yes\","
                                                    "\"created_ssh_dir\":false,\"environment_file\":\"/e\"}")),
                              "setup-ssh.json");
    });
    BOOST_REQUIRE(flag);
    CHECK_CONTAINS(std::string(flag->what()), "field \"created_ssh_config\" must be true or false");
    const auto extra = puddle_test::catch_error([&] {
        (void)parse_git_setup(as_bytes(serialize_git_setup(g).insert(1, "\"x\":1,")), "setup-git.json");
    });
    BOOST_REQUIRE(extra);
    CHECK_CONTAINS(std::string(extra->what()), "unknown field \"x\"");
    const auto newer = puddle_test::catch_error([&] {
        (void)parse_git_setup(as_bytes(std::string("{\"v\":2}")), "setup-git.json");
    });
    BOOST_REQUIRE(newer);
    CHECK_CONTAINS(std::string(newer->what()), "format version 2");
}

BOOST_AUTO_TEST_CASE(any_later_command_catches_up_with_a_refresh_a_killed_command_missed) {
    TempDir tmp;
    BOOST_REQUIRE(::chmod(tmp.path().c_str(), 0700) == 0);
    StateDir dir(tmp.path());
    const auto kp = Keypair::generate();
    const Salt salt = random_salt();
    IdentityStore(dir).commit(salt, wrap_seed(kp, pass(), salt, kCheap), kp.public_key());
    const GitSetup setup{tmp.path() + "/gitconfig", true, "me@example.org", false};
    save_git_setup(dir, setup);
    write_git_signing(dir, setup, kp.public_key(), {});
    const auto good = read(dir, kGitSignersFile);
    dir.write_atomic(kGitSignersFile, as_bytes(std::string("stale\n")), 0600);
    { auto st = open_state(dir); }
    BOOST_TEST(read(dir, kGitSignersFile) == good);
}
