// The strict JSON parser (parse_json): RFC 8259 with puddle's integer-only
// numbers, exact errors with line and column, limits, and dump() round trips.
#define BOOST_TEST_MODULE json_parse
#ifndef BOOST_TEST_DYN_LINK
#define BOOST_TEST_DYN_LINK
#endif
#include <boost/test/unit_test.hpp>

#include "support.hpp"

#include "util/json.hpp"

#include <climits>
#include <string>
#include <vector>

using puddle::Json;
using puddle::JsonLimits;
using puddle::parse_json;

namespace {

using namespace std::string_literals;

// Parses text that must be refused and returns the message.
std::string refused(std::string_view text, const JsonLimits &limits = {}) {
    std::string error;
    const auto v = parse_json(text, &error, limits);
    BOOST_TEST(!v.has_value(), "accepted: " << text);
    BOOST_TEST(!error.empty());
    return error;
}

Json accepted(std::string_view text, const JsonLimits &limits = {}) {
    std::string error;
    auto v = parse_json(text, &error, limits);
    BOOST_REQUIRE_MESSAGE(v.has_value(), "refused: " << text << ": " << error);
    return std::move(*v);
}

bool printable(const std::string &s) {
    for (unsigned char c : s)
        if (c < 0x20 || c >= 0x7f) return false;
    return true;
}

struct Case {
    const char *name;  // JSONTestSuite-style: y_ accepted, n_ refused, i_ refused by puddle
    std::string text;
    const char *error; // for refusals: a part of the message
};

// y_: must parse.
const std::vector<Case> kValid = {
    {"y_array_empty", "[]", nullptr},
    {"y_array_arraysWithSpaces", "[[]   ]", nullptr},
    {"y_array_empty-string", R"([""])", nullptr},
    {"y_array_false", "[false]", nullptr},
    {"y_array_heterogeneous", R"([null, 1, "1", {}])", nullptr},
    {"y_array_null", "[null]", nullptr},
    {"y_array_with_several_null", "[1,null,null,null,2]", nullptr},
    {"y_array_with_leading_space", " [1]", nullptr},
    {"y_array_with_trailing_space", "[2] ", nullptr},
    {"y_array_with_1_and_newline", "[1\n]", nullptr},
    {"y_number_negative_zero", "[-0]", nullptr},
    {"y_number_negative_int", "[-123]", nullptr},
    {"y_number_simple_int", "[123]", nullptr},
    {"y_number_int64_max", "[9223372036854775807]", nullptr},
    {"y_number_int64_min", "[-9223372036854775808]", nullptr},
    {"y_object_basic", R"({"asd":"sdf"})", nullptr},
    {"y_object_empty", "{}", nullptr},
    {"y_object_empty_key", R"({"":0})", nullptr},
    {"y_object_escaped_null_in_key", R"({"foo\u0000bar": 42})", nullptr},
    {"y_object_long_strings",
     R"({"x":[{"id": "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}], "id": "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"})",
     nullptr},
    {"y_object_simple", R"({"a":[]})", nullptr},
    {"y_object_with_newlines", "{\n\"a\": \"b\"\n}", nullptr},
    {"y_object_same_key_different_case", R"({"a":1,"A":2})", nullptr},
    {"y_string_1_2_3_bytes_UTF-8_sequences", R"(["\u0060\u012a\u12AB"])", nullptr},
    {"y_string_accepted_surrogate_pair", R"(["\uD801\udc37"])", nullptr},
    {"y_string_allowed_escapes", R"(["\"\\\/\b\f\n\r\t"])", nullptr},
    {"y_string_backslash_and_u_escaped_zero", R"(["\\u0000"])", nullptr},
    {"y_string_comments", R"(["a/*b*/c/*d//e"])", nullptr},
    {"y_string_escaped_noncharacter", R"(["\uFFFF"])", nullptr},
    {"y_string_last_surrogates_1_and_2", R"(["\uDBFF\uDFFF"])", nullptr},
    {"y_string_nonCharacterInUTF-8_U+FFFF", "[\"\xef\xbf\xbf\"]", nullptr},
    {"y_string_utf8", "[\"\xe2\x82\xac\xf0\x9d\x84\x9e\"]", nullptr},
    {"y_string_unicode_U+10FFFE_nonchar", R"(["\uDBFF\uDFFE"])", nullptr},
    {"y_string_with_del_character", "[\"a\x7f" "a\"]", nullptr},
    {"y_string_u+2028_line_sep", "[\"\xe2\x80\xa8\"]", nullptr},
    {"y_structure_lonely_false", "false", nullptr},
    {"y_structure_lonely_int", "42", nullptr},
    {"y_structure_lonely_null", "null", nullptr},
    {"y_structure_lonely_string", R"("asd")", nullptr},
    {"y_structure_lonely_true", "true", nullptr},
    {"y_structure_trailing_newline", "[\"a\"]\n", nullptr},
    {"y_structure_whitespace_array", " \t\r\n[]\r\n", nullptr},
};

// n_ (invalid JSON) and i_ (implementation-defined; puddle refuses them), and
// valid JSON that puddle refuses on purpose (fractions, duplicate keys).
const std::vector<Case> kInvalid = {
    {"n_array_1_true_without_comma", "[1 true]", "expected ',' or ']' after an array element"},
    {"n_array_extra_comma", R"([""],)", "unexpected ','"},
    {"n_array_trailing_comma", R"(["",])", "no trailing commas"},
    {"n_array_double_comma", "[1,,2]", "expected a JSON value, found ','"},
    {"n_array_just_comma", "[,]", "expected a JSON value, found ','"},
    {"n_array_incomplete", R"(["x")", "found the end of the text"},
    {"n_array_unclosed", "[1", "expected ',' or ']'"},
    {"n_array_extra_close", R"(["x"]])", "unexpected ']' after the JSON value"},
    {"n_array_colon_instead_of_comma", R"(["": 1])", "expected ',' or ']'"},
    {"n_incomplete_false", "[fals]", "invalid literal"},
    {"n_incomplete_null", "[nul]", "invalid literal"},
    {"n_incomplete_true", "[tru]", "invalid literal"},
    {"n_structure_capitalized_True", "[True]", "found 'T'"},
    {"n_number_++", "[++1234]", "found '+'"},
    {"n_number_+1", "[+1]", "found '+'"},
    {"n_number_-01", "[-01]", "leading zeros"},
    {"n_number_with_leading_zero", "[012]", "leading zeros"},
    {"n_number_00", "[00]", "leading zeros"},
    {"n_number_NaN", "[NaN]", "found 'N'"},
    {"n_number_Infinity", "[Infinity]", "found 'I'"},
    {"n_number_minus_infinity", "[-Infinity]", "expected a digit after '-'"},
    {"n_number_minus_alone", "[-]", "expected a digit after '-'"},
    {"n_number_hex", "[0x42]", "expected ',' or ']'"},
    {"n_number_starting_with_dot", "[.123]", "found '.'"},
    {"n_number_real_without_fractional_part", "[1.]", "numbers must be integers"},
    {"n_number_0.e1", "[0.e1]", "numbers must be integers"},
    {"n_number_neg_with_garbage_at_end", "[-1x]", "expected ',' or ']'"},
    {"n_number_int64_overflow", "[9223372036854775808]", "out of range"},
    {"n_number_int64_underflow", "[-9223372036854775809]", "out of range"},
    {"n_number_huge", "[123456789012345678901234567890]", "out of range"},
    {"puddle_number_fraction", "[1.5]", "numbers must be integers"},
    {"puddle_number_exponent", "[1e3]", "numbers must be integers"},
    {"puddle_number_exponent_upper", "[1E+2]", "numbers must be integers"},
    {"puddle_number_zero_fraction", "0.0", "numbers must be integers"},
    {"n_object_trailing_comma", R"({"id":0,})", "expected a string key after ','"},
    {"n_object_single_quote", "{'a':0}", "expected a string key or '}'"},
    {"n_object_unquoted_key", R"({a: "b"})", "expected a string key"},
    {"n_object_missing_colon", R"({"a" b})", "expected ':' after an object key"},
    {"n_object_missing_value", R"({"a":)", "found the end of the text"},
    {"n_object_non_string_key", "{1:1}", "expected a string key"},
    {"n_object_double_colon", R"({"x"::"b"})", "expected a JSON value, found ':'"},
    {"n_object_with_trailing_garbage", R"({"a": true} "x")", "after the JSON value"},
    {"n_object_trailing_comment", R"({"a":"b"}/**/)", "unexpected '/'"},
    {"n_object_comma_instead_of_colon", R"({"x", null})", "expected ':'"},
    {"puddle_object_duplicated_key", R"({"a":"b","a":"c"})", "duplicate object key \"a\""},
    {"puddle_object_duplicated_key_and_value", R"({"a":"b","a":"b"})", "duplicate object key"},
    {"n_string_single_quote", "['single quote']", "found '''"},
    {"n_string_escape_x", R"(["\x00"])", "invalid escape: '\\' followed by 'x'"},
    {"n_string_invalid_backslash_esc", R"(["\a"])", "invalid escape"},
    {"n_string_incomplete_escaped_character", R"(["\u00A"])", "expected 4 hex digits"},
    {"n_string_incomplete_escape", R"(["\"])", "unterminated string"},
    {"n_string_unescaped_newline", "[\"new\nline\"]", "control character U+000a"},
    {"n_string_unescaped_tab", "[\"\t\"]", "control character U+0009"},
    {"n_string_unescaped_ctrl_char", "[\"a\0a\"]"s, "control character U+0000"},
    {"n_string_no_quotes_with_bad_escape", R"([\n])", "found '\\'"},
    {"n_string_1_surrogate_then_escape", R"(["\uD800\"])", "lone high surrogate"},
    {"n_string_1_surrogate_then_escape_u", R"(["\uD800\u"])", "expected 4 hex digits"},
    {"n_string_invalid-utf-8-in-escape", "[\"\\u\xe5\"]", "expected 4 hex digits"},
    {"i_string_lone_second_surrogate", R"(["\uDFAA"])", "lone low surrogate \\udfaa"},
    {"i_string_1st_surrogate_but_2nd_missing", R"(["\uDADA"])", "lone high surrogate \\udada"},
    {"i_string_incomplete_surrogate_pair", R"(["\uDd1ea"])", "lone low surrogate \\udd1e"},
    {"i_string_incomplete_high_surrogate", R"(["\uD83Da"])", "lone high surrogate \\ud83d"},
    {"i_string_invalid_surrogate", R"(["\ud800abc"])", "lone high surrogate"},
    {"i_string_inverted_surrogates", R"(["\uDc00\ud800"])", "lone low surrogate"},
    {"i_string_1st_valid_surrogate_2nd_invalid", R"(["\uD888\u1234"])", "not a low surrogate"},
    {"i_string_UTF-8_invalid_sequence", "[\"\xe6\x97\xa5\xd1\x88\xfa\"]", "invalid UTF-8"},
    {"i_string_overlong_sequence_2_bytes", "[\"\xc0\xaf\"]", "overlong"},
    {"i_string_overlong_sequence_3_bytes", "[\"\xe0\x80\xaf\"]", "overlong"},
    {"i_string_overlong_sequence_4_bytes", "[\"\xf0\x80\x80\xaf\"]", "overlong"},
    {"i_string_overlong_sequence_6_bytes", "[\"\xfc\x83\xbf\xbf\xbf\xbf\"]", "above U+10FFFF"},
    {"i_string_UTF8_surrogate_U+D800", "[\"\xed\xa0\x80\"]", "encoded surrogate"},
    {"i_string_not_in_unicode_range", "[\"\xf4\xbf\xbf\xbf\"]", "above U+10FFFF"},
    {"i_string_truncated-utf-8", "[\"\xe0\xff\"]", "incomplete multi-byte sequence"},
    {"i_string_lone_utf8_continuation_byte", "[\"\x81\"]", "unexpected continuation byte 0x81"},
    {"i_string_invalid_utf-8", "[\"\xff\"]", "invalid UTF-8: byte 0xff"},
    {"i_string_utf8_cut_by_end", "\"\xe2\x82", "cut short"},
    {"n_string_unterminated", "\"abc", "unterminated string"},
    {"n_structure_UTF8_BOM_no_data", "\xef\xbb\xbf", "byte order mark"},
    {"i_structure_UTF-8_BOM_empty_object", "\xef\xbb\xbf{}", "byte order mark"},
    {"n_structure_no_data", "", "expected a JSON value, found the end of the text"},
    {"n_structure_whitespace_only", " \n ", "found the end of the text"},
    {"n_structure_whitespace_formfeed", "[\f]", "byte 0x0c"},
    {"n_structure_whitespace_vertical_tab", "[\v1]", "byte 0x0b"},
    {"n_structure_nbsp_as_whitespace", "[\xc2\xa0" "1]", "byte 0xc2"},
    {"n_structure_U+2060_word_joined", "[\xe2\x81\xa0]", "byte 0xe2"},
    {"n_structure_null-byte-outside-string", "[\0]"s, "byte 0x00"},
    {"n_multidigit_number_then_00", "123\0"s, "after the JSON value"},
    {"n_structure_unclosed_array", "[1", "found the end of the text"},
    {"n_structure_open_object", "{", "expected a string key or '}' after '{'"},
    {"n_structure_comma_instead_of_closing_brace", R"({"x": true,)", "expected a string key after ','"},
    {"n_structure_double_array", "[][]", "unexpected '['"},
    {"n_structure_end_array", "]", "found ']'"},
    {"n_structure_angle_bracket_null", "[<null>]", "found '<'"},
    {"n_structure_line_comment", "[1] // comment", "unexpected '/'"},
    {"n_structure_block_comment", "/* c */ [1]", "found '/'"},
    {"n_structure_object_with_comment", "{\"a\":/*c*/1}", "found '/'"},
    {"n_single_space_then_value_then_junk", " 1 2", "unexpected '2'"},
};

} // namespace

