// The agent.sock line protocol (SPEC §6.3): every verb, the 65,536-byte line
// limit, stray bytes refused as bad-request without echoing the request, and
// the exact bytes of OK / ERR replies.
#define BOOST_TEST_MODULE line_protocol
#ifndef BOOST_TEST_DYN_LINK
#define BOOST_TEST_DYN_LINK
#endif
#include <boost/test/unit_test.hpp>

#include "support.hpp"

#include "agent/line_protocol.hpp"

#include <string>
#include <variant>

namespace puddle {
// Found by argument-dependent lookup when BOOST_TEST prints a failed comparison.
inline std::ostream &operator<<(std::ostream &os, ErrCode c) { return os << agent::err_code_name(c); }
} // namespace puddle

using namespace puddle;
using namespace puddle::agent;
using puddle_test::bytes_of;

namespace {

// The error a line is refused with; fails the test case if it was accepted.
LineError refusal(std::string_view line) {
    auto req = parse_line(line);
    const auto *err = std::get_if<LineError>(&req);
    BOOST_REQUIRE_MESSAGE(err, "line of " << line.size() << " bytes was accepted");
    return *err;
}

Bytes signed_data(std::string_view line) {
    auto req = parse_line(line);
    if (const auto *err = std::get_if<LineError>(&req))
        BOOST_FAIL("SIGN line refused: " << err_code_name(err->code) << " " << err->text);
    const auto *sign = std::get_if<SignRequest>(&req);
    BOOST_REQUIRE(sign);
    return sign->data;
}

// A reply is one line: the text of an error must not smuggle in a line break
// or other control bytes.
bool is_one_printable_line(const std::string &text) {
    for (unsigned char c : text)
        if (c < 0x20 || c == 0x7f) return false;
    return true;
}

// "SIGN " + n base64 characters ('A' decodes to zero bits, so any multiple of
// 4 is canonical).
std::string sign_line_of(std::size_t total_bytes) {
    return "SIGN " + std::string(total_bytes - 5, 'A');
}

} // namespace

