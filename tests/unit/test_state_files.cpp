// The JSON state files (SPEC §3, §7, §8, §9): pair.pending / rekey.pending,
// members.json, retired_puddles.json, name-claim.json. Strict parsing with
// errors that name the file and the field, canonical serialization, member
// merging, signed rotation records and name claims.
#define BOOST_TEST_MODULE state_files
#ifndef BOOST_TEST_DYN_LINK
#define BOOST_TEST_DYN_LINK
#endif
#include <boost/test/unit_test.hpp>

#include "support.hpp"

#include "core/files/members.hpp"
#include "core/files/name_claim.hpp"
#include "core/files/pending.hpp"
#include "core/files/rotation_log.hpp"
#include "core/rotation.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

using namespace puddle;
using puddle_test::catch_error;
using puddle_test::contains;

namespace puddle {
std::ostream &operator<<(std::ostream &os, const PairPending &p) {
    return os << "PairPending{" << p.purpose << "," << p.code << "," << p.created << "," << p.expires << "}";
}
std::ostream &operator<<(std::ostream &os, const MemberRecord &m) {
    return os << "Member{" << m.host << "," << m.since << "," << direction_name(m.direction) << "," << m.pubkey.str()
              << "}";
}
std::ostream &operator<<(std::ostream &os, const MembersView &v) {
    os << "MembersView{";
    for (const auto &m : v.members) os << m << ";";
    return os << "}";
}
std::ostream &operator<<(std::ostream &os, const RotationRecord &r) {
    return os << "Rotation{" << r.old_key.short_hex() << "->" << r.new_key.short_hex() << "@" << r.at << "}";
}
} // namespace puddle

namespace {

const std::string kLabel = "/home/u/.puddle/state-file";

bool printable(const std::string &s) {
    for (unsigned char c : s)
        if (c < 0x20 || c >= 0x7f) return false;
    return true;
}

// Runs a parser on text that must be refused; checks the error's shape and returns it.
template <class Parse>
Error refused_by(Parse parse, std::string_view text) {
    auto err = catch_error([&] { parse(as_bytes(text), kLabel); });
    BOOST_REQUIRE_MESSAGE(err, "accepted: " << text);
    BOOST_TEST(err->kind() == Failure::failed);
    BOOST_TEST(err->what_failed() == "cannot read " + kLabel);
    BOOST_TEST(!err->why().empty());
    BOOST_TEST(!err->hint().empty());
    BOOST_TEST(printable(err->what()), err->what());
    return *err;
}

std::string why_refused_pending(std::string_view text) { return refused_by(parse_pair_pending, text).why(); }
std::string why_refused_members(std::string_view text) { return refused_by(parse_members, text).why(); }
std::string why_refused_log(std::string_view text) { return refused_by(parse_rotation_log, text).why(); }
std::string why_refused_claim(std::string_view text) { return refused_by(parse_name_claim, text).why(); }

// A fixed public key: 32 copies of one byte.
PublicKey key_of(std::uint8_t b) {
    PublicKey k;
    k.bytes.fill(b);
    return k;
}

std::string sig_text(std::uint8_t b) {
    Signature s;
    s.fill(b);
    return to_base64(s);
}

const std::string kDigest = "sha256:" + std::string(64, 'a');

MemberRecord member(std::string host, std::int64_t since, MemberDirection d, std::uint8_t key = 1) {
    return MemberRecord{std::move(host), since, d, kDigest, key_of(key)};
}

// A keypair generated once, so signing tests stay fast.
const Keypair &pair_n(int n) {
    static std::vector<Keypair> pairs = [] {
        std::vector<Keypair> v;
        for (int i = 0; i < 5; ++i) v.push_back(Keypair::generate());
        return v;
    }();
    return pairs.at(std::size_t(n));
}

} // namespace

// ============================== pair.pending ==============================

BOOST_AUTO_TEST_CASE(pending_pair_parses) {
    const auto p = parse_pair_pending(
        as_bytes(R"({"v":1,"purpose":"pair","code":"01234567","created":1700000000,"expires":1700000300})"
                 "\n"),
        kLabel);
    BOOST_TEST(p.purpose == "pair");
    BOOST_TEST(p.code == "01234567");
    BOOST_TEST(p.created == 1700000000);
    BOOST_TEST(p.expires == 1700000300);
}

BOOST_AUTO_TEST_CASE(pending_rekey_parses_in_any_field_order_and_spacing) {
    const auto p = parse_pair_pending(
        as_bytes("{\n  \"expires\": 20,\n  \"code\": \"99999999\",\n  \"purpose\": \"rekey\",\n  \"created\": 0,\n"
                 "  \"v\": 1\n}\n"),
        kLabel);
    BOOST_TEST(p == (PairPending{"rekey", "99999999", 0, 20}));
}

BOOST_AUTO_TEST_CASE(pending_serializes_canonically_and_round_trips) {
    const PairPending p{"pair", "00000042", 100, 400};
    const std::string text = serialize_pair_pending(p);
    BOOST_TEST(text == "{\"v\":1,\"purpose\":\"pair\",\"code\":\"00000042\",\"created\":100,\"expires\":400}\n");
    BOOST_TEST(parse_pair_pending(as_bytes(text), kLabel) == p);
    const PairPending r{"rekey", "12345678", 1, 2};
    BOOST_TEST(parse_pair_pending(as_bytes(serialize_pair_pending(r)), kLabel) == r);
}

BOOST_AUTO_TEST_CASE(pending_refuses_other_versions) {
    const auto err = refused_by(parse_pair_pending,
                                R"({"v":2,"purpose":"pair","code":"01234567","created":1,"expires":2})");
    BOOST_TEST(err.why() == "format version 2 is not supported (this puddle reads version 1)");
    CHECK_CONTAINS(err.hint(), "newer puddle");
    CHECK_CONTAINS(why_refused_pending(R"({"v":0,"purpose":"pair","code":"01234567","created":1,"expires":2})"),
                   "format version 0");
    // A newer version is named even when it brings fields this version does not know.
    CHECK_CONTAINS(why_refused_pending(R"({"v":3,"new_field":true})"), "format version 3");
    BOOST_TEST(why_refused_pending(R"({"purpose":"pair","code":"01234567","created":1,"expires":2})") ==
               "missing field \"v\"");
    BOOST_TEST(why_refused_pending(R"({"v":"1","purpose":"pair","code":"01234567","created":1,"expires":2})") ==
               "field \"v\" must be an integer, found a string");
    CHECK_CONTAINS(why_refused_pending(R"({"v":1.0,"purpose":"pair","code":"01234567","created":1,"expires":2})"),
                   "numbers must be integers");
}