BOOST_AUTO_TEST_CASE(jsontestsuite_style_documents) {
    BOOST_TEST(kValid.size() + kInvalid.size() >= 40u);
    for (const auto &c : kValid) {
        std::string error;
        const auto v = parse_json(c.text, &error);
        BOOST_TEST(v.has_value(), c.name << " refused: " << error);
        if (!v) continue;
        // Whatever parses dumps to text that parses back to the same value.
        const std::string once = v->dump();
        const auto again = parse_json(once, &error);
        BOOST_TEST(again.has_value(), c.name << " dump refused: " << once << ": " << error);
        if (again) {
            BOOST_TEST((*again == *v), c.name);
            BOOST_TEST(again->dump() == once, c.name);
        }
    }
    for (const auto &c : kInvalid) {
        std::string error;
        const auto v = parse_json(c.text, &error);
        BOOST_TEST(!v.has_value(), c.name << " accepted");
        BOOST_TEST(puddle_test::contains(error, c.error), c.name << ": \"" << error << "\" lacks \"" << c.error << "\"");
        BOOST_TEST(error.starts_with("line "), c.name << ": " << error);
        BOOST_TEST(printable(error), c.name << ": " << error);
    }
}

BOOST_AUTO_TEST_CASE(values_come_out_typed) {
    const Json v = accepted(R"({"n":-42,"s":"x\ny","b":true,"z":null,"a":[1,[2]],"o":{"k":"v"}})");
    BOOST_REQUIRE(v.as_object());
    BOOST_TEST(v.as_object()->size() == 6u);
    BOOST_TEST(*v.get("n")->as_int() == -42);
    BOOST_TEST(*v.get("s")->as_string() == "x\ny");
    BOOST_TEST(*v.get("b")->as_bool() == true);
    BOOST_TEST(v.get("z")->is_null());
    BOOST_TEST(v.get("a")->as_array()->size() == 2u);
    BOOST_TEST(*v.get("o")->get("k")->as_string() == "v");
    // Members keep the document's order.
    BOOST_TEST(v.as_object()->front().first == "n");
    BOOST_TEST(v.as_object()->back().first == "o");
}

