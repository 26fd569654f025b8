#include "core/state_files.hpp"

#include "core/secret.hpp"
#include "util/error.hpp"
#include "util/json.hpp"
#include "util/text.hpp"

#include <algorithm>
#include <cstdio>
#include <initializer_list>
#include <map>
#include <set>
#include <sodium.h>
#include <stdexcept>
#include <tuple>

namespace puddle {
namespace {

constexpr std::string_view kDigestPrefix = "sha256:";
constexpr std::string_view kRekeyStatementTag = "puddle-statement-rekey-v1";
constexpr std::string_view kNameStatementTag = "puddle-statement-name-v1";
constexpr std::int64_t kVersion = 1;

using KeyBytes = std::array<std::uint8_t, kPublicKeyBytes>;

const std::string kNewerHint = "it was written by a newer puddle; use that version, or upgrade puddle here";

std::string describe_char(unsigned char c) {
    if (c > 0x20 && c < 0x7f) return std::string("'") + char(c) + "'";
    if (c == ' ') return "a space";
    char buf[16];
    std::snprintf(buf, sizeof buf, "byte 0x%02x", c);
    return buf;
}

// Which file we are reading and what to tell the user when it is wrong.
struct Source {
    const std::string &label;
    std::string hint;

    [[noreturn]] void fail(const std::string &why) const { fail(why, hint); }
    [[noreturn]] void fail(const std::string &why, const std::string &with_hint) const {
        throw Error(Exit::failure, "cannot read " + label, why, with_hint);
    }
};

Json parse_document(const Source &src, std::span<const std::uint8_t> bytes, std::size_t max_bytes) {
    if (bytes.size() > max_bytes)
        src.fail("the file is " + std::to_string(bytes.size()) + " bytes, more than the limit of " +
                 std::to_string(max_bytes));
    const std::string_view text(reinterpret_cast<const char *>(bytes.data()), bytes.size());
    JsonLimits limits;
    limits.max_bytes = max_bytes;
    limits.max_depth = 4; // the deepest file, members.json, nests three levels
    std::string error;
    auto doc = parse_json(text, &error, limits);
    if (!doc) src.fail("not valid JSON: " + error);
    return std::move(*doc);
}

// One JSON object of a file, read strictly: known names, exact types.
// `where` names the object in messages ("" for the top level, "members[2]").
class ObjectReader {
public:
    ObjectReader(const Source &src, const Json &value, std::string where)
        : src_(src), where_(std::move(where)) {
        obj_ = value.as_object();
        if (!obj_)
            src_.fail(where_.empty() ? std::string("expected a JSON object, found ") + value.kind()
                                     : where_ + " must be a JSON object, found " + value.kind());
    }

    std::string field(std::string_view name) const {
        return "field " + quote_for_message(name) + (where_.empty() ? "" : " in " + where_);
    }

    [[noreturn]] void fail(const std::string &why) const { src_.fail(why); }

    // `v` first: a newer version may legitimately carry other fields.
    void version() const {
        const std::int64_t v = integer("v");
        if (v != kVersion)
            src_.fail("format version " + std::to_string(v) + (where_.empty() ? "" : " in " + where_) +
                          " is not supported (this puddle reads version 1)",
                      kNewerHint);
    }

    void only(std::initializer_list<std::string_view> known) const {
        for (const auto &[key, value] : *obj_)
            if (std::find(known.begin(), known.end(), key) == known.end()) fail("unknown " + field(key));
    }

    const Json &get(const char *name) const {
        for (const auto &[key, value] : *obj_)
            if (key == name) return value;
        fail("missing " + field(name));
    }

    std::int64_t integer(const char *name) const {
        const Json &v = get(name);
        if (!v.as_int()) fail(field(name) + " must be an integer, found " + v.kind());
        return *v.as_int();
    }

    const std::string &string(const char *name) const {
        const Json &v = get(name);
        if (!v.as_string()) fail(field(name) + " must be a string, found " + v.kind());
        return *v.as_string();
    }

    const Json::Array &array(const char *name) const {
        const Json &v = get(name);
        if (!v.as_array()) fail(field(name) + " must be an array, found " + v.kind());
        return *v.as_array();
    }

    PublicKey key(const char *name) const {
        std::string why;
        const auto k = parse_public_key(string(name), &why);
        if (!k) fail(field(name) + " is not a public key: " + why);
        return *k;
    }