BOOST_AUTO_TEST_CASE(pending_refuses_missing_and_extra_fields) {
    const std::vector<std::pair<std::string, std::string>> fields = {
        {"v", "1"}, {"purpose", "\"pair\""}, {"code", "\"01234567\""}, {"created", "1"}, {"expires", "2"}};
    for (std::size_t skip = 1; skip < fields.size(); ++skip) {
        std::string text = "{";
        for (std::size_t i = 0; i < fields.size(); ++i)
            if (i != skip) text += (text.size() > 1 ? "," : "") + ("\"" + fields[i].first + "\":" + fields[i].second);
        text += "}";
        BOOST_TEST(why_refused_pending(text) == "missing field \"" + fields[skip].first + "\"");
    }
    BOOST_TEST(why_refused_pending(
                   R"({"v":1,"purpose":"pair","code":"01234567","created":1,"expires":2,"host":"x"})") ==
               "unknown field \"host\"");
    CHECK_CONTAINS(why_refused_pending(
                       R"({"v":1,"purpose":"pair","code":"01234567","created":1,"expires":2,"code":"01234567"})"),
                   "duplicate object key \"code\"");
}

BOOST_AUTO_TEST_CASE(pending_refuses_wrong_types) {
    BOOST_TEST(why_refused_pending(R"({"v":1,"purpose":"pair","code":12345678,"created":1,"expires":2})") ==
               "field \"code\" must be a string, found an integer");
    BOOST_TEST(why_refused_pending(R"({"v":1,"purpose":null,"code":"12345678","created":1,"expires":2})") ==
               "field \"purpose\" must be a string, found null");
    BOOST_TEST(why_refused_pending(R"({"v":1,"purpose":"pair","code":"12345678","created":"1","expires":2})") ==
               "field \"created\" must be an integer, found a string");
    BOOST_TEST(why_refused_pending(R"({"v":1,"purpose":"pair","code":"12345678","created":1,"expires":[2]})") ==
               "field \"expires\" must be an integer, found an array");
    BOOST_TEST(why_refused_pending(R"({"v":1,"purpose":"pair","code":"12345678","created":true,"expires":2})") ==
               "field \"created\" must be an integer, found a boolean");
    BOOST_TEST(why_refused_pending("[]") == "expected a JSON object, found an array");
    BOOST_TEST(why_refused_pending("\"pair\"") == "expected a JSON object, found a string");
    CHECK_CONTAINS(why_refused_pending(""), "not valid JSON: line 1, column 1: expected a JSON value");
    CHECK_CONTAINS(why_refused_pending("{\"v\":1,"), "not valid JSON: line 1, column 8");
}

BOOST_AUTO_TEST_CASE(pending_refuses_bad_codes) {
    auto with_code = [](const std::string &code) {
        return R"({"v":1,"purpose":"pair","code":")" + code + R"(","created":1,"expires":2})";
    };
    BOOST_TEST(why_refused_pending(with_code("1234567")) ==
               "field \"code\" must be exactly 8 digits, found 7 characters");
    BOOST_TEST(why_refused_pending(with_code("123456789")) ==
               "field \"code\" must be exactly 8 digits, found 9 characters");
    BOOST_TEST(why_refused_pending(with_code("")) == "field \"code\" must be exactly 8 digits, found 0 characters");
    CHECK_CONTAINS(why_refused_pending(with_code("1234-5678")), "exactly 8 digits, found 9 characters");
    BOOST_TEST(why_refused_pending(with_code("123-5678")) ==
               "field \"code\" must be exactly 8 digits, found '-' at position 4");
    CHECK_CONTAINS(why_refused_pending(with_code("1234567a")), "found 'a' at position 8");
    CHECK_CONTAINS(why_refused_pending(with_code(" 1234567")), "found a space at position 1");
    CHECK_CONTAINS(why_refused_pending(with_code("\\u00001234567")), "found byte 0x00 at position 1");
    // Non-ASCII digits (FULLWIDTH DIGIT ZERO is 3 bytes) are not digits.
    CHECK_CONTAINS(why_refused_pending(with_code("\xef\xbc\x90" "12345")), "found byte 0xef at position 1");
}

BOOST_AUTO_TEST_CASE(pending_refuses_bad_purpose_and_times) {
    BOOST_TEST(why_refused_pending(R"({"v":1,"purpose":"join","code":"12345678","created":1,"expires":2})") ==
               "field \"purpose\" must be \"pair\" or \"rekey\", found \"join\"");
    CHECK_CONTAINS(why_refused_pending(R"({"v":1,"purpose":"Pair","code":"12345678","created":1,"expires":2})"),
                   "found \"Pair\"");
    BOOST_TEST(why_refused_pending(R"({"v":1,"purpose":"pair","code":"12345678","created":5,"expires":5})") ==
               "field \"expires\" must be later than \"created\"");
    CHECK_CONTAINS(why_refused_pending(R"({"v":1,"purpose":"pair","code":"12345678","created":-1,"expires":5})"),
                   "field \"created\" must not be negative");
}

BOOST_AUTO_TEST_CASE(pending_refuses_oversized_files) {
    std::string text = R"({"v":1,"purpose":"pair","code":"12345678","created":1,"expires":2})";
    text += std::string(kMaxPendingBytes - text.size(), ' ');
    BOOST_TEST(parse_pair_pending(as_bytes(text), kLabel).code == "12345678");
    text += " ";
    BOOST_TEST(why_refused_pending(text) == "the file is 4097 bytes, more than the limit of 4096");
}

BOOST_AUTO_TEST_CASE(pending_serializer_refuses_what_the_parser_would) {
    BOOST_CHECK_THROW(serialize_pair_pending({"join", "12345678", 1, 2}), std::invalid_argument);
    BOOST_CHECK_THROW(serialize_pair_pending({"pair", "1234-5678", 1, 2}), std::invalid_argument);
    BOOST_CHECK_THROW(serialize_pair_pending({"pair", "12345678", 2, 2}), std::invalid_argument);
    BOOST_CHECK_THROW(serialize_pair_pending({"pair", "12345678", -5, 2}), std::invalid_argument);
}

// ============================== members.json ==============================

