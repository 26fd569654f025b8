// The ssh-agent.sock codec (OpenSSH agent protocol): framing and the 256 KiB
// limit, every request puddle answers and every one it refuses, each malformed
// shape, the exact bytes of replies, and test vectors taken from OpenSSH 9.2
// itself (ssh-keygen -t ed25519, ssh-keygen -y, ssh-keygen -Y sign talking to
// this codec).
#define BOOST_TEST_MODULE ssh_protocol
#ifndef BOOST_TEST_DYN_LINK
#define BOOST_TEST_DYN_LINK
#endif
#include <boost/test/unit_test.hpp>

#include "support.hpp"

#include "agent/ssh_protocol.hpp"

#include <string>
#include <variant>

using namespace puddle;
using namespace puddle::agent::ssh;

namespace {

// --- test vectors from OpenSSH 9.2p1 -------------------------------------------
//
// ssh-keygen -t ed25519 -N '' -C puddle-test@example -f k; the seed and the raw
// public key were read out of k and k.pub with a few lines of python3.
constexpr const char *kSeedHex = "9143d228e742519611d4e8296cac4694d4244862abef7ed1bc81abcdeeeab37c";
constexpr const char *kPublicKeyHex = "b99a56f6b29a58f34da2f999774f290c1f1ab737e7d23b73fbd2f473f2fafc8e";
constexpr const char *kComment = "puddle-test@example";
// `ssh-keygen -y -f k` (and k.pub) for that key.
constexpr const char *kPublicKeyLine =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILmaVvaymljzTaL5mXdPKQwfGrc359I7c/vS9HPy+vyO puddle-test@example";
// string "ssh-ed25519", string key: the base64 payload of the line above.
constexpr const char *kKeyBlobHex =
    "0000000b7373682d65643235353139"
    "00000020b99a56f6b29a58f34da2f999774f290c1f1ab737e7d23b73fbd2f473f2fafc8e";

// The body ssh-keygen -Y sign -n git -f k.pub sent for the file "hello puddle\n"
// (an SSHSIG blob to sign, flags 0).
constexpr const char *kSshsigRequestHex =
    "0d000000330000000b7373682d6564323535313900000020b99a56f6b29a58f3"
    "4da2f999774f290c1f1ab737e7d23b73fbd2f473f2fafc8e0000005f53534853"
    "4947000000036769740000000000000006736861353132000000403e29b287c1"
    "1b44086c1bf4c67d5a0261274defd793e8e8cf81ede8821381089237d019e81a"
    "64686fa94d8b41960d55b307a7099a877e3e61e851eec39e04293b00000000";
// The framed reply carrying the signature blob that ssh-keygen -Y sign -f k
// (the file key, no agent) wrote into its .sig for the same file: Ed25519 is
// deterministic, so an agent reply must be exactly these bytes.
constexpr const char *kSshsigResponseHex =
    "000000580e000000530000000b7373682d6564323535313900000040"
    "6ae6e87b7d8b76392c2d886c2a3e803c213edf146e69dc7394b928877eca986f"
    "54469ac917b51e3a9da95d1944997644e5de411c9f625b7a2e732a48047d8e0b";

Bytes hex(std::string_view text) {
    auto bytes = from_hex(text);
    BOOST_REQUIRE_MESSAGE(bytes, "bad hex in test: " << text);
    return *bytes;
}

PublicKey vector_key() {
    PublicKey key;
    const Bytes raw = hex(kPublicKeyHex);
    std::copy(raw.begin(), raw.end(), key.bytes.begin());
    return key;
}

Bytes cat(std::initializer_list<Bytes> parts) {
    Bytes out;
    for (const auto &p : parts) out.insert(out.end(), p.begin(), p.end());
    return out;
}

Bytes u32(std::uint32_t v) {
    return {std::uint8_t(v >> 24), std::uint8_t(v >> 16), std::uint8_t(v >> 8), std::uint8_t(v)};
}

Bytes str(const Bytes &s) { return cat({u32(std::uint32_t(s.size())), s}); }
Bytes str(std::string_view s) { return str(Bytes(s.begin(), s.end())); }

Bytes sign_request_body(const Bytes &key_blob, const Bytes &data, std::uint32_t flags) {
    return cat({{msg::sign_request}, str(key_blob), str(data), u32(flags)});
}

template <class T>
T expect(const Request &req) {
    const auto *value = std::get_if<T>(&req);
    if (const auto *bad = std::get_if<Malformed>(&req); bad && !value)
        BOOST_FAIL("request refused as malformed: " << bad->reason);
    BOOST_REQUIRE_MESSAGE(value, "request parsed to variant index " << req.index());
    return *value;
}

std::string malformed_reason(std::span<const std::uint8_t> body) {
    return expect<Malformed>(parse_request(body)).reason;
}

bool is_short_printable(const std::string &text) {
    if (text.empty() || text.size() > 80) return false;
    for (unsigned char c : text)
        if (c < 0x20 || c >= 0x7f) return false;
    return true;
}

} // namespace

