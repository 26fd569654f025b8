// libFuzzer target: the ssh-agent.sock codec (OpenSSH agent protocol).
// The input is read three ways: as a stream of length-prefixed frames (as the
// door reads a socket), as one message body, and as session-bind contents.
// Every extension is dispatched as the door does: one answer each.
// Invariants: framing never reads past the buffer and honours the 256 KiB
// limit; an accepted request re-encodes to exactly the bytes it came from;
// only the three parsed types can be Malformed; a malformed reason is fixed
// text; key and signature blobs round-trip; what data is for is read the
// same way on every door, and a requester's names (the input as a path)
// are one capped line of printable text in the record and the question.
#include "fuzz_support.hpp"
#include "agent/ssh_protocol.hpp"
#include "agent/ssh_policy.hpp"
#include "agent/consent_policy.hpp"
#include "agent/usage.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <variant>

using namespace puddle;
using namespace puddle::agent::ssh;

namespace {

using Span = std::span<const std::uint8_t>;

void put_u32(Bytes &out, std::uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(std::uint8_t(v >> shift));
}

void put_string(Bytes &out, Span s) {
    put_u32(out, std::uint32_t(s.size()));
    out.insert(out.end(), s.begin(), s.end());
}

bool same(Span a, Span b) { return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin()); }

// A malformed reason is one short printable line that cannot carry request bytes.
bool fixed_text(const std::string &reason) {
    if (reason.empty() || reason.size() > 80) return false;
    for (unsigned char c : reason)
        if (c < 0x20 || c >= 0x7f) return false;
    return true;
}

void check_key_blob(Span blob) {
    if (auto key = parse_ed25519_key_blob(blob)) {
        FUZZ_CHECK(key_blob_matches(blob, *key));
        FUZZ_CHECK(same(ed25519_key_blob(*key), blob));
    }
    if (auto sig = parse_ed25519_signature_blob(blob)) {
        FUZZ_CHECK(same(ed25519_signature_blob(*sig), blob));
        const Bytes reply = framed_sign_response(*sig);
        FUZZ_CHECK(reply.size() == 4 + 1 + 4 + blob.size());
        FUZZ_CHECK(same(Span(reply).subspan(9), blob));
    }
}

void check_session_bind(Span contents) {
    const auto parsed = parse_session_bind(contents);
    if (const auto *bad = std::get_if<Malformed>(&parsed)) {
        FUZZ_CHECK(fixed_text(bad->reason));
        return;
    }
    const auto &bind = std::get<SessionBind>(parsed);
    FUZZ_CHECK(!contents.empty());
    FUZZ_CHECK(bind.is_forwarding == (contents.back() != 0));
    Bytes again;
    put_string(again, bind.hostkey_blob);
    put_string(again, bind.session_id);
    put_string(again, bind.signature_blob);
    again.push_back(contents.back());
    FUZZ_CHECK(same(again, contents));
    check_key_blob(bind.hostkey_blob);
    check_key_blob(bind.signature_blob);
    // Verification never crashes on hostile keys or signatures, and only a
    // verified binding is recorded.
    std::vector<agent::Binding> bindings;
    const std::string why = agent::bind_session(bindings, bind);
    FUZZ_CHECK(why.empty() == (bindings.size() == 1));
    if (!why.empty()) FUZZ_CHECK(fixed_text(why.substr(0, 80)));
}

// Every extension gets exactly one answer: a session-bind for the door only
// when its contents parse; else one whole frame — query's list, 28 for a
// known extension that failed, 5 for an unknown one.
void check_extension(const Extension &ext) {
    const ExtensionStep next = dispatch_extension(ext);
    if (const auto *bind = std::get_if<SessionBind>(&next)) {
        FUZZ_CHECK(ext.name == kSessionBindExtension);
        FUZZ_CHECK(std::holds_alternative<SessionBind>(parse_session_bind(ext.contents)));
        FUZZ_CHECK(same(bind->session_id, std::get<SessionBind>(parse_session_bind(ext.contents)).session_id));
        return;
    }
    const Bytes &reply = std::get<ExtensionReply>(next).framed;
    const FrameResult f = parse_frame(reply);
    FUZZ_CHECK(f.status == FrameResult::Status::frame && f.consumed == reply.size() && !f.body.empty());
    const bool known = std::find(kSupportedExtensions.begin(), kSupportedExtensions.end(), ext.name) !=
                       kSupportedExtensions.end();
    if (!known) {
        FUZZ_CHECK(same(reply, framed_failure()));
    } else if (ext.name == kQueryExtension && ext.contents.empty()) {
        FUZZ_CHECK(same(reply, framed_query_response()));
    } else {
        FUZZ_CHECK(same(reply, framed_extension_failure()));
    }
}