// --- SIGN -------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(sign_decodes_its_base64_argument) {
    BOOST_TEST(signed_data("SIGN Zm9vYmFy") == bytes_of("foobar"), boost::test_tools::per_element());
    BOOST_TEST(signed_data("SIGN Zg==") == bytes_of("f"), boost::test_tools::per_element());
    BOOST_TEST(signed_data("SIGN +/+/") == (Bytes{0xfb, 0xff, 0xbf}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(sign_carries_binary_data_unchanged) {
    Bytes all(256);
    for (std::size_t i = 0; i < all.size(); ++i) all[i] = std::uint8_t(i);
    BOOST_TEST(signed_data("SIGN " + to_base64(all)) == all, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(sign_without_argument_is_a_bad_request) {
    auto err = refusal("SIGN");
    BOOST_TEST(err.code == ErrCode::bad_request);
    BOOST_TEST(!err.text.empty());
}

BOOST_AUTO_TEST_CASE(sign_with_bad_base64_is_a_bad_request) {
    for (const char *line : {"SIGN Zm9v!mFy", "SIGN Zm9", "SIGN Zg", "SIGN Zg=", "SIGN Zg===", "SIGN -_-_",
                             "SIGN Zm9v YmFy", "SIGN  Zm9v", "SIGN Zm9v ", "SIGN ====", "SIGN =Zg="}) {
        BOOST_TEST_CONTEXT("\"" << line << "\"") {
            auto err = refusal(line);
            BOOST_TEST(err.code == ErrCode::bad_request);
        }
    }
}

BOOST_AUTO_TEST_CASE(sign_with_non_canonical_padding_is_a_bad_request) {
    // "Zh==" and "Zm9=" carry nonzero leftover bits; only "Zg==" / "Zm8=" are canonical.
    for (const char *line : {"SIGN Zh==", "SIGN Zm9="}) {
        BOOST_TEST_CONTEXT("\"" << line << "\"") {
            BOOST_TEST(refusal(line).code == ErrCode::bad_request);
        }
    }
}

BOOST_AUTO_TEST_CASE(sign_with_a_non_ascii_byte_is_a_bad_request) {
    BOOST_TEST(refusal("SIGN Zm9v\xff").code == ErrCode::bad_request);
    BOOST_TEST(refusal("SIGN \xc3\xa9\xc3\xa9").code == ErrCode::bad_request);
}

// --- STATUS, PUBKEY, LOCK -----------------------------------------------------

BOOST_AUTO_TEST_CASE(status_pubkey_and_lock_parse_to_their_requests) {
    BOOST_TEST(std::holds_alternative<StatusRequest>(parse_line("STATUS")));
    BOOST_TEST(std::holds_alternative<PubkeyRequest>(parse_line("PUBKEY")));
    BOOST_TEST(std::holds_alternative<LockRequest>(parse_line("LOCK")));
}

BOOST_AUTO_TEST_CASE(status_pubkey_and_lock_refuse_a_stray_argument) {
    for (const char *line : {"STATUS x", "PUBKEY x", "LOCK x", "STATUS ", "PUBKEY ", "LOCK ", "LOCK now please"}) {
        BOOST_TEST_CONTEXT("\"" << line << "\"") {
            BOOST_TEST(refusal(line).code == ErrCode::bad_request);
        }
    }
}

BOOST_AUTO_TEST_CASE(verbs_are_matched_exactly) {
    for (const char *line : {"status", "Status", "sign Zm9v", "LOCKX", "XLOCK", " LOCK", "STATUS\x01"}) {
        BOOST_TEST_CONTEXT("\"" << line << "\"") {
            BOOST_TEST(refusal(line).code == ErrCode::bad_request);
        }
    }
}

// --- unknown, empty, CR, control bytes ----------------------------------------

BOOST_AUTO_TEST_CASE(unknown_verb_is_a_bad_request) {
    for (const char *line : {"HELLO", "UNLOCK secret", "SIGNX Zm9v", "GET / HTTP/1.1", " "}) {
        BOOST_TEST_CONTEXT("\"" << line << "\"") {
            BOOST_TEST(refusal(line).code == ErrCode::bad_request);
        }
    }
}

BOOST_AUTO_TEST_CASE(empty_line_is_a_bad_request) {
    auto err = refusal("");
    BOOST_TEST(err.code == ErrCode::bad_request);
    BOOST_TEST(!err.text.empty());
    BOOST_TEST(refusal("\r").code == ErrCode::bad_request);
}

BOOST_AUTO_TEST_CASE(a_trailing_cr_is_tolerated) {
    BOOST_TEST(std::holds_alternative<StatusRequest>(parse_line("STATUS\r")));
    BOOST_TEST(std::holds_alternative<PubkeyRequest>(parse_line("PUBKEY\r")));
    BOOST_TEST(std::holds_alternative<LockRequest>(parse_line("LOCK\r")));
    BOOST_TEST(signed_data("SIGN Zm9vYmFy\r") == bytes_of("foobar"), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(only_one_trailing_cr_is_tolerated) {
    BOOST_TEST(refusal("STATUS\r\r").code == ErrCode::bad_request);
    BOOST_TEST(refusal("\rSTATUS").code == ErrCode::bad_request);
    BOOST_TEST(refusal("STA\rTUS").code == ErrCode::bad_request);
    BOOST_TEST(refusal("SIGN Zm9v\rYmFy").code == ErrCode::bad_request);
}

BOOST_AUTO_TEST_CASE(control_characters_are_a_bad_request) {
    const std::string lines[] = {
        std::string("STATUS\0", 7), std::string("\0STATUS", 7), std::string("SIGN Zm9v\0YmFy", 14),
        std::string("LO\0CK", 5),   std::string("\0", 1),      "STATUS\t",
        "SIGN\tZm9v",               "LOCK\n",                  "PUBKEY\x1b[2J",
        "STATUS\x7f",               "\x01",                    "SIGN Zm9v\x1f",
    };
    for (const auto &line : lines) {
        BOOST_TEST_CONTEXT("line of " << line.size() << " bytes") {
            BOOST_TEST(refusal(line).code == ErrCode::bad_request);
        }
    }
}

// --- the 65,536-byte limit ----------------------------------------------------

BOOST_AUTO_TEST_CASE(the_longest_valid_sign_is_accepted) {
    // 5 + 65,528 base64 characters: the longest canonical SIGN under the limit.
    const std::string line = sign_line_of(65533);
    BOOST_TEST(signed_data(line).size() == 65528u / 4 * 3);
}

BOOST_AUTO_TEST_CASE(a_line_of_exactly_the_limit_is_parsed_not_too_large) {
    BOOST_REQUIRE(kMaxLineBytes == 65536u);
    // 65,531 base64 characters are not a multiple of 4: a parse error, but
    // one reached by parsing, not by the length check.
    const std::string line = sign_line_of(kMaxLineBytes);
    BOOST_REQUIRE(line.size() == 65536u);
    auto err = refusal(line);
    BOOST_TEST(err.code == ErrCode::bad_request);

    // A valid SIGN padded out with a trailing CR still fits.
    const std::string crlf = sign_line_of(65533) + "\r";
    BOOST_TEST(signed_data(crlf).size() == 65528u / 4 * 3);

    // Stray bytes at exactly the limit are a bad request too.
    BOOST_TEST(refusal(std::string(kMaxLineBytes, 'x')).code == ErrCode::bad_request);
}

BOOST_AUTO_TEST_CASE(one_byte_over_the_limit_is_too_large) {
    BOOST_TEST(refusal(sign_line_of(kMaxLineBytes + 1)).code == ErrCode::too_large);
    BOOST_TEST(refusal(std::string(kMaxLineBytes + 1, 'x')).code == ErrCode::too_large);
    // The CR is part of the line as received.
    BOOST_TEST(refusal(sign_line_of(kMaxLineBytes) + "\r").code == ErrCode::too_large);
    BOOST_TEST(refusal(std::string(4 * kMaxLineBytes, 'A')).code == ErrCode::too_large);
}

// --- error text ---------------------------------------------------------------

BOOST_AUTO_TEST_CASE(error_text_never_echoes_the_request) {
    const std::string marker = "Zm9vc2VjcmV0c2VjcmV0"; // valid-looking base64, "foosecretsecret"
    const std::string lines[] = {
        "SIGN " + marker + "!",
        "SIGN " + marker + "=",
        "STATUS " + marker,
        "PUBKEY " + marker,
        "LOCK " + marker,
        marker,
        marker + " STATUS",
        "SIGN " + marker + "\x01",
        std::string("SIGN ") + marker + std::string("\0", 1),
        "SIGN " + marker + std::string(kMaxLineBytes, 'A'),
    };
    for (const auto &line : lines) {
        BOOST_TEST_CONTEXT("line of " << line.size() << " bytes") {
            auto err = refusal(line);
            BOOST_TEST(!err.text.empty());
            BOOST_TEST(!puddle_test::contains(err.text, marker), "echoed: " << err.text);
            BOOST_TEST(is_one_printable_line(err.text));
            BOOST_TEST(err.text.size() < 200u);
        }
    }
}

// --- replies ------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(format_ok_is_exact) {
    BOOST_TEST(format_ok() == "OK\n");
    BOOST_TEST(format_ok("") == "OK\n");
    BOOST_TEST(format_ok("payload") == "OK payload\n");
    BOOST_TEST(format_ok("ed25519:00ff") == "OK ed25519:00ff\n");
    BOOST_TEST(format_ok("{\"unlocked\":true}") == "OK {\"unlocked\":true}\n");
}

BOOST_AUTO_TEST_CASE(format_err_is_exact) {
    BOOST_TEST(format_err(ErrCode::bad_request, "text") == "ERR bad-request text\n");
    BOOST_TEST(format_err(ErrCode::locked, "the session is locked") == "ERR locked the session is locked\n");
    BOOST_TEST(format_err(ErrCode::too_large, "line exceeds 65536 bytes") ==
               "ERR too-large line exceeds 65536 bytes\n");
    BOOST_TEST(format_err(ErrCode::denied, "") == "ERR denied\n");
}

BOOST_AUTO_TEST_CASE(err_code_names_match_the_spec) {
    const std::pair<ErrCode, const char *> names[] = {
        {ErrCode::locked, "locked"},
        {ErrCode::denied, "denied"},
        {ErrCode::not_initialized, "not-initialized"},
        {ErrCode::bad_request, "bad-request"},
        {ErrCode::too_large, "too-large"},
        {ErrCode::reserved_prefix, "reserved-prefix"},
        {ErrCode::internal, "internal"},
    };
    for (const auto &[code, name] : names) {
        BOOST_TEST(std::string(err_code_name(code)) == name);
        BOOST_TEST(format_err(code, "x") == "ERR " + std::string(name) + " x\n");
    }
}

BOOST_AUTO_TEST_CASE(parse_errors_format_as_one_err_line) {
    for (const char *line : {"", "SIGN", "SIGN !!!!", "STATUS x", "HELLO", "\x01"}) {
        BOOST_TEST_CONTEXT("\"" << line << "\"") {
            auto err = refusal(line);
            const std::string reply = format_err(err.code, err.text);
            BOOST_TEST(reply.starts_with("ERR bad-request "));
            BOOST_TEST(reply.find('\n') == reply.size() - 1);
        }
    }
}