// --- framing ------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(a_short_length_prefix_needs_more) {
    const Bytes prefix = {0x00, 0x00, 0x00, 0x01};
    for (std::size_t n = 0; n < 4; ++n) {
        BOOST_TEST_CONTEXT(n << " bytes") {
            auto f = parse_frame(std::span(prefix).first(n));
            BOOST_TEST((f.status == FrameResult::Status::need_more));
            BOOST_TEST(f.consumed == 0u);
            BOOST_TEST(f.body.empty());
        }
    }
}

BOOST_AUTO_TEST_CASE(a_partial_body_needs_more_and_reports_its_length) {
    const Bytes framed = frame(sign_request_body(hex(kKeyBlobHex), {1, 2, 3}, 0));
    for (std::size_t n = 4; n < framed.size(); ++n) {
        auto f = parse_frame(std::span(framed).first(n));
        BOOST_TEST((f.status == FrameResult::Status::need_more));
        BOOST_TEST(f.consumed == 0u);
        BOOST_TEST(f.declared_length == framed.size() - 4);
    }
}

BOOST_AUTO_TEST_CASE(a_complete_frame_is_cut_from_the_front_of_the_buffer) {
    const Bytes first = frame(Bytes{msg::request_identities});
    const Bytes second = frame(sign_request_body(hex(kKeyBlobHex), {9}, 0));
    Bytes buffer = cat({first, second, {0x00, 0x00}});

    auto f = parse_frame(buffer);
    BOOST_REQUIRE((f.status == FrameResult::Status::frame));
    BOOST_TEST(f.consumed == first.size());
    BOOST_TEST(f.body.size() == 1u);
    BOOST_TEST(f.body.data() == buffer.data() + 4);
    BOOST_TEST(std::holds_alternative<RequestIdentities>(parse_request(f.body)));

    auto g = parse_frame(std::span(buffer).subspan(f.consumed));
    BOOST_REQUIRE((g.status == FrameResult::Status::frame));
    BOOST_TEST(g.consumed == second.size());
    BOOST_TEST(expect<SignRequest>(parse_request(g.body)).data == Bytes{9}, boost::test_tools::per_element());

    auto h = parse_frame(std::span(buffer).subspan(f.consumed + g.consumed));
    BOOST_TEST((h.status == FrameResult::Status::need_more));
}

BOOST_AUTO_TEST_CASE(frame_prepends_a_big_endian_length) {
    BOOST_TEST(to_hex(frame(Bytes{})) == "00000000");
    BOOST_TEST(to_hex(frame(Bytes{0xab})) == "00000001ab");
    BOOST_TEST(to_hex(frame(Bytes(0x0102, 0))).substr(0, 8) == "00000102");
    BOOST_TEST(frame(Bytes(300, 7)).size() == 304u);
}

BOOST_AUTO_TEST_CASE(the_largest_body_is_256_kib) {
    BOOST_REQUIRE(kMaxMessageBytes == 262144u);
    Bytes body(kMaxMessageBytes, 0);
    body[0] = msg::extension;
    const Bytes framed = frame(body);
    auto f = parse_frame(framed);
    BOOST_REQUIRE((f.status == FrameResult::Status::frame));
    BOOST_TEST(f.consumed == kMaxMessageBytes + 4);
    BOOST_TEST(f.body.size() == kMaxMessageBytes);
}

BOOST_AUTO_TEST_CASE(a_longer_body_is_too_large_from_the_prefix_alone) {
    for (std::uint32_t len : {std::uint32_t(kMaxMessageBytes + 1), 0x01000000u, 0x7fffffffu, 0xffffffffu}) {
        BOOST_TEST_CONTEXT("length " << len) {
            auto f = parse_frame(u32(len));
            BOOST_TEST((f.status == FrameResult::Status::too_large));
            BOOST_TEST(f.consumed == 0u);
            BOOST_TEST(f.declared_length == len);
        }
    }
    // Even with the whole body buffered.
    const Bytes framed = frame(Bytes(kMaxMessageBytes + 1, msg::request_identities));
    BOOST_TEST((parse_frame(framed).status == FrameResult::Status::too_large));
}