BOOST_AUTO_TEST_CASE(integers_at_the_int64_edges) {
    BOOST_TEST(*accepted("9223372036854775807").as_int() == LLONG_MAX);
    BOOST_TEST(*accepted("-9223372036854775808").as_int() == LLONG_MIN);
    BOOST_TEST(*accepted("-0").as_int() == 0);
    BOOST_TEST(*accepted("0").as_int() == 0);
    BOOST_TEST(*accepted("10").as_int() == 10);
    CHECK_CONTAINS(refused("9223372036854775808"), "line 1, column 1: integer out of range");
    CHECK_CONTAINS(refused("-9223372036854775809"), "integer out of range");
    CHECK_CONTAINS(refused("18446744073709551616"), "integer out of range");
}

BOOST_AUTO_TEST_CASE(escapes_decode_to_utf8) {
    BOOST_TEST(*accepted(R"("\u00e9")").as_string() == "\xc3\xa9");
    BOOST_TEST(*accepted(R"("\u20AC")").as_string() == "\xe2\x82\xac");
    BOOST_TEST(*accepted(R"("\ud834\udd1e")").as_string() == "\xf0\x9d\x84\x9e"); // U+1D11E
    BOOST_TEST(*accepted(R"("\uDBFF\uDFFF")").as_string() == "\xf4\x8f\xbf\xbf");  // U+10FFFF
    BOOST_TEST(*accepted(R"("\u0000")").as_string() == std::string(1, '\0'));
    BOOST_TEST(*accepted(R"("\/\b\f\n\r\t\"\\")").as_string() == "/\b\f\n\r\t\"\\");
    // Raw UTF-8 at the edges of each length passes through unchanged.
    for (const char *s : {"\xc2\x80", "\xdf\xbf", "\xe0\xa0\x80", "\xed\x9f\xbf", "\xee\x80\x80", "\xef\xbf\xbf",
                          "\xf0\x90\x80\x80", "\xf4\x8f\xbf\xbf"})
        BOOST_TEST(*accepted("\""s + s + "\"").as_string() == s);
}

