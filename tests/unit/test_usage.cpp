// The usage record's pure side (agent/usage, ssh_protocol's purpose
// classifier): what a signing request was for, read from the data the way
// OpenSSH lays it out, and the journal fields an entry carries — never the
// data, never a line break a hostile requester put in a name.
#define BOOST_TEST_MODULE usage
#ifndef BOOST_TEST_DYN_LINK
#define BOOST_TEST_DYN_LINK
#endif
#include <boost/test/unit_test.hpp>

#include "support.hpp"

#include "agent/usage.hpp"
#include "core/encoding.hpp"
#include "core/wire.hpp"

#include <algorithm>
#include <string>

using namespace puddle;
using namespace puddle::agent;

namespace {

Bytes text(std::string_view s) { return Bytes(s.begin(), s.end()); }

// OpenSSH's sshsig.c: "SSHSIG", string namespace, string reserved, string hash alg, string H(msg).
Bytes sshsig_blob(std::string_view ns, std::string_view hash = "sha512") {
    Bytes out = text("SSHSIG");
    ByteWriter w(out);
    w.string(text(ns)).string(Bytes{}).string(text(hash)).string(Bytes(64, 0xab));
    return out;
}

// RFC 4252 §7 with OpenSSH's hostbound extension (PROTOCOL §2.5).
Bytes userauth_blob(std::string_view user, std::optional<Bytes> hostkey) {
    Bytes out;
    ByteWriter w(out);
    w.string(Bytes(32, 0x11)).u8(50).string(text(user)).string(text("ssh-connection"));
    w.string(text(hostkey ? "publickey-hostbound-v00@openssh.com" : "publickey")).u8(1);
    w.string(text("ssh-ed25519")).string(Bytes(51, 0x22));
    if (hostkey) w.string(*hostkey);
    return out;
}

// ssh-keygen -t ed25519; ssh-keygen -l printed SHA256:wxTC4qBiP3ZG+RtuOy1oo0H6/31qRYha8zyOoljCQls.
constexpr const char *kHostKeyB64 = "AAAAC3NzaC1lZDI1NTE5AAAAIDAXQZg8T4d7zjQiYgnM6SPi+tBb/5GxcCN5AfeUwnyM";
constexpr const char *kHostKeyFingerprint = "SHA256:wxTC4qBiP3ZG+RtuOy1oo0H6/31qRYha8zyOoljCQls";

Bytes host_key() { return *from_base64(kHostKeyB64, 1024); }

bool has(const std::vector<std::string> &fields, const std::string &f) {
    return std::find(fields.begin(), fields.end(), f) != fields.end();
}

Requester git() {
    Requester r;
    r.pid = 4242;
    r.exe = "/usr/bin/git";
    r.unit = "app-gnome-terminal-1.scope";
    r.session = "3";
    return r;
}

} // namespace

BOOST_AUTO_TEST_CASE(sshsig_names_its_namespace) {
    auto p = ssh::classify_sign_data(sshsig_blob("git"));
    BOOST_REQUIRE(std::holds_alternative<ssh::SshSigUse>(p));
    BOOST_TEST(std::get<ssh::SshSigUse>(p).sig_namespace == "git");
    BOOST_TEST(std::get<ssh::SshSigUse>(p).hash_algorithm == "sha512");
    auto purpose = ssh_purpose(p);
    BOOST_TEST(purpose.kind == "sshsig");
    BOOST_TEST(purpose.summary == "sshsig namespace=git");
}

BOOST_AUTO_TEST_CASE(a_login_names_the_user_and_a_hostbound_one_the_host_key) {
    auto plain = ssh::classify_sign_data(userauth_blob("alice", std::nullopt));
    BOOST_REQUIRE(std::holds_alternative<ssh::LoginUse>(plain));
    BOOST_TEST(std::get<ssh::LoginUse>(plain).user == "alice");
    BOOST_TEST(!std::get<ssh::LoginUse>(plain).hostkey_blob);
    BOOST_TEST(ssh_purpose(plain).summary == "ssh login as alice (destination unknown)");

    auto bound = ssh::classify_sign_data(userauth_blob("alice", host_key()));
    BOOST_REQUIRE(std::holds_alternative<ssh::LoginUse>(bound));
    BOOST_TEST(ssh::key_fingerprint(*std::get<ssh::LoginUse>(bound).hostkey_blob) == kHostKeyFingerprint);
    auto p = ssh_purpose(bound);
    BOOST_TEST(p.summary == std::string("ssh login as alice to ") + kHostKeyFingerprint);
    // Named by the request only: not verified unless session-bind proved it.
    auto f = std::find(p.fields.begin(), p.fields.end(), std::pair<std::string, std::string>(field::kHostKeyVerified, "no"));
    BOOST_TEST((f != p.fields.end()));
    auto proved = ssh_purpose(bound, std::string("SHA256:proved"), true);
    BOOST_TEST((std::find(proved.fields.begin(), proved.fields.end(),
                          std::pair<std::string, std::string>(field::kHostKey, "SHA256:proved")) != proved.fields.end()));
    BOOST_TEST(proved.forwarded);
    BOOST_TEST(proved.summary == "ssh login as alice to SHA256:proved (forwarded)");
}

