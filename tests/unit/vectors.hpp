// Known-answer vector files in tests/vectors/ (JSON), for the unit tests that
// check against them. Include after <boost/test/unit_test.hpp>.
#pragma once

// property_tree pulls in boost/bind.hpp, which warns about global placeholders.
#define BOOST_BIND_GLOBAL_PLACEHOLDERS
#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>

#include "core/encoding.hpp"

#include <string>

#ifndef PUDDLE_VECTORS_DIR
#error "PUDDLE_VECTORS_DIR must name tests/vectors (set in tests/unit/meson.build)"
#endif

namespace puddle_test {

inline boost::property_tree::ptree load_vectors(const std::string &name) {
    boost::property_tree::ptree tree;
    boost::property_tree::read_json(std::string(PUDDLE_VECTORS_DIR) + "/" + name, tree);
    return tree;
}

// Hex field of a vector; a malformed vector file is a test failure, not a crash.
inline puddle::Bytes hex_field(const boost::property_tree::ptree &v, const std::string &key) {
    const auto text = v.get<std::string>(key);
    auto bytes = puddle::from_hex(text);
    BOOST_REQUIRE_MESSAGE(bytes, key << " is not hex: " << text);
    return *bytes;
}

} // namespace puddle_test