BOOST_AUTO_TEST_CASE(errors_name_line_and_column) {
    BOOST_TEST(refused("{\"a\":1,\n \"b\":2,\n \"c\":3 \"d\":4}") ==
               "line 3, column 8: expected ',' or '}' after an object member, found '\"'");
    BOOST_TEST(refused("{\n  \"version\": 1,\n  \"members\": [1 2]\n}") ==
               "line 3, column 17: expected ',' or ']' after an array element, found '2'");
    BOOST_TEST(refused("") == "line 1, column 1: expected a JSON value, found the end of the text");
    BOOST_TEST(refused("[1,]") == "line 1, column 4: expected a value after ',', found ']' (no trailing commas)");
    BOOST_TEST(refused(R"({"a":1,"a":2})") == "line 1, column 8: duplicate object key \"a\"");
    BOOST_TEST(refused("[01]") == "line 1, column 2: leading zeros are not allowed");
    BOOST_TEST(refused("[1.5]") ==
               "line 1, column 2: numbers must be integers (puddle's JSON has no fractions or exponents)");
    // Columns count characters, not bytes: "é" is one column.
    BOOST_TEST(refused("[\"\xc3\xa9\xc3\xa9\", x]") == "line 1, column 8: expected a JSON value, found 'x'");
    // A carriage return is whitespace, not a line break.
    BOOST_TEST(refused("[1,\r\n2,\r\nx]").starts_with("line 3, column 1:"));
    // An unterminated string is reported where it starts.
    BOOST_TEST(refused("[1,\n  \"abc") == "line 2, column 3: unterminated string");
}

