// The pairing protocol's messages (PAIRING.md "Framing"): the frame reader
// and every way a frame is refused, each size limit, the transcript, the
// fixed order, the PAYLOAD / ACK plaintexts and their sealing, and a whole
// exchange between a joiner and a holder in memory — including a flipped byte
// anywhere on the wire and a wrong code.
#define BOOST_TEST_MODULE pair_messages
#ifndef BOOST_TEST_DYN_LINK
#define BOOST_TEST_DYN_LINK
#endif
#include <boost/test/unit_test.hpp>

#include "support.hpp"

#include "pair/cpace.hpp"
#include "pair/messages.hpp"
#include "pair/payload.hpp"

#include <sodium.h>
#include <string>
#include <vector>

namespace puddle::pair {
// Found by argument-dependent lookup when BOOST_TEST prints a failed comparison.
inline std::ostream &operator<<(std::ostream &os, FrameStatus s) {
    return os << (s == FrameStatus::ok ? "ok" : s == FrameStatus::bad ? "bad" : "need_more");
}
inline std::ostream &operator<<(std::ostream &os, MsgType t) {
    return os << message_type_name(static_cast<std::uint8_t>(t));
}
inline std::ostream &operator<<(std::ostream &os, ErrorCode c) { return os << error_code_name(c); }
inline std::ostream &operator<<(std::ostream &os, Role r) { return os << (r == Role::joiner ? "joiner" : "holder"); }
} // namespace puddle::pair

using namespace puddle;
using namespace puddle::pair;
using puddle_test::bytes_of;
using puddle_test::catch_error;

namespace {

const std::string kHolderKey = "ed25519:" + std::string(64, 'b');

std::vector<Message> sample_messages() {
    return {
        Hello{1, Purpose::pair, SessionNonce{1, 2, 3}, "alice"},
        HelloAck{SessionNonce{9, 8, 7}},
        CpaceA{Point{0xaa}, make_ada(1, Purpose::pair, "laptop")},
        CpaceB{Point{0xbb}, make_adb(1, Purpose::pair, "desktop", kHolderKey), Tag{0xcc}},
        Confirm{Tag{0xdd}},
        PayloadMsg{{AeadNonce{0xee}, Bytes(40, 0x11)}},
        AckMsg{{AeadNonce{0xef}, Bytes(16, 0x22)}},
        make_error(ErrorCode::no_pending, "nothing to claim for alice"),
    };
}

struct Parsed {
    FrameStatus status;
    std::size_t consumed = 0;
    Message message;
    std::string error;
};

Parsed parse(std::span<const std::uint8_t> bytes) {
    Parsed p;
    p.status = parse_frame(bytes, p.consumed, p.message, p.error);
    return p;
}

// The reason a buffer is refused; fails the test case if it is not.
std::string refusal(std::span<const std::uint8_t> bytes) {
    const Parsed p = parse(bytes);
    BOOST_TEST_REQUIRE(p.status == FrameStatus::bad);
    BOOST_TEST(p.consumed == 0u);
    BOOST_TEST(!p.error.empty());
    return p.error;
}

void set_length(Bytes &frame, std::size_t length) {
    frame[0] = static_cast<std::uint8_t>(length >> 24);
    frame[1] = static_cast<std::uint8_t>(length >> 16);
    frame[2] = static_cast<std::uint8_t>(length >> 8);
    frame[3] = static_cast<std::uint8_t>(length);
}

// A frame with any type byte and body, bypassing encode()'s checks.
Bytes raw_frame(std::uint8_t type, std::span<const std::uint8_t> body) {
    Bytes f(4);
    set_length(f, 1 + body.size());
    f.push_back(type);
    f.insert(f.end(), body.begin(), body.end());
    return f;
}

Bytes header(std::size_t length, std::uint8_t type) {
    Bytes f(4);
    set_length(f, length);
    f.push_back(type);
    return f;
}

Bytes u32_string(std::string_view s) {
    Bytes out(4 + s.size());
    set_length(out, s.size());
    std::copy(s.begin(), s.end(), out.begin() + 4);
    return out;
}

Bytes hello_body(std::uint8_t version, std::uint8_t purpose, std::string_view user) {
    Bytes body{version, purpose};
    body.resize(2 + kSessionNonceBytes, 0x5a);
    const Bytes u = u32_string(user);
    body.insert(body.end(), u.begin(), u.end());
    return body;
}

Bytes error_body(std::string_view code, std::string_view text) {
    Bytes body = u32_string(code);
    const Bytes t = u32_string(text);
    body.insert(body.end(), t.begin(), t.end());
    return body;
}

SecretBuffer random_key() {
    SecretBuffer k(kPayloadKeyBytes);
    randombytes_buf(k.data(), k.size());
    return k;
}

TranscriptHash some_ad(std::uint8_t seed) {
    TranscriptHash ad{};
    ad.fill(seed);
    return ad;
}

PairPayload sample_payload() {
    PairPayload p;
    p.wrapped.fill(0x31);
    p.salt.fill(0x32);
    p.pub = kHolderKey;
    p.members_json = R"([{"host":"desktop","at":1700000000}])";
    p.retired_json = "";
    p.claims_json = "[]";
    return p;
}

} // namespace

// --- frames -------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(every_message_round_trips_through_its_frame) {
    for (const Message &m : sample_messages()) {
        BOOST_TEST_CONTEXT(type_of(m)) {
            const Bytes f = encode(m);
            BOOST_TEST(f[4] == static_cast<std::uint8_t>(type_of(m)));
            const Parsed p = parse(f);
            BOOST_TEST_REQUIRE(p.status == FrameStatus::ok, p.error);
            BOOST_TEST(p.consumed == f.size());
            BOOST_TEST((p.message == m));
            BOOST_TEST(encode(p.message) == f, boost::test_tools::per_element());
        }
    }
}

