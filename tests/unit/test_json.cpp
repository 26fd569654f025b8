// The small JSON value used for --json output and state files: strict,
// stable serialization.
#define BOOST_TEST_MODULE json
#ifndef BOOST_TEST_DYN_LINK
#define BOOST_TEST_DYN_LINK
#endif
#include <boost/test/unit_test.hpp>

#include "util/json.hpp"

#include <climits>
#include <stdexcept>

using puddle::Json;
using puddle::json_quote;

BOOST_AUTO_TEST_CASE(scalars_dump_as_json) {
    BOOST_TEST(Json().dump() == "null");
    BOOST_TEST(Json(nullptr).dump() == "null");
    BOOST_TEST(Json(true).dump() == "true");
    BOOST_TEST(Json(false).dump() == "false");
    BOOST_TEST(Json(0).dump() == "0");
    BOOST_TEST(Json(-42).dump() == "-42");
    BOOST_TEST(Json(4000000000u).dump() == "4000000000");
    BOOST_TEST(Json(LLONG_MIN).dump() == "-9223372036854775808");
    BOOST_TEST(Json(LLONG_MAX).dump() == "9223372036854775807");
    BOOST_TEST(Json("text").dump() == "\"text\"");
    BOOST_TEST(Json(std::string()).dump() == "\"\"");
}

BOOST_AUTO_TEST_CASE(quotes_and_backslashes_are_escaped) {
    BOOST_TEST(json_quote("say \"hi\"") == R"("say \"hi\"")");
    BOOST_TEST(json_quote("C:\\dir\\") == R"("C:\\dir\\")");
    BOOST_TEST(json_quote("\\\"") == R"("\\\"")");
    BOOST_TEST(Json("a\"b").dump() == R"("a\"b")");
    // Slash needs no escape.
    BOOST_TEST(json_quote("/a/b") == R"("/a/b")");
}

BOOST_AUTO_TEST_CASE(control_characters_are_escaped) {
    BOOST_TEST(json_quote("a\nb") == R"("a\nb")");
    BOOST_TEST(json_quote("\r\t") == R"("\r\t")");
    BOOST_TEST(json_quote(std::string("\0", 1)) == R"("\u0000")");
    BOOST_TEST(json_quote("\x01") == R"("\u0001")");
    BOOST_TEST(json_quote("\x08\x0c") == R"("\u0008\u000c")");
    BOOST_TEST(json_quote("\x1f") == R"("\u001f")");
    BOOST_TEST(json_quote("\x1b[31m") == R"("\u001b[31m")");
    // Every control character comes out as an escape, never raw.
    for (int c = 0; c < 0x20; ++c) {
        const std::string out = json_quote(std::string(1, char(c)));
        BOOST_TEST(out.size() > 3u, "char " << c);
        BOOST_TEST(out[1] == '\\', "char " << c);
        for (char o : out) BOOST_TEST((unsigned char)o >= 0x20u, "char " << c);
    }
}

BOOST_AUTO_TEST_CASE(printable_and_utf8_pass_through) {
    BOOST_TEST(json_quote(" ~") == "\" ~\"");
    BOOST_TEST(json_quote("caf\xc3\xa9") == "\"caf\xc3\xa9\""); // UTF-8 bytes unchanged
    BOOST_TEST(json_quote("\x7f") == "\"\x7f\"");              // DEL is legal in JSON strings
}

BOOST_AUTO_TEST_CASE(keys_are_escaped_too) {
    auto j = Json::object();
    j.set("a\"b\n", 1);
    BOOST_TEST(j.dump() == R"({"a\"b\n":1})");
}

BOOST_AUTO_TEST_CASE(empty_containers) {
    BOOST_TEST(Json::object().dump() == "{}");
    BOOST_TEST(Json::array().dump() == "[]");
}

BOOST_AUTO_TEST_CASE(nested_objects_and_arrays) {
    auto inner = Json::object();
    inner.set("pid", 1234).set("ok", true);
    auto list = Json::array();
    list.push("x").push(Json()).push(Json::array()).push(inner);
    auto outer = Json::object();
    outer.set("inner", inner).set("list", list).set("empty", Json::object());
    BOOST_TEST(outer.dump() ==
               R"({"inner":{"pid":1234,"ok":true},"list":["x",null,[],{"pid":1234,"ok":true}],"empty":{}})");
}

BOOST_AUTO_TEST_CASE(keys_keep_insertion_order) {
    auto j = Json::object();
    j.set("zebra", 1).set("apple", 2).set("mango", 3);
    BOOST_TEST(j.dump() == R"({"zebra":1,"apple":2,"mango":3})");
}

BOOST_AUTO_TEST_CASE(set_replaces_a_key_in_place) {
    auto j = Json::object();
    j.set("a", 1).set("b", 2).set("c", 3);
    j.set("b", "two");
    BOOST_TEST(j.dump() == R"({"a":1,"b":"two","c":3})");
    BOOST_REQUIRE(j.as_object());
    BOOST_TEST(j.as_object()->size() == 3u);
    j.set("a", Json::object());
    BOOST_TEST(j.dump() == R"({"a":{},"b":"two","c":3})");
}

BOOST_AUTO_TEST_CASE(get_and_typed_access) {
    auto j = Json::object();
    j.set("n", 7).set("s", "str").set("b", false).set("z", nullptr).set("arr", Json::array().push(1));
    BOOST_REQUIRE(j.get("n"));
    BOOST_REQUIRE(j.get("n")->as_int());
    BOOST_TEST(*j.get("n")->as_int() == 7);
    BOOST_TEST(j.get("n")->as_string() == nullptr);
    BOOST_REQUIRE(j.get("s")->as_string());
    BOOST_TEST(*j.get("s")->as_string() == "str");
    BOOST_REQUIRE(j.get("b")->as_bool());
    BOOST_TEST(*j.get("b")->as_bool() == false);
    BOOST_TEST(j.get("z")->is_null());
    BOOST_REQUIRE(j.get("arr")->as_array());
    BOOST_TEST(j.get("arr")->as_array()->size() == 1u);
    BOOST_TEST(j.get("missing") == nullptr);
    BOOST_TEST(Json(5).get("n") == nullptr); // not an object
}

BOOST_AUTO_TEST_CASE(set_and_push_on_the_wrong_kind_throw) {
    Json n(5);
    BOOST_CHECK_THROW(n.set("k", 1), std::logic_error);
    BOOST_CHECK_THROW(n.push(1), std::logic_error);
    BOOST_CHECK_THROW(Json::array().set("k", 1), std::logic_error);
    BOOST_CHECK_THROW(Json::object().push(1), std::logic_error);
    BOOST_TEST(n.dump() == "5"); // unchanged
}
