#include "core/wire.hpp"

#include <cstring>
#include <limits>
#include <stdexcept>

namespace puddle {
namespace {

std::uint64_t load_big_endian(const std::uint8_t *p, std::size_t n) {
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < n; ++i) v = (v << 8) | p[i];
    return v;
}

void store_big_endian(std::uint8_t *p, std::uint64_t v, std::size_t n) {
    for (std::size_t i = n; i-- > 0; v >>= 8) p[i] = std::uint8_t(v);
}

} // namespace

// --- ByteReader ---------------------------------------------------------------

bool ByteReader::u8(std::uint8_t &out) noexcept {
    if (remaining() < 1) return false;
    out = in_[pos_++];
    return true;
}

bool ByteReader::u32(std::uint32_t &out) noexcept {
    if (remaining() < 4) return false;
    out = std::uint32_t(load_big_endian(in_.data() + pos_, 4));
    pos_ += 4;
    return true;
}

bool ByteReader::u64(std::uint64_t &out) noexcept {
    if (remaining() < 8) return false;
    out = load_big_endian(in_.data() + pos_, 8);
    pos_ += 8;
    return true;
}

bool ByteReader::bytes(std::size_t n, std::span<const std::uint8_t> &out) noexcept {
    if (remaining() < n) return false;
    out = in_.subspan(pos_, n);
    pos_ += n;
    return true;
}

bool ByteReader::expect(std::span<const std::uint8_t> expected) noexcept {
    if (remaining() < expected.size() || !std::equal(expected.begin(), expected.end(), in_.begin() + pos_))
        return false;
    pos_ += expected.size();
    return true;
}

bool ByteReader::string(std::span<const std::uint8_t> &out) noexcept {
    if (remaining() < 4) return false;
    const std::size_t n = load_big_endian(in_.data() + pos_, 4);
    if (n > remaining() - 4) return false;
    out = in_.subspan(pos_ + 4, n);
    pos_ += 4 + n;
    return true;
}

bool ByteReader::string(Bytes &out) {
    std::span<const std::uint8_t> view;
    if (!string(view)) return false;
    out.assign(view.begin(), view.end());
    return true;
}

bool ByteReader::string(std::string &out) {
    std::span<const std::uint8_t> view;
    if (!string(view)) return false;
    out.assign(reinterpret_cast<const char *>(view.data()), view.size());
    return true;
}

std::span<const std::uint8_t> ByteReader::rest() noexcept {
    auto r = in_.subspan(pos_);
    pos_ = in_.size();
    return r;
}

// --- ByteWriter ---------------------------------------------------------------

std::uint8_t *ByteWriter::extend(std::size_t n) {
    std::uint8_t *p;
    if (grow_) {
        const std::size_t at = grow_->size();
        grow_->resize(at + n);
        p = grow_->data() + at;
    } else {
        if (fixed_.size() - written_ < n) throw std::length_error("ByteWriter: write past the end of a fixed buffer");
        p = fixed_.data() + written_;
    }
    written_ += n;
    return p;
}

ByteWriter &ByteWriter::big_endian(std::uint64_t v, std::size_t n) {
    store_big_endian(extend(n), v, n);
    return *this;
}

ByteWriter &ByteWriter::u8(std::uint8_t v) { return big_endian(v, 1); }

ByteWriter &ByteWriter::u32(std::uint32_t v) { return big_endian(v, 4); }

ByteWriter &ByteWriter::u64(std::uint64_t v) { return big_endian(v, 8); }

ByteWriter &ByteWriter::bytes(std::span<const std::uint8_t> v) {
    // An empty span may have no data pointer; memcpy must not see it.
    if (!v.empty()) std::memcpy(extend(v.size()), v.data(), v.size());
    return *this;
}

ByteWriter &ByteWriter::string(std::span<const std::uint8_t> v) {
    if (v.size() > std::numeric_limits<std::uint32_t>::max())
        throw std::length_error("ByteWriter: a string longer than its u32 length can say");
    // One extension for length and bytes, so a fixed buffer too small for
    // the string is left as it was.
    std::uint8_t *p = extend(4 + v.size());
    store_big_endian(p, v.size(), 4);
    if (!v.empty()) std::memcpy(p + 4, v.data(), v.size());
    return *this;
}

} // namespace puddle
