// The state directory (SPEC §3): atomic writes, StrictModes-style refusals,
// bounded reads, and the identity store with its redo journal.
#define BOOST_TEST_MODULE statedir
#ifndef BOOST_TEST_DYN_LINK
#define BOOST_TEST_DYN_LINK
#endif
#include <boost/test/unit_test.hpp>

#include "support.hpp"

#include "core/envoy_wrap.hpp"
#include "core/identity_store.hpp"
#include "core/statedir.hpp"
#include "core/wrap.hpp"

#include <algorithm>
#include <cstdlib>
#include <dirent.h>
#include <filesystem>
#include <set>
#include <sys/stat.h>
#include <unistd.h>

using namespace puddle;
using puddle_test::EnvVar;
using puddle_test::catch_error;
using puddle_test::mode_of;
using puddle_test::read_file;
using puddle_test::TempDir;
using puddle_test::write_file;

using puddle_test::OwnHome;
BOOST_TEST_GLOBAL_FIXTURE(OwnHome);

namespace {

constexpr uid_t kNobody = 65534;

std::set<std::string> entries(const std::string &dir) {
    std::set<std::string> names;
    for (const auto &e : std::filesystem::directory_iterator(dir)) names.insert(e.path().filename().string());
    return names;
}

void chmod_or_fail(const std::string &path, mode_t mode) { BOOST_REQUIRE(::chmod(path.c_str(), mode) == 0); }

ino_t inode_of(const std::string &path) {
    struct stat st;
    BOOST_REQUIRE(::stat(path.c_str(), &st) == 0);
    return st.st_ino;
}

// A state directory of mode 0700 inside a fresh temporary directory.
struct StateFixture {
    TempDir tmp;
    StateDir dir{tmp.path()};
    // This machine's envoy secret goes under $HOME: a home of the test's own.
    TempDir home;
    EnvVar home_env{"HOME", home.path()};
    StateFixture() { chmod_or_fail(tmp.path(), 0700); }
};

struct Identity {
    Keypair kp = Keypair::generate();
    Salt salt = random_salt();
    WrappedBytes wrapped = wrap_seed(kp, as_bytes(std::string("pass")), salt, KdfParams{1, 8});
};

bool running_as_root() { return ::geteuid() == 0; }

} // namespace

// ---- StateDir --------------------------------------------------------------

BOOST_FIXTURE_TEST_CASE(write_atomic_creates_the_file_with_mode_and_content, StateFixture) {
    const std::string content("secret\0bytes\n", 13);
    dir.write_atomic("a.bin", as_bytes(content), 0600);
    BOOST_TEST(read_file(tmp / "a.bin") == content);
    BOOST_TEST(mode_of(tmp / "a.bin") == 0600u);

    // The mode is the one asked for, whatever the umask says.
    const mode_t old_umask = ::umask(077);
    dir.write_atomic("b.pub", as_bytes(std::string("public\n")), 0644);
    dir.write_atomic("c", as_bytes(std::string()), 0640);
    ::umask(old_umask);
    BOOST_TEST(mode_of(tmp / "b.pub") == 0644u);
    BOOST_TEST(mode_of(tmp / "c") == 0640u);
    BOOST_TEST(read_file(tmp / "c").empty());
    BOOST_TEST(dir.has("a.bin"));
    BOOST_TEST(!dir.has("absent"));
}

BOOST_FIXTURE_TEST_CASE(write_atomic_replaces_by_rename, StateFixture) {
    dir.write_atomic("f", as_bytes(std::string("one")), 0600);
    const ino_t before = inode_of(tmp / "f");
    // A hard link keeps the old inode: if the write were in place, it would change too.
    BOOST_REQUIRE(::link((tmp / "f").c_str(), (tmp / "old-f").c_str()) == 0);

    dir.write_atomic("f", as_bytes(std::string("two, longer")), 0644);
    BOOST_TEST(read_file(tmp / "f") == "two, longer");
    BOOST_TEST(mode_of(tmp / "f") == 0644u);
    BOOST_TEST(inode_of(tmp / "f") != before);
    BOOST_TEST(read_file(tmp / "old-f") == "one");

    dir.write_atomic("f", as_bytes(std::string("3")), 0600);
    BOOST_TEST(read_file(tmp / "f") == "3"); // shorter content does not keep a tail
}

