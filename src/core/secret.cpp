#include "core/secret.hpp"

#include <new>
#include <sodium.h>
#include <stdexcept>

namespace puddle {

void init_sodium() {
    if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialise");
}

SecretBuffer::SecretBuffer(std::size_t size) {
    init_sodium();
    // sodium_malloc(0) is legal but returns a guard-page pointer; keep the
    // empty state simple instead.
    if (size == 0) return;
    data_ = static_cast<std::uint8_t *>(sodium_malloc(size));
    if (!data_) throw std::bad_alloc();
    size_ = size;
    sodium_memzero(data_, size_);
}

SecretBuffer &SecretBuffer::operator=(SecretBuffer &&o) noexcept {
    if (this != &o) {
        if (data_) sodium_free(data_);
        data_ = std::exchange(o.data_, nullptr);
        size_ = std::exchange(o.size_, 0);
    }
    return *this;
}

SecretBuffer::~SecretBuffer() {
    if (data_) sodium_free(data_); // wipes before unmapping
}

void SecretBuffer::truncate(std::size_t n) noexcept {
    if (n >= size_) return;
    sodium_memzero(data_ + n, size_ - n);
    size_ = n;
}

} // namespace puddle
