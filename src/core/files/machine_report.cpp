#include "core/files/machine_report.hpp"

#include "core/files/json_reader.hpp"
#include "core/files/members.hpp"
#include "core/secret.hpp"

#include <sodium.h>
#include <stdexcept>

namespace puddle {
using namespace files_detail;

namespace {

constexpr std::string_view kAd = "puddle-fleet-report-v1";
constexpr const char *kKind = "puddle-fleet-report";
const std::string kHint = "a machine report is rewritten by its machine ('puddle fleet' there); remove a file that "
                          "no member machine writes any more from the carrier directory";

bool lower_hex64(std::string_view s) {
    if (s.size() != 64) return false;
    for (char c : s)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return true;
}

bool valid_health(std::string_view s) { return s == "healthy" || s == "warning" || s == "degraded"; }

Json cert_value(const EnvoyCert &c) {
    auto cert = Json::object().set("key", c.key.str());
    if (c.signer) cert.set("signer", c.signer->str());
    return std::move(cert).set("at", c.at).set("sig", signature_text(c.sig));
}

// An envoy certificate of `machine` (the signer must be that machine key).
EnvoyCert read_cert(const Source &src, const Json &value, const std::string &where, const PublicKey &machine) {
    const ObjectReader e(src, value, where);
    e.only({"key", "signer", "at", "sig"});
    std::string why;
    const auto key = parse_envoy_key(e.string("key"), &why);
    if (!key) e.fail(e.field("key") + ": " + why);
    EnvoyCert cert{*key, e.key("signer"), e.integer("at"), e.signature("sig")};
    if (cert.at < 0) e.fail(e.field("at") + " must not be negative");
    if (!(*cert.signer == machine)) e.fail(e.field("signer") + " is not the machine key it is listed with");
    return cert;
}

} // namespace

std::string report_statement(std::string_view body) {
    return "puddle-statement-fleet-report-v1\n" + std::string(body);
}

std::string serialize_report_body(const MachineReport &r) {
    std::string why;
    if (!valid_host(r.host, &why)) throw std::invalid_argument("cannot write a machine report: " + why);
    if (r.members.size() > kMaxFleetReportMembers || r.reasons.size() > kMaxFleetReportReasons)
        throw std::invalid_argument("cannot write a machine report: too many members or reasons");
    if (!valid_health(r.health)) throw std::invalid_argument("cannot write a machine report: health " + r.health);
    auto members = Json::array();
    for (const auto &m : r.members) {
        auto x = Json::object().set("machine", m.machine.str()).set("host", m.host).set("wrapped_digest", m.wrapped_digest);
        if (m.cert && m.certified_by) x.set("envoy", cert_value(*m.cert)).set("certified_by", m.certified_by->str());
        members.push(std::move(x));
    }
    auto reasons = Json::array();
    for (const auto &x : r.reasons) reasons.push(Json(x.substr(0, kMaxFleetReasonBytes)));
    return Json::object()
        .set("v", kVersion)
        .set("machine", r.machine.str())
        .set("host", r.host)
        .set("seq", std::int64_t(r.seq))
        .set("at", r.at)
        .set("pubkey", r.pubkey.str())
        .set("generation", std::int64_t(r.generation))
        .set("wrapped_digest", r.wrapped_digest)
        .set("envoy", cert_value(r.cert))
        .set("certified_by", r.certified_by.str())
        .set("members", Json::object().set("digest", r.members_digest).set("list", std::move(members)))
        .set("health", Json::object().set("state", r.health).set("reasons", std::move(reasons)))
        .dump();
}

MachineReport parse_report_body(std::span<const std::uint8_t> bytes, const std::string &label) {
    const Source src{label, kHint};
    const Json doc = parse_document(src, bytes, kMaxFleetReportBytes);
    const ObjectReader top(src, doc, "");
    top.version();
    top.only({"v", "machine", "host", "seq", "at", "pubkey", "generation", "wrapped_digest", "envoy", "certified_by",
              "members", "health"});
    MachineReport r;
    r.machine = top.key("machine");
    r.host = top.string("host");
    std::string why;
    if (!valid_host(r.host, &why)) top.fail(top.field("host") + ": " + why);
    const auto seq = top.integer("seq"), at = top.integer("at"), gen = top.integer("generation");
    if (seq < 0 || at < 0 || gen < 0) top.fail("fields \"seq\", \"at\" and \"generation\" must not be negative");
    r.seq = std::uint64_t(seq);
    r.at = at;
    r.generation = std::uint64_t(gen);
    r.pubkey = top.key("pubkey");
    r.wrapped_digest = top.string("wrapped_digest");
    if (auto p = wrapped_digest_problem(r.wrapped_digest); !p.empty()) top.fail(top.field("wrapped_digest") + " " + p);
    r.cert = read_cert(src, top.get("envoy"), "envoy", r.machine);
    r.certified_by = top.key("certified_by");
    const ObjectReader m(src, top.get("members"), "members");
    m.only({"digest", "list"});
    r.members_digest = m.string("digest");
    if (!lower_hex64(r.members_digest)) m.fail(m.field("digest") + " must be 64 lowercase hex digits");
    const auto &list = m.array("list");
    if (list.size() > kMaxFleetReportMembers)
        m.fail("more than " + std::to_string(kMaxFleetReportMembers) + " members (found " + std::to_string(list.size()) + ")");
    for (std::size_t i = 0; i < list.size(); ++i) {
        const ObjectReader x(src, list[i], "members.list[" + std::to_string(i) + "]");
        x.only({"machine", "host", "wrapped_digest", "envoy", "certified_by"});
        ReportMember rm{x.key("machine"), x.string("host"), x.string("wrapped_digest"), std::nullopt, std::nullopt};
        if (!valid_host(rm.host, &why)) x.fail(x.field("host") + ": " + why);
        if (auto p = wrapped_digest_problem(rm.wrapped_digest); !p.empty()) x.fail(x.field("wrapped_digest") + " " + p);
        if (x.has("envoy") != x.has("certified_by")) x.fail("fields \"envoy\" and \"certified_by\" come together");
        if (x.has("envoy")) {
            rm.cert = read_cert(src, x.get("envoy"), "members.list[" + std::to_string(i) + "].envoy", rm.machine);
            rm.certified_by = x.key("certified_by");
        }
        r.members.push_back(std::move(rm));
    }
    const ObjectReader h(src, top.get("health"), "health");
    h.only({"state", "reasons"});
    r.health = h.string("state");
    if (!valid_health(r.health)) h.fail(h.field("state") + " must be \"healthy\", \"warning\" or \"degraded\"");
    const auto &reasons = h.array("reasons");
    if (reasons.size() > kMaxFleetReportReasons)
        h.fail("more than " + std::to_string(kMaxFleetReportReasons) + " reasons");
    for (const auto &x : reasons) {
        if (!x.as_string()) h.fail(h.field("reasons") + " must hold strings, found " + x.kind());
        if (x.as_string()->size() > kMaxFleetReasonBytes)
            h.fail("a reason is longer than " + std::to_string(kMaxFleetReasonBytes) + " bytes");
        r.reasons.push_back(*x.as_string());
    }
    return r;
}

std::string seal_report(const MachineReport &r, const Keypair &machine, const std::vector<EnvoyKey> &to) {
    if (!(machine.public_key() == r.machine)) throw std::invalid_argument("a report is signed by its own machine key");
    if (to.size() > kMaxFleetReportKeys) throw std::invalid_argument("a report reaches at most 256 members");
    init_sodium();
    const std::string body = serialize_report_body(r);
    const Signature sig = machine.sign(as_bytes(report_statement(body)));
    std::vector<std::uint8_t> plain(sig.begin(), sig.end());
    plain.insert(plain.end(), body.begin(), body.end());
    SecretBuffer k(crypto_aead_xchacha20poly1305_ietf_KEYBYTES);
    crypto_aead_xchacha20poly1305_ietf_keygen(k.data());
    auto keys = Json::array();
    for (const auto &envoy : to) {
        std::array<std::uint8_t, 80> sealed{};
        if (crypto_box_seal(sealed.data(), k.data(), k.size(), envoy.bytes.data()) != 0)
            throw Error(Failure::failed, "cannot seal a machine report to " + envoy.str(),
                        "it is not a usable X25519 key", "'puddle members --json' shows the members' sealing keys (envoy_key)");
        keys.push(Json(to_base64(sealed)));
    }
    std::array<std::uint8_t, 24> nonce{};
    randombytes_buf(nonce.data(), nonce.size());
    std::vector<std::uint8_t> box(plain.size() + crypto_aead_xchacha20poly1305_ietf_ABYTES);
    unsigned long long clen = 0;
    crypto_aead_xchacha20poly1305_ietf_encrypt(box.data(), &clen, plain.data(), plain.size(),
                                               reinterpret_cast<const std::uint8_t *>(kAd.data()), kAd.size(), nullptr,
                                               nonce.data(), k.data());
    box.resize(clen);
    return Json::object()
               .set("v", kVersion)
               .set("kind", std::string(kKind))
               .set("keys", std::move(keys))
               .set("nonce", to_base64(nonce))
               .set("box", to_base64(box))
               .dump() +
           "\n";
}

SealedReport parse_sealed_report(std::span<const std::uint8_t> bytes, const std::string &label) {
    const Source src{label, kHint};
    const Json doc = parse_document(src, bytes, kMaxFleetReportBytes);
    const ObjectReader top(src, doc, "");
    top.version();
    top.only({"v", "kind", "keys", "nonce", "box"});
    top.kind(kKind);
    SealedReport s;
    const auto &keys = top.array("keys");
    if (keys.empty() || keys.size() > kMaxFleetReportKeys)
        top.fail(top.field("keys") + " must hold 1 to " + std::to_string(kMaxFleetReportKeys) + " sealed keys, found " +
                 std::to_string(keys.size()));
    for (const auto &k : keys) {
        const auto *text = k.as_string();
        const auto raw = text ? from_base64(*text, 80) : std::nullopt;
        if (!raw || raw->size() != 80 || to_base64(*raw) != *text)
            top.fail(top.field("keys") + " must hold the base64 of 80 bytes each");
        std::array<std::uint8_t, 80> a{};
        std::copy(raw->begin(), raw->end(), a.begin());
        s.keys.push_back(a);
    }
    s.nonce = top.fixed_bytes<24>("nonce");
    const std::string &box = top.string("box");
    const auto raw = from_base64(box, kMaxFleetReportBytes);
    if (!raw || to_base64(*raw) != box || raw->size() < kSignatureBytes + crypto_aead_xchacha20poly1305_ietf_ABYTES + 2)
        top.fail(top.field("box") + " must be canonical base64 of a signature, a body and a 16-byte tag");
    s.box.assign(raw->begin(), raw->end());
    return s;
}

MachineReport open_report(const SealedReport &s, const EnvoySecret &envoy, std::size_t &budget,
                        const std::string &label) {
    init_sodium();
    const auto fail = [&](const std::string &why, const std::string &hint) {
        return Error(Failure::failed, "refused " + label, why, hint);
    };
    const auto sk = envoy.box_secret_key();
    SecretBuffer k(crypto_aead_xchacha20poly1305_ietf_KEYBYTES);
    bool opened = false;
    for (const auto &sealed : s.keys) {
        if (budget == 0)
            throw fail("not read: this reading of the carrier directory has tried as many sealed keys as it may",
                       "remove files no member writes from the carrier directory");
        --budget;
        if (crypto_box_seal_open(k.data(), sealed.data(), sealed.size(), envoy.public_key().bytes.data(), sk.data()) == 0) {
            opened = true;
            break;
        }
    }
    if (!opened)
        throw fail("it is not sealed to this machine (written before this machine was a member, or by a machine "
                   "that does not know it)",
                   "it is read once its machine writes again after learning of this one ('puddle fleet' there)");
    SecretBuffer plain(s.box.size());
    unsigned long long mlen = 0;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(plain.data(), &mlen, nullptr, s.box.data(), s.box.size(),
                                                   reinterpret_cast<const std::uint8_t *>(kAd.data()), kAd.size(),
                                                   s.nonce.data(), k.data()) != 0 ||
        mlen <= kSignatureBytes)
        throw fail("it was altered: its box does not decrypt", kHint);
    const std::span<const std::uint8_t> body(plain.data() + kSignatureBytes, mlen - kSignatureBytes);
    MachineReport r = parse_report_body(body, label);
    const std::string statement =
        report_statement(std::string_view(reinterpret_cast<const char *>(body.data()), body.size()));
    if (!verify_signature(r.machine, as_bytes(statement), std::span<const std::uint8_t>(plain.data(), kSignatureBytes)))
        throw fail("it was altered: the machine key's signature does not verify", kHint);
    return r;
}

} // namespace puddle