BOOST_AUTO_TEST_CASE(anything_else_is_other_data) {
    for (const Bytes &data : {Bytes{}, text("SSHSIG"), text("hello"), userauth_blob("a", std::nullopt)}) {
        Bytes d = data;
        if (d.size() > 40) d.push_back(0); // a trailing byte breaks the layout
        BOOST_TEST(std::holds_alternative<ssh::OtherUse>(ssh::classify_sign_data(d)));
    }
    // Truncated at every length: never a crash, never a login or sshsig.
    const Bytes full = sshsig_blob("file");
    for (std::size_t n = 0; n < full.size(); ++n)
        BOOST_TEST(std::holds_alternative<ssh::OtherUse>(ssh::classify_sign_data(std::span(full).first(n))));
    // A method other than publickey is not a login signature.
    Bytes pw;
    ByteWriter(pw).string(Bytes(32, 1)).u8(50).string(text("u")).string(text("ssh-connection")).string(text("password"));
    BOOST_TEST(std::holds_alternative<ssh::OtherUse>(ssh::classify_sign_data(pw)));
}

BOOST_AUTO_TEST_CASE(hostile_names_cannot_break_a_line_or_grow_without_bound) {
    auto p = ssh::classify_sign_data(sshsig_blob("git\nMESSAGE_ID=forged\x1b[31m"));
    const auto &ns = std::get<ssh::SshSigUse>(p).sig_namespace;
    BOOST_TEST(ns == "git\\x0aMESSAGE_ID=forged\\x1b[31m");
    // U+0085 (NEL) and U+2028 break lines too in some dialogs: quoted.
    auto nel = ssh::classify_sign_data(userauth_blob("a\xc2\x85" "b\xe2\x80\xa8" "c", std::nullopt));
    BOOST_TEST(std::get<ssh::LoginUse>(nel).user == "a\\xc2\\x85b\\xe2\\x80\\xa8c");
    auto big = ssh::classify_sign_data(sshsig_blob(std::string(5000, 'n')));
    BOOST_TEST(std::get<ssh::SshSigUse>(big).sig_namespace.size() == ssh::kMaxNameBytes + 3); // and "..."
    Requester r = git();
    r.exe = "/tmp/evil\nPUDDLE_OUTCOME=signed";
    auto fields = journal_fields(make_use(Door::ssh, r, text("x"), ssh_purpose(p)), Outcome::refused, "no\nway", "");
    for (const auto &f : fields) BOOST_TEST(f.find('\n') == std::string::npos, f);
    BOOST_TEST(has(fields, "PUDDLE_REQUESTER_EXE=/tmp/evil\\x0aPUDDLE_OUTCOME=signed"));
    BOOST_TEST(has(fields, "PUDDLE_OUTCOME=refused"));
    BOOST_TEST(has(fields, "PUDDLE_REASON=no?way"));
}