BOOST_AUTO_TEST_CASE(hello_has_the_documented_bytes) {
    const Bytes f = encode(Hello{1, Purpose::rekey, SessionNonce{0xa0}, "bob"});
    Bytes expected{0, 0, 0, 26, 1, 1, 2, 0xa0};
    expected.resize(8 + 15, 0);
    for (char c : std::string_view("\0\0\0\3bob", 7)) expected.push_back(static_cast<std::uint8_t>(c));
    BOOST_TEST(f == expected, boost::test_tools::per_element());

    const Bytes adb = make_adb(1, Purpose::pair, "h", "k");
    const Bytes cb = encode(CpaceB{Point{1}, adb, Tag{2}});
    BOOST_TEST(cb.size() == 4u + 1 + 32 + 4 + adb.size() + 64);
    BOOST_TEST(cb[5] == 1);                            // Yb, raw
    BOOST_TEST(cb[4 + 1 + 32 + 3] == adb.size());      // ADb, u32-length-prefixed
    BOOST_TEST(cb[4 + 1 + 32 + 4 + adb.size()] == 2);  // Tb, raw
}

BOOST_AUTO_TEST_CASE(every_proper_prefix_of_a_frame_needs_more) {
    for (const Message &m : sample_messages()) {
        const Bytes f = encode(m);
        for (std::size_t n = 0; n < f.size(); ++n) {
            const Parsed p = parse(std::span<const std::uint8_t>(f).first(n));
            BOOST_TEST(p.status == FrameStatus::need_more, type_of(m) << " prefix " << n);
            BOOST_TEST(p.consumed == 0u);
            BOOST_TEST(frame_size_hint(std::span<const std::uint8_t>(f).first(n)) == (n < 4 ? 5 : f.size()));
        }
    }
}

BOOST_AUTO_TEST_CASE(two_frames_in_one_buffer_are_read_one_at_a_time) {
    Bytes buffer = encode(HelloAck{SessionNonce{1}});
    const Bytes second = encode(Confirm{Tag{2}});
    buffer.insert(buffer.end(), second.begin(), second.end());
    buffer.push_back(0); // the start of a third

    Parsed p = parse(buffer);
    BOOST_TEST_REQUIRE(p.status == FrameStatus::ok);
    BOOST_TEST(type_of(p.message) == MsgType::hello_ack);
    buffer.erase(buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(p.consumed));
    p = parse(buffer);
    BOOST_TEST_REQUIRE(p.status == FrameStatus::ok);
    BOOST_TEST(type_of(p.message) == MsgType::confirm);
    buffer.erase(buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(p.consumed));
    BOOST_TEST(parse(buffer).status == FrameStatus::need_more);
}

BOOST_AUTO_TEST_CASE(a_zero_length_frame_is_refused) {
    CHECK_CONTAINS(refusal(Bytes{0, 0, 0, 0}), "length 0");
    CHECK_CONTAINS(refusal(Bytes{0, 0, 0, 0, 1, 2, 3}), "length 0");
}

BOOST_AUTO_TEST_CASE(an_unknown_type_is_refused_from_its_header) {
    for (int t : {0, 8, 9, 14, 16, 128, 255}) {
        BOOST_TEST_CONTEXT("type " << t) {
            CHECK_CONTAINS(refusal(header(10, static_cast<std::uint8_t>(t))), "unknown message type");
            Message m;
            std::string error;
            BOOST_TEST(!decode_body(static_cast<std::uint8_t>(t), {}, m, error));
        }
    }
}

BOOST_AUTO_TEST_CASE(non_payload_messages_stop_at_4_kib_decided_from_the_header) {
    for (std::uint8_t t : {1, 2, 3, 4, 5, 7, 15}) {
        BOOST_TEST_CONTEXT(message_type_name(t)) {
            BOOST_TEST(max_message_bytes(static_cast<MsgType>(t)) == 4096u);
            BOOST_TEST(parse(header(4096, t)).status == FrameStatus::need_more);
            CHECK_CONTAINS(refusal(header(4097, t)), "over its 4 KiB limit");
        }
    }
    // A whole ACK of exactly 4 KiB is read; one byte more is refused even complete.
    AckMsg ack{{AeadNonce{}, Bytes(4096 - 1 - 24 - 4, 0x44)}};
    Bytes f = encode(ack);
    BOOST_TEST(f.size() == 4u + 4096);
    BOOST_TEST(parse(f).status == FrameStatus::ok);
    ack.ciphertext.push_back(0);
    BOOST_TEST(catch_error([&] { encode(ack); }).has_value());
    f = raw_frame(7, Bytes(4097 - 1, 0));
    CHECK_CONTAINS(refusal(f), "over its 4 KiB limit");
}

BOOST_AUTO_TEST_CASE(payload_stops_at_1_mib_decided_from_the_length_alone) {
    BOOST_TEST(max_message_bytes(MsgType::payload) == 1024u * 1024);
    BOOST_TEST(parse(header(1024 * 1024, 6)).status == FrameStatus::need_more);
    CHECK_CONTAINS(refusal(header(1024 * 1024 + 1, 6)), "1 MiB");
    // Over 1 MiB is over every limit: refused from the 4 length bytes alone.
    Bytes prefix = header(1024 * 1024 + 1, 6);
    prefix.pop_back();
    CHECK_CONTAINS(refusal(prefix), "1 MiB");
    set_length(prefix, 0xffffffff);
    CHECK_CONTAINS(refusal(prefix), "1 MiB");
    // Between 4 KiB and 1 MiB the type decides: wait for it.
    Bytes four = header(5000, 6);
    four.pop_back();
    BOOST_TEST(parse(four).status == FrameStatus::need_more);

    PayloadMsg payload{{AeadNonce{}, Bytes(1024 * 1024 - 1 - 24 - 4, 0x55)}};
    Bytes f = encode(payload);
    BOOST_TEST(f.size() == 4u + 1024 * 1024);
    const Parsed p = parse(f);
    BOOST_TEST(p.status == FrameStatus::ok);
    BOOST_TEST(p.consumed == f.size());
    payload.ciphertext.push_back(0);
    BOOST_TEST(catch_error([&] { encode(payload); }).has_value());
    f = raw_frame(6, Bytes(1024 * 1024, 0));
    CHECK_CONTAINS(refusal(f), "1 MiB");
}

