// unlock, lock, sign: the verbs that talk to the agent over the user bus.
#include "cli/agent_client.hpp"
#include "cli/args.hpp"
#include "cli/io.hpp"
#include "cli/passphrase_source.hpp"
#include "cli/verbs.hpp"
#include "core/identity_store.hpp"

#include <cstdio>
#include <ctime>
#include <unistd.h>

namespace puddle::cli {
namespace {

// Signing goes through one bus message; past this, sign a digest instead.
constexpr std::size_t kMaxSignBytes = 16 << 20;

std::string local_time(std::uint64_t realtime_usec) {
    std::time_t t = std::time_t(realtime_usec / 1000000);
    struct tm tm;
    localtime_r(&t, &tm);
    char buf[64];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S %Z", &tm);
    return buf;
}

} // namespace

int run_unlock(const std::vector<std::string> &argv) {
    Args args("unlock", argv);
    std::uint64_t idle_usec = 0;
    if (auto m = args.number("idle-mins")) {
        if (*m < 1 || *m > 527040) usage_error("unlock", "--idle-mins must be between 1 and 527040");
        idle_usec = std::uint64_t(*m) * 60 * 1000000;
    }
    if (args.flag("no-watch") && args.value("watch-pid")) usage_error("unlock", "--watch-pid and --no-watch exclude each other");
    std::uint32_t watch = std::uint32_t(::getppid());
    if (args.flag("no-watch")) watch = 0;
    if (auto p = args.number("watch-pid")) {
        if (*p < 1 || *p > INT32_MAX) usage_error("unlock", "--watch-pid needs a process ID");
        watch = std::uint32_t(*p);
    }
    check_fd_options(args, {"passphrase-fd"});
    // The agent refuses to start with a configuration error; say which here.
    (void)load_config_reporting();
    // The whole identity is read here first, with every check the agent
    // makes: a refusal then comes with its hint (the agent's bus error
    // carries none), and before a passphrase is asked for nothing.
    auto pub = open_state(false).store.load().pub;
    AgentClient agent;
    check_agent_serves(agent, pub, "unlock");
    auto pass = current_passphrase(args);
    agent.unlock(pass, idle_usec, watch);
    auto st = agent.state();
    std::printf("unlocked %s until %s (idle timeout %llu min)%s\n", pub.str().c_str(),
                local_time(st.lock_deadline_usec).c_str(),
                static_cast<unsigned long long>(st.idle_timeout_usec / 60000000),
                st.watch_pid ? (", while PID " + std::to_string(st.watch_pid) + " runs").c_str() : "");
    return 0;
}

int run_lock(const std::vector<std::string> &argv) {
    Args args("lock", argv);
    AgentClient().lock();
    std::printf("locked\n");
    return 0;
}

int run_sign(const std::vector<std::string> &argv) {
    Args args("sign", argv);
    auto data = read_input(args.positionals().empty() ? "-" : args.positionals()[0]);
    if (data.size() > kMaxSignBytes)
        throw Error(Failure::failed, "sign", "the input is larger than 16 MiB",
                    "sign a digest of it instead, e.g. sha256sum FILE | puddle sign");
    auto sig = AgentClient().sign(data);
    std::printf("%s\n", args.flag("hex") ? to_hex(sig).c_str() : to_base64(sig).c_str());
    return 0;
}

} // namespace puddle::cli
