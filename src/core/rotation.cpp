#include "core/rotation.hpp"

#include <algorithm>

#include "core/files/json_reader.hpp"

#include <set>

namespace puddle {
using namespace files_detail;
namespace {

constexpr std::string_view kRekeyStatementTag = "puddle-statement-rekey-v1";

bool same_statement(const RotationRecord &a, const RotationRecord &b) {
    return a.old_key == b.old_key && a.new_key == b.new_key && a.at == b.at;
}

std::vector<bool> verified_flags(const RotationLog &log) {
    std::vector<bool> ok(log.size());
    for (std::size_t i = 0; i < log.size(); ++i) ok[i] = verify_rotation(log[i]);
    return ok;
}

// Walks go forward (old key to new key) or back.
enum class Along { forward, back };
const PublicKey &tail(const RotationRecord &r, Along a) { return a == Along::forward ? r.old_key : r.new_key; }
const PublicKey &head(const RotationRecord &r, Along a) { return a == Along::forward ? r.new_key : r.old_key; }

// Adds to `keys` every key that verified records reach from them, along `a`.
void close_over(const RotationLog &log, const std::vector<bool> &ok, std::set<KeyBytes> &keys, Along a) {
    for (bool grew = true; grew;) {
        grew = false;
        for (std::size_t i = 0; i < log.size(); ++i)
            if (ok[i] && keys.count(tail(log[i], a).bytes) && keys.insert(head(log[i], a).bytes).second) grew = true;
    }
}

// The one step a verified record makes from `at` along `a`; none where there
// is no such record, or two that differ (a fork: neither branch is taken).
const RotationRecord *only_step(const RotationLog &log, const std::vector<bool> &ok, const PublicKey &at, Along a) {
    const RotationRecord *step = nullptr;
    for (std::size_t i = 0; i < log.size(); ++i) {
        if (!ok[i] || !(tail(log[i], a) == at)) continue;
        if (step && !same_statement(*step, log[i])) return nullptr;
        step = &log[i];
    }
    return step;
}

// The records of the unforked walk from `start` along `a`, in walking order;
// it stops at a fork, at the end, or before a key it has seen.
std::vector<RotationRecord> unforked_walk(const RotationLog &log, const PublicKey &start, Along a) {
    const auto ok = verified_flags(log);
    std::vector<RotationRecord> walk;
    std::set<KeyBytes> visited{start.bytes};
    PublicKey at = start;
    while (const RotationRecord *step = only_step(log, ok, at, a)) {
        if (!visited.insert(head(*step, a).bytes).second) break;
        walk.push_back(*step);
        at = head(*step, a);
    }
    return walk;
}

// The first two verified records that leave one key differently, among
// those whose old key `counts`.
template <class Counts>
std::optional<std::pair<RotationRecord, RotationRecord>> first_fork(const RotationLog &log, const std::vector<bool> &ok,
                                                                    Counts counts) {
    for (std::size_t i = 0; i < log.size(); ++i) {
        if (!ok[i] || !counts(log[i].old_key)) continue;
        for (std::size_t j = i + 1; j < log.size(); ++j)
            if (ok[j] && log[j].old_key == log[i].old_key && !same_statement(log[i], log[j]))
                return std::make_pair(log[i], log[j]);
    }
    return std::nullopt;
}

} // namespace

std::string rotation_statement(const PublicKey &old_key, const PublicKey &new_key, std::int64_t at) {
    return std::string(kRekeyStatementTag) + "\n" + old_key.str() + "\n" + new_key.str() + "\n" +
           std::to_string(at) + "\n";
}

RotationRecord make_rotation_record(const Keypair &old_pair, const Keypair &new_pair, std::int64_t at) {
    RotationRecord r;
    r.old_key = old_pair.public_key();
    r.new_key = new_pair.public_key();
    r.at = at;
    must_be_fine("a rotation record", rotation_record_problem(r));
    const std::string statement = rotation_statement(r.old_key, r.new_key, at);
    r.sig_old = old_pair.sign(as_bytes(statement));
    r.sig_new = new_pair.sign(as_bytes(statement));
    return r;
}

bool verify_rotation(const RotationRecord &r) {
    const std::string statement = rotation_statement(r.old_key, r.new_key, r.at);
    return verify_signature(r.old_key, as_bytes(statement), r.sig_old) &&
           verify_signature(r.new_key, as_bytes(statement), r.sig_new);
}

std::optional<std::pair<RotationRecord, RotationRecord>> find_fork(const RotationLog &log) {
    return first_fork(log, verified_flags(log), [](const PublicKey &) { return true; });
}

std::optional<std::pair<RotationRecord, RotationRecord>> find_fork_from(const RotationLog &log,
                                                                       const PublicKey &current) {
    const auto ok = verified_flags(log);
    // The keys on the path of `current`: its ancestors and, down every
    // branch, its descendants.
    std::set<KeyBytes> on_path{current.bytes}, ahead{current.bytes};
    close_over(log, ok, on_path, Along::back);
    close_over(log, ok, ahead, Along::forward);
    on_path.insert(ahead.begin(), ahead.end());
    return first_fork(log, ok, [&](const PublicKey &k) { return on_path.count(k.bytes) != 0; });
}

std::vector<RotationRecord> chain_to(const RotationLog &log, const PublicKey &key) {
    auto chain = unforked_walk(log, key, Along::back);
    std::reverse(chain.begin(), chain.end());
    return chain;
}

RotationLog settle_forks(RotationLog &log, const std::vector<RotationRecord> &chain) {
    const auto ok = verified_flags(log);
    std::vector<bool> drop(log.size(), false);
    std::set<KeyBytes> gone; // keys reached only through a dropped record
    for (const auto &step : chain)
        for (std::size_t i = 0; i < log.size(); ++i)
            if (ok[i] && log[i].old_key == step.old_key && !same_statement(log[i], step)) {
                drop[i] = true;
                gone.insert(log[i].new_key.bytes);
            }
    for (bool grew = true; grew;) {
        grew = false;
        for (std::size_t i = 0; i < log.size(); ++i)
            if (!drop[i] && gone.count(log[i].old_key.bytes)) {
                drop[i] = true;
                gone.insert(log[i].new_key.bytes);
                grew = true;
            }
    }
    RotationLog kept, dropped;
    for (std::size_t i = 0; i < log.size(); ++i) (drop[i] ? dropped : kept).push_back(log[i]);
    log = std::move(kept);
    return dropped;
}

std::vector<RotationRecord> path_from(const RotationLog &log, const PublicKey &current) {
    return unforked_walk(log, current, Along::forward);
}

KeyGenerations::KeyGenerations(const RotationLog &log, const PublicKey &current) {
    const auto ok = verified_flags(log);
    std::map<KeyBytes, KeyBytes> back; // new key -> old key, the first verifying record that leads to it
    std::set<KeyBytes> keys{current.bytes};
    for (std::size_t i = 0; i < log.size(); ++i) {
        if (!ok[i]) continue;
        back.emplace(log[i].new_key.bytes, log[i].old_key.bytes);
        keys.insert(log[i].old_key.bytes);
        keys.insert(log[i].new_key.bytes);
    }
    for (const auto &key : keys) {
        std::set<KeyBytes> visited{key};
        std::uint64_t steps = 0;
        bool cycle = false;
        for (auto it = back.find(key); it != back.end(); it = back.find(it->second), ++steps)
            if (!visited.insert(it->second).second) {
                cycle = true;
                break;
            }
        if (!cycle) generation_.emplace(key, steps);
    }
}

std::optional<std::uint64_t> KeyGenerations::of(const PublicKey &key) const {
    const auto it = generation_.find(key.bytes);
    return it == generation_.end() ? std::nullopt : std::optional<std::uint64_t>(it->second);
}

bool append_record(RotationLog &log, const RotationRecord &record) {
    if (auto problem = rotation_record_problem(record); !problem.empty())
        throw Error(Failure::failed, "cannot add a rotation record", problem);
    if (!verify_rotation(record))
        throw Error(Failure::failed, "cannot add a rotation record",
                    "its signatures do not verify under the old and new keys it names");
    if (std::find(log.begin(), log.end(), record) != log.end()) return false;
    if (log.size() >= kMaxRotationRecords)
        throw Error(Failure::failed, "cannot add a rotation record",
                    "the rotation log already holds " + std::to_string(kMaxRotationRecords) + " records");
    log.push_back(record);
    return true;
}

Keypair rotate(const IdentityStore &store, const Keypair &old, std::span<const std::uint8_t> new_passphrase,
               const KdfParams &kdf, std::int64_t at) {
    RotationLog log = load_rotation_log(store.dir()).value_or(RotationLog{});
    Keypair fresh = Keypair::generate();
    append_record(log, make_rotation_record(old, fresh, at));
    const Salt salt = random_salt();
    const WrappedBytes wrapped = wrap_seed(fresh, new_passphrase, salt, kdf);
    store.commit(salt, wrapped, fresh.public_key(), serialize_rotation_log(log));
    return fresh;
}

std::vector<RotationRecord> check_rotation_offer(std::string_view retired_json, const PublicKey &current,
                                                 const PublicKey &rotated) {
    RotationLog theirs;
    if (!retired_json.empty()) theirs = parse_rotation_log(as_bytes(retired_json), "the holder's rotation log");
    if (auto fork = find_fork(theirs))
        throw Error(Failure::failed, "rekey", "the holder's rotation log forks: two rotations from " + fork->first.old_key.str(),
                    "check which machine rotated without you; accept neither until you know");
    auto path = path_from(theirs, current);
    if (path.empty() || !(path.back().new_key == rotated))
        throw Error(Failure::failed, "rekey",
                    "the rotated key " + rotated.str() + " does not descend from the key this machine holds, " + current.str(),
                    "this machine belongs to a different puddle, or misses a rotation");
    return path;
}

void adopt_rotation(const IdentityStore &store, const PublicKey &current, const std::vector<RotationRecord> &path,
                    const Salt &salt, const WrappedBytes &wrapped, const PublicKey &rotated) {
    if (!(store.load_public_key() == current))
        throw Error(Failure::failed, "rekey", "the identity changed meanwhile; run the command again");
    RotationLog mine = load_rotation_log(store.dir()).value_or(RotationLog{});
    for (const auto &rec : path) append_record(mine, rec);
    store.commit(salt, wrapped, rotated, serialize_rotation_log(mine));
}

} // namespace puddle