BOOST_AUTO_TEST_CASE(a_body_cut_short_is_refused_for_every_type) {
    for (const Message &m : sample_messages()) {
        BOOST_TEST_CONTEXT(type_of(m)) {
            Bytes f = encode(m);
            f.pop_back();
            set_length(f, f.size() - 4);
            CHECK_CONTAINS(refusal(f), "truncated");
        }
    }
    // Only the type byte: every type has at least one field.
    for (std::uint8_t t : {1, 2, 3, 4, 5, 6, 7, 15}) CHECK_CONTAINS(refusal(raw_frame(t, {})), "truncated");
}

BOOST_AUTO_TEST_CASE(a_string_length_past_the_body_is_refused) {
    Bytes body = hello_body(1, 1, "alice");
    body[18] = 0xff; // user length 0xff000005
    CHECK_CONTAINS(refusal(raw_frame(1, body)), "truncated");
    body = error_body("busy", "x");
    body[3] = 5; // code length 5 but only "busy" + the next length follow… then runs out
    const Bytes f = raw_frame(15, body);
    BOOST_TEST(parse(f).status == FrameStatus::bad);
}

BOOST_AUTO_TEST_CASE(bytes_after_the_last_field_are_refused_for_every_type) {
    for (const Message &m : sample_messages()) {
        BOOST_TEST_CONTEXT(type_of(m)) {
            Bytes f = encode(m);
            f.push_back(0);
            set_length(f, f.size() - 4);
            CHECK_CONTAINS(refusal(f), "trailing");
        }
    }
}

BOOST_AUTO_TEST_CASE(hello_rules) {
    BOOST_TEST(parse(raw_frame(1, hello_body(1, 1, "alice"))).status == FrameStatus::ok);
    BOOST_TEST(parse(raw_frame(1, hello_body(1, 2, "alice"))).status == FrameStatus::ok);
    BOOST_TEST(parse(raw_frame(1, hello_body(1, 1, std::string(255, 'u')))).status == FrameStatus::ok);
    CHECK_CONTAINS(refusal(raw_frame(1, hello_body(0, 1, "alice"))), "version");
    CHECK_CONTAINS(refusal(raw_frame(1, hello_body(2, 1, "alice"))), "version");
    CHECK_CONTAINS(refusal(raw_frame(1, hello_body(1, 0, "alice"))), "purpose");
    CHECK_CONTAINS(refusal(raw_frame(1, hello_body(1, 3, "alice"))), "purpose");
    CHECK_CONTAINS(refusal(raw_frame(1, hello_body(1, 1, ""))), "user");
    CHECK_CONTAINS(refusal(raw_frame(1, hello_body(1, 1, std::string(256, 'u')))), "user");
    CHECK_CONTAINS(refusal(raw_frame(1, hello_body(1, 1, std::string("al\0ce", 5)))), "user");
    CHECK_CONTAINS(refusal(raw_frame(1, hello_body(1, 1, "al\nce"))), "user");
    CHECK_CONTAINS(refusal(raw_frame(1, hello_body(1, 1, "al\x7f" "ce"))), "user");

    BOOST_TEST(catch_error([] { encode(Hello{2, Purpose::pair, {}, "alice"}); }).has_value());
    BOOST_TEST(catch_error([] { encode(Hello{1, static_cast<Purpose>(9), {}, "alice"}); }).has_value());
    BOOST_TEST(catch_error([] { encode(Hello{1, Purpose::pair, {}, ""}); }).has_value());
}

BOOST_AUTO_TEST_CASE(cpace_messages_need_well_formed_ad) {
    auto cpace_a_body = [](std::span<const std::uint8_t> ad) {
        Bytes body(kPointBytes, 0xaa);
        Bytes s(4);
        set_length(s, ad.size());
        s.insert(s.end(), ad.begin(), ad.end());
        body.insert(body.end(), s.begin(), s.end());
        return body;
    };
    auto cpace_b_body = [&](std::span<const std::uint8_t> ad) {
        Bytes body = cpace_a_body(ad);
        body.resize(body.size() + kTagBytes, 0xcc);
        return body;
    };
    const Bytes ada = make_ada(1, Purpose::pair, "laptop");
    const Bytes adb = make_adb(1, Purpose::pair, "desktop", kHolderKey);
    BOOST_TEST(parse(raw_frame(3, cpace_a_body(ada))).status == FrameStatus::ok);
    BOOST_TEST(parse(raw_frame(4, cpace_b_body(adb))).status == FrameStatus::ok);

    Bytes ada_trailing = ada;
    ada_trailing.push_back(0);
    CHECK_CONTAINS(refusal(raw_frame(3, cpace_a_body(ada_trailing))), "ADa");
    CHECK_CONTAINS(refusal(raw_frame(3, cpace_a_body(adb))), "ADa");  // four parts, not three
    CHECK_CONTAINS(refusal(raw_frame(3, cpace_a_body(Bytes{}))), "ADa");
    CHECK_CONTAINS(refusal(raw_frame(4, cpace_b_body(ada))), "ADb");
    CHECK_CONTAINS(refusal(raw_frame(4, cpace_b_body(lv_cat({Bytes{1}, Bytes{5}, bytes_of("h"), bytes_of("k")})))),
                   "ADb"); // unknown purpose

    BOOST_TEST(catch_error([&] { encode(CpaceA{Point{}, ada_trailing}); }).has_value());
    BOOST_TEST(catch_error([&] { encode(CpaceB{Point{}, ada, Tag{}}); }).has_value());
}

BOOST_AUTO_TEST_CASE(sealed_messages_hold_at_least_a_tag) {
    for (std::uint8_t t : {6, 7}) {
        Bytes body(kAeadNonceBytes, 0);
        for (std::size_t n : {0u, 15u, 16u}) {
            Bytes b = body;
            Bytes len(4);
            set_length(len, n);
            b.insert(b.end(), len.begin(), len.end());
            b.resize(b.size() + n, 0x77);
            const Parsed p = parse(raw_frame(t, b));
            BOOST_TEST((p.status == (n >= 16 ? FrameStatus::ok : FrameStatus::bad)), "type " << int(t) << " n " << n);
        }
    }
    BOOST_TEST(catch_error([] { encode(PayloadMsg{{AeadNonce{}, Bytes(15)}}); }).has_value());
    BOOST_TEST(catch_error([] { encode(AckMsg{{AeadNonce{}, Bytes{}}}); }).has_value());
}

