// Asking the user a yes/no question with what the desktop and terminal
// already have (puddle-agent(1) CONSENT): an ssh-askpass program as
// OpenSSH's agent runs it for `ssh-add -c` (the question as its argument,
// SSH_ASKPASS_PROMPT=confirm, exit 0 = yes), else a pinentry through its
// Assuan CONFIRM command. Blocking: it runs on consent's worker thread, never
// on the event loop. The program gets the agent's environment (DISPLAY,
// WAYLAND_DISPLAY and SSH_ASKPASS come from the user manager's), no
// descriptor of the agent's but stdin/stdout, and none of its memory: it is
// spawned (no copy of the agent's address space) and has no keyring of it.
#pragma once

#include "core/secret.hpp"

#include <atomic>
#include <chrono>
#include <string>
#include <string_view>

namespace puddle::agent {

struct PromptPrograms {
    std::string askpass;  // "" when none
    std::string pinentry; // "" when none
};

// [consent] askpass, else $SSH_ASKPASS (`env_askpass`, may be null), else the
// first of OpenSSH's usual askpass paths that exists; [consent] pinentry, else
// pinentry in PATH. Only executable files count.
PromptPrograms find_prompt_programs(const std::string &askpass, const std::string &pinentry,
                                    const char *env_askpass);

enum class PromptAnswer { yes, no, timed_out, unavailable };
struct PromptOutcome {
    PromptAnswer answer;
    std::string detail; // which program answered, or why none could
};

// Blocks until an answer, `timeout`, or `cancel` (then the program is ended).
PromptOutcome ask_confirm(const PromptPrograms &programs, const std::string &question,
                          std::chrono::milliseconds timeout, const std::atomic<bool> &cancel);

// unlock_on_request: the passphrase, asked with the askpass program as
// OpenSSH asks it (the question as its argument, the answer a line on its
// standard output, exit 0), read straight into locked memory. Only an askpass
// program: a pinentry's answer would pass through unlocked buffers here.
struct PassphraseOutcome {
    PromptAnswer answer;
    SecretBuffer passphrase; // answer yes only
    std::string detail;
};
PassphraseOutcome ask_passphrase(const PromptPrograms &programs, const std::string &question,
                                 std::chrono::milliseconds timeout, const std::atomic<bool> &cancel);

// Assuan's escaping of a command argument: %, CR and LF as %XX (pinentry
// shows "%0A" as a line break).
std::string assuan_escape(std::string_view text);

} // namespace puddle::agent
