// libFuzzer target: the pairing protocol's pure decoders (src/pair): the frame
// reader, each message body, the PAYLOAD and ACK plaintexts, ADa / ADb and
// lv_cat, and opening PAYLOAD / ACK under a fixed key.
// Invariants: whatever is accepted re-encodes to exactly the input bytes (the
// decoders are canonical), a frame never exceeds its limit, a refusal carries
// a printable reason, and no input opens under a key it was not sealed with.
#include "fuzz_support.hpp"
#include "pair/cpace.hpp"
#include "pair/messages.hpp"
#include "pair/payload.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <span>
#include <string>

using namespace puddle;
using namespace puddle::pair;

namespace {

using View = std::span<const std::uint8_t>;

bool same(const Bytes &a, View b) { return std::equal(a.begin(), a.end(), b.begin(), b.end()); }

bool printable_nonempty(const std::string &s) { return !s.empty() && fuzz::printable(s); }

std::uint32_t be32(const std::uint8_t *p) {
    return (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) | p[3];
}

// Every frame at the front of the input, one after the other, as a reader would.
void check_frames(View bytes) {
    while (true) {
        std::size_t consumed = 99;
        Message m;
        std::string error;
        const FrameStatus status = parse_frame(bytes, consumed, m, error);
        if (status == FrameStatus::need_more) {
            FUZZ_CHECK(consumed == 0);
            FUZZ_CHECK(frame_size_hint(bytes) > bytes.size());
            return;
        }
        if (status == FrameStatus::bad) {
            FUZZ_CHECK(consumed == 0);
            FUZZ_CHECK(printable_nonempty(error));
            return;
        }
        FUZZ_CHECK(consumed >= kFrameHeaderBytes && consumed <= bytes.size());
        FUZZ_CHECK(consumed == kFrameLengthBytes + be32(bytes.data()));
        FUZZ_CHECK(bytes[4] == static_cast<std::uint8_t>(type_of(m)));
        FUZZ_CHECK(consumed - kFrameLengthBytes <= max_message_bytes(type_of(m)));
        FUZZ_CHECK(same(encode(m), bytes.first(consumed)));
        bytes = bytes.subspan(consumed);
    }
}

// The whole input as the body of each type.
void check_bodies(View body) {
    for (std::uint8_t type : {1, 2, 3, 4, 5, 6, 7, 15}) {
        Message m;
        std::string error;
        if (!decode_body(type, body, m, error)) {
            FUZZ_CHECK(printable_nonempty(error));
            continue;
        }
        FUZZ_CHECK(static_cast<std::uint8_t>(type_of(m)) == type);
        if (1 + body.size() > max_message_bytes(type_of(m))) continue; // encode() would refuse the size
        const Bytes frame = encode(m);
        FUZZ_CHECK(frame.size() == kFrameHeaderBytes + body.size());
        FUZZ_CHECK(std::equal(body.begin(), body.end(), frame.begin() + kFrameHeaderBytes));
    }
}

void check_plaintexts(View bytes) {
    std::string error;
    if (auto p = decode_payload_plaintext(bytes, error)) FUZZ_CHECK(same(encode_payload_plaintext(*p), bytes));
    else FUZZ_CHECK(printable_nonempty(error));

    if (auto r = decode_member_record(bytes, error)) {
        FUZZ_CHECK(r->at >= 0);
        FUZZ_CHECK(same(encode_member_record(*r), bytes));
    } else {
        FUZZ_CHECK(printable_nonempty(error));
    }
}

void check_ad(View bytes) {
    if (auto a = parse_ada(bytes)) FUZZ_CHECK(same(make_ada(a->version, a->purpose, a->host), bytes));
    if (auto b = parse_adb(bytes)) FUZZ_CHECK(same(make_adb(b->version, b->purpose, b->host, b->pubkey), bytes));
    for (std::size_t count = 1; count <= 4; ++count) {
        auto parts = split_lv_cat(bytes, count);
        if (!parts) continue;
        Bytes again;
        for (View part : *parts) append_lv(again, part);
        FUZZ_CHECK(same(again, bytes));
    }
}

// The input as nonce ‖ ciphertext under a fixed key and AD: never opens.
void check_open(View bytes) {
    if (bytes.size() < kAeadNonceBytes) return;
    static const SecretBuffer key = [] {
        SecretBuffer k(kPayloadKeyBytes);
        for (std::size_t i = 0; i < k.size(); ++i) k.data()[i] = static_cast<std::uint8_t>(i);
        return k;
    }();
    TranscriptHash ad{};
    ad.fill(0xad);
    PayloadMsg payload;
    std::memcpy(payload.nonce.data(), bytes.data(), kAeadNonceBytes);
    payload.ciphertext.assign(bytes.begin() + kAeadNonceBytes, bytes.end());
    std::string error;
    FUZZ_CHECK(!open_payload(key, payload, ad, error));
    FUZZ_CHECK(!open_ack(key, AckMsg{payload}, ad, error));
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    const View bytes(data, size);
    check_frames(bytes);
    check_bodies(bytes);
    check_plaintexts(bytes);
    check_ad(bytes);
    check_open(bytes);
    return 0; // a puddle::Error escaping from here is a finding, not a rejection
}
