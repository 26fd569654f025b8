// Hardening at start (OpenSSH's platform_disable_tracing) for every process
// that holds a seed or a pairing secret: the agent, the pair listener, and
// the verbs of puddle that unwrap or make a seed. Called first, before any
// secret is read or asked for.
#pragma once

#include <string>
#include <sys/resource.h>

namespace puddle {

struct HardenFor {
    std::string who;    // in the refusal: "the agent", "puddle join"
    std::string secret; // what a tracer could read: "the key"
};

// No core file, no ptrace attach by the user's other processes, and no
// tracer that attached before that. Every step is fatal: throws Error.
void harden(const HardenFor &process);

// Raises the soft RLIMIT_NOFILE to `want` (at most the hard limit). Not
// hardening, but a start-up step of the same kind; a failure is logged.
void raise_open_files_limit(rlim_t want);

} // namespace puddle