BOOST_AUTO_TEST_CASE(errors_never_echo_raw_bytes) {
    CHECK_CONTAINS(refused("{\"\\u001b[31m\\n\":1,\"\\u001b[31m\\n\":2}"),
                   R"(duplicate object key "\x1b[31m\x0a")");
    const std::string long_key(100, 'k');
    const std::string err = refused("{\"" + long_key + "\":1,\"" + long_key + "\":1}");
    CHECK_CONTAINS(err, "...");
    BOOST_TEST(err.size() < 120u);
    BOOST_TEST(printable(refused("[\"\xff\"]")));
    BOOST_TEST(printable(refused("\x01")));
}

BOOST_AUTO_TEST_CASE(error_pointer_may_be_null) {
    BOOST_TEST(!parse_json("[", nullptr).has_value());
    BOOST_TEST(parse_json("[]", nullptr).has_value());
    JsonLimits tiny;
    tiny.max_bytes = 1;
    BOOST_TEST(!parse_json("[]", nullptr, tiny).has_value());
}

BOOST_AUTO_TEST_CASE(depth_limit) {
    auto nested = [](int n) { return std::string(std::size_t(n), '[') + std::string(std::size_t(n), ']'); };
    accepted(nested(32));
    BOOST_TEST(refused(nested(33)) == "line 1, column 33: nesting deeper than 32 levels");
    auto objects = [](int n) {
        std::string s;
        for (int i = 0; i < n; ++i) s += "{\"a\":";
        s += "1";
        for (int i = 0; i < n; ++i) s += "}";
        return s;
    };
    accepted(objects(32));
    CHECK_CONTAINS(refused(objects(33)), "nesting deeper than 32 levels");
    // Deep nesting is refused quickly, not by running out of stack.
    CHECK_CONTAINS(refused(std::string(1000000, '[')), "nesting deeper");

    JsonLimits flat;
    flat.max_depth = 1;
    accepted("[1,2]", flat);
    accepted("7", flat);
    CHECK_CONTAINS(refused("[[1]]", flat), "nesting deeper than 1 levels");
    flat.max_depth = 0;
    accepted("\"scalar\"", flat);
    CHECK_CONTAINS(refused("[]", flat), "nesting deeper than 0 levels");
}

BOOST_AUTO_TEST_CASE(size_limit) {
    JsonLimits limits;
    limits.max_bytes = 10;
    accepted("[1,2,3,45]", limits); // exactly 10 bytes
    BOOST_TEST(refused("[1,2,3,456]", limits) == "the text is 11 bytes, more than the limit of 10");
    BOOST_TEST(refused("           1", limits) == "the text is 12 bytes, more than the limit of 10");
    // The default is 1 MiB.
    const std::string big = "\"" + std::string((1 << 20) - 2, 'x') + "\"";
    accepted(big);
    CHECK_CONTAINS(refused(big + " "), "more than the limit of 1048576");
}

BOOST_AUTO_TEST_CASE(element_limit_counts_every_value) {
    JsonLimits limits;
    limits.max_elements = 4;
    accepted("[1,2,3]", limits);        // the array and three integers
    accepted(R"({"a":1,"b":[]})", limits); // object, 1, array: keys are not values
    BOOST_TEST(refused("[1,2,3,4]", limits) == "line 1, column 8: more than 4 values in the document");
    CHECK_CONTAINS(refused("[[],[],[],[]]", limits), "more than 4 values");
    // The default allows 100000.
    std::string many = "[0";
    for (int i = 1; i < 99999; ++i) many += ",0";
    accepted(many + "]");
    CHECK_CONTAINS(refused(many + ",0]"), "more than 100000 values");
}

BOOST_AUTO_TEST_CASE(dump_round_trips_through_the_parser) {
    auto inner = Json::object();
    inner.set("pid", 1234).set("ok", true).set("none", nullptr);
    auto list = Json::array();
    list.push("x").push(Json()).push(Json::array()).push(inner).push(LLONG_MIN).push(LLONG_MAX);
    auto doc = Json::object();
    std::string all_bytes_controls;
    for (int c = 0; c < 0x20; ++c) all_bytes_controls += char(c);
    doc.set("inner", inner)
        .set("list", list)
        .set("controls", all_bytes_controls)
        .set("quotes", "say \"hi\" \\ /")
        .set("utf8", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9d\x84\x9e \x7f")
        .set("", "empty key")
        .set("nul\0key"s, "nul\0value"s);
    const std::string text = doc.dump();
    const Json back = accepted(text);
    BOOST_TEST((back == doc));
    BOOST_TEST(back.dump() == text);
}

BOOST_AUTO_TEST_CASE(parse_then_dump_is_canonical) {
    BOOST_TEST(accepted(" { \"a\" : [ 1 , -0 , \"\\u0041\\/\" ] ,\n\"b\":{ } } ").dump() ==
               R"({"a":[1,0,"A/"],"b":{}})");
    BOOST_TEST(accepted(R"("\ud83d\ude00")").dump() == "\"\xf0\x9f\x98\x80\"");
    BOOST_TEST(accepted(R"("\u001F\u007f")").dump() == "\"\\u001f\x7f\"");
}

BOOST_AUTO_TEST_CASE(kind_and_equality) {
    BOOST_TEST(std::string(Json().kind()) == "null");
    BOOST_TEST(std::string(Json(true).kind()) == "a boolean");
    BOOST_TEST(std::string(Json(1).kind()) == "an integer");
    BOOST_TEST(std::string(Json("s").kind()) == "a string");
    BOOST_TEST(std::string(Json::array().kind()) == "an array");
    BOOST_TEST(std::string(Json::object().kind()) == "an object");
    BOOST_TEST((Json(1) == Json(1)));
    BOOST_TEST(!(Json(1) == Json("1")));
    BOOST_TEST(!(Json(0) == Json(false)));
    BOOST_TEST(!(Json() == Json(false)));
    // Object member order matters: equality is structural.
    BOOST_TEST(!(accepted(R"({"a":1,"b":2})") == accepted(R"({"b":2,"a":1})")));
    BOOST_TEST((accepted(R"({"a":1,"b":2})") == accepted(R"({ "a": 1, "b": 2 })")));
}