BOOST_AUTO_TEST_CASE(error_rules) {
    BOOST_TEST(parse(raw_frame(15, error_body("busy", ""))).status == FrameStatus::ok);
    BOOST_TEST(parse(raw_frame(15, error_body(std::string(32, 'z'), std::string(1024, 't')))).status ==
               FrameStatus::ok);
    BOOST_TEST(parse(raw_frame(15, error_body("some-new-code", "ünïcode is fine"))).status == FrameStatus::ok);
    CHECK_CONTAINS(refusal(raw_frame(15, error_body("", "x"))), "code");
    CHECK_CONTAINS(refusal(raw_frame(15, error_body(std::string(33, 'z'), "x"))), "code");
    CHECK_CONTAINS(refusal(raw_frame(15, error_body("Busy", "x"))), "code");
    CHECK_CONTAINS(refusal(raw_frame(15, error_body("bad_message", "x"))), "code");
    CHECK_CONTAINS(refusal(raw_frame(15, error_body("busy ", "x"))), "code");
    CHECK_CONTAINS(refusal(raw_frame(15, error_body("busy", std::string(1025, 't')))), "text");
    CHECK_CONTAINS(refusal(raw_frame(15, error_body("busy", "line\nbreak"))), "text");
    CHECK_CONTAINS(refusal(raw_frame(15, error_body("busy", "\x1b[31mred"))), "text");

    BOOST_TEST(catch_error([] { encode(ErrorMsg{"BAD", "x"}); }).has_value());
    BOOST_TEST(catch_error([] { encode(ErrorMsg{"busy", "a\rb"}); }).has_value());
}

BOOST_AUTO_TEST_CASE(error_codes_have_their_names_and_unknown_ones_are_kept) {
    const std::pair<ErrorCode, std::string_view> known[] = {
        {ErrorCode::no_pending, "no-pending"},   {ErrorCode::expired, "expired"},
        {ErrorCode::busy, "busy"},               {ErrorCode::bad_message, "bad-message"},
        {ErrorCode::auth_failed, "auth-failed"}, {ErrorCode::internal, "internal"},
    };
    for (const auto &[code, name] : known) {
        BOOST_TEST(error_code_name(code) == name);
        BOOST_TEST(error_code_from_name(name) == code);
        const Parsed p = parse(encode(make_error(code, "why")));
        BOOST_TEST_REQUIRE(p.status == FrameStatus::ok);
        BOOST_TEST(std::get<ErrorMsg>(p.message).known() == code);
    }
    const Parsed p = parse(raw_frame(15, error_body("from-the-future", "x")));
    BOOST_TEST_REQUIRE(p.status == FrameStatus::ok);
    BOOST_TEST(std::get<ErrorMsg>(p.message).code == "from-the-future");
    BOOST_TEST(std::get<ErrorMsg>(p.message).known() == ErrorCode::other);
}

BOOST_AUTO_TEST_CASE(type_names_and_bytes) {
    for (const Message &m : sample_messages()) {
        const auto b = static_cast<std::uint8_t>(type_of(m));
        BOOST_TEST((message_type_from_byte(b) == type_of(m)));
        BOOST_TEST(message_type_name(b) != "unknown");
    }
    BOOST_TEST(message_type_name(3) == "CPACE_A");
    BOOST_TEST(message_type_name(8) == "unknown");
    BOOST_TEST(!message_type_from_byte(0));
}

// --- transcript ---------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(transcript_hash_is_sha512_of_every_frame_in_order) {
    Transcript t;
    Bytes all;
    std::array<std::uint8_t, 64> expected{};
    crypto_hash_sha512(expected.data(), all.data(), 0);
    BOOST_TEST(t.hash() == expected, boost::test_tools::per_element());
    for (const Message &m : sample_messages()) {
        const Bytes f = encode(m);
        t.add(f);
        all.insert(all.end(), f.begin(), f.end());
        crypto_hash_sha512(expected.data(), all.data(), all.size());
        BOOST_TEST(t.hash() == expected, boost::test_tools::per_element());
        BOOST_TEST(t.hash() == expected, boost::test_tools::per_element()); // hash() does not consume
    }
    BOOST_TEST(t.size() == all.size());

    // Order matters.
    Transcript a, b;
    const Bytes x = encode(Confirm{Tag{1}}), y = encode(HelloAck{SessionNonce{2}});
    a.add(x);
    a.add(y);
    b.add(y);
    b.add(x);
    BOOST_TEST(a.hash() != b.hash());
}

// --- order --------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(the_sequence_is_fixed_and_each_side_takes_only_its_peers_messages) {
    const MsgType sequence[] = {MsgType::hello,   MsgType::hello_ack, MsgType::cpace_a, MsgType::cpace_b,
                                MsgType::confirm, MsgType::payload,   MsgType::ack};
    const MsgType all[] = {MsgType::hello,   MsgType::hello_ack, MsgType::cpace_a, MsgType::cpace_b,
                           MsgType::confirm, MsgType::payload,   MsgType::ack,     MsgType::error};
    PairState s = PairState::await_hello;
    for (MsgType next : sequence) {
        BOOST_TEST_CONTEXT(next) {
            BOOST_TEST((awaited_message(s) == next));
            const Role sender = *sender_of(next);
            const Role receiver = sender == Role::joiner ? Role::holder : Role::joiner;
            for (MsgType t : all) {
                const bool in_order = t == next || t == MsgType::error;
                BOOST_TEST(expected_next(receiver, s, t) == in_order, "receiver " << receiver << " got " << t);
                BOOST_TEST(may_send(sender, s, t) == in_order, "sender " << sender << " sends " << t);
                // The awaited message never comes from the wrong side.
                if (t != MsgType::error) {
                    BOOST_TEST(!expected_next(sender, s, t));
                    BOOST_TEST(!may_send(receiver, s, t));
                }
            }
        }
        s = advance(s);
    }
    BOOST_TEST((s == PairState::done));
    BOOST_TEST(!awaited_message(s));
    BOOST_TEST((advance(s) == PairState::done));
    for (MsgType t : all) {
        BOOST_TEST(!expected_next(Role::joiner, s, t));
        BOOST_TEST(!expected_next(Role::holder, s, t));
    }
    BOOST_TEST(!sender_of(MsgType::error));
}

