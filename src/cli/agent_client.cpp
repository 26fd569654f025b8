#include "cli/agent_client.hpp"

#include "agent/api.hpp"

#include "core/statedir.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/user_manager.hpp"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

namespace puddle::cli {
namespace {

using agent::kBusName;
constexpr const char *kPath = agent::kObjectPath;
constexpr const char *kIface = agent::kInterface;
namespace member = agent::member;
namespace property = agent::property;
constexpr const char *kAgentHint =
    "check that the agent is installed and its socket enabled: systemctl --user enable --now puddle-agent.socket";

[[noreturn]] void throw_bus_error(const std::string &what, const sd_bus_error *e, int r) {
    std::string name = e && e->name ? e->name : "";
    std::string msg = e && e->message ? e->message : errno_text(-r);
    if (auto failure = failure_from_bus_error(name)) {
        const auto &s = spelling(*failure);
        throw Error(*failure, what, s.why_prefix + msg, s.hint);
    }
    if (name == SD_BUS_ERROR_SERVICE_UNKNOWN || name == SD_BUS_ERROR_NAME_HAS_NO_OWNER ||
        name.starts_with("org.freedesktop.DBus.Error.Spawn") || name == "org.freedesktop.systemd1.NoSuchUnit" ||
        name == SD_BUS_ERROR_NO_REPLY || name == SD_BUS_ERROR_TIMEOUT)
        throw Error(Failure::failed, what, "the agent is not reachable: " + msg, kAgentHint);
    throw Error(Failure::failed, what, msg);
}

// The passphrase travels to the agent in a sealed memfd, never in a message.
UniqueFd passphrase_memfd(const SecretBuffer &passphrase) {
    UniqueFd fd(::memfd_create("puddle-passphrase", MFD_CLOEXEC | MFD_ALLOW_SEALING));
    if (!fd) throw_errno("cannot create a memfd for the passphrase", errno);
    std::string nl = "\n";
    if (::write(fd.get(), passphrase.data(), passphrase.size()) != ssize_t(passphrase.size()) ||
        ::write(fd.get(), nl.data(), 1) != 1)
        throw_errno("cannot write the passphrase memfd", errno);
    ::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL);
    return fd;
}

} // namespace

AgentClient::AgentClient() {
    sd_bus *bus = nullptr;
    int r = sd_bus_open_user(&bus);
    if (r < 0) throw no_user_bus_error("cannot reach the agent", r);
    bus_.reset(bus);
}

void AgentClient::unlock(const SecretBuffer &passphrase, std::uint64_t idle_usec, std::uint32_t watch_pid) {
    auto fd = passphrase_memfd(passphrase);
    BusError err;
    sd_bus_message *reply = nullptr;
    int r = sd_bus_call_method(bus_.get(), kBusName, kPath, kIface, member::kUnlock, &err, &reply, "htu", fd.get(),
                               idle_usec, watch_pid);
    SdBusMessage owned(reply);
    if (r < 0) throw_bus_error("unlock", &err.e, r);
}

AgentClient::Rekeyed AgentClient::rekey(const SecretBuffer &passphrase, const SecretBuffer &new_passphrase) {
    auto fd = passphrase_memfd(passphrase);
    auto new_fd = passphrase_memfd(new_passphrase);
    BusError err;
    sd_bus_message *reply = nullptr;
    int r = sd_bus_call_method(bus_.get(), kBusName, kPath, kIface, member::kRekey, &err, &reply, "hh", fd.get(),
                               new_fd.get());
    SdBusMessage owned(reply);
    if (r < 0) throw_bus_error("rekey", &err.e, r);
    const char *pub = nullptr;
    if (sd_bus_message_read(reply, "s", &pub) < 0 || !pub)
        throw Error(Failure::failed, "rekey", "the agent returned no key");
    Rekeyed out{pub, {}, {}};
    for (auto *list : {&out.sealed_to, &out.unreachable}) {
        if (sd_bus_message_enter_container(reply, 'a', "s") < 0)
            throw Error(Failure::failed, "rekey", "the agent's reply lacks the hosts it sealed to",
                        "the agent is of another puddle version: 'systemctl --user restart puddle-agent'");
        const char *host = nullptr;
        int r;
        while ((r = sd_bus_message_read(reply, "s", &host)) > 0) list->push_back(host);
        if (r < 0 || sd_bus_message_exit_container(reply) < 0)
            throw Error(Failure::failed, "rekey", "the agent's reply is malformed");
    }
    return out;
}

std::string AgentClient::set_name(const std::string &name) {
    BusError err;
    sd_bus_message *reply = nullptr;
    int r = sd_bus_call_method(bus_.get(), kBusName, kPath, kIface, member::kSetName, &err, &reply, "s", name.c_str());
    SdBusMessage owned(reply);
    if (r < 0) throw_bus_error("name set", &err.e, r);
    const char *claim = nullptr;
    if (sd_bus_message_read(reply, "s", &claim) < 0 || !claim)
        throw Error(Failure::failed, "name set", "the agent returned no claim");
    return claim;
}