BOOST_AUTO_TEST_CASE(wrapped_digest_is_sha256_hex) {
    BOOST_TEST(wrapped_digest({}) == "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    BOOST_TEST(wrapped_digest(as_bytes("abc")) ==
               "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

BOOST_AUTO_TEST_CASE(members_parse_and_round_trip) {
    const std::string k1 = key_of(1).str(), k2 = key_of(2).str();
    const std::string text = R"({"v":1,"members":[)"
                             R"({"host":"alpha","since":100,"direction":"self","wrapped_digest":")" +
                             kDigest + R"(","pubkey":")" + k1 + R"("},)" +
                             R"({"host":"beta.example.org","since":200,"direction":"joined","wrapped_digest":")" +
                             kDigest + R"(","pubkey":")" + k1 + R"("},)" +
                             R"({"host":"gamma:1531","since":300,"direction":"admitted","wrapped_digest":")" +
                             kDigest + R"(","pubkey":")" + k2 + R"("}]})" + "\n";
    const MembersView v = parse_members(as_bytes(text), kLabel);
    BOOST_REQUIRE(v.members.size() == 3u);
    BOOST_TEST(v.members[0] == member("alpha", 100, MemberDirection::self, 1));
    BOOST_TEST(v.members[1] == member("beta.example.org", 200, MemberDirection::joined, 1));
    BOOST_TEST(v.members[2] == member("gamma:1531", 300, MemberDirection::admitted, 2));
    // The serializer writes exactly this canonical text.
    BOOST_TEST(serialize_members(v) == text);
    BOOST_TEST(parse_members(as_bytes(serialize_members(v)), kLabel) == v);

    const MembersView empty;
    BOOST_TEST(serialize_members(empty) == "{\"v\":1,\"members\":[]}\n");
    BOOST_TEST(parse_members(as_bytes(serialize_members(empty)), kLabel) == empty);
}

BOOST_AUTO_TEST_CASE(direction_names) {
    BOOST_TEST(direction_name(MemberDirection::self) == "self");
    BOOST_TEST(direction_name(MemberDirection::joined) == "joined");
    BOOST_TEST(direction_name(MemberDirection::admitted) == "admitted");
    BOOST_TEST((parse_direction("joined") == MemberDirection::joined));
    BOOST_TEST(!parse_direction("Self").has_value());
    BOOST_TEST(!parse_direction("").has_value());
}

namespace {
// One members.json with a single member whose fields are given as JSON text.
std::string one_member(const std::string &host, const std::string &since, const std::string &direction,
                       const std::string &digest, const std::string &pubkey, const std::string &extra = "") {
    std::string m = "{";
    auto add = [&](const char *name, const std::string &value) {
        if (value.empty()) return;
        m += (m.size() > 1 ? "," : "") + std::string("\"") + name + "\":" + value;
    };
    add("host", host);
    add("since", since);
    add("direction", direction);
    add("wrapped_digest", digest);
    add("pubkey", pubkey);
    if (!extra.empty()) m += "," + extra;
    return R"({"v":1,"members":[)" + m + "}]}";
}
const std::string kK = "\"" + std::string(kKeyPrefix) + std::string(64, '1') + "\"";
const std::string kD = "\"" + kDigest + "\"";
} // namespace

BOOST_AUTO_TEST_CASE(members_refuse_bad_fields) {
    BOOST_TEST(parse_members(as_bytes(one_member("\"h\"", "1", "\"self\"", kD, kK)), kLabel).members.size() == 1u);
    BOOST_TEST(why_refused_members(one_member("", "1", "\"self\"", kD, kK)) == "missing field \"host\" in members[0]");
    BOOST_TEST(why_refused_members(one_member("\"h\"", "", "\"self\"", kD, kK)) ==
               "missing field \"since\" in members[0]");
    BOOST_TEST(why_refused_members(one_member("\"h\"", "1", "", kD, kK)) ==
               "missing field \"direction\" in members[0]");
    BOOST_TEST(why_refused_members(one_member("\"h\"", "1", "\"self\"", "", kK)) ==
               "missing field \"wrapped_digest\" in members[0]");
    BOOST_TEST(why_refused_members(one_member("\"h\"", "1", "\"self\"", kD, "")) ==
               "missing field \"pubkey\" in members[0]");
    BOOST_TEST(why_refused_members(one_member("\"h\"", "1", "\"self\"", kD, kK, "\"v\":1")) ==
               "unknown field \"v\" in members[0]");
    BOOST_TEST(why_refused_members(one_member("7", "1", "\"self\"", kD, kK)) ==
               "field \"host\" in members[0] must be a string, found an integer");
    BOOST_TEST(why_refused_members(one_member("\"h\"", "\"1\"", "\"self\"", kD, kK)) ==
               "field \"since\" in members[0] must be an integer, found a string");
    BOOST_TEST(why_refused_members(one_member("\"h\"", "1", "\"joiner\"", kD, kK)) ==
               "field \"direction\" in members[0] must be \"self\", \"joined\", \"admitted\" or \"reported\", found \"joiner\"");
    CHECK_CONTAINS(why_refused_members(one_member("\"h\"", "-1", "\"self\"", kD, kK)),
                   "members[0]: field \"since\" must not be negative");
}

BOOST_AUTO_TEST_CASE(members_refuse_bad_hosts) {
    auto host_error = [](const std::string &host_json) {
        return why_refused_members(one_member(host_json, "1", "\"self\"", kD, kK));
    };
    BOOST_TEST(host_error("\"\"") == "members[0]: field \"host\": a host name cannot be empty");
    BOOST_TEST(host_error("\"a b\"") ==
               "members[0]: field \"host\": a host name holds only printable ASCII without spaces, found a space "
               "at position 2");
    CHECK_CONTAINS(host_error("\"a\\tb\""), "found byte 0x09 at position 2");
    CHECK_CONTAINS(host_error("\"caf\xc3\xa9\""), "found byte 0xc3 at position 4");
    CHECK_CONTAINS(host_error("\"a\\u007f\""), "found byte 0x7f");
    CHECK_CONTAINS(host_error("\"" + std::string(256, 'h') + "\""), "at most 255 characters, found 256");
    // 255 printable characters, punctuation included, are fine.
    const std::string longest = std::string(250, 'h') + "[::1]";
    BOOST_TEST(parse_members(as_bytes(one_member("\"" + longest + "\"", "1", "\"self\"", kD, kK)), kLabel)
                   .members[0]
                   .host == longest);
    BOOST_TEST(valid_host("host-1.example.org"));
    BOOST_TEST(valid_host("!~"));
    BOOST_TEST(!valid_host(""));
    std::string why;
    BOOST_TEST(!valid_host("a\nb", &why));
    CHECK_CONTAINS(why, "found byte 0x0a at position 2");
}