BOOST_AUTO_TEST_CASE(a_zero_length_frame_is_a_frame_whose_body_is_malformed) {
    const Bytes buffer = cat({u32(0), frame(Bytes{msg::request_identities})});
    auto f = parse_frame(buffer);
    BOOST_REQUIRE((f.status == FrameResult::Status::frame));
    BOOST_TEST(f.consumed == 4u);
    BOOST_TEST(f.body.empty());
    BOOST_TEST(is_short_printable(malformed_reason(f.body)));
    // The stream stays in step: the next frame is intact.
    auto g = parse_frame(std::span(buffer).subspan(f.consumed));
    BOOST_REQUIRE((g.status == FrameResult::Status::frame));
    BOOST_TEST(std::holds_alternative<RequestIdentities>(parse_request(g.body)));
}

// --- request identities -------------------------------------------------------

BOOST_AUTO_TEST_CASE(request_identities_is_the_type_byte_alone) {
    BOOST_TEST(std::holds_alternative<RequestIdentities>(parse_request(Bytes{11})));
    BOOST_TEST(is_short_printable(malformed_reason(Bytes{11, 0})));
    BOOST_TEST(is_short_printable(malformed_reason(Bytes{11, 0, 0, 0, 0})));
}

// --- sign request -------------------------------------------------------------

BOOST_AUTO_TEST_CASE(a_real_ssh_keygen_sign_request_parses) {
    const auto sign = expect<SignRequest>(parse_request(hex(kSshsigRequestHex)));
    BOOST_TEST(to_hex(sign.key_blob) == kKeyBlobHex);
    BOOST_TEST(key_blob_matches(sign.key_blob, vector_key()));
    BOOST_TEST(sign.data.size() == 95u);
    BOOST_TEST(std::string(sign.data.begin(), sign.data.begin() + 6) == "SSHSIG");
    BOOST_TEST(sign.flags == 0u);
}

BOOST_AUTO_TEST_CASE(sign_request_fields_round_trip) {
    Bytes data(1000);
    for (std::size_t i = 0; i < data.size(); ++i) data[i] = std::uint8_t(i * 7);
    for (std::uint32_t flags : {0u, kFlagRsaSha2_256, kFlagRsaSha2_512, 0x01u, 0xffffffffu}) {
        BOOST_TEST_CONTEXT("flags " << flags) {
            const auto sign = expect<SignRequest>(parse_request(sign_request_body(hex(kKeyBlobHex), data, flags)));
            BOOST_TEST(sign.key_blob == hex(kKeyBlobHex), boost::test_tools::per_element());
            BOOST_TEST(sign.data == data, boost::test_tools::per_element());
            BOOST_TEST(sign.flags == flags); // carried verbatim; ignored for Ed25519
        }
    }
}

BOOST_AUTO_TEST_CASE(empty_key_blob_and_data_are_well_formed) {
    const auto sign = expect<SignRequest>(parse_request(sign_request_body({}, {}, 0)));
    BOOST_TEST(sign.key_blob.empty());
    BOOST_TEST(sign.data.empty());
    BOOST_TEST(!key_blob_matches(sign.key_blob, vector_key()));
}

BOOST_AUTO_TEST_CASE(a_sign_request_cut_short_anywhere_is_malformed) {
    const Bytes body = hex(kSshsigRequestHex);
    for (std::size_t n = 1; n < body.size(); ++n) {
        BOOST_TEST_CONTEXT("first " << n << " of " << body.size() << " bytes") {
            BOOST_TEST(is_short_printable(malformed_reason(std::span(body).first(n))));
        }
    }
}