    Signature signature(const char *name) const {
        const std::string &text = string(name);
        const auto raw = from_base64(text, kSignatureBytes);
        if (!raw || raw->size() != kSignatureBytes || to_base64(*raw) != text)
            fail(field(name) + " must be a signature: the base64 of 64 bytes (88 characters ending in \"==\")");
        Signature sig{};
        std::copy(raw->begin(), raw->end(), sig.begin());
        return sig;
    }

private:
    const Source &src_;
    std::string where_;
    const Json::Object *obj_ = nullptr;
};

// ---- checks shared by parsers and serializers; "" when fine ----

std::string pending_problem(const PairPending &p) {
    if (p.purpose != kPurposePair && p.purpose != kPurposeRekey)
        return "field \"purpose\" must be \"pair\" or \"rekey\", found " + quote_for_message(p.purpose);
    if (p.code.size() != 8)
        return "field \"code\" must be exactly 8 digits, found " + std::to_string(p.code.size()) + " characters";
    for (std::size_t i = 0; i < p.code.size(); ++i)
        if (p.code[i] < '0' || p.code[i] > '9')
            return "field \"code\" must be exactly 8 digits, found " + describe_char(p.code[i]) +
                   " at position " + std::to_string(i + 1);
    if (p.created < 0) return "field \"created\" must not be negative (it is a time in Unix seconds)";
    if (p.expires <= p.created) return "field \"expires\" must be later than \"created\"";
    return {};
}

std::string digest_problem(std::string_view digest) {
    if (!digest.starts_with(kDigestPrefix)) return "must start with \"sha256:\"";
    const auto hex = digest.substr(kDigestPrefix.size());
    if (hex.size() != 64)
        return "must be \"sha256:\" and 64 hex digits, found " + std::to_string(hex.size()) + " characters after the prefix";
    for (char c : hex)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return "must be \"sha256:\" and 64 lowercase hex digits (0-9, a-f)";
    return {};
}

std::string member_problem(const MemberRecord &m) {
    std::string why;
    if (!valid_host(m.host, &why)) return "field \"host\": " + why;
    if (m.since < 0) return "field \"since\" must not be negative (it is a time in Unix seconds)";
    if (auto p = digest_problem(m.wrapped_digest); !p.empty()) return "field \"wrapped_digest\" " + p;
    return {};
}

std::string rotation_problem(const RotationRecord &r) {
    if (r.at < 0) return "field \"at\" must not be negative (it is a time in Unix seconds)";
    if (r.old_key == r.new_key) return "fields \"old\" and \"new\" hold the same key";
    return {};
}

std::string claim_problem(const NameClaim &c) {
    std::string why;
    if (!valid_name(c.name, &why)) return "field \"name\": " + why;
    if (c.at < 0) return "field \"at\" must not be negative (it is a time in Unix seconds)";
    return {};
}

void must_be_fine(const std::string &what, const std::string &problem) {
    if (!problem.empty()) throw std::invalid_argument("cannot write " + what + ": " + problem);
}

std::string with_where(const std::string &where, const std::string &problem) {
    return where.empty() ? problem : where + ": " + problem;
}

std::string signature_text(const Signature &sig) { return to_base64(sig); }

bool same_statement(const RotationRecord &a, const RotationRecord &b) {
    return a.old_key == b.old_key && a.new_key == b.new_key && a.at == b.at;
}

std::vector<bool> verified_flags(const RotationLog &log) {
    std::vector<bool> ok(log.size());
    for (std::size_t i = 0; i < log.size(); ++i) ok[i] = verify_rotation(log[i]);
    return ok;
}

Json rotation_json(const RotationRecord &r) {
    return Json::object()
        .set("v", kVersion)
        .set("old", r.old_key.str())
        .set("new", r.new_key.str())
        .set("at", r.at)
        .set("sig_old", signature_text(r.sig_old))
        .set("sig_new", signature_text(r.sig_new));
}

} // namespace

// ---- pair.pending / rekey.pending ----

PairPending parse_pair_pending(std::span<const std::uint8_t> bytes, const std::string &label) {
    const Source src{label, "remove " + label +
                                " and run 'puddle pair' (or 'puddle rekey-pair') again for a new code"};
    const Json doc = parse_document(src, bytes, kMaxPendingBytes);
    const ObjectReader r(src, doc, "");
    r.version();
    r.only({"v", "purpose", "code", "created", "expires"});
    PairPending p;
    p.purpose = r.string("purpose");
    p.code = r.string("code");
    p.created = r.integer("created");
    p.expires = r.integer("expires");
    if (auto problem = pending_problem(p); !problem.empty()) src.fail(problem);
    return p;
}

std::string serialize_pair_pending(const PairPending &p) {
    must_be_fine("a pending pairing", pending_problem(p));
    return Json::object()
               .set("v", kVersion)
               .set("purpose", p.purpose)
               .set("code", p.code)
               .set("created", p.created)
               .set("expires", p.expires)
               .dump() +
           "\n";
}

// ---- members.json ----

std::string_view direction_name(MemberDirection d) {
    switch (d) {
    case MemberDirection::self: return "self";
    case MemberDirection::joined: return "joined";
    case MemberDirection::admitted: return "admitted";
    }
    return "self";
}

std::optional<MemberDirection> parse_direction(std::string_view text) {
    for (auto d : {MemberDirection::self, MemberDirection::joined, MemberDirection::admitted})
        if (text == direction_name(d)) return d;
    return std::nullopt;
}

bool valid_host(std::string_view host, std::string *why) {
    auto fail = [&](std::string reason) {
        if (why) *why = std::move(reason);
        return false;
    };
    if (host.empty()) return fail("a host name cannot be empty");
    if (host.size() > kMaxHostBytes)
        return fail("a host name is at most 255 characters, found " + std::to_string(host.size()));
    for (std::size_t i = 0; i < host.size(); ++i) {
        const unsigned char c = host[i];
        if (c <= 0x20 || c >= 0x7f)
            return fail("a host name holds only printable ASCII without spaces, found " + describe_char(c) +
                        " at position " + std::to_string(i + 1));
    }
    return true;
}

std::string wrapped_digest(std::span<const std::uint8_t> wrapped) {
    init_sodium();
    std::uint8_t hash[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(hash, wrapped.data(), wrapped.size());
    return std::string(kDigestPrefix) + to_hex(hash);
}

MembersView parse_members(std::span<const std::uint8_t> bytes, const std::string &label) {
    const Source src{label, label + " is only this envoy's view of its members: fix it, or move it aside "
                                    "and the view starts again with the next pairing"};
    const Json doc = parse_document(src, bytes, kMaxMembersBytes);
    const ObjectReader top(src, doc, "");
    top.version();
    top.only({"v", "members"});
    const auto &list = top.array("members");
    if (list.size() > kMaxMembers)
        src.fail("more than " + std::to_string(kMaxMembers) + " members (found " + std::to_string(list.size()) + ")");

    MembersView view;
    view.members.reserve(list.size());
    std::map<std::pair<std::string, KeyBytes>, std::size_t> seen;
    for (std::size_t i = 0; i < list.size(); ++i) {
        const std::string where = "members[" + std::to_string(i) + "]";
        const ObjectReader r(src, list[i], where);
        r.only({"host", "since", "direction", "wrapped_digest", "pubkey"});
        MemberRecord m;
        m.host = r.string("host");
        m.since = r.integer("since");
        const std::string &direction = r.string("direction");
        const auto d = parse_direction(direction);
        if (!d)
            r.fail(r.field("direction") + " must be \"self\", \"joined\" or \"admitted\", found " + quote_for_message(direction));
        m.direction = *d;
        m.wrapped_digest = r.string("wrapped_digest");
        m.pubkey = r.key("pubkey");
        if (auto problem = member_problem(m); !problem.empty()) src.fail(with_where(where, problem));
        const auto [it, fresh] = seen.emplace(std::make_pair(m.host, m.pubkey.bytes), i);
        if (!fresh)
            src.fail(where + " repeats members[" + std::to_string(it->second) + "] (same host and pubkey)");
        view.members.push_back(std::move(m));
    }
    return view;
}

std::string serialize_members(const MembersView &view) {
    if (view.members.size() > kMaxMembers)
        throw std::invalid_argument("cannot write a members view: more than " + std::to_string(kMaxMembers) +
                                    " members");
    auto list = Json::array();
    for (const auto &m : view.members) {
        must_be_fine("a members view", member_problem(m));
        list.push(Json::object()
                      .set("host", m.host)
                      .set("since", m.since)
                      .set("direction", std::string(direction_name(m.direction)))
                      .set("wrapped_digest", m.wrapped_digest)
                      .set("pubkey", m.pubkey.str()));
    }
    return Json::object().set("v", kVersion).set("members", std::move(list)).dump() + "\n";
}

MembersView merge_members(const MembersView &mine, const MembersView &theirs) {
    // The map's order (host, then key bytes, which sort as their hex) is the output order.
    std::map<std::pair<std::string, KeyBytes>, MemberRecord> merged;
    for (const auto *view : {&mine, &theirs})
        for (const auto &m : view->members) {
            const auto [it, fresh] = merged.emplace(std::make_pair(m.host, m.pubkey.bytes), m);
            if (!fresh && m.since > it->second.since) it->second = m;
        }
    MembersView out;
    out.members.reserve(merged.size());
    for (auto &[key, m] : merged) out.members.push_back(std::move(m));
    if (out.members.size() > kMaxMembers) {
        // Keep the newest; stable_sort keeps host order among equal times.
        std::stable_sort(out.members.begin(), out.members.end(),
                         [](const MemberRecord &a, const MemberRecord &b) { return a.since > b.since; });
        out.members.resize(kMaxMembers);
        std::sort(out.members.begin(), out.members.end(), [](const MemberRecord &a, const MemberRecord &b) {
            return std::tie(a.host, a.pubkey.bytes) < std::tie(b.host, b.pubkey.bytes);
        });
    }
    return out;
}

// ---- retired_puddles.json ----

std::string rotation_statement(const PublicKey &old_key, const PublicKey &new_key, std::int64_t at) {
    return std::string(kRekeyStatementTag) + "\n" + old_key.str() + "\n" + new_key.str() + "\n" +
           std::to_string(at) + "\n";
}

RotationRecord make_rotation_record(const Keypair &old_pair, const Keypair &new_pair, std::int64_t at) {
    RotationRecord r;
    r.old_key = old_pair.public_key();
    r.new_key = new_pair.public_key();
    r.at = at;
    must_be_fine("a rotation record", rotation_problem(r));
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

RotationLog parse_rotation_log(std::span<const std::uint8_t> bytes, const std::string &label) {
    const Source src{label, "copy " + label + " from another member envoy"};
    if (std::all_of(bytes.begin(), bytes.end(),
                    [](std::uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }) &&
        bytes.size() <= kMaxRotationLogBytes)
        return {};
    const Json doc = parse_document(src, bytes, kMaxRotationLogBytes);
    const auto *list = doc.as_array();
    if (!list) src.fail(std::string("expected a JSON array of rotation records, found ") + doc.kind());
    if (list->size() > kMaxRotationRecords)
        src.fail("more than " + std::to_string(kMaxRotationRecords) + " rotation records (found " +
                 std::to_string(list->size()) + ")");
    RotationLog log;
    log.reserve(list->size());
    for (std::size_t i = 0; i < list->size(); ++i) {
        const std::string where = "[" + std::to_string(i) + "]";
        const ObjectReader r(src, (*list)[i], "record " + where);
        r.version();
        r.only({"v", "old", "new", "at", "sig_old", "sig_new"});
        RotationRecord rec;
        rec.old_key = r.key("old");
        rec.new_key = r.key("new");
        rec.at = r.integer("at");
        rec.sig_old = r.signature("sig_old");
        rec.sig_new = r.signature("sig_new");
        if (auto problem = rotation_problem(rec); !problem.empty()) src.fail(with_where("record " + where, problem));
        for (std::size_t j = 0; j < log.size(); ++j)
            if (log[j] == rec) src.fail("record " + where + " repeats record [" + std::to_string(j) + "]");
        log.push_back(rec);
    }
    return log;
}

std::string serialize_rotation_log(const RotationLog &log) {
    if (log.size() > kMaxRotationRecords)
        throw std::invalid_argument("cannot write a rotation log: more than " +
                                    std::to_string(kMaxRotationRecords) + " records");
    auto list = Json::array();
    for (const auto &r : log) {
        must_be_fine("a rotation log", rotation_problem(r));
        list.push(rotation_json(r));
    }
    return list.dump() + "\n";
}

std::optional<std::pair<RotationRecord, RotationRecord>> find_fork(const RotationLog &log) {
    const auto ok = verified_flags(log);
    for (std::size_t i = 0; i < log.size(); ++i) {
        if (!ok[i]) continue;
        for (std::size_t j = i + 1; j < log.size(); ++j)
            if (ok[j] && log[j].old_key == log[i].old_key && !same_statement(log[i], log[j]))
                return std::make_pair(log[i], log[j]);
    }
    return std::nullopt;
}

std::vector<RotationRecord> path_from(const RotationLog &log, const PublicKey &current) {
    const auto ok = verified_flags(log);
    std::vector<RotationRecord> path;
    std::set<KeyBytes> visited{current.bytes};
    PublicKey key = current;
    for (;;) {
        const RotationRecord *next = nullptr;
        for (std::size_t i = 0; i < log.size(); ++i) {
            if (!ok[i] || log[i].old_key != key) continue;
            if (!next) {
                next = &log[i];
            } else if (!same_statement(*next, log[i])) {
                return path; // a fork: neither branch is followed
            }
        }
        if (!next || !visited.insert(next->new_key.bytes).second) return path;
        path.push_back(*next);
        key = next->new_key;
    }
}

bool append_record(RotationLog &log, const RotationRecord &record) {
    if (auto problem = rotation_problem(record); !problem.empty())
        throw Error(Exit::failure, "cannot add a rotation record", problem);
    if (!verify_rotation(record))
        throw Error(Exit::failure, "cannot add a rotation record",
                    "its signatures do not verify under the old and new keys it names");
    if (std::find(log.begin(), log.end(), record) != log.end()) return false;
    if (log.size() >= kMaxRotationRecords)
        throw Error(Exit::failure, "cannot add a rotation record",
                    "the rotation log already holds " + std::to_string(kMaxRotationRecords) + " records");
    log.push_back(record);
    return true;
}

// ---- name-claim.json ----

bool valid_name(std::string_view name, std::string *why) {
    auto fail = [&](std::string reason) {
        if (why) *why = std::move(reason);
        return false;
    };
    if (name.empty()) return fail("a name cannot be empty");
    if (name.size() > kMaxNameChars)
        return fail("a name is at most 32 characters, found " + std::to_string(name.size()));
    for (std::size_t i = 0; i < name.size(); ++i) {
        const unsigned char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            return fail("a name holds only a-z, 0-9 and '-', found " + describe_char(c) + " at position " +
                        std::to_string(i + 1));
    }
    if (!(name[0] >= 'a' && name[0] <= 'z')) return fail("a name starts with a letter (a-z)");
    return true;
}

std::string name_statement(std::string_view name, const PublicKey &pubkey, std::int64_t at) {
    return std::string(kNameStatementTag) + "\n" + std::string(name) + "\n" + pubkey.str() + "\n" +
           std::to_string(at) + "\n";
}

NameClaim make_name_claim(const Keypair &keypair, std::string name, std::int64_t at) {
    NameClaim c;
    c.name = std::move(name);
    c.pubkey = keypair.public_key();
    c.at = at;
    must_be_fine("a name claim", claim_problem(c));
    c.sig = keypair.sign(as_bytes(name_statement(c.name, c.pubkey, c.at)));
    return c;
}

bool verify_claim(const NameClaim &claim) {
    return verify_signature(claim.pubkey, as_bytes(name_statement(claim.name, claim.pubkey, claim.at)), claim.sig);
}

NameClaim parse_name_claim(std::span<const std::uint8_t> bytes, const std::string &label) {
    const Source src{label, "run 'puddle name set NAME' to write a new claim, or remove " + label};
    const Json doc = parse_document(src, bytes, kMaxNameClaimBytes);
    const ObjectReader r(src, doc, "");
    r.version();
    r.only({"v", "name", "pubkey", "at", "sig"});
    NameClaim c;
    c.name = r.string("name");
    c.pubkey = r.key("pubkey");
    c.at = r.integer("at");
    c.sig = r.signature("sig");
    if (auto problem = claim_problem(c); !problem.empty()) src.fail(problem);
    return c;
}

std::string serialize_name_claim(const NameClaim &c) {
    must_be_fine("a name claim", claim_problem(c));
    return Json::object()
               .set("v", kVersion)
               .set("name", c.name)
               .set("pubkey", c.pubkey.str())
               .set("at", c.at)
               .set("sig", signature_text(c.sig))
               .dump() +
           "\n";
}

} // namespace puddle