// --- plaintexts ---------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(payload_plaintext_round_trips_with_the_documented_layout) {
    const PairPayload p = sample_payload();
    const Bytes plain = encode_payload_plaintext(p);
    BOOST_TEST(plain.size() == 6 * 4 + 90 + 16 + p.pub.size() + p.members_json.size() + 0 + 2);
    BOOST_TEST((Bytes(plain.begin(), plain.begin() + 4) == Bytes{0, 0, 0, 90}));
    BOOST_TEST(plain[4] == 0x31);
    BOOST_TEST((Bytes(plain.begin() + 94, plain.begin() + 98) == Bytes{0, 0, 0, 16}));
    std::string error;
    const auto back = decode_payload_plaintext(plain, error);
    BOOST_TEST_REQUIRE(back.has_value(), error);
    BOOST_TEST((*back == p));
}

BOOST_AUTO_TEST_CASE(payload_plaintext_fields_are_bounded) {
    auto refused = [](const PairPayload &p, std::string_view why) {
        BOOST_TEST(catch_error([&] { encode_payload_plaintext(p); }).has_value());
        // Build the same bytes by hand to show the decoder refuses them too.
        Bytes plain;
        for (std::string_view f : {std::string_view(reinterpret_cast<const char *>(p.wrapped.data()), 90),
                                   std::string_view(reinterpret_cast<const char *>(p.salt.data()), 16),
                                   std::string_view(p.pub), std::string_view(p.members_json),
                                   std::string_view(p.retired_json), std::string_view(p.claims_json)}) {
            const Bytes s = u32_string(f);
            plain.insert(plain.end(), s.begin(), s.end());
        }
        std::string error;
        BOOST_TEST(!decode_payload_plaintext(plain, error));
        CHECK_CONTAINS(error, std::string(why));
    };
    PairPayload p = sample_payload();
    p.pub.clear();
    refused(p, "identity.pub");
    p = sample_payload();
    p.pub.assign(101, 'k');
    refused(p, "identity.pub");
    p = sample_payload();
    p.members_json.clear();
    refused(p, "members.json");
    p = sample_payload();
    p.members_json.assign(512 * 1024 + 1, ' ');
    refused(p, "members.json");
    p = sample_payload();
    p.retired_json.assign(512 * 1024 + 1, ' ');
    refused(p, "retired_puddles.json");
    p = sample_payload();
    p.claims_json.clear();
    refused(p, "claims");
    p = sample_payload();
    p.claims_json.assign(512 * 1024 + 1, ' ');
    refused(p, "claims");
    p = sample_payload();
    p.members_json.assign(512 * 1024, ' ');
    p.claims_json.assign(512 * 1024, ' ');
    refused(p, "size limit");

    // At the bounds: accepted.
    p = sample_payload();
    p.pub.assign(100, 'k');
    p.members_json.assign(512 * 1024, ' ');
    BOOST_TEST(!catch_error([&] { encode_payload_plaintext(p); }).has_value());
}

BOOST_AUTO_TEST_CASE(payload_plaintext_wrapped_and_salt_have_exact_sizes) {
    const Bytes good = encode_payload_plaintext(sample_payload());
    std::string error;
    // identity.wrapped of 89 / 91 and identity.salt of 15 / 17 bytes.
    for (int delta : {-1, +1}) {
        Bytes plain = good;
        plain[3] = static_cast<std::uint8_t>(90 + delta);
        if (delta < 0) plain.erase(plain.begin() + 4);
        else plain.insert(plain.begin() + 4, 0x31);
        BOOST_TEST(!decode_payload_plaintext(plain, error));
        CHECK_CONTAINS(error, "identity.wrapped");

        plain = good;
        plain[97] = static_cast<std::uint8_t>(16 + delta);
        if (delta < 0) plain.erase(plain.begin() + 98);
        else plain.insert(plain.begin() + 98, 0x32);
        BOOST_TEST(!decode_payload_plaintext(plain, error));
        CHECK_CONTAINS(error, "identity.salt");
    }
    Bytes trailing = good;
    trailing.push_back(0);
    BOOST_TEST(!decode_payload_plaintext(trailing, error));
    CHECK_CONTAINS(error, "trailing");
    for (std::size_t n = 0; n < good.size(); ++n) {
        BOOST_TEST(!decode_payload_plaintext(std::span<const std::uint8_t>(good).first(n), error), "prefix " << n);
    }
}

BOOST_AUTO_TEST_CASE(member_record_round_trips_and_its_time_is_strict_decimal) {
    for (std::int64_t at : {std::int64_t{0}, std::int64_t{1700000000}, INT64_MAX}) {
        const MemberRecord r{"laptop", at};
        std::string error;
        const auto back = decode_member_record(encode_member_record(r), error);
        BOOST_TEST_REQUIRE(back.has_value(), error);
        BOOST_TEST((*back == r));
    }
    const Bytes plain = encode_member_record({"h", 42});
    BOOST_TEST(plain == (Bytes{0, 0, 0, 1, 'h', 0, 0, 0, 2, '4', '2'}), boost::test_tools::per_element());

    auto record = [](std::string_view host, std::string_view time) {
        Bytes b = u32_string(host);
        const Bytes t = u32_string(time);
        b.insert(b.end(), t.begin(), t.end());
        return b;
    };
    std::string error;
    BOOST_TEST(decode_member_record(record("h", "0"), error).has_value());
    for (std::string_view bad : {"", "01", "-1", "+1", "1.5", " 1", "1 ", "9223372036854775808",
                                 "99999999999999999999", "1e9", "0x10"}) {
        BOOST_TEST(!decode_member_record(record("h", bad), error), "time " << bad);
    }
    BOOST_TEST(!decode_member_record(record("", "1"), error));
    BOOST_TEST(!decode_member_record(record(std::string(256, 'h'), "1"), error));
    BOOST_TEST(!decode_member_record(record("a\nb", "1"), error));
    Bytes trailing = record("h", "1");
    trailing.push_back(0);
    BOOST_TEST(!decode_member_record(trailing, error));
    BOOST_TEST(!decode_member_record(u32_string("h"), error));

    BOOST_TEST(catch_error([] { encode_member_record({"", 1}); }).has_value());
    BOOST_TEST(catch_error([] { encode_member_record({"h", -1}); }).has_value());
}