BOOST_AUTO_TEST_CASE(each_truncated_sign_field_is_named) {
    const Bytes blob = hex(kKeyBlobHex);
    // In the key blob's length, in the key blob, in the data's length, in the
    // data, in the flags.
    CHECK_CONTAINS(malformed_reason(Bytes{13, 0, 0}), "key blob");
    CHECK_CONTAINS(malformed_reason(cat({{13}, u32(51), Bytes(50, 0)})), "key blob");
    CHECK_CONTAINS(malformed_reason(cat({{13}, str(blob), {0, 0, 0}})), "data");
    CHECK_CONTAINS(malformed_reason(cat({{13}, str(blob), u32(10), Bytes(9, 0)})), "data");
    CHECK_CONTAINS(malformed_reason(cat({{13}, str(blob), str(Bytes{1}), {0, 0, 0}})), "flags");
    CHECK_CONTAINS(malformed_reason(cat({{13}, str(blob), str(Bytes{1})})), "flags");
}

BOOST_AUTO_TEST_CASE(a_string_length_past_the_end_is_malformed_not_a_crash) {
    for (std::uint32_t len : {0xffffffffu, 0xfffffffcu, 0x80000000u, std::uint32_t(kMaxMessageBytes)}) {
        BOOST_TEST_CONTEXT("length " << len) {
            BOOST_TEST(is_short_printable(malformed_reason(cat({{13}, u32(len), Bytes(8, 0)}))));
            BOOST_TEST(is_short_printable(malformed_reason(cat({{13}, str(Bytes{1}), u32(len), Bytes(8, 0)}))));
            BOOST_TEST(is_short_printable(malformed_reason(cat({{27}, u32(len), Bytes(8, 'a')}))));
        }
    }
}

BOOST_AUTO_TEST_CASE(bytes_after_the_flags_are_malformed) {
    const Bytes body = hex(kSshsigRequestHex);
    for (const Bytes &extra : {Bytes{0}, Bytes{1, 2, 3, 4}, str(Bytes{})}) {
        CHECK_CONTAINS(malformed_reason(cat({body, extra})), "trailing");
    }
}

// --- extensions ---------------------------------------------------------------

BOOST_AUTO_TEST_CASE(an_extension_carries_its_name_and_the_rest) {
    auto ext = expect<Extension>(parse_request(cat({{27}, str("query"), {1, 2, 3}})));
    BOOST_TEST(ext.name == "query");
    BOOST_TEST(ext.contents == (Bytes{1, 2, 3}), boost::test_tools::per_element());

    ext = expect<Extension>(parse_request(cat({{27}, str("session-bind@openssh.com")})));
    BOOST_TEST(ext.name == kSessionBindExtension);
    BOOST_TEST(ext.contents.empty());

    ext = expect<Extension>(parse_request(cat({{27}, str("")})));
    BOOST_TEST(ext.name.empty());
}

BOOST_AUTO_TEST_CASE(a_truncated_or_nul_extension_name_is_malformed) {
    CHECK_CONTAINS(malformed_reason(Bytes{27}), "name");
    CHECK_CONTAINS(malformed_reason(Bytes{27, 0, 0, 0}), "name");
    CHECK_CONTAINS(malformed_reason(cat({{27}, u32(5), {'q', 'u'}})), "name");
    CHECK_CONTAINS(malformed_reason(cat({{27}, str(std::string_view("query\0x", 7))})), "NUL");
}

// --- session-bind@openssh.com -------------------------------------------------

namespace {

struct BindFixture {
    Keypair host = Keypair::from_seed(Bytes(32, 0x42));
    Bytes session_id = Bytes(32, 0x5a);
    Bytes hostkey_blob = ed25519_key_blob(host.public_key());
    Bytes signature_blob = ed25519_signature_blob(host.sign(session_id));

    Bytes contents(std::uint8_t forwarding) const {
        return cat({str(hostkey_blob), str(session_id), str(signature_blob), {forwarding}});
    }
};

SessionBind bind_of(std::span<const std::uint8_t> contents) {
    auto parsed = parse_session_bind(contents);
    if (const auto *bad = std::get_if<Malformed>(&parsed)) BOOST_FAIL("session-bind refused: " << bad->reason);
    return std::get<SessionBind>(parsed);
}

} // namespace

BOOST_FIXTURE_TEST_CASE(session_bind_contents_parse, BindFixture) {
    const auto b = bind_of(contents(0));
    BOOST_TEST(b.hostkey_blob == hostkey_blob, boost::test_tools::per_element());
    BOOST_TEST(b.session_id == session_id, boost::test_tools::per_element());
    BOOST_TEST(b.signature_blob == signature_blob, boost::test_tools::per_element());
    BOOST_TEST(!b.is_forwarding);
    BOOST_TEST(bind_of(contents(1)).is_forwarding);
    BOOST_TEST(bind_of(contents(0xff)).is_forwarding); // nonzero is true, as in OpenSSH
}

