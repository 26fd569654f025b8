#include "core/setup_state.hpp"

#include "core/files/json_reader.hpp"
#include "core/git_signers.hpp"
#include "core/identity_store.hpp"
#include "util/json.hpp"

#include <exception>

namespace puddle {
using namespace files_detail;
namespace {

constexpr std::size_t kMaxSetupBytes = 64 * 1024;

// What to do with a setup record puddle cannot read: without it, --undo cannot
// know what was there before.
Source setup_source(const std::string &label) {
    return Source{label, "remove it and run 'puddle setup' again (an --undo then cannot know what was there before)"};
}

// A git config value in double quotes (git-config(1), Syntax).
std::string git_quoted(const std::string &s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    return out + "\"";
}

bool same_content(const StateDir &dir, const char *name, const std::string &text) {
    if (!dir.has(name)) return false;
    try {
        auto now = dir.read(name, kMaxRotationLogBytes * 4, FileTrust::unchecked);
        return std::string(now.begin(), now.end()) == text;
    } catch (const Error &) {
        return false;
    }
}

} // namespace

std::string serialize_ssh_setup(const SshSetup &s) {
    return Json::object()
               .set("v", 1)
               .set("ssh_config", s.ssh_config)
               .set("created_ssh_config", s.created_ssh_config)
               .set("created_ssh_dir", s.created_ssh_dir)
               .set("environment_file", s.environment_file)
               .dump() +
           "\n";
}

SshSetup parse_ssh_setup(std::span<const std::uint8_t> bytes, const std::string &label) {
    const Source src = setup_source(label);
    const Json doc = parse_document(src, bytes, kMaxSetupBytes);
    const ObjectReader r(src, doc, "");
    r.version();
    r.only({"v", "ssh_config", "created_ssh_config", "created_ssh_dir", "environment_file"});
    return SshSetup{r.string("ssh_config"), r.boolean("created_ssh_config"), r.boolean("created_ssh_dir"),
                    r.string("environment_file")};
}

std::string serialize_git_setup(const GitSetup &s) {
    return Json::object()
               .set("v", 1)
               .set("git_config", s.git_config)
               .set("created_git_config", s.created_git_config)
               .set("principal", s.principal)
               .set("sign_all", s.sign_all)
               .dump() +
           "\n";
}

GitSetup parse_git_setup(std::span<const std::uint8_t> bytes, const std::string &label) {
    const Source src = setup_source(label);
    const Json doc = parse_document(src, bytes, kMaxSetupBytes);
    const ObjectReader r(src, doc, "");
    r.version();
    r.only({"v", "git_config", "created_git_config", "principal", "sign_all"});
    GitSetup s{r.string("git_config"), r.boolean("created_git_config"), r.string("principal"), r.boolean("sign_all")};
    if (auto why = allowed_signers_principal_problem(s.principal); !why.empty())
        src.fail("the principal " + why, "run 'puddle setup git' again");
    return s;
}

std::optional<SshSetup> load_ssh_setup(const StateDir &dir) {
    if (!dir.has(kSshSetupFile)) return std::nullopt;
    return parse_ssh_setup(dir.read(kSshSetupFile, kMaxSetupBytes, FileTrust::private_file), dir.file(kSshSetupFile));
}

void save_ssh_setup(const StateDir &dir, const SshSetup &s) {
    dir.write_atomic(kSshSetupFile, as_bytes(serialize_ssh_setup(s)), 0600);
}

std::optional<GitSetup> load_git_setup(const StateDir &dir) {
    if (!dir.has(kGitSetupFile)) return std::nullopt;
    return parse_git_setup(dir.read(kGitSetupFile, kMaxSetupBytes, FileTrust::private_file), dir.file(kGitSetupFile));
}

void save_git_setup(const StateDir &dir, const GitSetup &s) {
    dir.write_atomic(kGitSetupFile, as_bytes(serialize_git_setup(s)), 0600);
}

std::string render_git_config(const StateDir &dir, const GitSetup &s) {
    std::string out = "# Written by 'puddle setup git' and included from " + s.git_config +
                      ".\n# 'puddle setup git' writes it again; 'puddle setup git --undo' removes it.\n"
                      "[gpg]\n\tformat = ssh\n"
                      "[gpg \"ssh\"]\n"
                      "\tprogram = " + git_quoted(dir.file(kGitProgramFile)) + "\n"
                      "\tallowedSignersFile = " + git_quoted(dir.file(kGitSignersFile)) + "\n"
                      "[user]\n\tsigningKey = " + git_quoted(dir.file(kGitSigningKeyFile)) + "\n";
    if (s.sign_all) out += "[commit]\n\tgpgSign = true\n[tag]\n\tgpgSign = true\n";
    return out;
}

std::string render_git_program() {
    return "#!/bin/sh\n"
           "# Written by 'puddle setup git': git's gpg.ssh.program. It runs ssh-keygen with\n"
           "# SSH_AUTH_SOCK naming puddle's ssh-agent socket, so that git reaches\n"
           "# puddle-agent from any terminal, whatever agent that terminal names.\n"
           "SSH_AUTH_SOCK=\"${XDG_RUNTIME_DIR:-/run/user/$(id -u)}/puddle/ssh-agent.sock\"\n"
           "export SSH_AUTH_SOCK\n"
           "exec ssh-keygen \"$@\"\n";
}

std::vector<std::string> write_git_signing(const StateDir &dir, const GitSetup &s, const PublicKey &current,
                                           const RotationLog &log) {
    struct File {
        const char *name;
        std::string text;
        mode_t mode;
    };
    const File files[] = {
        {kGitSignersFile, render_allowed_signers(log, current, s.principal), 0600},
        {kGitSigningKeyFile, ssh_key_text(current) + " puddle:" + current.short_hex() + "\n", 0600},
        {kGitProgramFile, render_git_program(), 0700},
        {kGitConfigFile, render_git_config(dir, s), 0600},
    };
    std::vector<std::string> changed;
    for (const auto &f : files) {
        if (same_content(dir, f.name, f.text)) continue;
        dir.write_atomic(f.name, as_bytes(f.text), f.mode);
        changed.push_back(dir.file(f.name));
    }
    return changed;
}

std::string refresh_git_signing(const StateDir &dir) noexcept {
    try {
        auto setup = load_git_setup(dir);
        if (!setup) return "";
        const PublicKey current = IdentityStore(dir).load_public_key();
        const RotationLog log = load_rotation_log(dir).value_or(RotationLog{});
        write_git_signing(dir, *setup, current, log);
        return "";
    } catch (const std::exception &e) {
        return std::string("could not refresh git's allowed signers (") + dir.file(kGitSignersFile) + "): " + e.what() +
               "; run 'puddle setup git' to write it again";
    }
}

void remove_git_signing(const StateDir &dir) {
    for (const char *name : {kGitConfigFile, kGitSignersFile, kGitSigningKeyFile, kGitProgramFile}) dir.remove(name);
}

} // namespace puddle
