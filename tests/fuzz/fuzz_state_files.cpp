// libFuzzer target: the state file codecs (pair.pending, members.json,
// retired_puddles.json, name-claim.json, requesters.json, the setup records).
// The first byte picks the parser (its value modulo 7: '0' pending, '1'
// members, '2' rotation log, '3' name claim, '4' requesters, '5' setup-ssh,
// '6' setup-git); the rest is the file.
// Invariants: a refusal is Error(failure) naming the file, printable; an
// accepted file serializes to one line that parses back equal; merging and
// the rotation-log walks never crash and keep their promises.
#include "fuzz_support.hpp"
#include "core/files/requesters.hpp"
#include "core/files/members.hpp"
#include "core/files/name_claim.hpp"
#include "core/files/pending.hpp"
#include "core/files/rotation_log.hpp"
#include "core/rotation.hpp"
#include "core/setup_state.hpp"
#include "util/error.hpp"

#include <cstdint>
#include <cstdio>
#include <span>
#include <string>

using namespace puddle;

namespace {

const std::string kLabel = "/state/file.json";

bool one_line(const std::string &text) {
    return !text.empty() && text.back() == '\n' && text.find('\n') == text.size() - 1;
}

void check_pending(std::span<const std::uint8_t> file) {
    const PairPending p = parse_pair_pending(file, kLabel);
    FUZZ_CHECK(p.purpose == kPurposePair || p.purpose == kPurposeRekey);
    FUZZ_CHECK(p.code.size() == 8);
    FUZZ_CHECK(p.expires > p.created && p.created >= 0);
    const std::string text = serialize_pair_pending(p);
    FUZZ_CHECK(one_line(text));
    FUZZ_CHECK(parse_pair_pending(as_bytes(text), kLabel) == p);
}

void check_members(std::span<const std::uint8_t> file) {
    const MembersView v = parse_members(file, kLabel);
    FUZZ_CHECK(v.members.size() <= kMaxMembers);
    const std::string text = serialize_members(v);
    FUZZ_CHECK(one_line(text));
    FUZZ_CHECK(parse_members(as_bytes(text), kLabel) == v);

    const MembersView merged = merge_members(v, v);
    FUZZ_CHECK(merged.members.size() == v.members.size()); // no (host, key) repeats in a parsed view
    FUZZ_CHECK(merge_members(v, {}) == merged);
    FUZZ_CHECK(merge_members(merged, merged) == merged);
    FUZZ_CHECK(parse_members(as_bytes(serialize_members(merged)), kLabel) == merged);
}

void check_rotation_log(std::span<const std::uint8_t> file) {
    const RotationLog log = parse_rotation_log(file, kLabel);
    FUZZ_CHECK(log.size() <= kMaxRotationRecords);
    const std::string text = serialize_rotation_log(log);
    FUZZ_CHECK(one_line(text));
    FUZZ_CHECK(parse_rotation_log(as_bytes(text), kLabel) == log);

    // Signature checks are slow; walk only small logs.
    if (log.size() > 8) return;
    const auto fork = find_fork(log);
    if (fork) {
        FUZZ_CHECK(fork->first.old_key == fork->second.old_key);
        FUZZ_CHECK(verify_rotation(fork->first) && verify_rotation(fork->second));
    }
    for (const auto &start : log) {
        const auto path = path_from(log, start.old_key);
        PublicKey at = start.old_key;
        for (const auto &r : path) {
            FUZZ_CHECK(r.old_key == at);
            FUZZ_CHECK(verify_rotation(r));
            at = r.new_key;
        }
        FUZZ_CHECK(path.size() <= log.size());
    }
}

void check_name_claim(std::span<const std::uint8_t> file) {
    const NameClaim c = parse_name_claim(file, kLabel);
    FUZZ_CHECK(valid_name(c.name));
    const std::string text = serialize_name_claim(c);
    FUZZ_CHECK(one_line(text));
    FUZZ_CHECK(parse_name_claim(as_bytes(text), kLabel) == c);
    (void)verify_claim(c);
}

void check_requesters(std::span<const std::uint8_t> file) {
    const RequestersView v = parse_requesters(file, kLabel);
    FUZZ_CHECK(v.requesters.size() <= kMaxRequesters);
    const std::string text = serialize_requesters(v);
    FUZZ_CHECK(one_line(text));
    const RequestersView back = parse_requesters(as_bytes(text), kLabel);
    FUZZ_CHECK(back.requesters.size() == v.requesters.size());
    for (std::size_t i = 0; i < v.requesters.size(); ++i) {
        FUZZ_CHECK(back.requesters[i].program == v.requesters[i].program);
        FUZZ_CHECK(back.requesters[i].unit == v.requesters[i].unit);
        FUZZ_CHECK(back.requesters[i].first_seen == v.requesters[i].first_seen);
    }
}

void check_setup(std::span<const std::uint8_t> file, bool git) {
    if (git) {
        const GitSetup g = parse_git_setup(file, kLabel);
        const std::string text = serialize_git_setup(g);
        FUZZ_CHECK(one_line(text));
        const GitSetup back = parse_git_setup(as_bytes(text), kLabel);
        FUZZ_CHECK(back.git_config == g.git_config && back.principal == g.principal &&
                   back.created_git_config == g.created_git_config && back.sign_all == g.sign_all);
    } else {
        const SshSetup v = parse_ssh_setup(file, kLabel);
        const std::string text = serialize_ssh_setup(v);
        FUZZ_CHECK(one_line(text));
        const SshSetup back = parse_ssh_setup(as_bytes(text), kLabel);
        FUZZ_CHECK(back.ssh_config == v.ssh_config && back.environment_file == v.environment_file &&
                   back.created_ssh_config == v.created_ssh_config && back.created_ssh_dir == v.created_ssh_dir);
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    if (size == 0) return 0;
    const std::span<const std::uint8_t> file(data + 1, size - 1);
    try {
        // The seeds start with an ASCII digit, so a digit counts as its value.
        const unsigned pick = (data[0] >= '0' && data[0] <= '9') ? unsigned(data[0] - '0') : data[0];
        switch (pick % 7) {
        case 0: check_pending(file); break;
        case 1: check_members(file); break;
        case 2: check_rotation_log(file); break;
        case 3: check_name_claim(file); break;
        case 4: check_requesters(file); break;
        case 5: check_setup(file, false); break;
        default: check_setup(file, true); break;
        }
    } catch (const Error &e) {
        // An expected refusal: it must say which file and why, printably.
        FUZZ_CHECK(e.kind() == Failure::failed);
        FUZZ_CHECK(e.what_failed() == "cannot read " + kLabel);
        FUZZ_CHECK(!e.why().empty());
        FUZZ_CHECK(fuzz::printable(e.what()));
        FUZZ_CHECK(fuzz::printable(e.hint()));
    }
    return 0;
}
