#include "agent/keyring.hpp"

#include "util/error.hpp"

#include <cerrno>
#include <vector>

namespace puddle::agent {
namespace {

// No KEY_USR_* bit: the uid alone (every process of the user) gets nothing;
// only possession -- the agent's own process keyring -- grants access.
constexpr key_perm_t kPerm = KEY_POS_VIEW | KEY_POS_READ | KEY_POS_WRITE | KEY_POS_SEARCH | KEY_POS_SETATTR;

bool gone(int err) { return err == ENOKEY || err == EKEYEXPIRED || err == EKEYREVOKED || err == EACCES; }

} // namespace

key_serial_t keyring_store(const std::string &description, std::span<const std::uint8_t> payload,
                           unsigned timeout_seconds) {
    // Created with zeros (the user key type refuses an empty payload),
    // restricted, then filled: the secret is never in a key whose
    // permissions are still the kernel's defaults. The process keyring is
    // created by the kernel on first use.
    std::vector<std::uint8_t> zeros(payload.size());
    key_serial_t k = add_key("user", description.c_str(), zeros.data(), zeros.size(), KEY_SPEC_PROCESS_KEYRING);
    if (k < 0) throw_errno("cannot add the session key to the agent's process keyring", errno);
    if (keyctl_setperm(k, kPerm) < 0 || keyctl_set_timeout(k, timeout_seconds) < 0 ||
        keyctl_update(k, payload.data(), payload.size()) < 0) {
        int err = errno;
        keyctl_invalidate(k);
        throw_errno("cannot store the session key in the agent's process keyring", err);
    }
    return k;
}

int keyring_remove_legacy(const std::string &description) {
    int removed = 0;
    // Search only @u itself (not the keyrings linked into it), and stop at
    // a bound in case something keeps re-adding it.
    for (int i = 0; i < 16; ++i) {
        long k = keyctl_search(KEY_SPEC_USER_KEYRING, "user", description.c_str(), 0);
        if (k < 0) break;
        if (keyctl_invalidate(key_serial_t(k)) < 0 && keyctl_unlink(key_serial_t(k), KEY_SPEC_USER_KEYRING) < 0) break;
        ++removed;
    }
    return removed;
}

void keyring_read_into(key_serial_t serial, SecretBuffer &buf, std::size_t size) {
    // One spare byte tells a longer payload apart.
    long n = keyctl_read(serial, reinterpret_cast<char *>(buf.data()), size + 1);
    if (n < 0) {
        if (gone(errno)) throw KeyGone();
        throw_errno("cannot read the session key", errno);
    }
    if (std::size_t(n) != size) throw KeyGone();
}

SecretBuffer keyring_read(key_serial_t serial, std::size_t size) {
    SecretBuffer buf(size + 1);
    keyring_read_into(serial, buf, size);
    buf.truncate(size);
    return buf;
}

void keyring_set_timeout(key_serial_t serial, unsigned timeout_seconds) {
    if (keyctl_set_timeout(serial, timeout_seconds) < 0) {
        if (gone(errno)) throw KeyGone();
        throw_errno("cannot renew the session key", errno);
    }
}

bool keyring_alive(key_serial_t serial) {
    char buf[1];
    return keyctl_describe(serial, buf, sizeof buf) >= 0;
}

void keyring_remove(key_serial_t serial) {
    if (keyctl_invalidate(serial) < 0) keyctl_unlink(serial, KEY_SPEC_PROCESS_KEYRING);
}

} // namespace puddle::agent