BOOST_FIXTURE_TEST_CASE(a_parsed_ed25519_binding_can_be_verified, BindFixture) {
    const auto b = bind_of(contents(0));
    const auto key = parse_ed25519_key_blob(b.hostkey_blob);
    const auto sig = parse_ed25519_signature_blob(b.signature_blob);
    BOOST_REQUIRE(key);
    BOOST_REQUIRE(sig);
    BOOST_TEST(verify_signature(*key, b.session_id, *sig));
    Bytes other = b.session_id;
    other[0] ^= 1;
    BOOST_TEST(!verify_signature(*key, other, *sig));
}

BOOST_FIXTURE_TEST_CASE(session_bind_cut_short_or_padded_is_malformed, BindFixture) {
    const Bytes full = contents(1);
    for (std::size_t n = 0; n < full.size(); ++n) {
        BOOST_TEST_CONTEXT("first " << n << " of " << full.size() << " bytes") {
            auto parsed = parse_session_bind(std::span(full).first(n));
            BOOST_REQUIRE(std::holds_alternative<Malformed>(parsed));
            BOOST_TEST(is_short_printable(std::get<Malformed>(parsed).reason));
        }
    }
    auto padded = parse_session_bind(cat({full, {0}}));
    BOOST_REQUIRE(std::holds_alternative<Malformed>(padded));
    CHECK_CONTAINS(std::get<Malformed>(padded).reason, "trailing");
}

// --- what the door answers to each extension (RFC 9987 §5.8, OpenSSH 10.3) ------

namespace {

Bytes reply_to(std::string_view name, const Bytes &contents) {
    auto next = dispatch_extension(Extension{std::string(name), contents});
    BOOST_REQUIRE_MESSAGE(std::holds_alternative<ExtensionReply>(next), "no immediate reply to " << name);
    return std::get<ExtensionReply>(next).framed;
}

} // namespace

BOOST_AUTO_TEST_CASE(extension_failure_is_message_28) {
    BOOST_TEST(to_hex(framed_extension_failure()) == "000000011c");
    BOOST_TEST(std::string(message_type_name(28)) == "SSH_AGENT_EXTENSION_FAILURE");
    BOOST_TEST(std::string(message_type_name(29)) == "SSH_AGENT_EXTENSION_RESPONSE");
}

BOOST_AUTO_TEST_CASE(query_lists_query_and_session_bind_in_an_extension_response) {
    // byte 29, string "query", string "query", string "session-bind@openssh.com":
    // what OpenSSH 10.3's ssh_agent_query_extensions() reads.
    const Bytes expected =
        cat({{msg::extension_response}, str("query"), str("query"), str("session-bind@openssh.com")});
    BOOST_TEST(to_hex(framed_query_response()) == to_hex(frame(expected)));
    BOOST_TEST(to_hex(reply_to("query", {})) == to_hex(frame(expected)));
}

BOOST_AUTO_TEST_CASE(a_query_with_contents_is_an_extension_failure) {
    BOOST_TEST(to_hex(reply_to("query", Bytes{0})) == "000000011c");
    BOOST_TEST(to_hex(reply_to("query", str("x"))) == "000000011c");
}

BOOST_AUTO_TEST_CASE(an_unknown_extension_is_a_plain_failure) {
    // "Not supported" is SSH_AGENT_FAILURE, so that a client can tell it
    // from a supported extension that failed.
    for (std::string_view name : {"", "unknown@example.com", "Query", "query@openssh.com", "restrict-destination-v00@openssh.com"})
        BOOST_TEST_CONTEXT(name) { BOOST_TEST(to_hex(reply_to(name, str("x"))) == "0000000105"); }
}

BOOST_FIXTURE_TEST_CASE(a_well_formed_session_bind_goes_to_the_door, BindFixture) {
    auto next = dispatch_extension(Extension{std::string(kSessionBindExtension), contents(1)});
    BOOST_REQUIRE(std::holds_alternative<SessionBind>(next));
    const auto &b = std::get<SessionBind>(next);
    BOOST_TEST(b.hostkey_blob == hostkey_blob, boost::test_tools::per_element());
    BOOST_TEST(b.is_forwarding);
}

