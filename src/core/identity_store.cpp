#include "core/identity_store.hpp"

#include "util/error.hpp"

#include <cstring>

namespace puddle {
namespace {

constexpr std::size_t kJournalBytes = kSaltBytes + kWrappedBytes + kPublicKeyBytes;
constexpr const char *kRotationLog = "retired_puddles.json";
constexpr std::size_t kMaxJournalLogBytes = 1 << 20;
constexpr std::size_t kMaxPubFileBytes = 256;

[[noreturn]] void not_initialized(const StateDir &dir, const std::string &why) {
    throw Error(Exit::not_initialized, "no puddle identity in " + dir.path(), why,
                "run 'puddle init' to create one, or 'puddle join' to join an existing puddle");
}

} // namespace

PublicKey parse_pub_file(std::span<const std::uint8_t> bytes, const std::string &label) {
    std::string_view text(reinterpret_cast<const char *>(bytes.data()), bytes.size());
    if (text.ends_with('\n')) text.remove_suffix(1);
    std::string why;
    auto key = parse_public_key(text, &why);
    if (!key)
        throw Error(Exit::bad_passphrase, "cannot read " + label, why,
                    "restore identity.pub from another member envoy (it holds one line, ed25519:<hex>)");
    return *key;
}

bool IdentityStore::is_member() const {
    return dir_.has(kWrappedFile) && dir_.has(kSaltFile) && dir_.has(kPubFile);
}

PublicKey IdentityStore::load_public_key() const {
    if (!dir_.has(kPubFile)) not_initialized(dir_, std::string(kPubFile) + " does not exist");
    return parse_pub_file(dir_.read(kPubFile, kMaxPubFileBytes, false, Exit::bad_passphrase), dir_.file(kPubFile));
}

StoredIdentity IdentityStore::load() const {
    std::string missing;
    for (const char *f : {kWrappedFile, kSaltFile, kPubFile})
        if (!dir_.has(f)) missing += (missing.empty() ? "" : ", ") + std::string(f);
    if (!missing.empty()) not_initialized(dir_, "missing " + missing);
    StoredIdentity id;
    // Read a little more than the format allows, so an over-long file is
    // reported with its real nature rather than silently truncated.
    // A damaged identity file is exit 5 (SPEC §5), an oversized one too.
    id.wrapped = parse_wrapped(dir_.read(kWrappedFile, 4096, true, Exit::bad_passphrase), dir_.file(kWrappedFile));
    id.salt = parse_salt(dir_.read(kSaltFile, 4096, true, Exit::bad_passphrase), dir_.file(kSaltFile));
    id.pub = load_public_key();
    return id;
}

void IdentityStore::commit(const Salt &salt, const WrappedBytes &wrapped, const PublicKey &pub,
                           const std::optional<std::string> &rotation_log) const {
    if (rotation_log && rotation_log->size() > kMaxJournalLogBytes)
        throw Error(Exit::failure, "cannot record the rotation", "the rotation log exceeds 1 MiB");
    Bytes journal;
    journal.reserve(kJournalBytes + (rotation_log ? rotation_log->size() : 0));
    journal.insert(journal.end(), salt.begin(), salt.end());
    journal.insert(journal.end(), wrapped.begin(), wrapped.end());
    journal.insert(journal.end(), pub.bytes.begin(), pub.bytes.end());
    if (rotation_log) journal.insert(journal.end(), rotation_log->begin(), rotation_log->end());
    dir_.write_atomic(kJournalFile, journal, 0600); // the decision point
    apply(salt, wrapped, pub, rotation_log);
    dir_.remove(kJournalFile);
}

void IdentityStore::apply(const Salt &salt, const WrappedBytes &wrapped, const PublicKey &pub,
                          const std::optional<std::string> &rotation_log) const {
    if (rotation_log) dir_.write_atomic(kRotationLog, as_bytes(*rotation_log), 0600);
    dir_.write_atomic(kSaltFile, salt, 0600);
    dir_.write_atomic(kWrappedFile, wrapped, 0600);
    const std::string line = pub.str() + "\n";
    dir_.write_atomic(kPubFile, as_bytes(line), 0644);
}

bool IdentityStore::repair() const {
    const bool had_temps = dir_.remove_stale_temporaries();
    if (!dir_.has(kJournalFile)) return had_temps;
    auto j = dir_.read(kJournalFile, kJournalBytes + kMaxJournalLogBytes, true);
    if (j.size() < kJournalBytes)
        throw Error(Exit::failure, "cannot recover " + dir_.file(kJournalFile),
                    "it is " + std::to_string(j.size()) + " bytes, less than the " + std::to_string(kJournalBytes) + " a journal holds",
                    "check that identity.wrapped, identity.salt and identity.pub unwrap, then remove it");
    Salt salt;
    std::memcpy(salt.data(), j.data(), kSaltBytes);
    auto w = parse_wrapped(std::span(j).subspan(kSaltBytes, kWrappedBytes), dir_.file(kJournalFile));
    PublicKey pub;
    std::memcpy(pub.bytes.data(), j.data() + kSaltBytes + kWrappedBytes, kPublicKeyBytes);
    std::optional<std::string> log;
    if (j.size() > kJournalBytes) log = std::string(j.begin() + kJournalBytes, j.end());
    apply(salt, w.raw, pub, log);
    dir_.remove(kJournalFile);
    return true;
}

OpenState open_state(bool create) {
    StateDir dir = StateDir::locate();
    if (!dir.exists()) {
        if (!create) not_initialized(dir, "the state directory does not exist");
        dir.create();
    }
    return open_state(std::move(dir));
}

OpenState open_state(StateDir dir) {
    if (!dir.exists()) not_initialized(dir, "the state directory does not exist");
    dir.check_safe();
    StateLock lock(dir);
    IdentityStore store(dir);
    store.repair();
    return OpenState{std::move(dir), std::move(lock), std::move(store)};
}

} // namespace puddle