BOOST_FIXTURE_TEST_CASE(write_atomic_leaves_no_temporary_files, StateFixture) {
    for (int i = 0; i < 5; ++i) dir.write_atomic("x", as_bytes(std::to_string(i)), 0600);
    dir.write_atomic("y", as_bytes(std::string("y")), 0600);
    const std::set<std::string> expected{"x", "y"};
    BOOST_TEST(entries(tmp.path()) == expected, boost::test_tools::per_element());
}

BOOST_FIXTURE_TEST_CASE(write_atomic_into_a_missing_directory_fails_cleanly, StateFixture) {
    StateDir missing(tmp / "nope");
    auto err = catch_error([&] { missing.write_atomic("f", as_bytes(std::string("x")), 0600); });
    BOOST_REQUIRE(err);
    BOOST_TEST(err->kind() == Failure::failed);
    CHECK_CONTAINS(err->what_failed(), tmp / "nope");
}

BOOST_FIXTURE_TEST_CASE(remove_is_durable_and_absent_is_fine, StateFixture) {
    dir.write_atomic("f", as_bytes(std::string("x")), 0600);
    dir.remove("f");
    BOOST_TEST(!dir.has("f"));
    BOOST_CHECK_NO_THROW(dir.remove("f"));
}

BOOST_FIXTURE_TEST_CASE(check_safe_accepts_0700_only, StateFixture) {
    BOOST_CHECK_NO_THROW(dir.check_safe());
    // SPEC §3 says 0700: open to others is refused with the chmod that
    // fixes it, and so is a mode that denies the owner (the error would
    // otherwise name a file inside, not the directory).
    for (mode_t mode : {mode_t(0755), mode_t(0750), mode_t(0711), mode_t(0500), mode_t(0000)}) {
        BOOST_TEST_CONTEXT("mode " << std::oct << mode) {
            chmod_or_fail(tmp.path(), mode);
            auto err = catch_error([&] { dir.check_safe(); });
            BOOST_REQUIRE(err);
            CHECK_CONTAINS(err->what_failed(), tmp.path());
            BOOST_TEST(err->hint() .starts_with("chmod 700 " + tmp.path()));
        }
    }
    chmod_or_fail(tmp.path(), 0700);
}

BOOST_FIXTURE_TEST_CASE(repair_mode_takes_read_bits_only, StateFixture) {
    chmod_or_fail(tmp.path(), 0755);
    BOOST_TEST(dir.repair_mode());
    BOOST_CHECK_NO_THROW(dir.check_safe());
    BOOST_TEST(!dir.repair_mode()); // already 0700
    // Writable by others: someone may have put files in it; not repaired.
    chmod_or_fail(tmp.path(), 0770);
    BOOST_TEST(!dir.repair_mode());
    BOOST_CHECK_THROW(dir.check_safe(), Error);
    chmod_or_fail(tmp.path(), 0700);
}

BOOST_FIXTURE_TEST_CASE(remove_if_only_lock_keeps_anything_else, StateFixture) {
    StateDir sub(tmp.path() + "/sub");
    sub.create();
    { StateLock lock(sub); }
    sub.write_atomic("f", as_bytes(std::string("x")), 0600);
    BOOST_TEST(!sub.remove_if_only_lock());
    BOOST_TEST(sub.exists());
    sub.remove("f");
    BOOST_TEST(sub.remove_if_only_lock());
    BOOST_TEST(!sub.exists());
}

BOOST_FIXTURE_TEST_CASE(check_safe_refuses_a_group_writable_directory, StateFixture) {
    for (mode_t mode : {mode_t(0770), mode_t(0720), mode_t(02770)}) {
        BOOST_TEST_CONTEXT("mode " << std::oct << mode) {
            chmod_or_fail(tmp.path(), mode);
            auto err = catch_error([&] { dir.check_safe(); });
            BOOST_REQUIRE(err);
            BOOST_TEST(err->kind() == Failure::failed);
            BOOST_TEST(err->what_failed() == "refusing to use " + tmp.path());
            CHECK_CONTAINS(err->why(), "writable by its group");
            BOOST_TEST(err->hint() == "chmod 700 " + tmp.path());
        }
    }
}