// --- sealing ------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(sealing_round_trips_and_any_changed_byte_fails) {
    const SecretBuffer k = random_key();
    const TranscriptHash ad = some_ad(7);
    const PayloadMsg sealed = seal_payload(k, sample_payload(), ad);
    std::string error;
    auto opened = open_payload(k, sealed, ad, error);
    BOOST_TEST_REQUIRE(opened.has_value(), error);
    BOOST_TEST((*opened == sample_payload()));

    for (std::size_t i = 0; i < sealed.ciphertext.size(); ++i) {
        PayloadMsg bad = sealed;
        bad.ciphertext[i] ^= 0x01;
        BOOST_TEST(!open_payload(k, bad, ad, error), "ciphertext byte " << i);
    }
    for (std::size_t i = 0; i < sealed.nonce.size(); ++i) {
        PayloadMsg bad = sealed;
        bad.nonce[i] ^= 0x80;
        BOOST_TEST(!open_payload(k, bad, ad, error), "nonce byte " << i);
    }
    for (std::size_t i = 0; i < ad.size(); ++i) {
        TranscriptHash other = ad;
        other[i] ^= 0x01;
        BOOST_TEST(!open_payload(k, sealed, other, error), "AD byte " << i);
    }
    BOOST_TEST(!open_payload(random_key(), sealed, ad, error));
    CHECK_CONTAINS(error, "authenticate");
    PayloadMsg cut = sealed;
    cut.ciphertext.pop_back();
    BOOST_TEST(!open_payload(k, cut, ad, error));
    cut.ciphertext.resize(10);
    BOOST_TEST(!open_payload(k, cut, ad, error));
    BOOST_TEST(!open(SecretBuffer(31), sealed, ad));
    BOOST_TEST(catch_error([&] { seal(SecretBuffer(31), Bytes{1}, ad); }).has_value());
}

BOOST_AUTO_TEST_CASE(every_seal_draws_a_new_nonce) {
    const SecretBuffer k = random_key();
    const AckMsg a = seal_ack(k, {"h", 1}, some_ad(1));
    const AckMsg b = seal_ack(k, {"h", 1}, some_ad(1));
    BOOST_TEST(a.nonce != b.nonce);
    BOOST_TEST(a.ciphertext != b.ciphertext);
    std::string error;
    auto r = open_ack(k, a, some_ad(1), error);
    BOOST_TEST_REQUIRE(r.has_value(), error);
    BOOST_TEST(r->host == "h");
    BOOST_TEST(!open_ack(k, a, some_ad(2), error));
}

BOOST_AUTO_TEST_CASE(the_largest_payload_fits_its_frame_exactly) {
    PairPayload p = sample_payload();
    const std::size_t fixed = 6 * 4 + 90 + 16 + p.pub.size() + p.claims_json.size();
    p.members_json.assign(512 * 1024, ' ');
    p.retired_json.assign(kMaxPayloadPlaintextBytes - fixed - p.members_json.size(), ' ');
    BOOST_TEST(encode_payload_plaintext(p).size() == kMaxPayloadPlaintextBytes);
    const SecretBuffer k = random_key();
    const Bytes frame = encode(seal_payload(k, p, some_ad(3)));
    BOOST_TEST(frame.size() == 4u + 1024 * 1024);
    Parsed parsed = parse(frame);
    BOOST_TEST_REQUIRE(parsed.status == FrameStatus::ok, parsed.error);
    std::string error;
    auto back = open_payload(k, std::get<PayloadMsg>(parsed.message), some_ad(3), error);
    BOOST_TEST_REQUIRE(back.has_value(), error);
    BOOST_TEST((*back == p));

    p.retired_json.push_back(' ');
    BOOST_TEST(catch_error([&] { seal_payload(k, p, some_ad(3)); }).has_value());
}

// --- a whole exchange in memory -------------------------------------------------------------
//
// A joiner and a holder following PAIRING.md's flow with the codecs above,
// every frame passing through a Wire that can flip one byte. The TLS layer is
// left out: both sides are given the same channel binding.

namespace {

struct ExchangeFailure {
    Role side;
    std::string reason;
};

struct ExchangeOptions {
    std::string joiner_code = "2468-1357";
    std::string holder_code = "24681357";
    std::optional<std::size_t> flip_at; // global byte offset on the wire, both directions in order
    std::uint8_t flip_mask = 0x01;
    bool joiner_skips_tb_check = false;     // a joiner that does not stop at a bad Tb
    std::optional<std::string> payload_pub; // what H puts in identity.pub (default: its key)
    bool joiner_sends_confirm_early = false;
};

struct Outcome {
    std::optional<ExchangeFailure> failure;
    bool code_burned = false;
    std::size_t wire_bytes = 0;
    std::optional<PairPayload> joiner_got;
    std::optional<MemberRecord> holder_got;
    Bytes joiner_k, holder_k;
    std::optional<TranscriptHash> joiner_transcript, holder_transcript;
};

class Wire {
public:
    explicit Wire(const ExchangeOptions &o) : flip_at_(o.flip_at), mask_(o.flip_mask) {}
    Bytes carry(Bytes frame) {
        for (auto &b : frame) {
            if (flip_at_ && *flip_at_ == offset_) b ^= mask_;
            ++offset_;
        }
        return frame;
    }
    std::size_t bytes() const { return offset_; }

private:
    std::optional<std::size_t> flip_at_;
    std::uint8_t mask_;
    std::size_t offset_ = 0;
};

// One side's connection: order, transcript, inbound bytes.
class Endpoint {
public:
    explicit Endpoint(Role role) : role_(role) {}

    Bytes send(const Message &m) {
        BOOST_REQUIRE(may_send(role_, state_, type_of(m)));
        Bytes frame = encode(m);
        transcript.add(frame);
        state_ = advance(state_);
        return frame;
    }
    void deliver(const Bytes &bytes) { inbox.insert(inbox.end(), bytes.begin(), bytes.end()); }

