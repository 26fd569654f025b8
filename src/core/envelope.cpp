#include "core/envelope.hpp"

#include "core/files/json_reader.hpp"
#include "core/files/members.hpp"
#include "util/error.hpp"

#include <cstring>
#include <set>
#include <sodium.h>

namespace puddle {
using namespace files_detail;

namespace {

// The kind names the statement's version: "puddle-envelope" (v1) was signed
// by the old key alone, over neither the wrap it carried nor its maker.
constexpr const char *kKind = "puddle-envelope-v2";
constexpr const char *kOldKind = "puddle-envelope";

std::string associated_data(const Envelope &e, const EnvoyKey &recipient) {
    return "puddle-envelope-v2\n" + e.old_key.str() + "\n" + e.new_key.str() + "\n" + std::to_string(e.generation) +
           "\n" + recipient.str() + "\n" + to_hex(e.salt) + "\n";
}

EnvoyKey envoy_field(const ObjectReader &r, const char *name) {
    std::string why;
    const auto k = parse_envoy_key(r.string(name), &why);
    if (!k) r.fail(r.field(name) + ": " + why);
    return *k;
}

std::string host_field(const ObjectReader &r) {
    std::string why;
    const std::string &h = r.string("host");
    if (!valid_host(h, &why)) r.fail(r.field("host") + ": " + why);
    return h;
}

} // namespace

std::string envelope_statement(const Envelope &e) {
    std::string s = "puddle-statement-envelope-v2\n" + e.old_key.str() + "\n" + e.new_key.str() + "\n" +
                    std::to_string(e.at) + "\n" + std::to_string(e.generation) + "\n" + to_hex(e.salt) + "\n" +
                    e.wrap_digest + "\n" + "maker " + e.maker.host + " " + e.maker.envoy.str() + " " +
                    e.maker.signer.str() + "\n";
    for (const auto &x : e.evicted) s += "evicted " + x.host + " " + (x.envoy ? x.envoy->str() : std::string("-")) + "\n";
    for (const auto &r : e.recipients) s += "to " + r.host + " " + r.envoy.str() + "\n";
    return s;
}

std::string envelope_signature_problem(const Envelope &e) {
    const std::string statement = envelope_statement(e);
    if (!verify_signature(e.old_key, as_bytes(statement), e.sig_old)) return "the old key's";
    if (!verify_signature(e.new_key, as_bytes(statement), e.sig_new)) return "the new key's";
    if (!verify_signature(e.maker.signer, as_bytes(statement), e.sig_maker)) return "the maker's machine key's";
    return {};
}

Envelope make_envelope(const Keypair &old_pair, const Keypair &new_pair, const EnvoySecret &maker,
                       const std::string &maker_host, std::int64_t at, const Salt &salt, const WrappedBytes &new_wrap,
                       RotationLog retired, std::vector<EvictedEnvoy> evicted, const std::vector<Recipient> &recipients) {
    init_sodium();
    Envelope e;
    e.old_key = old_pair.public_key();
    e.new_key = new_pair.public_key();
    e.at = at;
    e.generation = retired.size();
    e.salt = salt;
    e.wrap_digest = wrapped_digest(new_wrap);
    e.maker = EnvelopeMaker{maker_host, maker.public_key(), maker.signing_key()};
    e.retired = std::move(retired);
    e.evicted = std::move(evicted);
    for (const auto &to : recipients) {
        EnvelopeRecipient r;
        r.host = to.host;
        r.envoy = to.envoy;
        SecretBuffer k(crypto_aead_xchacha20poly1305_ietf_KEYBYTES);
        crypto_aead_xchacha20poly1305_ietf_keygen(k.data());
        if (crypto_box_seal(r.sealed_key.data(), k.data(), k.size(), to.envoy.bytes.data()) != 0)
            throw Error(Failure::failed, "cannot seal the new key to " + to.host,
                        "its sealing key " + to.envoy.str() + " is not a usable X25519 key");
        randombytes_buf(r.nonce.data(), r.nonce.size());
        const std::string ad = associated_data(e, to.envoy);
        unsigned long long clen = 0;
        crypto_aead_xchacha20poly1305_ietf_encrypt(r.wrapped.data(), &clen, new_wrap.data(), new_wrap.size(),
                                                   reinterpret_cast<const std::uint8_t *>(ad.data()), ad.size(),
                                                   nullptr, r.nonce.data(), k.data());
        e.recipients.push_back(std::move(r));
    }
    const std::string statement = envelope_statement(e);
    e.sig_old = old_pair.sign(as_bytes(statement));
    e.sig_new = new_pair.sign(as_bytes(statement));
    e.sig_maker = maker.signing_keypair().sign(as_bytes(statement));
    return e;
}

std::string serialize_envelope(const Envelope &e) {
    auto evicted = Json::array();
    for (const auto &x : e.evicted)
        evicted.push(Json::object().set("host", x.host).set("envoy", x.envoy ? Json(x.envoy->str()) : Json()));
    auto recipients = Json::array();
    for (const auto &r : e.recipients)
        recipients.push(Json::object()
                            .set("host", r.host)
                            .set("envoy", r.envoy.str())
                            .set("key", to_base64(r.sealed_key))
                            .set("nonce", to_base64(r.nonce))
                            .set("wrapped", to_base64(r.wrapped)));
    return Json::object()
               .set("v", kVersion)
               .set("kind", kKind)
               .set("old", e.old_key.str())
               .set("new", e.new_key.str())
               .set("at", e.at)
               .set("generation", std::int64_t(e.generation))
               .set("salt", to_base64(e.salt))
               .set("wrap_digest", e.wrap_digest)
               .set("maker", Json::object()
                                 .set("host", e.maker.host)
                                 .set("envoy", e.maker.envoy.str())
                                 .set("signer", e.maker.signer.str()))
               .set("retired", rotation_log_value(e.retired))
               .set("evicted", std::move(evicted))
               .set("recipients", std::move(recipients))
               .set("sig_old", signature_text(e.sig_old))
               .set("sig_new", signature_text(e.sig_new))
               .set("sig_maker", signature_text(e.sig_maker))
               .dump() +
           "\n";
}

Envelope parse_envelope(std::span<const std::uint8_t> bytes, const std::string &label) {
    const Source src{label, "ask for a new envelope: 'puddle evict' on the member that made it writes one"};
    const Json doc = parse_document(src, bytes, kMaxEnvelopeBytes);
    const ObjectReader r(src, doc, "");
    r.version();
    if (r.has("kind") && r.get("kind").as_string() && *r.get("kind").as_string() == kOldKind)
        r.fail("it is an envelope of an older puddle (\"puddle-envelope\"), whose signature covers neither the key it "
               "carries nor the member that made it, so this puddle does not take it");
    r.kind(kKind);
    r.only({"v", "kind", "old", "new", "at", "generation", "salt", "wrap_digest", "maker", "retired", "evicted",
            "recipients", "sig_old", "sig_new", "sig_maker"});
    Envelope e;
    e.old_key = r.key("old");
    e.new_key = r.key("new");
    if (e.old_key == e.new_key) r.fail("fields \"old\" and \"new\" hold the same key");
    e.at = r.integer("at");
    if (e.at < 0) r.fail(r.field("at") + " must not be negative");
    const std::int64_t generation = r.integer("generation");
    if (generation < 1) r.fail(r.field("generation") + " must be at least 1");
    e.generation = std::uint64_t(generation);
    e.salt = r.fixed_bytes<kSaltBytes>("salt");
    e.wrap_digest = r.string("wrap_digest");
    if (const auto p = wrapped_digest_problem(e.wrap_digest); !p.empty()) r.fail(r.field("wrap_digest") + " " + p);
    {
        const ObjectReader m(src, r.get("maker"), "maker");
        m.only({"host", "envoy", "signer"});
        e.maker.host = host_field(m);
        e.maker.envoy = envoy_field(m, "envoy");
        e.maker.signer = m.key("signer");
    }
    r.array("retired");
    e.retired = parse_rotation_log_value(r.get("retired"), label + ", field \"retired\"");
    if (e.retired.size() != e.generation)
        r.fail(r.field("generation") + " is " + std::to_string(e.generation) + " but \"retired\" holds " +
               std::to_string(e.retired.size()) + " records");
    if (e.retired.empty() || !(e.retired.back().old_key == e.old_key) || !(e.retired.back().new_key == e.new_key))
        r.fail("the last record of \"retired\" is not the rotation from \"old\" to \"new\"");
    const auto &evicted = r.array("evicted");
    if (evicted.size() > kMaxEnvelopeRecipients) r.fail("more than " + std::to_string(kMaxEnvelopeRecipients) + " evicted");
    for (std::size_t i = 0; i < evicted.size(); ++i) {
        const ObjectReader x(src, evicted[i], "evicted[" + std::to_string(i) + "]");
        x.only({"host", "envoy"});
        EvictedEnvoy ev;
        ev.host = host_field(x);
        if (!x.get("envoy").is_null()) ev.envoy = envoy_field(x, "envoy");
        e.evicted.push_back(std::move(ev));
    }
    const auto &recipients = r.array("recipients");
    if (recipients.size() > kMaxEnvelopeRecipients)
        r.fail("more than " + std::to_string(kMaxEnvelopeRecipients) + " recipients");
    std::set<std::array<std::uint8_t, kEnvoyKeyBytes>> seen;
    for (std::size_t i = 0; i < recipients.size(); ++i) {
        const std::string where = "recipients[" + std::to_string(i) + "]";
        const ObjectReader x(src, recipients[i], where);
        x.only({"host", "envoy", "key", "nonce", "wrapped"});
        EnvelopeRecipient rec;
        rec.host = host_field(x);
        rec.envoy = envoy_field(x, "envoy");
        if (!seen.insert(rec.envoy.bytes).second) x.fail(where + " repeats a sealing key named before it");
        rec.sealed_key = x.fixed_bytes<kSealedKeyBytes>("key");
        rec.nonce = x.fixed_bytes<24>("nonce");
        rec.wrapped = x.fixed_bytes<kEnvelopeWrapBytes>("wrapped");
        e.recipients.push_back(std::move(rec));
    }
    e.sig_old = r.signature("sig_old");
    e.sig_new = r.signature("sig_new");
    e.sig_maker = r.signature("sig_maker");
    return e;
}

const EnvelopeRecipient *recipient_for(const Envelope &e, const EnvoyKey &envoy) {
    for (const auto &r : e.recipients)
        if (r.envoy == envoy) return &r;
    return nullptr;
}

WrappedBytes open_envelope(const Envelope &e, const EnvelopeRecipient &r, const EnvoySecret &envoy) {
    init_sodium();
    const auto sk = envoy.box_secret_key();
    SecretBuffer k(crypto_aead_xchacha20poly1305_ietf_KEYBYTES);
    const auto fail = [&](const std::string &why) {
        return Error(Failure::failed, "cannot open the envelope's entry for " + r.host, why,
                     "ask for a new envelope: 'puddle evict' there again, or 'puddle rekey --from HOST' over the "
                     "pair listener");
    };
    if (crypto_box_seal_open(k.data(), r.sealed_key.data(), r.sealed_key.size(), envoy.public_key().bytes.data(),
                             sk.data()) != 0)
        throw fail("its key is not sealed to this machine's sealing key, or was altered");
    const std::string ad = associated_data(e, r.envoy);
    WrappedBytes out{};
    unsigned long long mlen = 0;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(out.data(), &mlen, nullptr, r.wrapped.data(), r.wrapped.size(),
                                                   reinterpret_cast<const std::uint8_t *>(ad.data()), ad.size(),
                                                   r.nonce.data(), k.data()) != 0)
        throw fail("the new key does not decrypt for this identity and generation (the envelope was altered)");
    // The entry is sealed anonymously: anyone who knows this machine's
    // public envoy key can write one. What makes it the maker's is that it
    // holds the very wrap the three signatures name.
    if (wrapped_digest(out) != e.wrap_digest)
        throw fail("it holds another key than the one the envelope's signatures name (the entry was rewritten on "
                   "its way here)");
    return out;
}

} // namespace puddle
