#include "core/files/members.hpp"

#include "core/files/json_reader.hpp"

#include "core/secret.hpp"

#include <map>
#include <unistd.h>
#include <sodium.h>
#include <stdexcept>
#include <tuple>

namespace puddle {
using namespace files_detail;

namespace {

constexpr std::string_view kDigestPrefix = "sha256:";

} // namespace

std::string wrapped_digest_problem(std::string_view digest) {
    if (!digest.starts_with(kDigestPrefix)) return "must start with \"sha256:\"";
    const auto hex = digest.substr(kDigestPrefix.size());
    if (hex.size() != 64)
        return "must be \"sha256:\" and 64 hex digits, found " + std::to_string(hex.size()) + " characters after the prefix";
    for (char c : hex)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return "must be \"sha256:\" and 64 lowercase hex digits (0-9, a-f)";
    return {};
}

namespace {

std::string member_problem(const MemberRecord &m) {
    std::string why;
    if (!valid_host(m.host, &why)) return "field \"host\": " + why;
    if (m.since < 0) return "field \"since\" must not be negative (it is a time in Unix seconds)";
    if (auto p = wrapped_digest_problem(m.wrapped_digest); !p.empty()) return "field \"wrapped_digest\" " + p;
    return {};
}

} // namespace

std::string_view direction_name(MemberDirection d) {
    switch (d) {
    case MemberDirection::self: return "self";
    case MemberDirection::joined: return "joined";
    case MemberDirection::admitted: return "admitted";
    case MemberDirection::reported: return "reported";
    }
    return "self";
}

std::optional<MemberDirection> parse_direction(std::string_view text) {
    for (auto d : {MemberDirection::self, MemberDirection::joined, MemberDirection::admitted, MemberDirection::reported})
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

std::string local_host_name() {
    char buf[256] = {};
    if (::gethostname(buf, sizeof buf - 1) != 0 || !buf[0]) return "localhost";
    std::string h = buf;
    if (!valid_host(h)) return "localhost";
    return h;
}

std::string wrapped_digest(std::span<const std::uint8_t> wrapped) {
    init_sodium();
    std::uint8_t hash[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(hash, wrapped.data(), wrapped.size());
    return std::string(kDigestPrefix) + to_hex(hash);
}

MembersView parse_members(std::span<const std::uint8_t> bytes, const std::string &label) {
    const Source src{label, label + " is only this machine's view of its members: fix it, or move it aside "
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
    for (std::size_t i = 0; i < list.size(); ++i) {
        const std::string where = "members[" + std::to_string(i) + "]";
        const ObjectReader r(src, list[i], where);
        r.only({"host", "since", "direction", "wrapped_digest", "pubkey", "envoy", "machine"});
        MemberRecord m;
        m.host = r.string("host");
        m.since = r.integer("since");
        const std::string &direction = r.string("direction");
        const auto d = parse_direction(direction);
        if (!d)
            r.fail(r.field("direction") + " must be \"self\", \"joined\", \"admitted\" or \"reported\", found " +
                   quote_for_message(direction));
        m.direction = *d;
        m.wrapped_digest = r.string("wrapped_digest");
        m.pubkey = r.key("pubkey");
        if (r.has("envoy")) {
            const ObjectReader e(src, r.get("envoy"), where + ".envoy");
            e.only({"key", "signer", "at", "sig"});
            std::string why;
            const auto key = parse_envoy_key(e.string("key"), &why);
            if (!key) e.fail(e.field("key") + ": " + why);
            m.envoy = EnvoyCert{*key, e.has("signer") ? std::optional<PublicKey>(e.key("signer")) : std::nullopt,
                                e.integer("at"), e.signature("sig")};
            if (m.envoy->at < 0) e.fail(e.field("at") + " must not be negative");
        }
        if (r.has("machine")) {
            m.machine = r.key("machine");
            if (m.envoy && m.envoy->signer && !(*m.envoy->signer == *m.machine))
                r.fail(r.field("machine") + " is not the machine key its machine certificate names");
        } else if (m.envoy && m.envoy->signer) {
            m.machine = m.envoy->signer; // a file of before issue 25
        }
        if (auto problem = member_problem(m); !problem.empty()) src.fail(with_where(where, problem));
        view.members.push_back(std::move(m));
    }
    std::map<MemberKey, std::size_t> seen;
    for (std::size_t i = 0; i < view.members.size(); ++i) {
        const auto [it, fresh] = seen.emplace(member_key(view.members[i]), i);
        if (!fresh)
            src.fail("members[" + std::to_string(i) + "] repeats members[" + std::to_string(it->second) +
                     "] (same machine, or same host without one, and same pubkey)");
    }
    // A record of before issue 25 without a certificate (a generation taken,
    // --took) belongs to the one machine the file knows under its host name
    // -- unless that would make it another record's twin. This machine's own
    // record is left alone: it is this machine, whatever others are called.
    for (auto &m : view.members) {
        if (m.machine || m.direction == MemberDirection::self) continue;
        std::optional<PublicKey> only;
        bool ambiguous = false;
        for (const auto &o : view.members)
            if (o.machine && o.host == m.host && o.envoy && o.envoy->signer) {
                if (only && !(*only == *o.machine)) ambiguous = true;
                only = o.machine;
            }
        if (!only || ambiguous) continue;
        MemberRecord candidate = m;
        candidate.machine = only;
        if (seen.emplace(member_key(candidate), seen.size()).second) m.machine = only;
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
        auto rec = Json::object()
                       .set("host", m.host)
                       .set("since", m.since)
                       .set("direction", std::string(direction_name(m.direction)))
                       .set("wrapped_digest", m.wrapped_digest)
                       .set("pubkey", m.pubkey.str());
        if (m.envoy) {
            if (m.envoy->at < 0) throw std::invalid_argument("cannot write a members view: a negative envoy time");
            auto cert = Json::object().set("key", m.envoy->key.str());
            if (m.envoy->signer) cert.set("signer", m.envoy->signer->str());
            rec.set("envoy", std::move(cert).set("at", m.envoy->at).set("sig", signature_text(m.envoy->sig)));
        }
        if (m.machine) rec.set("machine", m.machine->str());
        list.push(std::move(rec));
    }
    return Json::object().set("v", kVersion).set("members", std::move(list)).dump() + "\n";
}

MemberKey member_key(const MemberRecord &m) {
    MemberKey k;
    k.pubkey = m.pubkey.bytes;
    if (m.machine) {
        k.by_machine = true;
        k.machine = m.machine->bytes;
    } else {
        k.host = m.host;
    }
    return k;
}

MembersView merge_members(const MembersView &mine, const MembersView &theirs) {
    std::map<MemberKey, MemberRecord> merged;
    for (const auto *view : {&mine, &theirs})
        for (const auto &m : view->members) {
            const auto [it, fresh] = merged.emplace(member_key(m), m);
            if (fresh) continue;
            // The newer record wins; an envoy certificate is kept from
            // either: the newer one when both have one, theirs on a tie
            // (a machine of that name that paired again, within a second).
            std::optional<EnvoyCert> cert = it->second.envoy;
            if (m.envoy && (!cert || m.envoy->at >= cert->at)) cert = m.envoy;
            // (The newer record's host wins too: a renamed machine stays one member.)
            if (m.since > it->second.since) it->second = m;
            it->second.envoy = cert;
        }
    MembersView out;
    out.members.reserve(merged.size());
    for (auto &[key, m] : merged) out.members.push_back(std::move(m));
    const auto order = [](const MemberRecord &a, const MemberRecord &b) {
        const auto ma = a.machine ? a.machine->bytes : std::array<std::uint8_t, kPublicKeyBytes>{};
        const auto mb = b.machine ? b.machine->bytes : std::array<std::uint8_t, kPublicKeyBytes>{};
        return std::tie(a.host, ma, a.pubkey.bytes) < std::tie(b.host, mb, b.pubkey.bytes);
    };
    std::sort(out.members.begin(), out.members.end(), order);
    if (out.members.size() > kMaxMembers) {
        // Keep the newest; stable_sort keeps host order among equal times.
        std::stable_sort(out.members.begin(), out.members.end(),
                         [](const MemberRecord &a, const MemberRecord &b) { return a.since > b.since; });
        out.members.resize(kMaxMembers);
        std::sort(out.members.begin(), out.members.end(), order);
    }
    return out;
}

std::optional<MembersView> load_members(const StateDir &dir) {
    if (!dir.has(kMembersFile)) return std::nullopt;
    return parse_members(dir.read(kMembersFile, kMaxMembersBytes, FileTrust::private_file), dir.file(kMembersFile));
}

void save_members(const StateDir &dir, const MembersView &view) {
    const std::string text = serialize_members(view);
    dir.write_atomic(kMembersFile, as_bytes(text), 0600);
}

} // namespace puddle