void AgentClient::lock() {
    BusError err;
    sd_bus_message *reply = nullptr;
    int r = sd_bus_call_method(bus_.get(), kBusName, kPath, kIface, member::kLock, &err, &reply, "");
    SdBusMessage owned(reply);
    if (r < 0) throw_bus_error("lock", &err.e, r);
}

Signature AgentClient::sign(std::span<const std::uint8_t> data) {
    sd_bus_message *call = nullptr;
    int r = sd_bus_message_new_method_call(bus_.get(), &call, kBusName, kPath, kIface, member::kSign);
    if (r < 0) throw_errno("cannot build the Sign call", -r);
    SdBusMessage owned_call(call);
    r = sd_bus_message_append_array(call, 'y', data.data(), data.size());
    if (r < 0) throw_errno("cannot build the Sign call", -r);
    BusError err;
    sd_bus_message *reply = nullptr;
    r = sd_bus_call(bus_.get(), call, 0, &err, &reply);
    SdBusMessage owned(reply);
    if (r < 0) throw_bus_error("sign", &err.e, r);
    const void *sig = nullptr;
    size_t size = 0;
    r = sd_bus_message_read_array(reply, 'y', &sig, &size);
    if (r < 0 || size != kSignatureBytes)
        throw Error(Failure::failed, "sign", "the agent returned a malformed signature");
    Signature s;
    std::memcpy(s.data(), sig, size);
    return s;
}

AgentState AgentClient::state() {
    AgentState s;
    BusError err;
    sd_bus_message *reply = nullptr;
    int r = sd_bus_call_method(bus_.get(), kBusName, kPath, "org.freedesktop.DBus.Properties", "GetAll", &err, &reply,
                               "s", kIface);
    SdBusMessage owned(reply);
    if (r < 0) throw_bus_error("status", &err.e, r);
    if ((r = sd_bus_message_enter_container(reply, 'a', "{sv}")) < 0) throw_errno("bad GetAll reply", -r);
    while ((r = sd_bus_message_enter_container(reply, 'e', "sv")) > 0) {
        const char *name = nullptr;
        sd_bus_message_read(reply, "s", &name);
        std::string_view n = name ? name : "";
        if (n == property::kUnlocked) {
            int b = 0;
            sd_bus_message_read(reply, "v", "b", &b);
            s.unlocked = b;
        } else if (n == property::kPublicKey) {
            const char *k = nullptr;
            sd_bus_message_read(reply, "v", "s", &k);
            s.pubkey = k ? k : "";
        } else if (n == property::kIdleTimeoutUSec) {
            sd_bus_message_read(reply, "v", "t", &s.idle_timeout_usec);
        } else if (n == property::kLockDeadlineUSec) {
            sd_bus_message_read(reply, "v", "t", &s.lock_deadline_usec);
        } else if (n == property::kWatchPID) {
            sd_bus_message_read(reply, "v", "u", &s.watch_pid);
        } else if (n == property::kUseCounts) {
            sd_bus_message_read(reply, "v", "(tt)", &s.signed_uses, &s.refused_uses);
        } else if (n == property::kRecordNotWritten) {
            sd_bus_message_read(reply, "v", "t", &s.record_not_written);
        } else if (n == property::kLastUse) {
            const char *program = nullptr, *unit = nullptr, *purpose = nullptr, *outcome = nullptr;
            if (sd_bus_message_read(reply, "v", "(tssss)", &s.last_use.time_usec, &program, &unit, &purpose,
                                    &outcome) >= 0)
                s.last_use = {s.last_use.time_usec, program ? program : "", unit ? unit : "",
                              purpose ? purpose : "", outcome ? outcome : ""};
        } else {
            sd_bus_message_skip(reply, "v");
        }
        sd_bus_message_exit_container(reply);
    }
    return s;
}

std::optional<AgentState> try_agent_state(std::string *why, std::string *hint) {
    try {
        return AgentClient().state();
    } catch (const Error &e) {
        if (why) *why = e.why();
        if (hint) *hint = e.hint();
        return std::nullopt;
    }
}

std::string agent_mismatch(const AgentState &agent, const PublicKey &pub) {
    if (agent.pubkey == pub.str()) return {};
    const std::string here = StateDir::locate().path();
    return "the agent serves another state directory than " + here + " (" +
           (agent.pubkey.empty() ? std::string("it finds no identity there") : "it holds " + agent.pubkey) +
           ", this one holds " + pub.str() + ")";
}

std::string agent_mismatch_hint() {
    const std::string here = StateDir::locate().path();
    return "the agent reads PUDDLE_HOME from your user manager, else ~/.puddle; to serve " + here +
           ": systemctl --user set-environment PUDDLE_HOME=" + here +
           " && systemctl --user stop puddle-agent.service (it starts again when asked)";
}

void check_agent_serves(AgentClient &agent, const PublicKey &pub, const std::string &verb) {
    auto st = agent.state();
    if (auto why = agent_mismatch(st, pub); !why.empty()) throw Error(Failure::failed, verb, why, agent_mismatch_hint());
}

} // namespace puddle::cli
