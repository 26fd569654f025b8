// Secret bytes live only here: sodium_malloc'd (guard pages, mlock'd, excluded
// from core dumps where the kernel allows) and wiped by sodium_free.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>

namespace puddle {

class SecretBuffer {
public:
    SecretBuffer() = default;
    // Allocates `size` zeroed bytes; throws std::bad_alloc when locked memory runs out.
    explicit SecretBuffer(std::size_t size);
    SecretBuffer(SecretBuffer &&o) noexcept
        : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
    SecretBuffer &operator=(SecretBuffer &&o) noexcept;
    SecretBuffer(const SecretBuffer &) = delete;
    SecretBuffer &operator=(const SecretBuffer &) = delete;
    ~SecretBuffer();

    std::uint8_t *data() noexcept { return data_; }
    const std::uint8_t *data() const noexcept { return data_; }
    std::size_t size() const noexcept { return size_; }
    bool empty() const noexcept { return size_ == 0; }
    std::span<const std::uint8_t> bytes() const noexcept { return {data_, size_}; }

    // Shrinks the visible length (e.g. after reading a passphrase into a
    // larger buffer); the tail is wiped.
    void truncate(std::size_t n) noexcept;

private:
    std::uint8_t *data_ = nullptr;
    std::size_t size_ = 0;
};

// libsodium must be initialised once before any other call; safe to repeat.
void init_sodium();

} // namespace puddle
