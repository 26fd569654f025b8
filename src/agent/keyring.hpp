// The unlocked session in the kernel keyring.
//
// Choice: a "user" key in the user keyring (@u) named
// "puddle:session:<public key hex>", permissions possessor
// view/read/write/search/setattr and user view only, group/other nothing;
// kernel timeout = the idle timeout. The agent unit runs with
// KeyringMode=shared, so every agent instance gets a fresh session keyring
// with @u linked into it: a restarted agent possesses the key and finds it
// again, while processes of other users get nothing. Processes of the same
// user that also have @u linked into their session keyring possess it too;
// the kernel offers no finer boundary within one uid (ptrace is the other
// same-uid door). See puddle-agent(1).
#pragma once

#include "core/secret.hpp"

#include <keyutils.h>
#include <optional>
#include <span>
#include <string>

namespace puddle::agent {

class KeyGone : public std::exception {
public:
    const char *what() const noexcept override { return "the session key is gone from the keyring"; }
};

// Adds (or replaces) the key; returns its serial. Throws Error on failure.
key_serial_t keyring_store(const std::string &description, std::span<const std::uint8_t> payload,
                           unsigned timeout_seconds);
std::optional<key_serial_t> keyring_find(const std::string &description);
// Reads exactly `size` bytes into locked memory; throws KeyGone when the key
// expired, was revoked or removed.
SecretBuffer keyring_read(key_serial_t serial, std::size_t size);
// The same into a caller's locked buffer of exactly `size` + 1 bytes, so the
// signing path needs no allocation; the caller wipes it after use.
void keyring_read_into(key_serial_t serial, SecretBuffer &buf, std::size_t size);
// Throws KeyGone when the key no longer exists.
void keyring_set_timeout(key_serial_t serial, unsigned timeout_seconds);
bool keyring_alive(key_serial_t serial);
void keyring_remove(key_serial_t serial); // never throws

} // namespace puddle::agent
