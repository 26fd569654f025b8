// puddle setup ssh | git [--undo]: point OpenSSH and git at the puddle key
// with their own mechanisms, and take that back again. The editing of the
// user's files is pure (core/dotfiles); what was done is remembered in the
// state directory (core/setup_state), which also keeps git's files in step
// with the key after every rotation.
#include "cli/args.hpp"
#include "cli/io.hpp"
#include "cli/user_files.hpp"
#include "cli/verbs.hpp"
#include "core/dotfiles.hpp"
#include "core/git_signers.hpp"
#include "core/setup_state.hpp"
#include "util/text.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

namespace puddle::cli {
namespace {

const BlockMarkers kSshMarkers{
    "# >>> puddle setup ssh: ssh uses puddle-agent for every host ('puddle setup ssh --undo' removes this block)",
    "# <<< puddle setup ssh"};
const BlockMarkers kGitMarkers{
    "# >>> puddle setup git: signing with the puddle key ('puddle setup git --undo' removes this block)",
    "# <<< puddle setup git"};
constexpr const char *kEnvironmentHeader = "# Written by 'puddle setup ssh'; 'puddle setup ssh --undo' removes it.";
constexpr const char *kEnvironmentName = "90-puddle-ssh-agent.conf";

std::string agent_socket() { return runtime_dir() + "/puddle/ssh-agent.sock"; }

// A user unit that sets SSH_AUTH_SOCK in the manager when it starts wins
// over environment.d: Debian 13's OpenSSH enables ssh-agent.socket for every
// user, and GNOME's gcr-ssh-agent.socket does the same. puddle's own ssh
// socket, ordered after them, sets it last.
std::string dropin_file() { return config_home() + "/systemd/user/puddle-agent-ssh.socket.d/50-puddle-setup-ssh.conf"; }

std::string dropin_text() {
    return std::string(kEnvironmentHeader) +
           "\n# Set after the agents that set SSH_AUTH_SOCK when their socket starts.\n"
           "[Unit]\nAfter=ssh-agent.socket gcr-ssh-agent.socket gpg-agent-ssh.socket\n\n"
           "[Socket]\nExecStartPost=/usr/bin/systemctl --user set-environment SSH_AUTH_SOCK=%t/puddle/ssh-agent.sock\n";
}

// SSH_AUTH_SOCK in the user manager's environment (what new terminals and
// services get), nullopt when unset or the manager cannot be asked.
std::optional<std::string> manager_auth_sock() {
    const auto r = run_capture({"systemctl", "--user", "show-environment"});
    if (r.status != 0) return std::nullopt;
    std::size_t at = 0;
    while (at < r.out.size()) {
        const auto eol = r.out.find('\n', at);
        const std::string line = r.out.substr(at, eol == std::string::npos ? std::string::npos : eol - at);
        if (line.rfind("SSH_AUTH_SOCK=", 0) == 0) return line.substr(14);
        if (eol == std::string::npos) break;
        at = eol + 1;
    }
    return std::nullopt;
}

bool manager_says(const std::vector<std::string> &args) {
    std::vector<std::string> argv{"systemctl", "--user"};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_capture(argv).status == 0;
}

// `git config --global --includes --get KEY`: its value, nullopt when unset.
std::optional<std::string> git_global(const std::string &key) {
    auto r = run_capture({"git", "config", "--global", "--includes", "--get", key});
    if (r.status == -1)
        throw Error(Failure::failed, "cannot run git", "git is not installed or not in PATH", "install git first");
    if (r.status == 1) return std::nullopt; // unset
    if (r.status != 0)
        throw Error(Failure::failed, "cannot read git's setting " + key,
                    "'git config --global --get " + key + "' exited " + std::to_string(r.status),
                    "fix your git configuration (git config --global --list shows it)");
    while (!r.out.empty() && r.out.back() == '\n') r.out.pop_back();
    return r.out;
}

// The file `git config --global` writes: ~/.gitconfig, or the XDG file when
// only that one exists (git-config(1), FILES).
std::string global_git_config() {
    const std::string dot = home_dir() + "/.gitconfig";
    if (exists(dot)) return resolved(dot);
    const std::string xdg = config_home() + "/git/config";
    if (exists(xdg)) return resolved(xdg);
    return dot;
}

OpenState member_state() {
    auto st = open_state(false);
    if (!st.store.is_member()) (void)st.store.load_public_key(); // throws the "not initialized" error
    return st;
}

// ---- ssh

std::string ssh_block(const std::string &socket) {
    // %i (the local uid) keeps the line right on every machine that shares this home.
    const std::string run_user = "/run/user/" + std::to_string(getuid()) + "/";
    std::string path = socket;
    if (path.compare(0, run_user.size(), run_user) == 0) path = "/run/user/%i/" + path.substr(run_user.size());
    return "IdentityAgent \"" + path + "\"\n";
}

std::string environment_text() {
    return std::string(kEnvironmentHeader) + "\nSSH_AUTH_SOCK=${XDG_RUNTIME_DIR}/puddle/ssh-agent.sock\n";
}

// Other agents that ssh or new sessions used before: each a sentence.
std::vector<std::string> displaced_agents(const std::string &ssh_config_text, const std::string &ssh_config,
                                          const std::string &environment_dir, const std::string &ours) {
    std::vector<std::string> out;
    for (const auto &o : find_ssh_option(ssh_config_text, "IdentityAgent", kSshMarkers)) {
        out.push_back("IdentityAgent " + o.value + " (" + shown(ssh_config) + " line " + std::to_string(o.line) +
                      (o.context.empty() ? "" : ", under '" + o.context + "'") +
                      "): puddle's block comes first, and ssh takes the first value");
    }
    if (const char *sock = std::getenv("SSH_AUTH_SOCK"); sock && *sock && std::string(sock) != agent_socket())
        out.push_back("SSH_AUTH_SOCK=" + std::string(sock) + " (" + describe_agent_socket(sock) +
                      ") in this shell: ssh goes to puddle-agent from now on; ssh-add and other programs of this "
                      "shell still go there until you log in again (or export SSH_AUTH_SOCK=" + agent_socket() + ")");
    if (DIR *d = ::opendir(environment_dir.c_str())) {
        std::vector<std::string> names;
        while (const dirent *e = ::readdir(d)) names.push_back(e->d_name);
        ::closedir(d);
        std::sort(names.begin(), names.end());
        for (const auto &n : names) {
            if (n == ours || n.size() < 5 || n.compare(n.size() - 5, 5, ".conf") != 0) continue;
            auto text = read_text(environment_dir + "/" + n);
            if (!text) continue;
            std::size_t at = 0;
            while ((at = text->find("SSH_AUTH_SOCK=", at)) != std::string::npos) {
                if (at == 0 || (*text)[at - 1] == '\n') {
                    const auto eol = text->find('\n', at);
                    const bool later = n > ours; // environment.d reads files in name order; the last wins
                    out.push_back(text->substr(at, eol == std::string::npos ? std::string::npos : eol - at) + " (" +
                                  shown(environment_dir + "/" + n) + "): " +
                                  (later ? "read after " + ours + ", so it still wins: rename it or take that line out"
                                         : ours + " is read after it and wins"));
                }
                at += 14;
            }
        }
    }
    return out;
}

int setup_ssh(const StateDir &dir) {
    const std::string ssh_dir = home_dir() + "/.ssh";
    const std::string environment_dir = config_home() + "/environment.d";
    const std::string environment_file = environment_dir + "/" + kEnvironmentName;
    auto record = load_ssh_setup(dir);
    const std::string ssh_config = record ? record->ssh_config : resolved(ssh_dir + "/config");

    // Everything is checked before anything is written.
    const auto env_now = read_text(environment_file);
    if (env_now && env_now->compare(0, std::strlen(kEnvironmentHeader), kEnvironmentHeader) != 0)
        throw Error(Failure::failed, "cannot write " + environment_file, "a file of that name is there and puddle did not write it",
                    "rename it, then run 'puddle setup ssh' again");
    const auto config_now = read_text(ssh_config);
    const std::string config_text = config_now.value_or("");
    const std::string new_config = put_block(config_text, kSshMarkers, ssh_block(agent_socket()), BlockPlace::top);
    auto displaced = displaced_agents(config_text, ssh_config, environment_dir, kEnvironmentName);
    const auto dropin_now = read_text(dropin_file());
    if (dropin_now && dropin_now->compare(0, std::strlen(kEnvironmentHeader), kEnvironmentHeader) != 0)
        throw Error(Failure::failed, "cannot write " + dropin_file(), "a file of that name is there and puddle did not write it",
                    "rename it, then run 'puddle setup ssh' again");
    const auto manager_sock = manager_auth_sock();
    if (manager_sock && *manager_sock != agent_socket())
        displaced.push_back("SSH_AUTH_SOCK=" + *manager_sock + " (" + describe_agent_socket(*manager_sock) +
                            ") in your user manager, which new terminals get: puddle's from now on, and at each "
                            "login after any agent that sets it when it starts");

    if (!record) {
        record = SshSetup{ssh_config, !config_now, !exists(ssh_dir), environment_file};
        save_ssh_setup(dir, *record); // first, so that --undo knows what to take back
    }
    std::vector<std::string> changed;
    if (!config_now || new_config != *config_now) {
        if (make_dir(dirname_of(ssh_config), 0700)) changed.push_back("created " + shown(dirname_of(ssh_config)) + "/");
        write_text(ssh_config, new_config, 0600);
        changed.push_back("wrote " + shown(ssh_config) + ": IdentityAgent " + agent_socket() +
                          " for every host, at the top (ssh takes the first value it reads)");
    }
    if (!env_now || *env_now != environment_text()) {
        make_dir(config_home(), 0700);
        make_dir(environment_dir, 0755);
        write_text(environment_file, environment_text(), 0644);
        changed.push_back("wrote " + shown(environment_file) +
                          ": SSH_AUTH_SOCK for the sessions your user manager starts, from your next login");
    }
    if (!dropin_now || *dropin_now != dropin_text()) {
        make_dir(config_home(), 0700);
        make_dir(config_home() + "/systemd", 0755);
        make_dir(config_home() + "/systemd/user", 0755);
        make_dir(dirname_of(dropin_file()), 0755);
        write_text(dropin_file(), dropin_text(), 0644);
        changed.push_back("wrote " + shown(dropin_file()) +
                          ": puddle-agent-ssh.socket sets SSH_AUTH_SOCK at each login, after other agents' sockets");
        if (!manager_says({"daemon-reload"}))
            print_warning("could not reload your user manager: the drop-in applies from your next login");
    }
    if (!manager_sock || *manager_sock != agent_socket()) {
        if (manager_says({"set-environment", "SSH_AUTH_SOCK=" + agent_socket()}))
            changed.push_back("set SSH_AUTH_SOCK=" + agent_socket() + " in your user manager: new terminals use it now");
        else
            print_warning("could not set SSH_AUTH_SOCK in your user manager (no user session bus?): new terminals "
                          "get it from your next login");
    }
    if (changed.empty()) std::printf("ssh already uses puddle-agent: nothing changed\n");
    for (const auto &c : changed) std::printf("%s\n", c.c_str());
    for (const auto &d : displaced) std::printf("displaced: %s\n", d.c_str());
    struct stat st{};
    if (::stat(agent_socket().c_str(), &st) != 0 || !S_ISSOCK(st.st_mode))
        print_warning("puddle's ssh-agent socket " + agent_socket() +
                      " is not there; start it with: systemctl --user enable --now puddle-agent-ssh.socket");
    std::printf("put the key on a server: puddle pubkey --ssh > ~/.ssh/puddle.pub && ssh-copy-id -f -i ~/.ssh/puddle.pub HOST\n"
                "undo: puddle setup ssh --undo\n");
    return 0;
}

// Takes puddle's block out of a user's file, as --undo does: the file goes
// when puddle created it and nothing else is left in it. True when it went.
bool take_block_out(const std::string &path, const BlockMarkers &markers, bool created, mode_t mode) {
    auto text = read_text(path);
    if (!text) return false;
    auto before = remove_block(*text, markers);
    if (!before) {
        print_warning("no puddle block in " + path + " (taken out by hand?): left as it is");
        return false;
    }
    if (created && before->empty()) {
        remove_file(path);
        std::printf("removed %s (puddle had created it)\n", shown(path).c_str());
        return true;
    }
    write_text(path, *before, mode);
    std::printf("removed puddle's block from %s\n", shown(path).c_str());
    return false;
}

int undo_ssh(const StateDir &dir) {
    auto record = load_ssh_setup(dir);
    if (!record) {
        std::printf("nothing to undo: 'puddle setup ssh' was not run with this state directory (%s)\n",
                    dir.path().c_str());
        return 0;
    }
    if (take_block_out(record->ssh_config, kSshMarkers, record->created_ssh_config, 0600) &&
        record->created_ssh_dir && ::rmdir(dirname_of(record->ssh_config).c_str()) == 0)
        std::printf("removed %s/ (puddle had created it)\n", shown(dirname_of(record->ssh_config)).c_str());
    if (auto env = read_text(record->environment_file)) {
        if (env->compare(0, std::strlen(kEnvironmentHeader), kEnvironmentHeader) == 0) {
            remove_file(record->environment_file);
            std::printf("removed %s (SSH_AUTH_SOCK for new sessions: from your next login)\n",
                        shown(record->environment_file).c_str());
        } else {
            print_warning(record->environment_file + " is no longer puddle's: left as it is");
        }
    }
    if (auto d = read_text(dropin_file())) {
        if (d->compare(0, std::strlen(kEnvironmentHeader), kEnvironmentHeader) == 0) {
            remove_file(dropin_file());
            ::rmdir(dirname_of(dropin_file()).c_str()); // only if empty
            (void)manager_says({"daemon-reload"});
            std::printf("removed %s\n", shown(dropin_file()).c_str());
        } else {
            print_warning(dropin_file() + " is no longer puddle's: left as it is");
        }
    }
    if (const auto sock = manager_auth_sock(); sock && *sock == agent_socket()) {
        if (manager_says({"unset-environment", "SSH_AUTH_SOCK"}))
            std::printf("unset SSH_AUTH_SOCK in your user manager; an agent you had before sets it again when its "
                        "socket starts (e.g. systemctl --user restart ssh-agent.socket), or at your next login\n");
    }
    dir.remove(kSshSetupFile);
    return 0;
}

// ---- git

int setup_git(const StateDir &dir, const PublicKey &current, const std::optional<std::string> &principal_arg,
              bool sign_all_arg) {
    auto record = load_git_setup(dir);
    std::string principal;
    if (principal_arg) principal = *principal_arg;
    else if (record) principal = record->principal;
    else if (auto email = git_global("user.email")) principal = *email;
    else
        throw Error(Failure::failed, "cannot set up git", "git has no user.email, the name its signatures are checked against",
                    "git config --global user.email YOU@EXAMPLE.ORG (git needs it to commit anyway), or pass --principal NAME");
    if (auto why = allowed_signers_principal_problem(principal); !why.empty())
        usage_error("setup", "the principal " + quoted(principal) + " cannot stand in an allowed-signers file: " + why);

    // What git used before, said before it is overridden (only the first time:
    // later the values are puddle's own).
    std::vector<std::string> displaced;
    if (!record) {
        for (const char *key : {"gpg.format", "user.signingKey", "gpg.ssh.program", "gpg.ssh.allowedSignersFile"})
            if (auto v = git_global(key)) displaced.push_back(std::string(key) + "=" + *v);
        if (sign_all_arg)
            for (const char *key : {"commit.gpgSign", "tag.gpgSign"})
                if (auto v = git_global(key)) displaced.push_back(std::string(key) + "=" + *v);
    }
    const std::string git_config = record ? record->git_config : global_git_config();
    const auto config_now = read_text(git_config);
    GitSetup setup{git_config, record ? record->created_git_config : !config_now, principal,
                   sign_all_arg || (record && record->sign_all)};
    const std::string block = "[include]\n\tpath = \"" + dir.file(kGitConfigFile) + "\"\n";
    const std::string new_config = put_block(config_now.value_or(""), kGitMarkers, block, BlockPlace::bottom);

    save_git_setup(dir, setup); // first: the mark that refreshes, and what --undo takes back
    std::vector<std::string> changed;
    for (const auto &f : write_git_signing(dir, setup, current, load_rotation_log(dir).value_or(RotationLog{})))
        changed.push_back("wrote " + shown(f));
    if (!config_now || new_config != *config_now) {
        if (!config_now) make_dir(dirname_of(git_config), 0700);
        write_text(git_config, new_config, 0644);
        changed.push_back("wrote " + shown(git_config) + ": an [include] of " + shown(dir.file(kGitConfigFile)) +
                          " at the end (it wins over the settings above it)");
    }
    if (changed.empty()) std::printf("git already signs with the puddle key: nothing changed\n");
    for (const auto &c : changed) std::printf("%s\n", c.c_str());
    for (const auto &d : displaced) std::printf("displaced: %s\n", d.c_str());
    std::printf("git signs as %s with %s (gpg.format ssh, through puddle-agent)%s\n", principal.c_str(),
                current.str().c_str(),
                setup.sign_all ? "; every commit and tag is signed" : "; sign with 'git commit -S'");
    std::printf("git verify-commit accepts each key of this puddle for commits dated while it was current\n"
                "undo: puddle setup git --undo\n");
    return 0;
}

int undo_git(const StateDir &dir) {
    auto record = load_git_setup(dir);
    if (!record) {
        std::printf("nothing to undo: 'puddle setup git' was not run with this state directory (%s)\n",
                    dir.path().c_str());
        return 0;
    }
    take_block_out(record->git_config, kGitMarkers, record->created_git_config, 0644);
    remove_git_signing(dir);
    dir.remove(kGitSetupFile);
    std::printf("removed git's puddle files from %s; git signs as it did before\n", shown(dir.path()).c_str());
    return 0;
}

} // namespace

int run_setup(const std::vector<std::string> &argv) {
    Args args("setup", argv);
    if (args.positionals().size() != 1) usage_error("setup", "say what to set up: 'puddle setup ssh' or 'puddle setup git'");
    const std::string what = args.positionals()[0];
    if (what != "ssh" && what != "git") usage_error("setup", "unknown " + quoted(what) + ": ssh or git");
    const bool undo = args.flag("undo");
    if (what == "ssh" && (args.value("principal") || args.flag("sign-all")))
        usage_error("setup", "--principal and --sign-all are for 'setup git'");
    if (undo && (args.value("principal") || args.flag("sign-all")))
        usage_error("setup", "--undo takes no other option");
    auto st = member_state();
    const PublicKey current = st.store.load_public_key();
    if (what == "ssh") return undo ? undo_ssh(st.dir) : setup_ssh(st.dir);
    return undo ? undo_git(st.dir) : setup_git(st.dir, current, args.value("principal"), args.flag("sign-all"));
}

} // namespace puddle::cli
