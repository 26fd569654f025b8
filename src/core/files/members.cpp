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
    std::map<std::pair<std::string, KeyBytes>, std::size_t> seen;
    for (std::size_t i = 0; i < list.size(); ++i) {
        const std::string where = "members[" + std::to_string(i) + "]";
        const ObjectReader r(src, list[i], where);
        r.only({"host", "since", "direction", "wrapped_digest", "pubkey", "envoy"});
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
        list.push(std::move(rec));
    }
    return Json::object().set("v", kVersion).set("members", std::move(list)).dump() + "\n";
}

MembersView merge_members(const MembersView &mine, const MembersView &theirs) {
    // The map's order (host, then key bytes, which sort as their hex) is the output order.
    std::map<std::pair<std::string, KeyBytes>, MemberRecord> merged;
    for (const auto *view : {&mine, &theirs})
        for (const auto &m : view->members) {
            const auto [it, fresh] = merged.emplace(std::make_pair(m.host, m.pubkey.bytes), m);
            if (fresh) continue;
            // The newer record wins; an envoy certificate is kept from
            // either: the newer one when both have one, theirs on a tie
            // (a machine of that name that paired again, within a second).
            std::optional<EnvoyCert> cert = it->second.envoy;
            if (m.envoy && (!cert || m.envoy->at >= cert->at)) cert = m.envoy;
            if (m.since > it->second.since) it->second = m;
            it->second.envoy = cert;
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

std::optional<MembersView> load_members(const StateDir &dir) {
    if (!dir.has(kMembersFile)) return std::nullopt;
    return parse_members(dir.read(kMembersFile, kMaxMembersBytes, FileTrust::private_file), dir.file(kMembersFile));
}

void save_members(const StateDir &dir, const MembersView &view) {
    const std::string text = serialize_members(view);
    dir.write_atomic(kMembersFile, as_bytes(text), 0600);
}

} // namespace puddle