BOOST_AUTO_TEST_CASE(members_refuse_bad_keys_and_digests) {
    auto with = [](const std::string &digest, const std::string &key) {
        return why_refused_members(one_member("\"h\"", "1", "\"self\"", digest, key));
    };
    CHECK_CONTAINS(with(kD, "\"ed25519:" + std::string(64, 'A') + "\""),
                   "field \"pubkey\" in members[0] is not a public key: the key must be lowercase hex");
    CHECK_CONTAINS(with(kD, "\"ed25519:" + std::string(62, 'a') + "\""), "expected 64 hex digits");
    CHECK_CONTAINS(with(kD, "\"" + std::string(64, 'a') + "\""), "starts with \"ed25519:\"");
    CHECK_CONTAINS(with(kD, "\"ed25519:" + std::string(64, 'a') + "\\n\""), "expected 64 hex digits");
    CHECK_CONTAINS(with("\"" + std::string(64, 'a') + "\"", kK),
                   "members[0]: field \"wrapped_digest\" must start with \"sha256:\"");
    CHECK_CONTAINS(with("\"sha512:" + std::string(64, 'a') + "\"", kK), "must start with \"sha256:\"");
    CHECK_CONTAINS(with("\"sha256:" + std::string(63, 'a') + "\"", kK), "found 63 characters after the prefix");
    CHECK_CONTAINS(with("\"sha256:" + std::string(64, 'A') + "\"", kK), "lowercase hex");
    CHECK_CONTAINS(with("\"sha256:" + std::string(63, 'a') + "g\"", kK), "lowercase hex");
}

BOOST_AUTO_TEST_CASE(members_refuse_bad_shapes) {
    BOOST_TEST(why_refused_members(R"({"v":1,"members":{}})") == "field \"members\" must be an array, found an object");
    BOOST_TEST(why_refused_members(R"({"v":1,"members":[1]})") == "members[0] must be a JSON object, found an integer");
    BOOST_TEST(why_refused_members(R"({"v":1})") == "missing field \"members\"");
    BOOST_TEST(why_refused_members(R"({"v":1,"members":[],"count":0})") == "unknown field \"count\"");
    BOOST_TEST(why_refused_members(R"({"v":2,"members":[]})") ==
               "format version 2 is not supported (this puddle reads version 1)");
    BOOST_TEST(why_refused_members(R"([])") == "expected a JSON object, found an array");
    CHECK_CONTAINS(why_refused_members(R"({"v":1,"members":[],"members":[]})"), "duplicate object key \"members\"");
    CHECK_CONTAINS(why_refused_members(R"({"v":1,"members":[{"host":"a","host":"b"}]})"),
                   "duplicate object key \"host\"");
}

BOOST_AUTO_TEST_CASE(members_refuse_a_repeated_host_and_key) {
    MembersView v;
    v.members = {member("a", 1, MemberDirection::self, 1), member("b", 2, MemberDirection::joined, 1),
                 member("a", 3, MemberDirection::joined, 2)}; // same host, another key: fine
    BOOST_TEST(parse_members(as_bytes(serialize_members(v)), kLabel) == v);
    v.members.push_back(member("b", 9, MemberDirection::admitted, 1));
    BOOST_TEST(why_refused_members(serialize_members(v)) == "members[3] repeats members[1] (same machine, or same host without one, and same pubkey)");
}

BOOST_AUTO_TEST_CASE(members_limit_is_4096) {
    MembersView v;
    for (std::size_t i = 0; i < kMaxMembers; ++i)
        v.members.push_back(member("host-" + std::to_string(i), std::int64_t(i), MemberDirection::admitted));
    const std::string full = serialize_members(v);
    BOOST_TEST(parse_members(as_bytes(full), kLabel).members.size() == kMaxMembers);
    v.members.push_back(member("one-more", 1, MemberDirection::admitted));
    BOOST_CHECK_THROW(serialize_members(v), std::invalid_argument);
    // Hand-built: splice one more member into the full file.
    const std::string extra = R"({"host":"x","since":1,"direction":"self","wrapped_digest":")" + kDigest +
                              R"(","pubkey":")" + key_of(9).str() + R"("},)";
    std::string over = full;
    over.insert(over.find('[') + 1, extra);
    BOOST_TEST(why_refused_members(over) == "more than 4096 members (found 4097)");
    // And a file past the byte limit is refused before parsing.
    CHECK_CONTAINS(why_refused_members(std::string(kMaxMembersBytes + 1, ' ')), "more than the limit of 4194304");
}

