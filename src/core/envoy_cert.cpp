#include "core/envoy_cert.hpp"

#include "core/files/json_reader.hpp"

namespace puddle {
using namespace files_detail;

std::string envoy_statement(const PublicKey &identity, const EnvoyKey &envoy, const std::optional<PublicKey> &signer,
                            const std::string &host, std::int64_t at) {
    if (!signer)
        return "puddle-statement-envoy-v1\n" + identity.str() + "\n" + envoy.str() + "\n" + host + "\n" +
               std::to_string(at) + "\n";
    return "puddle-statement-envoy-v2\n" + identity.str() + "\n" + envoy.str() + "\n" + signer->str() + "\n" + host +
           "\n" + std::to_string(at) + "\n";
}

EnvoyCert make_envoy_cert(const Keypair &identity, const EnvoyKey &envoy, const PublicKey &signer,
                          const std::string &host, std::int64_t at) {
    return EnvoyCert{envoy, signer, at,
                     identity.sign(as_bytes(envoy_statement(identity.public_key(), envoy, signer, host, at)))};
}

bool verify_envoy_cert(const EnvoyCert &cert, const PublicKey &identity, const std::string &host) {
    return cert.at >= 0 &&
           verify_signature(identity, as_bytes(envoy_statement(identity, cert.key, cert.signer, host, cert.at)),
                            cert.sig);
}

std::optional<OwnEnvoyCert> load_own_envoy_cert(const StateDir &dir) {
    if (!dir.has(kOwnEnvoyCertFile)) return std::nullopt;
    const std::string label = dir.file(kOwnEnvoyCertFile);
    const Source src{label, "remove it: the next command that unwraps the key signs a new one"};
    const Json doc = parse_document(src, dir.read(kOwnEnvoyCertFile, 4096, FileTrust::private_file), 4096);
    const ObjectReader r(src, doc, "");
    r.version();
    r.only({"v", "pubkey", "host", "envoy"});
    OwnEnvoyCert own;
    own.pubkey = r.key("pubkey");
    own.host = r.string("host");
    const ObjectReader e(src, r.get("envoy"), "envoy");
    e.only({"key", "signer", "at", "sig"});
    std::string why;
    auto key = parse_envoy_key(e.string("key"), &why);
    if (!key) e.fail(e.field("key") + ": " + why);
    own.cert = EnvoyCert{*key, e.has("signer") ? std::optional<PublicKey>(e.key("signer")) : std::nullopt,
                         e.integer("at"), e.signature("sig")};
    return own;
}

void ensure_own_envoy_cert(const StateDir &dir, const Keypair &identity, const EnvoyKey &envoy,
                           const std::function<PublicKey()> &machine_key, const std::string &host, std::int64_t now) {
    try {
        if (auto own = load_own_envoy_cert(dir); own && own->pubkey == identity.public_key() && own->host == host &&
                                                 own->cert.key == envoy && own->cert.signer &&
                                                 verify_envoy_cert(own->cert, own->pubkey, own->host))
            return;
    } catch (const Error &) {
        // a damaged file is replaced by a good one
    }
    const EnvoyCert cert = make_envoy_cert(identity, envoy, machine_key(), host, now);
    const std::string text = Json::object()
                                 .set("v", kVersion)
                                 .set("pubkey", identity.public_key().str())
                                 .set("host", host)
                                 .set("envoy", Json::object()
                                                   .set("key", cert.key.str())
                                                   .set("signer", cert.signer->str())
                                                   .set("at", cert.at)
                                                   .set("sig", signature_text(cert.sig)))
                                 .dump() +
                             "\n";
    dir.write_atomic(kOwnEnvoyCertFile, as_bytes(text), 0600);
}

} // namespace puddle