BOOST_AUTO_TEST_CASE(an_entry_names_requester_purpose_and_digest_never_the_data) {
    const Bytes data = text("abc");
    const Use use = make_use(Door::socket, git(), data, raw_purpose());
    BOOST_TEST(use.length == 3u);
    // FIPS 180-2 example: SHA-256("abc").
    BOOST_TEST(use.sha256 == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const auto f = journal_fields(use, Outcome::signed_, {}, "ed25519:00");
    BOOST_TEST(has(f, "MESSAGE_ID=771c1db3bed348e4a798a749505f6e73"));
    BOOST_TEST(has(f, "MESSAGE=signed for /usr/bin/git (app-gnome-terminal-1.scope): raw Sign via agent.sock"));
    BOOST_TEST(has(f, "PRIORITY=6"));
    BOOST_TEST(has(f, "PUDDLE_DOOR=agent.sock"));
    BOOST_TEST(has(f, "PUDDLE_REQUESTER_PID=4242"));
    BOOST_TEST(has(f, "PUDDLE_REQUESTER_UNIT=app-gnome-terminal-1.scope"));
    BOOST_TEST(has(f, "PUDDLE_REQUESTER_SESSION=3"));
    BOOST_TEST(has(f, "PUDDLE_PURPOSE=raw"));
    BOOST_TEST(has(f, "PUDDLE_DATA_LENGTH=3"));
    BOOST_TEST(has(f, "PUDDLE_KEY=ed25519:00"));
    for (const auto &x : f) BOOST_TEST(x.find("=abc") == std::string::npos, x);
    // Each outcome has its own id; refusals and failures are notices.
    BOOST_TEST(has(journal_fields(use, Outcome::refused, "r", {}), "MESSAGE_ID=5823c246b21149f38ccb4add20f7bd1f"));
    BOOST_TEST(has(journal_fields(use, Outcome::failed, "r", {}), "MESSAGE_ID=5d60044917544189b37a5388b40bac93"));
    BOOST_TEST(has(journal_fields(use, Outcome::failed, "r", {}), "PRIORITY=5"));
    const auto n = new_requester_fields(use);
    BOOST_TEST(has(n, "MESSAGE_ID=b634f29b364d4aa099c111b065beecb5"));
    BOOST_TEST(has(n, "PRIORITY=5"));
}

BOOST_AUTO_TEST_CASE(a_requester_without_an_executable_is_still_named) {
    Requester r;
    r.pid = 7;
    BOOST_TEST(r.program() == "pid 7");
    r.comm = "gone";
    BOOST_TEST(r.program() == "[gone]");
}

BOOST_AUTO_TEST_CASE(a_requester_is_shown_as_one_capped_line_of_printable_text) {
    Requester r = git();
    r.exe = "/tmp/x\nAllow /usr/bin/git\x1b[2K\xe2\x80\xae\\";
    BOOST_TEST(r.program_label() == "/tmp/x\\x0aAllow /usr/bin/git\\x1b[2K\\xe2\\x80\\xae\\\\");
    r.unit = std::string(1000, 'u');
    BOOST_TEST(r.unit_label().size() <= kMaxLabelBytes + 3);
    BOOST_TEST(r.unit_label().substr(r.unit_label().size() - 3) == "...");
    const Use use = make_use(Door::socket, r, text("x"), raw_purpose());
    BOOST_TEST(use_message(use, Outcome::signed_, "").find('\n') == std::string::npos);
    for (const auto &f : new_requester_fields(use)) BOOST_TEST(f.find('\n') == std::string::npos, f);
    // The raw path still identifies the program (consent's memory, the known list).
    BOOST_TEST(r.program() == r.exe);
}

BOOST_AUTO_TEST_CASE(every_door_reads_what_it_signs_the_same_way) {
    const Bytes login = userauth_blob("git", std::nullopt), sig = sshsig_blob("git"), raw = text("challenge");
    for (Door door : {Door::socket, Door::bus}) {
        const SignFacts l = classify_for_door(door, login);
        BOOST_TEST(l.purpose.kind == "ssh-login");
        BOOST_TEST(l.refusal.find("ssh login request") != std::string::npos, l.refusal);
        BOOST_TEST(l.refusal.find(door_name(door)) != std::string::npos, l.refusal);
        BOOST_TEST(!classify_for_door(door, userauth_blob("git", host_key())).refusal.empty());
        const SignFacts s = classify_for_door(door, sig);
        BOOST_TEST(s.refusal.empty());
        BOOST_TEST(s.purpose.kind == "sshsig");
        BOOST_TEST(s.purpose.summary == "sshsig namespace=git");
        const SignFacts o = classify_for_door(door, raw);
        BOOST_TEST(o.refusal.empty());
        BOOST_TEST(o.purpose.summary == "raw Sign");
    }
    // The ssh door signs logins (its own rules: ssh_policy) and names other data as such.
    BOOST_TEST(classify_for_door(Door::ssh, login).refusal.empty());
    BOOST_TEST(classify_for_door(Door::ssh, sig).purpose.summary == "sshsig namespace=git");
    BOOST_TEST(classify_for_door(Door::ssh, raw).purpose.kind == "ssh-other");
}

BOOST_AUTO_TEST_CASE(a_request_is_the_described_requesters_only_while_it_is_the_same_process_and_program) {
    Requester at_accept = git();
    Requester now = at_accept;
    BOOST_TEST(requester_change(at_accept, 4242, true, now).empty());
    BOOST_TEST(requester_change(at_accept, std::nullopt, true, now).empty()); // the bus: no sender per message
    // A child that kept the socket sends.
    BOOST_TEST(requester_change(at_accept, 4243, true, now).find("sent by pid 4243") != std::string::npos);
    BOOST_TEST(requester_change(at_accept, 0, true, now).find("cannot see") != std::string::npos);
    BOOST_TEST(requester_change(at_accept, 4242, false, now).find("gone") != std::string::npos);
    // The process exec'd another program since.
    now.exe = "/tmp/evil\nx";
    const std::string why = requester_change(at_accept, 4242, true, now);
    BOOST_TEST(why.find("now runs /tmp/evil\\x0ax") != std::string::npos, why);
    BOOST_TEST(why.find('\n') == std::string::npos);
    // Not dumpable (exe hidden): the comm counts.
    Requester hidden;
    hidden.pid = 5;
    hidden.comm = "puddle";
    Requester same = hidden;
    BOOST_TEST(requester_change(hidden, 5, true, same).empty());
    same.exe = "/usr/bin/git";
    BOOST_TEST(!requester_change(hidden, 5, true, same).empty());
}