BOOST_FIXTURE_TEST_CASE(a_malformed_session_bind_is_an_extension_failure, BindFixture) {
    const Bytes full = contents(0);
    BOOST_TEST(to_hex(reply_to(kSessionBindExtension, {})) == "000000011c");
    BOOST_TEST(to_hex(reply_to(kSessionBindExtension, Bytes(full.begin(), full.end() - 1))) == "000000011c");
    BOOST_TEST(to_hex(reply_to(kSessionBindExtension, cat({full, {0}}))) == "000000011c");
}

// --- unsupported and malformed requests ---------------------------------------

BOOST_AUTO_TEST_CASE(key_management_lock_and_smartcard_requests_are_unsupported) {
    for (std::uint8_t type : {msg::remove_all_rsa_identities, msg::add_identity, msg::remove_identity,
                              msg::remove_all_identities, msg::add_smartcard_key, msg::remove_smartcard_key,
                              msg::lock, msg::unlock, msg::add_id_constrained, msg::add_smartcard_key_constrained}) {
        BOOST_TEST_CONTEXT("type " << int(type)) {
            BOOST_TEST(expect<Unsupported>(parse_request(Bytes{type})).type == type);
            // The body is not looked at: garbage or a real-looking payload alike.
            BOOST_TEST(expect<Unsupported>(parse_request(Bytes{type, 0xff, 0xff})).type == type);
            BOOST_TEST(expect<Unsupported>(parse_request(cat({{type}, str("pw")}))).type == type);
            BOOST_TEST(message_type_name(type) != nullptr);
        }
    }
}

BOOST_AUTO_TEST_CASE(unknown_and_reply_types_are_unsupported) {
    for (int type : {0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 15, 16, 24, 28, 29, 30, 40, 102, 200, 255}) {
        BOOST_TEST_CONTEXT("type " << type) {
            BOOST_TEST(expect<Unsupported>(parse_request(Bytes{std::uint8_t(type)})).type == type);
        }
    }
}

BOOST_AUTO_TEST_CASE(an_empty_body_is_malformed) {
    CHECK_CONTAINS(malformed_reason(Bytes{}), "empty");
}

BOOST_AUTO_TEST_CASE(malformed_reasons_never_echo_the_request) {
    const std::string marker = "SECRETSECRET";
    const Bytes bodies[] = {
        cat({{13}, str(marker)}),
        cat({{13}, str(marker), str(marker)}),
        cat({{13}, str(marker), str(marker), u32(0), str(marker)}),
        cat({{27}, u32(100), str(marker)}),
        cat({{27}, str(marker + std::string(1, '\0'))}),
        cat({{11}, str(marker)}),
    };
    for (const auto &body : bodies) {
        BOOST_TEST_CONTEXT("body of " << body.size() << " bytes") {
            const std::string reason = malformed_reason(body);
            BOOST_TEST(is_short_printable(reason));
            BOOST_TEST(!puddle_test::contains(reason, marker));
        }
    }
}

BOOST_AUTO_TEST_CASE(message_type_names_follow_openssh) {
    BOOST_TEST(std::string(message_type_name(11)) == "SSH2_AGENTC_REQUEST_IDENTITIES");
    BOOST_TEST(std::string(message_type_name(13)) == "SSH2_AGENTC_SIGN_REQUEST");
    BOOST_TEST(std::string(message_type_name(17)) == "SSH2_AGENTC_ADD_IDENTITY");
    BOOST_TEST(std::string(message_type_name(19)) == "SSH2_AGENTC_REMOVE_ALL_IDENTITIES");
    BOOST_TEST(std::string(message_type_name(22)) == "SSH_AGENTC_LOCK");
    BOOST_TEST(std::string(message_type_name(27)) == "SSH_AGENTC_EXTENSION");
    BOOST_TEST(message_type_name(0) == nullptr);
    BOOST_TEST(message_type_name(200) == nullptr);
}

// --- keys -----------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(the_vector_seed_gives_the_vector_key) {
    BOOST_TEST(Keypair::from_seed(hex(kSeedHex)).public_key() == vector_key());
}

BOOST_AUTO_TEST_CASE(the_key_blob_is_exact) {
    BOOST_TEST(to_hex(ed25519_key_blob(vector_key())) == kKeyBlobHex);
}

