// The one way bytes are read from and written to a binary format: the agent's
// ssh protocol, the pairing messages and payload, the wrapped key, the
// session record. In the spirit of OpenSSH's sshbuf: a length is checked
// before it is trusted, and running short is a `false` to turn into the
// format's own refusal, never a read past the end.
//
// Integers are big-endian (network order, RFC 4251 §5); a "string" is a u32
// length followed by that many bytes, whatever they hold.
#pragma once

#include "core/encoding.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace puddle {

// A bounded cursor over bytes it does not own. A read that fails reads
// nothing, so a caller may try another layout from the same place.
class ByteReader {
public:
    explicit ByteReader(std::span<const std::uint8_t> in) noexcept : in_(in) {}

    [[nodiscard]] bool u8(std::uint8_t &out) noexcept;
    [[nodiscard]] bool u32(std::uint32_t &out) noexcept;
    [[nodiscard]] bool u64(std::uint64_t &out) noexcept;

    // The next `n` bytes, as a view into the input (no copy: secrets read
    // from locked memory stay there).
    [[nodiscard]] bool bytes(std::size_t n, std::span<const std::uint8_t> &out) noexcept;
    template <std::size_t N>
    [[nodiscard]] bool bytes(std::array<std::uint8_t, N> &out) noexcept {
        std::span<const std::uint8_t> view;
        if (!bytes(N, view)) return false;
        std::copy(view.begin(), view.end(), out.begin());
        return true;
    }
    // The next bytes when they equal `expected` (a magic number); otherwise
    // false and nothing read.
    [[nodiscard]] bool expect(std::span<const std::uint8_t> expected) noexcept;

    // A u32 length and that many bytes. The length is compared with what is
    // left before anything is taken, so a huge length is just a refusal.
    [[nodiscard]] bool string(std::span<const std::uint8_t> &out) noexcept;
    [[nodiscard]] bool string(Bytes &out);
    [[nodiscard]] bool string(std::string &out);

    // Everything left; the reader is at its end afterwards.
    std::span<const std::uint8_t> rest() noexcept;

    std::size_t remaining() const noexcept { return in_.size() - pos_; }
    std::size_t consumed() const noexcept { return pos_; }
    bool at_end() const noexcept { return pos_ == in_.size(); }

private:
    std::span<const std::uint8_t> in_;
    std::size_t pos_ = 0;
};

// Appends the same encoding to memory the caller owns: a growing Bytes, or a
// fixed span that is never reallocated (a SecretBuffer: growing locked
// memory would leave a copy of the secret in the old block). The formats are
// sized by their callers, so running out of a fixed span, or a string over
// 4 GiB - 1, is a programming error: std::length_error.
class ByteWriter {
public:
    explicit ByteWriter(Bytes &out) noexcept : grow_(&out) {}
    explicit ByteWriter(std::span<std::uint8_t> out) noexcept : fixed_(out) {}

    ByteWriter &u8(std::uint8_t v);
    ByteWriter &u32(std::uint32_t v);
    ByteWriter &u64(std::uint64_t v);
    ByteWriter &bytes(std::span<const std::uint8_t> v);
    ByteWriter &string(std::span<const std::uint8_t> v);

    // Bytes written through this writer (not counting what `out` held before).
    std::size_t written() const noexcept { return written_; }

private:
    // Room for `n` more bytes, at the end of what was written so far.
    std::uint8_t *extend(std::size_t n);
    ByteWriter &big_endian(std::uint64_t v, std::size_t n);

    Bytes *grow_ = nullptr;
    std::span<std::uint8_t> fixed_;
    std::size_t written_ = 0;
};

} // namespace puddle