    // The next message, which must be T and in order; anything else ends the exchange.
    template <class T>
    T receive() {
        std::size_t consumed = 0;
        Message m;
        std::string error;
        switch (parse_frame(inbox, consumed, m, error)) {
        case FrameStatus::need_more: throw ExchangeFailure{role_, "timed out waiting for a whole message"};
        case FrameStatus::bad: throw ExchangeFailure{role_, "bad-message: " + error};
        case FrameStatus::ok: break;
        }
        if (!expected_next(role_, state_, type_of(m))) throw ExchangeFailure{role_, "bad-message: out of order"};
        if (const auto *e = std::get_if<ErrorMsg>(&m)) throw ExchangeFailure{role_, "peer said " + e->code};
        transcript.add(std::span<const std::uint8_t>(inbox).first(consumed));
        inbox.erase(inbox.begin(), inbox.begin() + static_cast<std::ptrdiff_t>(consumed));
        state_ = advance(state_);
        return std::get<T>(m);
    }
    PairState state() const { return state_; }

    Transcript transcript;
    Bytes inbox;

private:
    Role role_;
    PairState state_ = PairState::await_hello;
};

SessionNonce random_nonce() {
    SessionNonce n;
    randombytes_buf(n.data(), n.size());
    return n;
}

Bytes plain_bytes(const SecretBuffer &s) { return Bytes(s.bytes().begin(), s.bytes().end()); }

Outcome run_exchange(const ExchangeOptions &opt = {}) {
    Outcome out;
    Wire wire(opt);
    Endpoint j(Role::joiner), h(Role::holder);
    const Bytes cb(32, 0xcb); // both ends of one TLS connection export the same
    const std::string user = "alice", j_host = "laptop", h_host = "desktop";
    const Purpose purpose = Purpose::pair;
    auto to_holder = [&](const Bytes &f) { h.deliver(wire.carry(f)); };
    auto to_joiner = [&](const Bytes &f) { j.deliver(wire.carry(f)); };

    try {
        // 2. HELLO / HELLO_ACK
        const SessionNonce nj = random_nonce();
        to_holder(j.send(Hello{kPairProtocolVersion, purpose, nj, user}));
        const auto hello = h.receive<Hello>();
        if (hello.user != user) throw ExchangeFailure{Role::holder, "no-pending"};
        const SessionNonce nh = random_nonce();
        to_joiner(h.send(HelloAck{nh}));
        const auto hello_ack = j.receive<HelloAck>();

        // 3. CPACE_A (J)
        const auto j_prs = prs_from_code(opt.joiner_code);
        BOOST_REQUIRE(j_prs);
        const Bytes j_sid = make_sid(nj, hello_ack.nh);
        const Bytes ada = make_ada(kPairProtocolVersion, purpose, j_host);
        const CpaceParty jp(CpaceRole::initiator, j_prs->bytes(), make_ci(cb, user), j_sid, ada);
        if (opt.joiner_sends_confirm_early) {
            // CONFIRM in place of CPACE_A (bypassing J's own order check).
            to_holder(encode(Confirm{Tag{}}));
            h.receive<CpaceA>();
            throw ExchangeFailure{Role::holder, "accepted a CONFIRM out of order"};
        }
        to_holder(j.send(CpaceA{jp.share(), ada}));

        // 3–4. H burns the code on receipt, then answers CPACE_B with Tb.
        const auto cpace_a = h.receive<CpaceA>();
        out.code_burned = true;
        const auto j_ad = parse_ada(cpace_a.ada);
        if (!j_ad || j_ad->version != hello.version || j_ad->purpose != hello.purpose)
            throw ExchangeFailure{Role::holder, "bad-message: ADa does not match HELLO"};
        const auto h_prs = prs_from_code(opt.holder_code);
        BOOST_REQUIRE(h_prs);
        const Bytes h_sid = make_sid(hello.nj, nh);
        const Bytes adb = make_adb(kPairProtocolVersion, hello.purpose, h_host, kHolderKey);
        const CpaceParty hp(CpaceRole::responder, h_prs->bytes(), make_ci(cb, hello.user), h_sid, adb);
        auto h_keys = hp.finish(cpace_a.ya, cpace_a.ada);
        if (!h_keys) throw ExchangeFailure{Role::holder, "CPace abort"};
        to_joiner(h.send(CpaceB{hp.share(), adb, h_keys->own_tag()}));

        // 4–5. J checks Tb, sends Ta.
        const auto cpace_b = j.receive<CpaceB>();
        const auto h_ad = parse_adb(cpace_b.adb);
        if (!h_ad || h_ad->version != kPairProtocolVersion || h_ad->purpose != purpose)
            throw ExchangeFailure{Role::joiner, "bad-message: ADb does not match"};
        auto j_keys = jp.finish(cpace_b.yb, cpace_b.adb);
        if (!j_keys) throw ExchangeFailure{Role::joiner, "CPace abort"};
        if (!j_keys->peer_tag_matches(cpace_b.tb) && !opt.joiner_skips_tb_check)
            throw ExchangeFailure{Role::joiner, "Tb mismatch: the code was wrong or someone intercepted the exchange"};
        to_holder(j.send(Confirm{j_keys->own_tag()}));

        const auto confirm = h.receive<Confirm>();
        if (!h_keys->peer_tag_matches(confirm.ta)) throw ExchangeFailure{Role::holder, "auth-failed"};

        // 6. PAYLOAD under k, AD = transcript so far.
        PairPayload payload = sample_payload();
        payload.pub = opt.payload_pub.value_or(kHolderKey);
        to_joiner(h.send(seal_payload(h_keys->payload_key, payload, h.transcript.hash())));

        // 7. J opens it and checks identity.pub against ADb.
        const TranscriptHash j_ad_payload = j.transcript.hash();
        const auto payload_msg = j.receive<PayloadMsg>();
        std::string error;
        auto got = open_payload(j_keys->payload_key, payload_msg, j_ad_payload, error);
        if (!got) throw ExchangeFailure{Role::joiner, error};
        if (got->pub != h_ad->pubkey) throw ExchangeFailure{Role::joiner, "identity.pub is not the key in ADb"};
        out.joiner_got = std::move(got);

        // 8. ACK under k, AD = transcript including PAYLOAD.
        to_holder(j.send(seal_ack(j_keys->payload_key, {j_host, 1700000000}, j.transcript.hash())));
        const TranscriptHash h_ad_ack = h.transcript.hash();
        const auto ack = h.receive<AckMsg>();
        auto member = open_ack(h_keys->payload_key, ack, h_ad_ack, error);
        if (!member) throw ExchangeFailure{Role::holder, error};
        out.holder_got = std::move(member);

        if (!j.inbox.empty() || !h.inbox.empty()) throw ExchangeFailure{Role::holder, "bytes after the exchange"};
        BOOST_TEST((j.state() == PairState::done));
        BOOST_TEST((h.state() == PairState::done));
        out.joiner_k = plain_bytes(j_keys->payload_key);
        out.holder_k = plain_bytes(h_keys->payload_key);
        out.joiner_transcript = j.transcript.hash();
        out.holder_transcript = h.transcript.hash();
    } catch (const ExchangeFailure &f) {
        out.failure = f;
    }
    out.wire_bytes = wire.bytes();
    return out;
}

} // namespace