BOOST_AUTO_TEST_CASE(key_blob_matches_only_the_exact_blob) {
    const PublicKey key = vector_key();
    const Bytes blob = hex(kKeyBlobHex);
    BOOST_TEST(key_blob_matches(blob, key));

    PublicKey other = key;
    other.bytes[31] ^= 0x01;
    BOOST_TEST(!key_blob_matches(blob, other));
    BOOST_TEST(key_blob_matches(ed25519_key_blob(other), other));

    Bytes longer = blob;
    longer.push_back(0);
    BOOST_TEST(!key_blob_matches(longer, key));
    BOOST_TEST(!key_blob_matches(std::span(blob).first(blob.size() - 1), key));
    BOOST_TEST(!key_blob_matches(Bytes{}, key));
    Bytes renamed = blob;
    renamed[4] = 'S'; // "Ssh-ed25519"
    BOOST_TEST(!key_blob_matches(renamed, key));
    // A certificate or another key type carrying the same 32 bytes is not the key.
    BOOST_TEST(!key_blob_matches(cat({str("ssh-ed25519-cert-v01@openssh.com"), str(hex(kPublicKeyHex))}), key));
    BOOST_TEST(!key_blob_matches(hex(kPublicKeyHex), key));
}

BOOST_AUTO_TEST_CASE(parse_ed25519_key_blob_is_the_strict_inverse) {
    const auto key = parse_ed25519_key_blob(hex(kKeyBlobHex));
    BOOST_REQUIRE(key);
    BOOST_TEST(*key == vector_key());
    const Bytes blob = hex(kKeyBlobHex);
    BOOST_TEST(!parse_ed25519_key_blob(cat({blob, {0}})));
    BOOST_TEST(!parse_ed25519_key_blob(std::span(blob).first(50)));
    BOOST_TEST(!parse_ed25519_key_blob(cat({str("ssh-ed25519"), str(Bytes(31, 1))})));
    BOOST_TEST(!parse_ed25519_key_blob(cat({str("ssh-ed25519"), str(Bytes(33, 1))})));
    BOOST_TEST(!parse_ed25519_key_blob(cat({str("ssh-rsa"), str(Bytes(32, 1))})));
    BOOST_TEST(!parse_ed25519_key_blob(Bytes{}));
}

BOOST_AUTO_TEST_CASE(parse_ed25519_signature_blob_is_the_strict_inverse) {
    Signature sig;
    for (std::size_t i = 0; i < sig.size(); ++i) sig[i] = std::uint8_t(0xc0 + i);
    const Bytes blob = ed25519_signature_blob(sig);
    const auto back = parse_ed25519_signature_blob(blob);
    BOOST_REQUIRE(back);
    BOOST_TEST(*back == sig, boost::test_tools::per_element());
    BOOST_TEST(!parse_ed25519_signature_blob(cat({blob, {0}})));
    BOOST_TEST(!parse_ed25519_signature_blob(std::span(blob).first(blob.size() - 1)));
    BOOST_TEST(!parse_ed25519_signature_blob(cat({str("ssh-ed25519"), str(Bytes(32, 1))})));
    BOOST_TEST(!parse_ed25519_signature_blob(cat({str("rsa-sha2-512"), str(Bytes(64, 1))})));
}

// --- public key line ------------------------------------------------------------

BOOST_AUTO_TEST_CASE(the_public_key_line_matches_ssh_keygen) {
    BOOST_TEST(openssh_public_key_line(vector_key(), kComment) == kPublicKeyLine);
}

BOOST_AUTO_TEST_CASE(an_empty_comment_leaves_no_trailing_space) {
    const std::string line = openssh_public_key_line(vector_key(), "");
    BOOST_TEST(line == std::string(kPublicKeyLine).substr(0, std::string(kPublicKeyLine).rfind(' ')));
}

BOOST_AUTO_TEST_CASE(comments_cannot_break_the_line_or_the_c_string) {
    BOOST_TEST(safe_comment("a\nb\rc\td") == "a?b?c?d");
    BOOST_TEST(safe_comment(std::string_view("nul\0here", 8)) == "nul?here");
    BOOST_TEST(safe_comment("del\x7f") == "del?");
    BOOST_TEST(safe_comment("caf\xc3\xa9 ok") == "caf\xc3\xa9 ok");
    const std::string line = openssh_public_key_line(vector_key(), "user\nssh-ed25519 AAAA evil");
    BOOST_TEST(line.find('\n') == std::string::npos);
}

