#include "core/identity_store.hpp"

#include "core/envoy_wrap.hpp"
#include "core/files/rotation_log.hpp"
#include "core/setup_state.hpp"
#include "util/error.hpp"

#include <cstring>

namespace puddle {
namespace {

// salt || identity.wrapped as it will be on disk (v1 as an older puddle
// wrote it, or v2) || public key [|| rotation log]
constexpr std::size_t kJournalBytes = kSaltBytes + kWrappedBytes + kPublicKeyBytes;
constexpr std::size_t kSealedJournalBytes = kSaltBytes + kSealedWrapBytes + kPublicKeyBytes;
constexpr std::size_t kMaxJournalLogBytes = 1 << 20;
constexpr std::size_t kMaxPubFileBytes = 256;

[[noreturn]] void not_initialized(const StateDir &dir, const std::string &why) {
    throw Error(Failure::not_initialized, "no puddle identity in " + dir.path(), why,
                "run 'puddle init' to create one, or 'puddle join' to join an existing puddle");
}

void (*g_repair_notice)(const std::string &) = nullptr;

// What `puddle setup git` gave git follows the key: after every change of the
// identity (a rekey in the agent; accept, rekey --from, evict, join in the
// CLI; a change finished by repair()). The change is decided already, so a
// failure here is only told, through the same notice as a repair.
void refresh_what_git_reads(const StateDir &dir) {
    if (auto trouble = refresh_git_signing(dir); !trouble.empty() && g_repair_notice) g_repair_notice(trouble);
}

} // namespace

std::vector<std::string> IdentityStore::missing_files() const {
    std::vector<std::string> missing;
    for (const char *f : {kWrappedFile, kSaltFile, kPubFile})
        if (!dir_.has(f)) missing.emplace_back(f);
    return missing;
}

bool IdentityStore::is_partial() const {
    // Under a journal the files are being replaced (init writes them one by
    // one): that is an unfinished change that repair() completes.
    auto n = missing_files().size();
    return n > 0 && n < 3 && !dir_.has(kJournalFile);
}

Error IdentityStore::partial_error() const {
    std::string missing, present;
    for (const char *f : {kWrappedFile, kSaltFile, kPubFile}) {
        std::string &list = dir_.has(f) ? present : missing;
        list += (list.empty() ? "" : ", ") + std::string(f);
    }
    return Error(Failure::not_initialized, "incomplete identity in " + dir_.path(),
                 missing + (missing.find(',') == std::string::npos ? " is" : " are") + " missing (" + present +
                     (present.find(',') == std::string::npos ? " is" : " are") + " there)",
                 "restore it from another of your machines: 'puddle pair' there, 'puddle join --from HOST' here "
                 "(or copy all three files from there); with no member left the key is lost: move " +
                     dir_.path() + " away and run 'puddle init' for a new puddle");
}

void set_repair_notice(void (*notice)(const std::string &)) { g_repair_notice = notice; }

PublicKey parse_pub_file(std::span<const std::uint8_t> bytes, const std::string &label) {
    std::string_view text(reinterpret_cast<const char *>(bytes.data()), bytes.size());
    if (text.ends_with('\n')) text.remove_suffix(1);
    std::string why;
    auto key = parse_public_key(text, &why);
    if (!key)
        throw Error(Failure::bad_passphrase, "cannot read " + label, why,
                    "restore identity.pub from another of your machines (it holds one line, ed25519:<hex>)");
    return *key;
}

bool IdentityStore::is_member() const {
    return dir_.has(kWrappedFile) && dir_.has(kSaltFile) && dir_.has(kPubFile);
}

PublicKey IdentityStore::load_public_key() const {
    if (!dir_.has(kPubFile)) {
        if (is_partial()) throw partial_error();
        not_initialized(dir_, std::string(kPubFile) + " does not exist");
    }
    // Checked like a secret (owner, not writable by others): whoever can
    // replace it chooses the key that pubkey and verify vouch for.
    return parse_pub_file(dir_.read(kPubFile, kMaxPubFileBytes, FileTrust::public_file, Failure::bad_passphrase),
                          dir_.file(kPubFile));
}

StoredIdentity IdentityStore::load() const {
    if (is_partial()) throw partial_error();
    if (!is_member()) not_initialized(dir_, "none of identity.wrapped, identity.salt, identity.pub is there");
    StoredIdentity id;
    // Read a little more than the format allows, so an over-long file is
    // reported with its real nature rather than silently truncated.
    // A damaged identity file is exit 5 (SPEC §5), an oversized one too.
    const std::string label = dir_.file(kWrappedFile);
    auto bytes = dir_.read(kWrappedFile, 4096, FileTrust::private_file, Failure::bad_passphrase);
    id.salt = parse_salt(dir_.read(kSaltFile, 4096, FileTrust::private_file, Failure::bad_passphrase), dir_.file(kSaltFile));
    id.pub = load_public_key();
    if (is_sealed_wrap(bytes)) {
        auto sealed = parse_sealed_wrap(bytes, label);
        auto where = EnvoySecret::location();
        auto envoy = EnvoySecret::load(where);
        if (!envoy) throw no_envoy_secret_error(sealed, label, where.file(kEnvoySecretFile));
        id.wrapped = open_sealed_wrap(sealed, id.pub, *envoy, label);
        id.protection = sealed.protection;
        id.envoy = sealed.envoy;
    } else {
        id.wrapped = parse_wrapped(bytes, label);
    }
    return id;
}

void IdentityStore::commit(const Salt &salt, const WrappedBytes &wrapped, const PublicKey &pub,
                           const std::optional<std::string> &rotation_log) const {
    if (rotation_log && rotation_log->size() > kMaxJournalLogBytes)
        throw Error(Failure::failed, "cannot record the rotation", "the rotation log exceeds 1 MiB");
    const auto envoy = EnvoySecret::load_or_create(EnvoySecret::location());
    const SealedWrapBytes sealed = seal_wrap(wrapped, pub, envoy);
    Bytes journal;
    journal.reserve(kSealedJournalBytes + (rotation_log ? rotation_log->size() : 0));
    journal.insert(journal.end(), salt.begin(), salt.end());
    journal.insert(journal.end(), sealed.begin(), sealed.end());
    journal.insert(journal.end(), pub.bytes.begin(), pub.bytes.end());
    if (rotation_log) journal.insert(journal.end(), rotation_log->begin(), rotation_log->end());
    dir_.write_atomic(kJournalFile, journal, 0600); // the decision point
    apply(salt, sealed, pub, rotation_log);
    dir_.remove(kJournalFile);
    refresh_what_git_reads(dir_);
}

bool IdentityStore::seal_to_envoy() const {
    if (!is_member()) return false;
    auto bytes = dir_.read(kWrappedFile, 4096, FileTrust::private_file, Failure::bad_passphrase);
    if (is_sealed_wrap(bytes)) return false;
    auto id = load();
    commit(id.salt, id.wrapped.raw, id.pub);
    return true;
}

void IdentityStore::apply(const Salt &salt, std::span<const std::uint8_t> wrapped,
                          const PublicKey &pub,
                          const std::optional<std::string> &rotation_log) const {
    if (rotation_log) dir_.write_atomic(kRotationLogFile, as_bytes(*rotation_log), 0600);
    dir_.write_atomic(kSaltFile, salt, 0600);
    dir_.write_atomic(kWrappedFile, wrapped, 0600);
    const std::string line = pub.str() + "\n";
    dir_.write_atomic(kPubFile, as_bytes(line), 0644);
}

bool IdentityStore::repair() const {
    const bool had_temps = dir_.remove_stale_temporaries();
    if (!dir_.has(kJournalFile)) return had_temps;
    auto j = dir_.read(kJournalFile, kSealedJournalBytes + kMaxJournalLogBytes, FileTrust::private_file);
    if (j.size() < kJournalBytes)
        throw Error(Failure::failed, "cannot recover " + dir_.file(kJournalFile),
                    "it is " + std::to_string(j.size()) + " bytes, less than the " + std::to_string(kJournalBytes) + " a journal holds",
                    "check that identity.wrapped, identity.salt and identity.pub unwrap, then remove it");
    Salt salt;
    std::memcpy(salt.data(), j.data(), kSaltBytes);
    const auto rest = std::span<const std::uint8_t>(j).subspan(kSaltBytes);
    // A journal an older puddle left holds a v1 wrap; this one's a v2.
    const bool sealed = is_sealed_wrap(rest);
    const std::size_t wrapped_bytes = sealed ? kSealedWrapBytes : kWrappedBytes;
    if (j.size() < kSaltBytes + wrapped_bytes + kPublicKeyBytes)
        throw Error(Failure::failed, "cannot recover " + dir_.file(kJournalFile),
                    "it is " + std::to_string(j.size()) + " bytes, too short for the wrap it holds",
                    "check that identity.wrapped, identity.salt and identity.pub unwrap, then remove it");
    const auto wrapped = rest.first(wrapped_bytes);
    if (sealed) (void)parse_sealed_wrap(wrapped, dir_.file(kJournalFile));
    else (void)parse_wrapped(wrapped, dir_.file(kJournalFile));
    PublicKey pub;
    std::memcpy(pub.bytes.data(), rest.data() + wrapped_bytes, kPublicKeyBytes);
    const std::size_t head = kSaltBytes + wrapped_bytes + kPublicKeyBytes;
    std::optional<std::string> log;
    if (j.size() > head) log = std::string(j.begin() + head, j.end());
    apply(salt, wrapped, pub, log);
    dir_.remove(kJournalFile);
    refresh_what_git_reads(dir_);
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
    const bool journal = dir.has(kJournalFile);
    store.repair();
    // An identity an older puddle left is sealed to this machine now. What
    // stops that (a damaged file, a home that cannot be written) is the
    // verb's to report, not this step's.
    try {
        store.seal_to_envoy();
    } catch (const Error &) {
    }
    // A command killed between a change of the key and the refresh that
    // follows it left git's files behind the key: any later command catches
    // up (writing only what differs, and nothing unless setup git was run).
    refresh_what_git_reads(dir);
    if (journal && g_repair_notice) {
        try {
            g_repair_notice("finished an interrupted change of the identity in " + dir.path() +
                            " (identity.journal): this machine holds puddle " + store.load_public_key().str() +
                            ", wrapped under the passphrase given to the command that was interrupted");
        } catch (const Error &) {
        }
    }
    return OpenState{std::move(dir), std::move(lock), std::move(store)};
}

} // namespace puddle