void check_body(Span body) {
    const Request request = parse_request(body);
    if (const auto *bad = std::get_if<Malformed>(&request)) {
        FUZZ_CHECK(fixed_text(bad->reason));
        FUZZ_CHECK(body.empty() || body[0] == msg::request_identities || body[0] == msg::sign_request ||
                   body[0] == msg::extension);
        return;
    }
    FUZZ_CHECK(!body.empty());
    if (std::holds_alternative<RequestIdentities>(request)) {
        FUZZ_CHECK(body.size() == 1 && body[0] == msg::request_identities);
    } else if (const auto *sign = std::get_if<SignRequest>(&request)) {
        Bytes again{msg::sign_request};
        put_string(again, sign->key_blob);
        put_string(again, sign->data);
        put_u32(again, sign->flags);
        FUZZ_CHECK(same(again, body));
        FUZZ_CHECK(sign->data.size() <= body.size());
        check_key_blob(sign->key_blob);
    } else if (const auto *ext = std::get_if<Extension>(&request)) {
        Bytes again{msg::extension};
        put_string(again, as_bytes(ext->name));
        again.insert(again.end(), ext->contents.begin(), ext->contents.end());
        FUZZ_CHECK(same(again, body));
        FUZZ_CHECK(ext->name.find('\0') == std::string::npos);
        if (ext->name == kSessionBindExtension) check_session_bind(ext->contents);
        check_extension(*ext);
    } else {
        const auto &unsupported = std::get<Unsupported>(request);
        FUZZ_CHECK(unsupported.type == body[0]);
        FUZZ_CHECK(unsupported.type != msg::request_identities && unsupported.type != msg::sign_request &&
                   unsupported.type != msg::extension);
    }
}

// Reads the input as the door reads a socket buffer: frame after frame.
void check_stream(Span buffer) {
    for (;;) {
        const FrameResult f = parse_frame(buffer);
        switch (f.status) {
        case FrameResult::Status::need_more:
            FUZZ_CHECK(f.consumed == 0);
            FUZZ_CHECK(buffer.size() < 4 || (f.declared_length <= kMaxMessageBytes &&
                                             buffer.size() < 4 + std::size_t(f.declared_length)));
            return;
        case FrameResult::Status::too_large:
            FUZZ_CHECK(f.consumed == 0);
            FUZZ_CHECK(f.declared_length > kMaxMessageBytes);
            return;
        case FrameResult::Status::frame:
            FUZZ_CHECK(f.consumed == 4 + f.body.size());
            FUZZ_CHECK(f.consumed <= buffer.size());
            FUZZ_CHECK(f.body.size() == f.declared_length && f.body.size() <= kMaxMessageBytes);
            FUZZ_CHECK(f.body.data() == buffer.data() + 4);
            FUZZ_CHECK(same(frame(f.body), buffer.first(f.consumed)));
            check_body(f.body);
            buffer = buffer.subspan(f.consumed);
            break;
        }
    }
}

} // namespace

// What a signature is for, as the record and a prompt name it: names are
// bounded and hold no control bytes, so no journal field or prompt line can
// be broken by a request.
bool clean_name(const std::string &s) {
    if (s.size() > kMaxNameBytes + 3) return false;
    for (unsigned char c : s)
        if (c < 0x20 || c >= 0x7f) return false;
    return true;
}

void check_purpose(Span data) {
    const SignPurpose what = classify_sign_data(data);
    if (const auto *sig = std::get_if<SshSigUse>(&what)) {
        FUZZ_CHECK(data.size() >= 6 && std::equal(data.begin(), data.begin() + 6, "SSHSIG"));
        FUZZ_CHECK(clean_name(sig->sig_namespace) && clean_name(sig->hash_algorithm));
    } else if (const auto *login = std::get_if<LoginUse>(&what)) {
        FUZZ_CHECK(clean_name(login->user) && clean_name(login->service));
    }
    // Whatever the bytes of the requester's names, they are one capped line
    // of printable ASCII wherever they are shown (issue 23).
    agent::Requester who;
    who.pid = 1;
    who.exe.assign(data.begin(), data.end());
    who.unit.assign(data.rbegin(), data.rend());
    for (const std::string &label : {who.program_label(), who.unit_label()}) {
        FUZZ_CHECK(label.size() <= agent::kMaxLabelBytes + 3);
        for (unsigned char c : label) FUZZ_CHECK(c >= 0x20 && c < 0x7f);
    }
    const auto use = agent::make_use(agent::Door::ssh, who, data, agent::ssh_purpose(what));
    for (const auto &f : agent::journal_fields(use, agent::Outcome::signed_, {}, {}))
        FUZZ_CHECK(f.find('\n') == std::string::npos);
    const std::string question = agent::consent_prompt(use);
    FUZZ_CHECK(std::count(question.begin(), question.end(), '\n') == 1);
    // Every door reads the data the same way; only the ssh door signs a login.
    for (agent::Door door : {agent::Door::socket, agent::Door::bus, agent::Door::ssh}) {
        const agent::SignFacts f = agent::classify_for_door(door, data);
        FUZZ_CHECK(f.what.index() == what.index());
        FUZZ_CHECK(f.purpose.summary.find('\n') == std::string::npos);
        FUZZ_CHECK(f.refusal.empty() == (door == agent::Door::ssh || !std::holds_alternative<LoginUse>(what)));
        if (std::holds_alternative<SshSigUse>(what)) FUZZ_CHECK(f.purpose.kind == "sshsig");
    }
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    const Span input(data, size);
    check_stream(input);
    check_body(input);
    check_session_bind(input);
    check_key_blob(input);
    check_purpose(input);
    return 0;
}
