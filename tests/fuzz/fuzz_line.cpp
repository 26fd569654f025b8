// libFuzzer target: the agent.sock line parser (SPEC §6.3).
// Invariants: only the verbs themselves are accepted, SIGN data is the one
// canonical decoding of its argument, over-long lines are too-large, and an
// error's text is one of the parser's fixed messages (never an echo).
#include "fuzz_support.hpp"
#include "agent/line_protocol.hpp"
#include "util/error.hpp"

#include <cstdint>
#include <cstdio>
#include <set>
#include <string>
#include <string_view>
#include <variant>

using namespace puddle;
using namespace puddle::agent;

namespace {

// Every error text the parser can produce, learned from the parser itself so
// the target follows wording changes. Anything else would depend on the
// request's bytes.
const std::set<std::string> &fixed_error_texts() {
    static const std::set<std::string> texts = [] {
        std::set<std::string> t;
        for (std::string_view line : {"", "SIGN", "SIGN !!!!", "STATUS x", "PUBKEY x", "LOCK x", "HELLO", "\x01"})
            t.insert(std::get<LineError>(parse_line(line)).text);
        t.insert(std::get<LineError>(parse_line(std::string(kMaxLineBytes + 1, 'x'))).text);
        return t;
    }();
    return texts;
}

void check(std::string_view line) {
    const auto request = parse_line(line);
    std::string_view body = line;
    if (body.ends_with('\r')) body.remove_suffix(1);

    if (const auto *err = std::get_if<LineError>(&request)) {
        FUZZ_CHECK(err->code == ErrCode::bad_request || err->code == ErrCode::too_large);
        FUZZ_CHECK((err->code == ErrCode::too_large) == (line.size() > kMaxLineBytes));
        FUZZ_CHECK(fixed_error_texts().count(err->text) == 1);
        const std::string reply = format_err(err->code, err->text);
        FUZZ_CHECK(reply.find('\n') == reply.size() - 1);
        FUZZ_CHECK(fuzz::printable(std::string_view(reply).substr(0, reply.size() - 1)));
        return;
    }
    FUZZ_CHECK(line.size() <= kMaxLineBytes);
    if (const auto *sign = std::get_if<SignRequest>(&request)) {
        FUZZ_CHECK(body.starts_with("SIGN "));
        // A strict decoder accepts only the canonical encoding of the data.
        FUZZ_CHECK(to_base64(sign->data) == body.substr(5));
        FUZZ_CHECK(sign->data.size() <= kMaxLineBytes / 4 * 3);
    } else if (std::holds_alternative<StatusRequest>(request)) {
        FUZZ_CHECK(body == "STATUS");
    } else if (std::holds_alternative<PubkeyRequest>(request)) {
        FUZZ_CHECK(body == "PUBKEY");
    } else if (std::holds_alternative<LockRequest>(request)) {
        FUZZ_CHECK(body == "LOCK");
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    try {
        check(std::string_view(reinterpret_cast<const char *>(data), size));
    } catch (const Error &) {
        // An expected rejection; anything else escapes and crashes the run.
    }
    return 0;
}
