// What `puddle setup ssh` and `puddle setup git` did, kept in the state
// directory so that --undo can take it back and so that every change of the
// key refreshes what git was given (setup-git.json is the mark that setup git
// was run). The files of git's own that live in the state directory are
// written here too, from the identity: IdentityStore calls
// refresh_git_signing() after each change it commits, so a rekey in the
// agent and accept, rekey --from and evict in the CLI all refresh them.
#pragma once

#include "core/files/rotation_log.hpp"
#include "core/identity.hpp"
#include "core/statedir.hpp"

#include <optional>
#include <span>
#include <string>

namespace puddle {

inline constexpr const char *kSshSetupFile = "setup-ssh.json";
inline constexpr const char *kGitSetupFile = "setup-git.json";
// Read by git, written by puddle from the identity (refresh_git_signing).
inline constexpr const char *kGitConfigFile = "git.config";          // included from the user's git config
inline constexpr const char *kGitSignersFile = "git_allowed_signers"; // gpg.ssh.allowedSignersFile
inline constexpr const char *kGitSigningKeyFile = "git_signing_key.pub"; // user.signingKey
inline constexpr const char *kGitProgramFile = "git-ssh-keygen";      // gpg.ssh.program

struct SshSetup {
    std::string ssh_config;       // the ssh_config file that holds puddle's block
    bool created_ssh_config = false;
    bool created_ssh_dir = false;
    std::string environment_file; // the environment.d file puddle wrote
};

struct GitSetup {
    std::string git_config;       // the user's git config file that includes kGitConfigFile
    bool created_git_config = false;
    std::string principal;        // the name in the allowed-signers lines
    bool sign_all = false;        // commit.gpgSign and tag.gpgSign
};

std::string serialize_ssh_setup(const SshSetup &s);
SshSetup parse_ssh_setup(std::span<const std::uint8_t> bytes, const std::string &label);
std::string serialize_git_setup(const GitSetup &s);
GitSetup parse_git_setup(std::span<const std::uint8_t> bytes, const std::string &label);

std::optional<SshSetup> load_ssh_setup(const StateDir &dir);
void save_ssh_setup(const StateDir &dir, const SshSetup &s);
std::optional<GitSetup> load_git_setup(const StateDir &dir);
void save_git_setup(const StateDir &dir, const GitSetup &s);

// The text of kGitConfigFile and kGitProgramFile for this state directory (pure).
std::string render_git_config(const StateDir &dir, const GitSetup &s);
std::string render_git_program();

// Writes the four files git reads (each only when its bytes change; the
// program 0700, the rest 0600). Returns the names of the files it changed.
std::vector<std::string> write_git_signing(const StateDir &dir, const GitSetup &s, const PublicKey &current,
                                           const RotationLog &log);
// After a change of the identity: when setup-git.json is there, write the
// files again from identity.pub and retired_puddles.json. Never throws: a
// failure is returned as a sentence for the caller to show ("" when all is
// well or setup git was never run), because the change it follows is
// already decided.
std::string refresh_git_signing(const StateDir &dir) noexcept;
// Removes the four files (absent is fine).
void remove_git_signing(const StateDir &dir);

} // namespace puddle
