#include "core/files/name_claim.hpp"

#include "core/files/json_reader.hpp"

namespace puddle {
using namespace files_detail;

namespace {

constexpr std::string_view kNameStatementTag = "puddle-statement-name-v1";

std::string claim_problem(const NameClaim &c) {
    std::string why;
    if (!valid_name(c.name, &why)) return "field \"name\": " + why;
    if (c.at < 0) return "field \"at\" must not be negative (it is a time in Unix seconds)";
    return {};
}

} // namespace

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

std::optional<NameClaim> load_name_claim(const StateDir &dir) {
    if (!dir.has(kNameClaimFile)) return std::nullopt;
    return parse_name_claim(dir.read(kNameClaimFile, kMaxNameClaimBytes, FileTrust::unchecked), dir.file(kNameClaimFile));
}

void save_name_claim(const StateDir &dir, const NameClaim &claim) {
    const std::string text = serialize_name_claim(claim);
    dir.write_atomic(kNameClaimFile, as_bytes(text), 0644);
}

} // namespace puddle