BOOST_FIXTURE_TEST_CASE(check_safe_refuses_a_world_writable_directory, StateFixture) {
    for (mode_t mode : {mode_t(0702), mode_t(0777), mode_t(01777)}) {
        BOOST_TEST_CONTEXT("mode " << std::oct << mode) {
            chmod_or_fail(tmp.path(), mode);
            auto err = catch_error([&] { dir.check_safe(); });
            BOOST_REQUIRE(err);
            BOOST_TEST(err->kind() == Failure::failed);
            CHECK_CONTAINS(err->why(), "writable by others");
            // A sticky directory is a shared one (/tmp): no chmod advice.
            if (mode & S_ISVTX) CHECK_CONTAINS(err->hint(), "use a directory of your own");
            else BOOST_TEST(err->hint() == "chmod 700 " + tmp.path());
        }
    }
}

BOOST_FIXTURE_TEST_CASE(check_safe_refuses_a_directory_owned_by_another_user, StateFixture) {
    if (!running_as_root()) {
        BOOST_TEST_MESSAGE("skipped: needs root to chown");
        return;
    }
    BOOST_REQUIRE(::chown(tmp.path().c_str(), kNobody, kNobody) == 0);
    auto err = catch_error([&] { dir.check_safe(); });
    BOOST_REQUIRE(err);
    BOOST_TEST(err->kind() == Failure::failed);
    BOOST_TEST(err->what_failed() == "refusing to use " + tmp.path());
    CHECK_CONTAINS(err->why(), "owned by");
    CHECK_CONTAINS(err->why(), "not by you");
    // The user cannot chown it back; the hint says what they can do.
    BOOST_TEST(err->hint() == "use a directory of your own: set PUDDLE_HOME to one, or unset it for ~/.puddle");
}

BOOST_FIXTURE_TEST_CASE(check_safe_refuses_a_file_or_nothing, StateFixture) {
    write_file(tmp / "plain", "x");
    auto err = catch_error([&] { StateDir(tmp / "plain").check_safe(); });
    BOOST_REQUIRE(err);
    CHECK_CONTAINS(err->why(), "not a directory");
    err = catch_error([&] { StateDir(tmp / "absent").check_safe(); });
    BOOST_REQUIRE(err);
    BOOST_TEST(err->kind() == Failure::failed);
    CHECK_CONTAINS(err->what_failed(), tmp / "absent");
}

BOOST_FIXTURE_TEST_CASE(create_makes_private_directories, StateFixture) {
    StateDir nested(tmp / "a/b/c");
    BOOST_TEST(!nested.exists());
    nested.create();
    BOOST_TEST(nested.exists());
    BOOST_TEST(mode_of(tmp / "a") == 0700u);
    BOOST_TEST(mode_of(tmp / "a/b/c") == 0700u);
    BOOST_CHECK_NO_THROW(nested.check_safe());
    BOOST_CHECK_NO_THROW(nested.create()); // existing is fine
}

BOOST_FIXTURE_TEST_CASE(read_returns_the_whole_file, StateFixture) {
    dir.write_atomic("s", as_bytes(std::string("0123456789")), 0600);
    BOOST_TEST(dir.read("s", 10, FileTrust::private_file) == puddle_test::bytes_of("0123456789"), boost::test_tools::per_element());
    BOOST_TEST(dir.read("s", 4096, FileTrust::unchecked) == puddle_test::bytes_of("0123456789"), boost::test_tools::per_element());
    dir.write_atomic("empty", as_bytes(std::string()), 0600);
    BOOST_TEST(dir.read("empty", 10, FileTrust::private_file).empty());
}