BOOST_AUTO_TEST_CASE(long_comments_are_cut_on_a_character_boundary) {
    BOOST_TEST(safe_comment(std::string(kMaxCommentBytes + 10, 'x')).size() == kMaxCommentBytes);
    BOOST_TEST(safe_comment(std::string(kMaxCommentBytes, 'x')).size() == kMaxCommentBytes);
    // A two-byte é straddling the limit is dropped whole.
    std::string straddling(kMaxCommentBytes - 1, 'x');
    straddling += "\xc3\xa9";
    BOOST_TEST(safe_comment(straddling) == std::string(kMaxCommentBytes - 1, 'x'));
}

// --- replies --------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(the_identities_answer_is_exact) {
    // What this codec sent to ssh-add -L, which printed kPublicKeyLine.
    const std::string expected = "00000053"                 // length 83
                                 "0c"                       // SSH2_AGENT_IDENTITIES_ANSWER
                                 "00000001"                 // nkeys
                                 "00000033" +               // string key blob (51)
                                 std::string(kKeyBlobHex) + //
                                 "00000013"                 // string comment (19)
                                 "707564646c652d74657374406578616d706c65";
    BOOST_TEST(to_hex(framed_identities_answer(vector_key(), kComment)) == expected);
}

BOOST_AUTO_TEST_CASE(the_empty_identities_answer_is_exact) {
    BOOST_TEST(to_hex(framed_identities_answer_empty()) == "000000050c00000000");
}

BOOST_AUTO_TEST_CASE(the_identities_answer_comment_is_made_safe) {
    const Bytes reply = framed_identities_answer(vector_key(), std::string_view("a\0b", 3));
    const std::string hex_reply = to_hex(reply);
    BOOST_TEST(hex_reply.substr(hex_reply.size() - 14) == "00000003613f62"); // "a?b"
}

BOOST_AUTO_TEST_CASE(the_sign_response_layout_is_exact) {
    Signature sig;
    for (std::size_t i = 0; i < sig.size(); ++i) sig[i] = std::uint8_t(i);
    const Bytes reply = framed_sign_response(sig);
    BOOST_REQUIRE(reply.size() == 4 + 1 + 4 + 4 + 11 + 4 + 64);
    BOOST_TEST(to_hex(std::span(reply).first(28)) == "00000058"                  // length 88
                                                     "0e"                        // SSH2_AGENT_SIGN_RESPONSE
                                                     "00000053"                  // string signature (83)
                                                     "0000000b7373682d65643235353139" // string "ssh-ed25519"
                                                     "00000040");                 // string (64)
    BOOST_TEST(to_hex(std::span(reply).subspan(28)) == to_hex(sig));
}

BOOST_AUTO_TEST_CASE(signing_a_real_request_gives_openssh_own_signature) {
    const auto keypair = Keypair::from_seed(hex(kSeedHex));
    const auto sign = expect<SignRequest>(parse_request(hex(kSshsigRequestHex)));
    BOOST_REQUIRE(key_blob_matches(sign.key_blob, keypair.public_key()));
    BOOST_TEST(to_hex(framed_sign_response(keypair.sign(sign.data))) == kSshsigResponseHex);
}

BOOST_AUTO_TEST_CASE(failure_and_success_are_exact) {
    BOOST_TEST(to_hex(framed_failure()) == "0000000105");
    BOOST_TEST(to_hex(framed_success()) == "0000000106");
}

BOOST_AUTO_TEST_CASE(every_reply_is_one_whole_frame_of_its_type) {
    Signature sig{};
    const std::pair<Bytes, std::uint8_t> replies[] = {
        {framed_identities_answer(vector_key(), kComment), msg::identities_answer},
        {framed_identities_answer(vector_key(), std::string(5000, 'c')), msg::identities_answer},
        {framed_identities_answer_empty(), msg::identities_answer},
        {framed_sign_response(sig), msg::sign_response},
        {framed_failure(), msg::failure},
        {framed_success(), msg::success},
        {framed_extension_failure(), msg::extension_failure},
        {framed_query_response(), msg::extension_response},
    };
    for (const auto &[reply, type] : replies) {
        BOOST_TEST_CONTEXT("reply type " << int(type)) {
            auto f = parse_frame(reply);
            BOOST_REQUIRE((f.status == FrameResult::Status::frame));
            BOOST_TEST(f.consumed == reply.size());
            BOOST_TEST(f.body[0] == type);
        }
    }
}