BOOST_AUTO_TEST_CASE(a_whole_exchange_gives_both_sides_the_same_key_and_the_payload) {
    const Outcome o = run_exchange();
    BOOST_TEST_REQUIRE(!o.failure, o.failure->side << ": " << o.failure->reason);
    BOOST_TEST(o.code_burned);
    BOOST_TEST(o.joiner_k.size() == kPayloadKeyBytes);
    BOOST_TEST(o.joiner_k == o.holder_k, boost::test_tools::per_element());
    BOOST_TEST(*o.joiner_transcript == *o.holder_transcript, boost::test_tools::per_element());
    BOOST_TEST_REQUIRE(o.joiner_got.has_value());
    BOOST_TEST((*o.joiner_got == sample_payload()));
    BOOST_TEST_REQUIRE(o.holder_got.has_value());
    BOOST_TEST(o.holder_got->host == "laptop");
    BOOST_TEST(o.holder_got->at == 1700000000);

    // A second exchange draws new nonces and scalars: another key.
    const Outcome again = run_exchange();
    BOOST_TEST_REQUIRE(!again.failure);
    BOOST_TEST(again.joiner_k != o.joiner_k);
}

BOOST_AUTO_TEST_CASE(a_flipped_byte_anywhere_on_the_wire_fails_the_exchange) {
    const std::size_t total = run_exchange().wire_bytes;
    BOOST_TEST(total > 500u);
    std::size_t failures = 0, by_joiner = 0, by_holder = 0;
    for (std::uint8_t mask : {std::uint8_t{0x01}, std::uint8_t{0x80}}) {
        for (std::size_t i = 0; i < total; ++i) {
            ExchangeOptions opt;
            opt.flip_at = i;
            opt.flip_mask = mask;
            const Outcome o = run_exchange(opt);
            BOOST_TEST(o.failure.has_value(), "byte " << i << " ^ " << int(mask) << " went unnoticed");
            if (!o.failure) continue;
            ++failures;
            (o.failure->side == Role::joiner ? by_joiner : by_holder) += 1;
            // Never both sides finished: at most J got the payload (a flip in ACK).
            BOOST_TEST(!(o.joiner_got && o.holder_got));
        }
    }
    BOOST_TEST(failures == 2 * total);
    BOOST_TEST(by_joiner > 0u);
    BOOST_TEST(by_holder > 0u);
}

BOOST_AUTO_TEST_CASE(a_wrong_code_fails_confirmation_and_burns_the_code) {
    ExchangeOptions opt;
    opt.joiner_code = "24681358";
    Outcome o = run_exchange(opt);
    BOOST_TEST_REQUIRE(o.failure.has_value());
    BOOST_TEST(o.failure->side == Role::joiner);
    CHECK_CONTAINS(o.failure->reason, "Tb mismatch");
    BOOST_TEST(o.code_burned);
    BOOST_TEST(!o.joiner_got);

    // A joiner that ignores Tb is stopped by H's check of Ta.
    opt.joiner_skips_tb_check = true;
    o = run_exchange(opt);
    BOOST_TEST_REQUIRE(o.failure.has_value());
    BOOST_TEST(o.failure->side == Role::holder);
    BOOST_TEST(o.failure->reason == "auth-failed");
    BOOST_TEST(!o.joiner_got);
    BOOST_TEST(!o.holder_got);
}

BOOST_AUTO_TEST_CASE(a_payload_whose_key_differs_from_adb_is_refused_by_the_joiner) {
    ExchangeOptions opt;
    opt.payload_pub = "ed25519:" + std::string(64, 'c');
    const Outcome o = run_exchange(opt);
    BOOST_TEST_REQUIRE(o.failure.has_value());
    BOOST_TEST(o.failure->side == Role::joiner);
    CHECK_CONTAINS(o.failure->reason, "ADb");
    BOOST_TEST(!o.joiner_got);
}

BOOST_AUTO_TEST_CASE(a_message_out_of_order_ends_the_exchange) {
    ExchangeOptions opt;
    opt.joiner_sends_confirm_early = true;
    const Outcome o = run_exchange(opt);
    BOOST_TEST_REQUIRE(o.failure.has_value());
    BOOST_TEST(o.failure->side == Role::holder);
    CHECK_CONTAINS(o.failure->reason, "out of order");

    // A replayed HELLO after HELLO_ACK, and a holder's message sent back to it.
    Endpoint h(Role::holder);
    const Bytes hello = encode(Hello{1, Purpose::pair, SessionNonce{}, "alice"});
    h.deliver(hello);
    h.receive<Hello>();
    h.send(HelloAck{SessionNonce{}});
    h.deliver(hello);
    try {
        h.receive<CpaceA>();
        BOOST_FAIL("a replayed HELLO was accepted");
    } catch (const ExchangeFailure &f) {
        CHECK_CONTAINS(f.reason, "out of order");
    }
}

BOOST_AUTO_TEST_CASE(an_error_from_the_peer_ends_the_exchange) {
    Endpoint j(Role::joiner);
    j.send(Hello{1, Purpose::pair, SessionNonce{}, "alice"});
    j.deliver(encode(make_error(ErrorCode::no_pending, "nothing to claim")));
    try {
        j.receive<HelloAck>();
        BOOST_FAIL("an ERROR was taken for HELLO_ACK");
    } catch (const ExchangeFailure &f) {
        BOOST_TEST(f.reason == "peer said no-pending");
    }
}