BOOST_FIXTURE_TEST_CASE(read_refuses_an_over_long_file, StateFixture) {
    dir.write_atomic("s", as_bytes(std::string("0123456789")), 0600);
    for (FileTrust trust : {FileTrust::private_file, FileTrust::public_file, FileTrust::unchecked}) {
        auto err = catch_error([&] { dir.read("s", 9, trust); });
        BOOST_REQUIRE(err);
        BOOST_TEST(err->what_failed() == "cannot read " + (tmp / "s"));
        CHECK_CONTAINS(err->why(), "10 bytes");
        CHECK_CONTAINS(err->why(), "9");
    }
}

BOOST_FIXTURE_TEST_CASE(read_refuses_a_group_or_world_writable_secret_file, StateFixture) {
    dir.write_atomic("s", as_bytes(std::string("x")), 0600);
    for (mode_t mode : {mode_t(0620), mode_t(0660), mode_t(0602), mode_t(0666)}) {
        BOOST_TEST_CONTEXT("mode " << std::oct << mode) {
            chmod_or_fail(tmp / "s", mode);
            auto err = catch_error([&] { dir.read("s", 100, FileTrust::private_file); });
            BOOST_REQUIRE(err);
            BOOST_TEST(err->kind() == Failure::failed);
            BOOST_TEST(err->what_failed() == "refusing to use " + (tmp / "s"));
            CHECK_CONTAINS(err->why(), "writable by");
            BOOST_TEST(err->hint() == "chmod 600 " + (tmp / "s"));
            // Not a secret: the same file reads.
            BOOST_TEST(dir.read("s", 100, FileTrust::unchecked).size() == 1u);
        }
    }
    // Readable by others is not the concern of StrictModes for writing.
    chmod_or_fail(tmp / "s", 0644);
    BOOST_TEST(dir.read("s", 100, FileTrust::private_file).size() == 1u);
}

BOOST_FIXTURE_TEST_CASE(read_refuses_a_secret_file_owned_by_another_user, StateFixture) {
    if (!running_as_root()) {
        BOOST_TEST_MESSAGE("skipped: needs root to chown");
        return;
    }
    dir.write_atomic("s", as_bytes(std::string("x")), 0600);
    BOOST_REQUIRE(::chown((tmp / "s").c_str(), kNobody, kNobody) == 0);
    auto err = catch_error([&] { dir.read("s", 100, FileTrust::private_file); });
    BOOST_REQUIRE(err);
    CHECK_CONTAINS(err->why(), "owned by");
    CHECK_CONTAINS(err->hint(), "chown ");
    CHECK_CONTAINS(err->hint(), tmp / "s");
}

BOOST_FIXTURE_TEST_CASE(read_refuses_a_symlinked_file, StateFixture) {
    dir.write_atomic("real", as_bytes(std::string("x")), 0600);
    BOOST_REQUIRE(::symlink((tmp / "real").c_str(), (tmp / "link").c_str()) == 0);
    auto err = catch_error([&] { dir.read("link", 100, FileTrust::private_file); });
    BOOST_REQUIRE(err);
    BOOST_TEST(err->kind() == Failure::failed);
    BOOST_TEST(err->what_failed() == "refusing to read " + (tmp / "link"));
    CHECK_CONTAINS(err->why(), "symbolic link");
    // Public files too (identity.pub, claims): whoever controls a link's
    // target would choose what puddle reports.
    err = catch_error([&] { dir.read("link", 100, FileTrust::unchecked); });
    BOOST_REQUIRE(err);
    CHECK_CONTAINS(err->why(), "symbolic link");
}

BOOST_FIXTURE_TEST_CASE(read_refuses_missing_files_and_directories, StateFixture) {
    auto err = catch_error([&] { dir.read("absent", 100, FileTrust::private_file); });
    BOOST_REQUIRE(err);
    BOOST_TEST(err->kind() == Failure::failed);
    CHECK_CONTAINS(err->what_failed(), tmp / "absent");
    BOOST_REQUIRE(::mkdir((tmp / "sub").c_str(), 0700) == 0);
    err = catch_error([&] { dir.read("sub", 100, FileTrust::unchecked); });
    BOOST_REQUIRE(err);
    CHECK_CONTAINS(err->why(), "not a regular file");
}