BOOST_AUTO_TEST_CASE(members_serializer_refuses_bad_records) {
    MembersView v;
    v.members = {member("has space", 1, MemberDirection::self)};
    BOOST_CHECK_THROW(serialize_members(v), std::invalid_argument);
    v.members = {member("ok", -1, MemberDirection::self)};
    BOOST_CHECK_THROW(serialize_members(v), std::invalid_argument);
    v.members = {member("ok", 1, MemberDirection::self)};
    v.members[0].wrapped_digest = "sha256:xyz";
    BOOST_CHECK_THROW(serialize_members(v), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(merge_is_a_union_sorted_by_host) {
    MembersView mine, theirs;
    mine.members = {member("zeta", 10, MemberDirection::self), member("alpha", 20, MemberDirection::joined)};
    theirs.members = {member("mid", 30, MemberDirection::self), member("alpha", 5, MemberDirection::admitted, 2)};
    const MembersView m = merge_members(mine, theirs);
    BOOST_REQUIRE(m.members.size() == 4u);
    BOOST_TEST(m.members[0] == member("alpha", 20, MemberDirection::joined, 1));
    BOOST_TEST(m.members[1] == member("alpha", 5, MemberDirection::admitted, 2)); // same host, other key: kept
    BOOST_TEST(m.members[2] == member("mid", 30, MemberDirection::self));
    BOOST_TEST(m.members[3] == member("zeta", 10, MemberDirection::self));
}

BOOST_AUTO_TEST_CASE(merge_keeps_the_newer_record_of_a_host_and_key) {
    MembersView mine, theirs;
    mine.members = {member("a", 10, MemberDirection::self), member("b", 50, MemberDirection::joined)};
    theirs.members = {member("a", 11, MemberDirection::admitted), member("b", 49, MemberDirection::admitted)};
    const MembersView m = merge_members(mine, theirs);
    BOOST_REQUIRE(m.members.size() == 2u);
    BOOST_TEST(m.members[0] == member("a", 11, MemberDirection::admitted)); // theirs is newer
    BOOST_TEST(m.members[1] == member("b", 50, MemberDirection::joined));   // mine is newer

    // On a tie, mine stays.
    theirs.members = {member("a", 10, MemberDirection::joined)};
    BOOST_TEST(merge_members(mine, theirs).members[0] == member("a", 10, MemberDirection::self));
}

BOOST_AUTO_TEST_CASE(merge_is_idempotent_and_handles_empty_views) {
    MembersView v;
    v.members = {member("c", 3, MemberDirection::self), member("a", 1, MemberDirection::joined)};
    const MembersView sorted = merge_members(v, {});
    BOOST_REQUIRE(sorted.members.size() == 2u);
    BOOST_TEST(sorted.members[0].host == "a");
    BOOST_TEST(merge_members({}, v) == sorted);
    BOOST_TEST(merge_members(v, v) == sorted);
    BOOST_TEST(merge_members(sorted, sorted) == sorted);
    BOOST_TEST(merge_members({}, {}).members.empty());
    // The merged view is a valid file.
    BOOST_TEST(parse_members(as_bytes(serialize_members(merge_members(v, sorted))), kLabel) == sorted);
}

BOOST_AUTO_TEST_CASE(merge_past_the_limit_keeps_the_newest) {
    MembersView mine, theirs;
    for (std::size_t i = 0; i < kMaxMembers; ++i)
        mine.members.push_back(member("m" + std::to_string(i), std::int64_t(i) + 10, MemberDirection::admitted));
    theirs.members = {member("new-1", 100000, MemberDirection::self), member("new-2", 100001, MemberDirection::self),
                      member("old", 0, MemberDirection::self)};
    const MembersView m = merge_members(mine, theirs);
    BOOST_TEST(m.members.size() == kMaxMembers);
    auto has = [&](const std::string &host) {
        for (const auto &r : m.members)
            if (r.host == host) return true;
        return false;
    };
    BOOST_TEST(has("new-1"));
    BOOST_TEST(has("new-2"));
    BOOST_TEST(!has("old"));
    BOOST_TEST(!has("m0"));  // the two oldest of mine go
    BOOST_TEST(!has("m1"));
    BOOST_TEST(has("m2"));
    BOOST_TEST(std::is_sorted(m.members.begin(), m.members.end(),
                              [](const MemberRecord &a, const MemberRecord &b) { return a.host < b.host; }));
}

// ============================== retired_puddles.json ==============================

BOOST_AUTO_TEST_CASE(rotation_statement_is_exact) {
    const PublicKey a = key_of(0xaa), b = key_of(0xbb);
    BOOST_TEST(rotation_statement(a, b, 1700000000) ==
               "puddle-statement-rekey-v1\ned25519:" + std::string(64, 'a') + "\ned25519:" + std::string(64, 'b') +
                   "\n1700000000\n");
}

BOOST_AUTO_TEST_CASE(rotation_records_verify_with_both_keys) {
    const RotationRecord r = make_rotation_record(pair_n(0), pair_n(1), 1000);
    BOOST_TEST(r.old_key == pair_n(0).public_key());
    BOOST_TEST(r.new_key == pair_n(1).public_key());
    BOOST_TEST(verify_rotation(r));
    // The signatures are over the documented statement.
    const std::string st = rotation_statement(r.old_key, r.new_key, 1000);
    BOOST_TEST(verify_signature(r.old_key, as_bytes(st), r.sig_old));
    BOOST_TEST(verify_signature(r.new_key, as_bytes(st), r.sig_new));

    RotationRecord t = r;
    t.at = 1001;
    BOOST_TEST(!verify_rotation(t));
    t = r;
    t.new_key = pair_n(2).public_key();
    BOOST_TEST(!verify_rotation(t));
    t = r;
    t.sig_old[0] ^= 1;
    BOOST_TEST(!verify_rotation(t));
    t = r;
    t.sig_new[63] ^= 0x80;
    BOOST_TEST(!verify_rotation(t));
    t = r;
    std::swap(t.sig_old, t.sig_new); // each key must sign, not just someone
    BOOST_TEST(!verify_rotation(t));
    // A record signed by the old key alone (sig_new from a third key) fails.
    t = r;
    t.sig_new = pair_n(2).sign(as_bytes(st));
    BOOST_TEST(!verify_rotation(t));
    BOOST_CHECK_THROW(make_rotation_record(pair_n(0), pair_n(0), 1), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(rotation_log_round_trips) {
    RotationLog log = {make_rotation_record(pair_n(0), pair_n(1), 100),
                       make_rotation_record(pair_n(1), pair_n(2), 200)};
    const std::string text = serialize_rotation_log(log);
    BOOST_TEST(text.ends_with("]\n"));
    BOOST_TEST(std::count(text.begin(), text.end(), '\n') == 1);
    BOOST_TEST(text.starts_with(R"([{"v":1,"old":")" + pair_n(0).public_key().str() + R"(","new":")" +
                                pair_n(1).public_key().str() + R"(","at":100,"sig_old":")" +
                                to_base64(log[0].sig_old) + R"(","sig_new":")" + to_base64(log[0].sig_new) +
                                R"("},{"v":1,)"));
    const RotationLog back = parse_rotation_log(as_bytes(text), kLabel);
    BOOST_TEST(back == log);
    BOOST_TEST(verify_rotation(back[0]));
    BOOST_TEST(verify_rotation(back[1]));
}

BOOST_AUTO_TEST_CASE(empty_rotation_logs) {
    BOOST_TEST(parse_rotation_log({}, kLabel).empty());
    BOOST_TEST(parse_rotation_log(as_bytes("[]"), kLabel).empty());
    BOOST_TEST(parse_rotation_log(as_bytes("[]\n"), kLabel).empty());
    BOOST_TEST(parse_rotation_log(as_bytes(" \n"), kLabel).empty());
    BOOST_TEST(parse_rotation_log(as_bytes("[ ]"), kLabel).empty());
    BOOST_TEST(serialize_rotation_log({}) == "[]\n");
}

namespace {
std::string record_json(const std::string &fields) { return "[{" + fields + "}]"; }
const std::string kOld = "\"" + key_of(1).str() + "\"";
const std::string kNew = "\"" + key_of(2).str() + "\"";
const std::string kSig = "\"" + sig_text(7) + "\"";
std::string good_fields() {
    return R"("v":1,"old":)" + kOld + R"(,"new":)" + kNew + R"(,"at":5,"sig_old":)" + kSig + R"(,"sig_new":)" + kSig;
}
} // namespace

BOOST_AUTO_TEST_CASE(rotation_log_parses_without_checking_signatures) {
    const RotationLog log = parse_rotation_log(as_bytes(record_json(good_fields())), kLabel);
    BOOST_REQUIRE(log.size() == 1u);
    BOOST_TEST(log[0].old_key == key_of(1));
    BOOST_TEST(log[0].at == 5);
    BOOST_TEST(!verify_rotation(log[0])); // well formed, not trusted
}

BOOST_AUTO_TEST_CASE(rotation_log_refuses_bad_records) {
    BOOST_TEST(why_refused_log(R"({"v":1})") == "expected a JSON array of rotation records, found an object");
    BOOST_TEST(why_refused_log("[1]") == "record [0] must be a JSON object, found an integer");
    BOOST_TEST(why_refused_log(record_json(R"("v":2,"future":1)")) ==
               "format version 2 in record [0] is not supported (this puddle reads version 1)");
    BOOST_TEST(refused_by(parse_rotation_log, record_json(R"("v":2)")).hint().find("newer") != std::string::npos);
    BOOST_TEST(why_refused_log(record_json(R"("old":)" + kOld)) == "missing field \"v\" in record [0]");
    BOOST_TEST(why_refused_log(record_json(good_fields() + R"(,"reason":"x")")) ==
               "unknown field \"reason\" in record [0]");
    for (const char *field : {"old", "new", "at", "sig_old", "sig_new"}) {
        // Drop one field from a good record.
        std::string fields = good_fields();
        const std::string key = std::string(",\"") + field + "\":";
        const auto start = fields.find(key);
        BOOST_REQUIRE(start != std::string::npos);
        auto end = fields.find(",\"", start + 1);
        if (end == std::string::npos) end = fields.size();
        fields.erase(start, end - start);
        BOOST_TEST(why_refused_log(record_json(fields)) == "missing field \"" + std::string(field) + "\" in record [0]");
    }
    BOOST_TEST(why_refused_log(record_json(R"("v":1,"old":)" + kOld + R"(,"new":)" + kOld +
                                           R"(,"at":5,"sig_old":)" + kSig + R"(,"sig_new":)" + kSig)) ==
               "record [0]: fields \"old\" and \"new\" hold the same key");
    CHECK_CONTAINS(why_refused_log(record_json(R"("v":1,"old":)" + kOld + R"(,"new":)" + kNew +
                                               R"(,"at":-5,"sig_old":)" + kSig + R"(,"sig_new":)" + kSig)),
                   "field \"at\" must not be negative");
    CHECK_CONTAINS(why_refused_log(record_json(R"("v":1,"old":"ed25519:xyz","new":)" + kNew +
                                               R"(,"at":5,"sig_old":)" + kSig + R"(,"sig_new":)" + kSig)),
                   "field \"old\" in record [0] is not a public key");
    CHECK_CONTAINS(why_refused_log(record_json(R"("v":1,"old":)" + kOld + R"(,"new":5,"at":5,"sig_old":)" + kSig +
                                               R"(,"sig_new":)" + kSig)),
                   "field \"new\" in record [0] must be a string, found an integer");
    CHECK_CONTAINS(why_refused_log("[" + record_json(good_fields()).substr(1, record_json(good_fields()).size() - 2) +
                                   "," + record_json(good_fields()).substr(1)),
                   "record [1] repeats record [0]");
    CHECK_CONTAINS(why_refused_log(record_json(good_fields() + R"(,"at":6)")), "duplicate object key \"at\"");
    CHECK_CONTAINS(why_refused_log("[" + record_json(good_fields()).substr(1, record_json(good_fields()).size() - 2) +
                                   ",]"),
                   "no trailing commas");
}

BOOST_AUTO_TEST_CASE(rotation_log_refuses_bad_signature_text) {
    auto with_sig = [](const std::string &sig) {
        return why_refused_log(record_json(R"("v":1,"old":)" + kOld + R"(,"new":)" + kNew +
                                           R"(,"at":5,"sig_old":")" + sig + R"(","sig_new":)" + kSig));
    };
    const std::string good = sig_text(7);
    BOOST_TEST(good.size() == 88u);
    const std::string expected =
        "field \"sig_old\" in record [0] must be a signature: the base64 of 64 bytes (88 characters ending in \"==\")";
    BOOST_TEST(with_sig(good.substr(0, 86)) == expected);            // padding missing
    BOOST_TEST(with_sig(good.substr(0, 84)) == expected);            // 63 bytes
    BOOST_TEST(with_sig(to_base64(Bytes(65, 7))) == expected);       // 65 bytes
    BOOST_TEST(with_sig(to_base64(Bytes(48, 7))) == expected);       // 48 bytes
    BOOST_TEST(with_sig("") == expected);
    BOOST_TEST(with_sig("!" + good.substr(1)) == expected);          // not the alphabet
    BOOST_TEST(with_sig(good.substr(0, 40) + "-" + good.substr(41)) == expected); // url-safe alphabet
    BOOST_TEST(with_sig(good.substr(0, 44) + "\\n" + good.substr(44)) == expected); // embedded newline
    // Non-canonical: the unused low bits before the padding are not zero.
    std::string loose = good;
    loose[85] = loose[85] == 'w' ? 'x' : 'w';
    BOOST_TEST(with_sig(loose) == expected);
    CHECK_CONTAINS(why_refused_log(record_json(R"("v":1,"old":)" + kOld + R"(,"new":)" + kNew +
                                               R"(,"at":5,"sig_old":null,"sig_new":)" + kSig)),
                   "field \"sig_old\" in record [0] must be a string, found null");
}

BOOST_AUTO_TEST_CASE(rotation_log_limits) {
    RotationLog log;
    for (std::size_t i = 0; i < kMaxRotationRecords; ++i) {
        RotationRecord r;
        r.old_key = key_of(1);
        r.new_key = key_of(2);
        r.at = std::int64_t(i);
        log.push_back(r);
    }
    const std::string full = serialize_rotation_log(log);
    BOOST_TEST(parse_rotation_log(as_bytes(full), kLabel).size() == kMaxRotationRecords);
    std::string over = full;
    over.insert(1, record_json(good_fields()).substr(1, record_json(good_fields()).size() - 2) + ",");
    BOOST_TEST(why_refused_log(over) == "more than 1024 rotation records (found 1025)");
    log.push_back(log.back());
    BOOST_CHECK_THROW(serialize_rotation_log(log), std::invalid_argument);
    CHECK_CONTAINS(why_refused_log("[" + std::string(kMaxRotationLogBytes, ' ') + "]"), "more than the limit");
}

BOOST_AUTO_TEST_CASE(a_linear_log_has_no_fork_and_a_full_path) {
    const RotationLog log = {make_rotation_record(pair_n(0), pair_n(1), 100),
                             make_rotation_record(pair_n(1), pair_n(2), 200),
                             make_rotation_record(pair_n(2), pair_n(3), 300)};
    BOOST_TEST(!find_fork(log).has_value());
    const auto from0 = path_from(log, pair_n(0).public_key());
    BOOST_REQUIRE(from0.size() == 3u);
    BOOST_TEST(from0[0] == log[0]);
    BOOST_TEST(from0[2].new_key == pair_n(3).public_key());
    BOOST_TEST(path_from(log, pair_n(2).public_key()) == std::vector<RotationRecord>{log[2]});
    BOOST_TEST(path_from(log, pair_n(3).public_key()).empty()); // already the newest
    BOOST_TEST(path_from(log, pair_n(4).public_key()).empty()); // unrelated key
    BOOST_TEST(path_from({}, pair_n(0).public_key()).empty());

    // Log order does not matter for the path.
    const RotationLog shuffled = {log[2], log[0], log[1]};
    BOOST_TEST(path_from(shuffled, pair_n(0).public_key()) == from0);
}

BOOST_AUTO_TEST_CASE(a_key_s_generation_counts_the_rotations_that_lead_to_it) {
    const RotationLog log = {make_rotation_record(pair_n(1), pair_n(2), 200),
                             make_rotation_record(pair_n(0), pair_n(1), 100),
                             make_rotation_record(pair_n(2), pair_n(3), 300)};
    const auto now = pair_n(3).public_key();
    const KeyGenerations gens(log, now);
    for (int i = 0; i <= 3; ++i) BOOST_TEST(gens.of(pair_n(i).public_key()).value_or(99) == std::uint64_t(i));
    BOOST_TEST(!gens.of(pair_n(4).public_key()).has_value()); // not of this identity
    // Without a log, only the key held is known: generation 0.
    BOOST_TEST(KeyGenerations({}, now).of(now).value_or(99) == std::uint64_t(0));
    BOOST_TEST(!KeyGenerations({}, now).of(pair_n(0).public_key()).has_value());
    // A record that does not verify leads nowhere.
    RotationLog forged = log;
    forged[0].sig_old[0] ^= 1;
    BOOST_TEST(KeyGenerations(forged, now).of(pair_n(3).public_key()).value_or(99) == std::uint64_t(1));
    // A cycle (two verifying records back and forth) has no generations.
    const RotationLog cycle = {make_rotation_record(pair_n(0), pair_n(1), 100),
                               make_rotation_record(pair_n(1), pair_n(0), 200)};
    BOOST_TEST(!KeyGenerations(cycle, pair_n(0).public_key()).of(pair_n(0).public_key()).has_value());
}

BOOST_AUTO_TEST_CASE(two_records_from_one_old_key_are_a_fork) {
    const RotationRecord ab = make_rotation_record(pair_n(0), pair_n(1), 100);
    const RotationRecord ac = make_rotation_record(pair_n(0), pair_n(2), 150);
    const RotationRecord bd = make_rotation_record(pair_n(1), pair_n(3), 200);
    const RotationLog log = {ab, bd, ac};
    const auto fork = find_fork(log);
    BOOST_REQUIRE(fork.has_value());
    BOOST_TEST(fork->first == ab);
    BOOST_TEST(fork->second == ac);
    // Neither branch is followed from the forked key.
    BOOST_TEST(path_from(log, pair_n(0).public_key()).empty());
    // Past the fork point the chain is unambiguous.
    BOOST_TEST(path_from(log, pair_n(1).public_key()) == std::vector<RotationRecord>{bd});

    // A fork further down stops the path there.
    const RotationRecord be = make_rotation_record(pair_n(1), pair_n(4), 250);
    const RotationLog later = {ab, bd, be};
    BOOST_REQUIRE(find_fork(later).has_value());
    BOOST_TEST(find_fork(later)->first == bd);
    BOOST_TEST(path_from(later, pair_n(0).public_key()) == std::vector<RotationRecord>{ab});

    // The same old and new keys at another time is also a fork (two statements).
    const RotationRecord ab2 = make_rotation_record(pair_n(0), pair_n(1), 101);
    BOOST_TEST(find_fork(RotationLog{ab, ab2}).has_value());
}

BOOST_AUTO_TEST_CASE(records_that_do_not_verify_are_ignored) {
    const RotationRecord ab = make_rotation_record(pair_n(0), pair_n(1), 100);
    RotationRecord forged = make_rotation_record(pair_n(0), pair_n(2), 100);
    forged.sig_old[5] ^= 1;
    const RotationLog log = {forged, ab};
    BOOST_TEST(!find_fork(log).has_value());
    BOOST_TEST(path_from(log, pair_n(0).public_key()) == std::vector<RotationRecord>{ab});
    // A record only the new key signed does not lead anywhere.
    RotationRecord half = make_rotation_record(pair_n(1), pair_n(3), 200);
    half.sig_old = pair_n(3).sign(as_bytes(rotation_statement(half.old_key, half.new_key, half.at)));
    BOOST_TEST(path_from(RotationLog{ab, half}, pair_n(0).public_key()) == std::vector<RotationRecord>{ab});
}

BOOST_AUTO_TEST_CASE(path_from_stops_on_a_cycle) {
    const RotationRecord ab = make_rotation_record(pair_n(0), pair_n(1), 100);
    const RotationRecord ba = make_rotation_record(pair_n(1), pair_n(0), 200);
    const auto path = path_from(RotationLog{ab, ba}, pair_n(0).public_key());
    BOOST_TEST(path == std::vector<RotationRecord>{ab});
}

BOOST_AUTO_TEST_CASE(append_record_checks_and_deduplicates) {
    RotationLog log;
    const RotationRecord ab = make_rotation_record(pair_n(0), pair_n(1), 100);
    BOOST_TEST(append_record(log, ab));
    BOOST_TEST(!append_record(log, ab)); // already there
    BOOST_TEST(log.size() == 1u);
    const RotationRecord bc = make_rotation_record(pair_n(1), pair_n(2), 200);
    BOOST_TEST(append_record(log, bc));
    BOOST_TEST((log == RotationLog{ab, bc}));

    RotationRecord bad = make_rotation_record(pair_n(2), pair_n(3), 300);
    bad.sig_new[0] ^= 1;
    auto err = catch_error([&] { append_record(log, bad); });
    BOOST_REQUIRE(err);
    BOOST_TEST(err->kind() == Failure::failed);
    CHECK_CONTAINS(err->why(), "do not verify");
    BOOST_TEST(log.size() == 2u);

    // The appended log is a valid file.
    BOOST_TEST(parse_rotation_log(as_bytes(serialize_rotation_log(log)), kLabel) == log);

    // A full log takes no more.
    RotationLog full(kMaxRotationRecords, ab);
    err = catch_error([&] { append_record(full, bc); });
    BOOST_REQUIRE(err);
    CHECK_CONTAINS(err->why(), "already holds 1024 records");
}

// ============================== name-claim.json ==============================

BOOST_AUTO_TEST_CASE(name_rules) {
    for (const char *ok : {"a", "z9", "alice", "my-puddle-2", "a-", "a--b", "abcdefghijklmnopqrstuvwxyz012345"})
        BOOST_TEST(valid_name(ok), ok);
    struct Bad {
        std::string name;
        const char *why;
    };
    const std::vector<Bad> bad = {
        {"", "a name cannot be empty"},
        {"abcdefghijklmnopqrstuvwxyz0123456", "a name is at most 32 characters, found 33"},
        {"1abc", "a name starts with a letter (a-z)"},
        {"-abc", "a name starts with a letter (a-z)"},
        {"Alice", "a name holds only a-z, 0-9 and '-', found 'A' at position 1"},
        {"a_b", "found '_' at position 2"},
        {"a b", "found a space at position 2"},
        {"a.b", "found '.' at position 2"},
        {"caf\xc3\xa9", "found byte 0xc3 at position 4"},
        {"a\nb", "found byte 0x0a at position 2"},
        {std::string("a\0b", 3), "found byte 0x00 at position 2"},
    };
    for (const auto &b : bad) {
        std::string why;
        BOOST_TEST(!valid_name(b.name, &why), b.name);
        CHECK_CONTAINS(why, b.why);
        BOOST_TEST(printable(why));
    }
    BOOST_TEST(!valid_name("1"));
}

BOOST_AUTO_TEST_CASE(name_statement_is_exact) {
    BOOST_TEST(name_statement("alice", key_of(0xab), 42) ==
               "puddle-statement-name-v1\nalice\ned25519:" + to_hex(key_of(0xab).bytes) + "\n42\n");
}

BOOST_AUTO_TEST_CASE(name_claims_sign_and_verify) {
    const NameClaim c = make_name_claim(pair_n(0), "alice", 1700000000);
    BOOST_TEST(c.pubkey == pair_n(0).public_key());
    BOOST_TEST(verify_claim(c));
    BOOST_TEST(verify_signature(c.pubkey, as_bytes(name_statement("alice", c.pubkey, 1700000000)), c.sig));
    NameClaim t = c;
    t.name = "alicf";
    BOOST_TEST(!verify_claim(t));
    t = c;
    t.at += 1;
    BOOST_TEST(!verify_claim(t));
    t = c;
    t.pubkey = pair_n(1).public_key(); // someone else's key on my signature
    BOOST_TEST(!verify_claim(t));
    t = c;
    t.sig[10] ^= 4;
    BOOST_TEST(!verify_claim(t));
    BOOST_CHECK_THROW(make_name_claim(pair_n(0), "Alice", 1), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(name_claims_round_trip) {
    const NameClaim c = make_name_claim(pair_n(1), "team-box-7", 123);
    const std::string text = serialize_name_claim(c);
    BOOST_TEST(text == R"({"v":1,"name":"team-box-7","pubkey":")" + c.pubkey.str() + R"(","at":123,"sig":")" +
                           to_base64(c.sig) + "\"}\n");
    const NameClaim back = parse_name_claim(as_bytes(text), kLabel);
    BOOST_TEST((back == c));
    BOOST_TEST(verify_claim(back));
}

namespace {
std::string claim_json(const std::string &name_json, const std::string &extra = "") {
    return R"({"v":1,"name":)" + name_json + R"(,"pubkey":)" + kOld + R"(,"at":9,"sig":)" + kSig + extra + "}";
}
} // namespace

BOOST_AUTO_TEST_CASE(name_claims_refuse_bad_files) {
    BOOST_TEST(parse_name_claim(as_bytes(claim_json("\"ok\"")), kLabel).name == "ok");
    BOOST_TEST(why_refused_claim(claim_json("\"Bad\"")) ==
               "field \"name\": a name holds only a-z, 0-9 and '-', found 'B' at position 1");
    BOOST_TEST(why_refused_claim(claim_json("\"\"")) == "field \"name\": a name cannot be empty");
    BOOST_TEST(why_refused_claim(claim_json("7")) == "field \"name\" must be a string, found an integer");
    BOOST_TEST(why_refused_claim(claim_json("\"ok\"", R"(,"host":"x")")) == "unknown field \"host\"");
    CHECK_CONTAINS(why_refused_claim(claim_json("\"ok\"", R"(,"name":"ok")")), "duplicate object key \"name\"");
    BOOST_TEST(why_refused_claim(R"({"v":2,"name":"ok"})") ==
               "format version 2 is not supported (this puddle reads version 1)");
    BOOST_TEST(why_refused_claim(R"({"v":1,"name":"ok","pubkey":)" + kOld + R"(,"at":9})") ==
               "missing field \"sig\"");
    BOOST_TEST(why_refused_claim(R"({"v":1,"name":"ok","pubkey":)" + kOld + R"(,"sig":)" + kSig + "}") ==
               "missing field \"at\"");
    CHECK_CONTAINS(why_refused_claim(R"({"v":1,"name":"ok","pubkey":"ed25519:AB","at":9,"sig":)" + kSig + "}"),
                   "field \"pubkey\" is not a public key");
    BOOST_TEST(why_refused_claim(R"({"v":1,"name":"ok","pubkey":)" + kOld + R"(,"at":9,"sig":"AAAA"})") ==
               "field \"sig\" must be a signature: the base64 of 64 bytes (88 characters ending in \"==\")");
    CHECK_CONTAINS(why_refused_claim(R"({"v":1,"name":"ok","pubkey":)" + kOld + R"(,"at":-9,"sig":)" + kSig + "}"),
                   "field \"at\" must not be negative");
    CHECK_CONTAINS(why_refused_claim(R"({"v":1,"name":"ok","pubkey":)" + kOld + R"(,"at":9.5,"sig":)" + kSig + "}"),
                   "numbers must be integers");
    CHECK_CONTAINS(why_refused_claim(claim_json("\"ok\"") + std::string(kMaxNameClaimBytes, ' ')),
                   "more than the limit of 4096");
    BOOST_TEST(why_refused_claim("null") == "expected a JSON object, found null");
    const auto err = refused_by(parse_name_claim, "{");
    CHECK_CONTAINS(err.hint(), "puddle name set");
}

BOOST_AUTO_TEST_CASE(name_claim_serializer_refuses_invalid_claims) {
    NameClaim c = make_name_claim(pair_n(0), "ok", 1);
    c.name = "NOT-OK";
    BOOST_CHECK_THROW(serialize_name_claim(c), std::invalid_argument);
    c.name = "ok";
    c.at = -1;
    BOOST_CHECK_THROW(serialize_name_claim(c), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(errors_name_the_file_and_carry_a_hint) {
    const std::string label = "/var/lib/puddle/names.d/bob.json";
    auto err = catch_error([&] { parse_name_claim(as_bytes("{}"), label); });
    BOOST_REQUIRE(err);
    BOOST_TEST(std::string(err->what()) == "cannot read " + label + ": missing field \"v\"");
    err = catch_error([&] { parse_members(as_bytes("{}"), "members.json"); });
    BOOST_REQUIRE(err);
    CHECK_CONTAINS(err->hint(), "members.json");
    err = catch_error([&] { parse_rotation_log(as_bytes("{}"), "retired_puddles.json"); });
    BOOST_REQUIRE(err);
    CHECK_CONTAINS(err->hint(), "another of your machines");
    err = catch_error([&] { parse_pair_pending(as_bytes("{}"), "pair.pending"); });
    BOOST_REQUIRE(err);
    CHECK_CONTAINS(err->hint(), "puddle pair");
    // Unknown field names from the file are shown safely.
    err = catch_error([&] {
        parse_name_claim(as_bytes(R"({"v":1,"\u001b[2J":1})"), label);
    });
    BOOST_REQUIRE(err);
    BOOST_TEST(err->why() == R"(unknown field "\x1b[2J")");
}
