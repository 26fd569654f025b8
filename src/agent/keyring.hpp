// The unlocked session in the kernel keyring.
//
// Choice: a "user" key named "puddle:session:<public key hex>" in the
// agent's own *process* keyring, permissions possessor
// view/read/write/search/setattr and nothing for the user, group or others;
// kernel timeout = the idle timeout. Only the agent's threads possess its
// process keyring (it is not inherited across fork and not reachable from
// any other keyring), and without possession the uid gets no permission, so
// no other process of the same user can read, find or even see the key. The
// price: the session ends with the agent process. Keeping it across a
// restart would mean handing the key (or a key-encryption key plus a sealed
// copy) to something that outlives the agent, and every such place -- @u, the
// user manager's session keyring, its file descriptor store -- is handed by
// the user manager to whatever program the user's own unit files name. See
// puddle-agent(1), KEY CUSTODY.
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
// Removes a session key that an older agent (before the process-keyring
// custody) left in the user keyring, where every process of the user could
// read it. Returns how many were removed; never throws.
int keyring_remove_legacy(const std::string &description);
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