BOOST_FIXTURE_TEST_CASE(remove_stale_temporaries_removes_only_tmp_files, StateFixture) {
    write_file(tmp / ".tmp-identity.wrapped-a1B2c3", "partial");
    write_file(tmp / ".tmp-x", "");
    write_file(tmp / "identity.pub", "keep");
    write_file(tmp / ".lock", "");
    write_file(tmp / "x.tmp-y", "keep too");
    dir.remove_stale_temporaries();
    const std::set<std::string> expected{"identity.pub", ".lock", "x.tmp-y"};
    BOOST_TEST(entries(tmp.path()) == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(locate_prefers_puddle_home_then_home) {
    {
        EnvVar ph("PUDDLE_HOME", "/some/where");
        BOOST_TEST(StateDir::locate().path() == "/some/where");
    }
    {
        EnvVar ph("PUDDLE_HOME", "");
        EnvVar home("HOME", "/home/alice");
        BOOST_TEST(StateDir::locate().path() == "/home/alice/.puddle");
        BOOST_TEST(StateDir::locate().file("identity.pub") == "/home/alice/.puddle/identity.pub");
    }
}

// ---- IdentityStore ---------------------------------------------------------

BOOST_FIXTURE_TEST_CASE(commit_then_load_round_trips, StateFixture) {
    IdentityStore store(dir);
    BOOST_TEST(!store.is_member());
    Identity id;
    store.commit(id.salt, id.wrapped, id.kp.public_key());

    BOOST_TEST(store.is_member());
    BOOST_TEST(!dir.has(kJournalFile));
    BOOST_TEST(mode_of(tmp / "identity.wrapped") == 0600u);
    BOOST_TEST(mode_of(tmp / "identity.salt") == 0600u);
    BOOST_TEST(mode_of(tmp / "identity.pub") == 0644u);
    BOOST_TEST(read_file(tmp / "identity.pub") == id.kp.public_key().str() + "\n");
    // On disk: the v1 wrap sealed to this machine's envoy (made by the commit).
    const std::string raw = read_file(tmp / "identity.wrapped");
    BOOST_TEST(raw.size() == kSealedWrapBytes);
    BOOST_TEST(raw.substr(0, 8) == "PUDDLEW2");
    BOOST_TEST(raw.find(std::string(id.wrapped.begin() + 18, id.wrapped.end())) == std::string::npos);
    const StateDir envoy_dir(home.path() + "/.local/state/puddle");
    BOOST_TEST(mode_of(envoy_dir.file(kEnvoySecretFile)) == 0600u);
    BOOST_TEST(mode_of(envoy_dir.path()) == 0700u);

    auto loaded = store.load();
    BOOST_TEST(loaded.wrapped.raw == id.wrapped);
    BOOST_TEST(loaded.wrapped.kdf.opslimit == 1u);
    BOOST_TEST(loaded.salt == id.salt);
    BOOST_TEST(loaded.pub == id.kp.public_key());
    BOOST_TEST(store.load_public_key() == id.kp.public_key());

    // What was stored unwraps.
    auto kp = unwrap_seed(loaded.wrapped, as_bytes(std::string("pass")), loaded.salt, loaded.pub);
    BOOST_TEST(kp.public_key() == id.kp.public_key());
    const std::set<std::string> expected{"identity.wrapped", "identity.salt", "identity.pub"};
    BOOST_TEST(entries(tmp.path()) == expected, boost::test_tools::per_element());
}

BOOST_FIXTURE_TEST_CASE(commit_replaces_a_previous_identity, StateFixture) {
    IdentityStore store(dir);
    Identity a, b;
    store.commit(a.salt, a.wrapped, a.kp.public_key());
    store.commit(b.salt, b.wrapped, b.kp.public_key());
    auto loaded = store.load();
    BOOST_TEST(loaded.pub == b.kp.public_key());
    BOOST_TEST(loaded.salt == b.salt);
    BOOST_TEST(loaded.wrapped.raw == b.wrapped);
}

BOOST_FIXTURE_TEST_CASE(repair_rolls_a_hand_written_journal_forward, StateFixture) {
    IdentityStore store(dir);
    Identity old_id, new_id;
    store.commit(old_id.salt, old_id.wrapped, old_id.kp.public_key());

    // A crash right after the decision point: journal in place, old files untouched.
    Bytes journal;
    journal.insert(journal.end(), new_id.salt.begin(), new_id.salt.end());
    journal.insert(journal.end(), new_id.wrapped.begin(), new_id.wrapped.end());
    journal.insert(journal.end(), new_id.kp.public_key().bytes.begin(), new_id.kp.public_key().bytes.end());
    BOOST_REQUIRE(journal.size() == 16u + 90u + 32u);
    write_file(tmp / "identity.journal", std::string(journal.begin(), journal.end()));
    chmod_or_fail(tmp / "identity.journal", 0600);
    write_file(tmp / ".tmp-identity.salt-XyZ123", "half-written");

    BOOST_TEST(store.repair());
    BOOST_TEST(!dir.has(kJournalFile));
    BOOST_TEST(!dir.has(".tmp-identity.salt-XyZ123"));
    auto loaded = store.load();
    BOOST_TEST(loaded.salt == new_id.salt);
    BOOST_TEST(loaded.wrapped.raw == new_id.wrapped);
    BOOST_TEST(loaded.pub == new_id.kp.public_key());
    BOOST_TEST(read_file(tmp / "identity.pub") == new_id.kp.public_key().str() + "\n");
    BOOST_TEST(mode_of(tmp / "identity.salt") == 0600u);
    BOOST_TEST(mode_of(tmp / "identity.wrapped") == 0600u);
    BOOST_TEST(mode_of(tmp / "identity.pub") == 0644u);

    // Nothing left to do the second time.
    BOOST_TEST(!store.repair());
}

BOOST_FIXTURE_TEST_CASE(repair_completes_a_first_commit, StateFixture) {
    // Crash during `init`: only the journal exists.
    IdentityStore store(dir);
    Identity id;
    Bytes journal;
    journal.insert(journal.end(), id.salt.begin(), id.salt.end());
    journal.insert(journal.end(), id.wrapped.begin(), id.wrapped.end());
    journal.insert(journal.end(), id.kp.public_key().bytes.begin(), id.kp.public_key().bytes.end());
    dir.write_atomic(kJournalFile, journal, 0600);
    BOOST_TEST(!store.is_member());
    BOOST_TEST(store.repair());
    BOOST_TEST(store.is_member());
    BOOST_TEST(store.load().pub == id.kp.public_key());
}

BOOST_FIXTURE_TEST_CASE(repair_refuses_a_journal_of_the_wrong_size, StateFixture) {
    IdentityStore store(dir);
    dir.write_atomic(kJournalFile, Bytes(100, 0), 0600);
    auto err = catch_error([&] { store.repair(); });
    BOOST_REQUIRE(err);
    BOOST_TEST(err->kind() == Failure::failed);
    CHECK_CONTAINS(err->why(), "100 bytes");
    BOOST_TEST(dir.has(kJournalFile)); // kept for a human to look at
    BOOST_TEST(!store.is_member());
}

BOOST_FIXTURE_TEST_CASE(repair_with_nothing_to_do_returns_false, StateFixture) {
    IdentityStore store(dir);
    BOOST_TEST(!store.repair());
    Identity id;
    store.commit(id.salt, id.wrapped, id.kp.public_key());
    BOOST_TEST(!store.repair());
    BOOST_TEST(store.load().pub == id.kp.public_key());
}

BOOST_FIXTURE_TEST_CASE(identity_pub_of_others_or_writable_by_others_is_refused, StateFixture) {
    IdentityStore store(dir);
    Identity id;
    store.commit(id.salt, id.wrapped, id.kp.public_key());
    chmod_or_fail(dir.file(kPubFile), 0666);
    auto err = catch_error([&] { store.load_public_key(); });
    BOOST_REQUIRE(err);
    CHECK_CONTAINS(err->why(), "writable by others");
    CHECK_CONTAINS(err->hint(), "chmod 644 " + dir.file(kPubFile));
    chmod_or_fail(dir.file(kPubFile), 0644);
    BOOST_TEST(store.load_public_key() == id.kp.public_key());
}

BOOST_FIXTURE_TEST_CASE(files_missing_under_a_journal_are_an_unfinished_change, StateFixture) {
    IdentityStore store(dir);
    Identity id;
    store.commit(id.salt, id.wrapped, id.kp.public_key());
    dir.write_atomic(kJournalFile, as_bytes(std::string(10, 'x')), 0600);
    dir.remove(kSaltFile);
    BOOST_TEST(!store.is_partial());
    dir.remove(kJournalFile);
    BOOST_TEST(store.is_partial());
}

BOOST_FIXTURE_TEST_CASE(missing_identity_file_is_not_a_member, StateFixture) {
    for (const char *missing : {kWrappedFile, kSaltFile, kPubFile}) {
        BOOST_TEST_CONTEXT(missing) {
            IdentityStore store(dir);
            Identity id;
            store.commit(id.salt, id.wrapped, id.kp.public_key());
            BOOST_REQUIRE(store.is_member());
            dir.remove(missing);
            BOOST_TEST(!store.is_member());
            auto err = catch_error([&] { store.load(); });
            BOOST_REQUIRE(err);
            BOOST_TEST(err->kind() == Failure::not_initialized);
            BOOST_TEST(store.is_partial());
            CHECK_CONTAINS(err->what_failed(), "incomplete identity in " + tmp.path());
            // "identity.salt is missing (identity.wrapped, identity.pub are there)"
            CHECK_CONTAINS(err->why(), std::string(missing) + " is missing");
            for (const char *other : {kWrappedFile, kSaltFile, kPubFile})
                if (std::string(other) != missing) CHECK_CONTAINS(err->why(), other);
            // The way out is joining (or copying) again, not init.
            CHECK_CONTAINS(err->hint(), "puddle join");
        }
    }
}

BOOST_FIXTURE_TEST_CASE(empty_directory_names_all_three_missing_files, StateFixture) {
    IdentityStore store(dir);
    auto err = catch_error([&] { store.load(); });
    BOOST_REQUIRE(err);
    BOOST_TEST(err->kind() == Failure::not_initialized);
    for (const char *f : {kWrappedFile, kSaltFile, kPubFile}) CHECK_CONTAINS(err->why(), f);
    err = catch_error([&] { store.load_public_key(); });
    BOOST_REQUIRE(err);
    BOOST_TEST(err->kind() == Failure::not_initialized);
}

BOOST_FIXTURE_TEST_CASE(damaged_identity_files_are_exit_5, StateFixture) {
    IdentityStore store(dir);
    Identity id;
    store.commit(id.salt, id.wrapped, id.kp.public_key());
    dir.write_atomic(kSaltFile, Bytes(15, 0), 0600);
    auto err = catch_error([&] { store.load(); });
    BOOST_REQUIRE(err);
    BOOST_TEST(err->kind() == Failure::bad_passphrase);
    CHECK_CONTAINS(err->what_failed(), tmp / "identity.salt");

    store.commit(id.salt, id.wrapped, id.kp.public_key());
    dir.write_atomic(kPubFile, as_bytes(id.kp.public_key().str() + "\n\n"), 0644);
    err = catch_error([&] { store.load(); });
    BOOST_REQUIRE(err);
    BOOST_TEST(err->kind() == Failure::bad_passphrase);
    CHECK_CONTAINS(err->what_failed(), tmp / "identity.pub");

    store.commit(id.salt, id.wrapped, id.kp.public_key());
    Bytes longer(id.wrapped.begin(), id.wrapped.end());
    longer.push_back(0);
    dir.write_atomic(kWrappedFile, longer, 0600);
    err = catch_error([&] { store.load(); });
    BOOST_REQUIRE(err);
    BOOST_TEST(err->kind() == Failure::bad_passphrase);
    CHECK_CONTAINS(err->why(), "91 bytes");
}

BOOST_FIXTURE_TEST_CASE(group_writable_wrapped_file_is_refused_on_load, StateFixture) {
    IdentityStore store(dir);
    Identity id;
    store.commit(id.salt, id.wrapped, id.kp.public_key());
    chmod_or_fail(tmp / "identity.wrapped", 0660);
    auto err = catch_error([&] { store.load(); });
    BOOST_REQUIRE(err);
    BOOST_TEST(err->hint() == "chmod 600 " + (tmp / "identity.wrapped"));
}

BOOST_FIXTURE_TEST_CASE(open_state_creates_checks_and_repairs, StateFixture) {
    const std::string home = tmp / "home/.puddle";
    EnvVar ph("PUDDLE_HOME", home);

    auto err = catch_error([] { open_state(false); });
    BOOST_REQUIRE(err);
    BOOST_TEST(err->kind() == Failure::not_initialized);
    BOOST_TEST(!StateDir(home).exists());

    {
        auto st = open_state(true);
        BOOST_TEST(st.dir.path() == home);
        BOOST_TEST(mode_of(home) == 0700u);
        BOOST_TEST(!st.store.is_member());
    }

    // A journal left by a crash is rolled forward by the next command.
    Identity id;
    Bytes journal;
    journal.insert(journal.end(), id.salt.begin(), id.salt.end());
    journal.insert(journal.end(), id.wrapped.begin(), id.wrapped.end());
    journal.insert(journal.end(), id.kp.public_key().bytes.begin(), id.kp.public_key().bytes.end());
    StateDir(home).write_atomic(kJournalFile, journal, 0600);
    {
        auto st = open_state(false);
        BOOST_TEST(st.store.is_member());
        BOOST_TEST(st.store.load().pub == id.kp.public_key());
        BOOST_TEST(!st.dir.has(kJournalFile));
    }

    chmod_or_fail(home, 0770);
    err = catch_error([] { open_state(false); });
    BOOST_REQUIRE(err);
    BOOST_TEST(err->hint() == "chmod 700 " + home);
}

BOOST_FIXTURE_TEST_CASE(an_oversized_state_file_is_a_failure_not_a_wrong_passphrase, StateFixture) {
    dir.write_atomic("members.json", Bytes(70000, '{'), 0600);
    auto err = catch_error([&] { dir.read("members.json", 65536, FileTrust::private_file); });
    BOOST_REQUIRE(err);
    BOOST_TEST(err->kind() == Failure::failed);
    CHECK_CONTAINS(err->why(), "more than the");

    // The identity's own files: a damaged identity, exit 5 (SPEC §5).
    IdentityStore store(dir);
    Identity id;
    store.commit(id.salt, id.wrapped, id.kp.public_key());
    dir.write_atomic(kWrappedFile, Bytes(5000, 1), 0600);
    err = catch_error([&] { store.load(); });
    BOOST_REQUIRE(err);
    BOOST_TEST(err->kind() == Failure::bad_passphrase);
}

BOOST_AUTO_TEST_CASE(a_parent_writable_by_others_is_refused_as_openssh_strictmodes_does) {
    TempDir tmp;
    chmod_or_fail(tmp.path(), 0755);
    std::filesystem::create_directories(tmp / "shared/state");
    chmod_or_fail(tmp / "shared/state", 0700);
    StateDir dir(tmp / "shared/state");
    chmod_or_fail(tmp / "shared", 0777); // anyone may rename state away and put their own
    auto err = catch_error([&] { dir.check_safe(); });
    BOOST_REQUIRE(err);
    CHECK_CONTAINS(err->why(), "is writable by others (mode 0777)");
    CHECK_CONTAINS(err->hint(), "chmod go-w " + (tmp / "shared"));
    chmod_or_fail(tmp / "shared", 01777); // sticky, but not root's: still refused
    if (::geteuid() != 0) BOOST_CHECK(catch_error([&] { dir.check_safe(); }));
    chmod_or_fail(tmp / "shared", 0755);
    BOOST_CHECK(!catch_error([&] { dir.check_safe(); }));
}
