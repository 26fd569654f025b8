// puddle-bench: the measuring half of the puddle benchmark (bench/run.sh is
// the other half: it creates a throwaway user with a real systemd --user
// manager, installs the agent's real units, and runs this program as that
// user). Each subcommand measures one thing and prints one JSON object on
// stdout; nothing here asserts a speed.
//
//   sign   --target puddle|ssh|raw|echo [--socket PATH] --clients N (--seconds S [--warmup S] | --count N)
//          request/response signing loops, one thread and one connection per client
//          (echo: the same line-protocol loop against a do-nothing server, the IPC floor)
//   bus    --method sign|ping --clients N --seconds S [--warmup S]
//          sd-bus calls to org.puddle.Agent1 (Sign "ay") or its Peer.Ping
//   pubkey --socket PATH                     one PUBKEY round trip (starts the agent)
//   cold   --socket PATH --runs N            systemctl --user stop, then time connect+PUBKEY
//   exec-cold --agent PATH --runs N          puddle-agent --socket started by hand (no systemd)
//   unlock --runs N --passphrase-file F --wrapped FILE [--puddle PATH]
//          D-Bus Unlock (memfd), bare Argon2id with the identity's parameters,
//          and the whole `puddle unlock` command
//   idle-floor                               load libsodium + libsystemd (event loop, user bus), then sleep
//
// Standalone on purpose (libsodium + libsystemd only): it treats the agent
// as a black box, as its clients do.
#include <sodium.h>
#include <systemd/sd-bus.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <latch>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <thread>
#include <unordered_map>
#include <unistd.h>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

[[noreturn]] void die(const std::string &msg) {
    std::fprintf(stderr, "puddle-bench: %s\n", msg.c_str());
    std::exit(1);
}

std::string errtext(int err) { return std::strerror(err); }

// ---- arguments: --name value pairs after the subcommand

struct Args {
    std::map<std::string, std::string> kv;
    std::vector<std::string> rest; // after "--"

    Args(int argc, char **argv, int first) {
        for (int i = first; i < argc; ++i) {
            std::string a = argv[i];
            if (a == "--") {
                for (++i; i < argc; ++i) rest.emplace_back(argv[i]);
                break;
            }
            if (!a.starts_with("--") || i + 1 >= argc) die("bad argument '" + a + "'");
            kv[a.substr(2)] = argv[++i];
        }
    }
    std::string str(const std::string &k, const std::string &def = {}) const {
        auto it = kv.find(k);
        if (it != kv.end()) return it->second;
        if (def.empty()) die("--" + k + " is required");
        return def;
    }
    bool has(const std::string &k) const { return kv.count(k) != 0; }
    double num(const std::string &k, double def) const {
        auto it = kv.find(k);
        return it == kv.end() ? def : std::stod(it->second);
    }
};

// ---- small JSON output

std::string json_num(double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.6g", v);
    return buf;
}

std::string json_array(const std::vector<double> &v) {
    std::string s = "[";
    for (std::size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + json_num(v[i]);
    return s + "]";
}

// ---- I/O helpers

void write_all(int fd, const void *data, std::size_t n) {
    auto *p = static_cast<const char *>(data);
    while (n) {
        ssize_t w = ::write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            throw std::runtime_error("write: " + errtext(errno));
        }
        p += w;
        n -= std::size_t(w);
    }
}

void read_full(int fd, void *data, std::size_t n) {
    auto *p = static_cast<char *>(data);
    while (n) {
        ssize_t r = ::read(fd, p, n);
        if (r < 0) {
            if (errno == EINTR) continue;
            throw std::runtime_error("read: " + errtext(errno));
        }
        if (r == 0) throw std::runtime_error("read: connection closed by the server");
        p += r;
        n -= std::size_t(r);
    }
}

int connect_unix(const std::string &path) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::runtime_error("socket: " + errtext(errno));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) throw std::runtime_error("socket path too long");
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    if (::connect(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0) {
        int err = errno;
        ::close(fd);
        errno = err;
        return -1;
    }
    return fd;
}

// One line-protocol exchange on a blocking socket; `buf` keeps bytes past
// the line (there are none in a request/response loop, but be exact).
struct LineConn {
    int fd = -1;
    std::string buf;

    std::string request(const std::string &line_with_lf) {
        write_all(fd, line_with_lf.data(), line_with_lf.size());
        return read_line();
    }
    std::string read_line() {
        for (;;) {
            auto nl = buf.find('\n');
            if (nl != std::string::npos) {
                std::string line = buf.substr(0, nl);
                buf.erase(0, nl + 1);
                return line;
            }
            char tmp[512];
            ssize_t r = ::read(fd, tmp, sizeof tmp);
            if (r < 0) {
                if (errno == EINTR) continue;
                throw std::runtime_error("read: " + errtext(errno));
            }
            if (r == 0) throw std::runtime_error("connection closed by the agent");
            buf.append(tmp, std::size_t(r));
        }
    }
};

std::string b64(const unsigned char *p, std::size_t n) {
    std::string out(sodium_base64_encoded_len(n, sodium_base64_VARIANT_ORIGINAL), '\0');
    sodium_bin2base64(out.data(), out.size(), p, n, sodium_base64_VARIANT_ORIGINAL);
    out.resize(std::strlen(out.c_str()));
    return out;
}

// ---- the ssh-agent protocol (draft-miller-ssh-agent)

constexpr std::uint8_t SSH_AGENTC_REQUEST_IDENTITIES = 11;
constexpr std::uint8_t SSH_AGENT_IDENTITIES_ANSWER = 12;
constexpr std::uint8_t SSH2_AGENTC_SIGN_REQUEST = 13;
constexpr std::uint8_t SSH2_AGENT_SIGN_RESPONSE = 14;

void put_u32(std::string &s, std::uint32_t v) {
    char b[4] = {char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
    s.append(b, 4);
}
std::uint32_t get_u32(const unsigned char *p) {
    return (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) | p[3];
}
void put_string(std::string &s, const void *p, std::size_t n) {
    put_u32(s, std::uint32_t(n));
    s.append(static_cast<const char *>(p), n);
}

// Reads one framed message; returns its body (type byte first).
std::string ssh_read_msg(int fd) {
    unsigned char len[4];
    read_full(fd, len, 4);
    std::uint32_t n = get_u32(len);
    if (n == 0 || n > (256u << 10)) throw std::runtime_error("ssh-agent sent a bad length");
    std::string body(n, '\0');
    read_full(fd, body.data(), n);
    return body;
}

// The first ssh-ed25519 key the agent holds.
std::string ssh_ed25519_blob(const std::string &sock) {
    int fd = connect_unix(sock);
    if (fd < 0) throw std::runtime_error("cannot connect to " + sock + ": " + errtext(errno));
    std::string req;
    put_u32(req, 1);
    req.push_back(char(SSH_AGENTC_REQUEST_IDENTITIES));
    write_all(fd, req.data(), req.size());
    std::string body = ssh_read_msg(fd);
    ::close(fd);
    auto *p = reinterpret_cast<const unsigned char *>(body.data());
    std::size_t left = body.size();
    if (left < 5 || p[0] != SSH_AGENT_IDENTITIES_ANSWER) throw std::runtime_error("unexpected identities answer");
    std::uint32_t nkeys = get_u32(p + 1);
    p += 5;
    left -= 5;
    for (std::uint32_t i = 0; i < nkeys; ++i) {
        if (left < 4) break;
        std::uint32_t bl = get_u32(p);
        if (left < 4 + bl) break;
        std::string blob(reinterpret_cast<const char *>(p + 4), bl);
        p += 4 + bl;
        left -= 4 + bl;
        if (left < 4) break;
        std::uint32_t cl = get_u32(p);
        if (left < 4 + cl) break;
        p += 4 + cl;
        left -= 4 + cl;
        if (blob.size() > 15 && blob.compare(4, 11, "ssh-ed25519") == 0) return blob;
    }
    throw std::runtime_error("ssh-agent holds no ssh-ed25519 key (ssh-add one)");
}

// ---- the signing clients: one object per thread, `op()` = one signature

struct Client {
    virtual ~Client() = default;
    virtual void op() = 0;
};

struct PuddleClient : Client {
    LineConn c;
    std::string req;
    explicit PuddleClient(const std::string &sock) {
        c.fd = connect_unix(sock);
        if (c.fd < 0) throw std::runtime_error("cannot connect to " + sock + ": " + errtext(errno));
        unsigned char data[32];
        randombytes_buf(data, sizeof data);
        req = "SIGN " + b64(data, sizeof data) + "\n";
        // One checked exchange outside the timed loop.
        std::string reply = c.request(req);
        if (!reply.starts_with("OK ") || reply.size() != 3 + 88)
            throw std::runtime_error("agent replied '" + reply + "' to SIGN (is the session unlocked?)");
    }
    ~PuddleClient() override { ::close(c.fd); }
    void op() override {
        std::string reply = c.request(req);
        if (reply.size() < 3 || reply[0] != 'O' || reply[1] != 'K') throw std::runtime_error("agent: " + reply);
    }
};

struct SshClient : Client {
    int fd = -1;
    std::string req;
    std::string body;
    SshClient(const std::string &sock, const std::string &blob) {
        fd = connect_unix(sock);
        if (fd < 0) throw std::runtime_error("cannot connect to " + sock + ": " + errtext(errno));
        unsigned char data[32];
        randombytes_buf(data, sizeof data);
        std::string msg;
        msg.push_back(char(SSH2_AGENTC_SIGN_REQUEST));
        put_string(msg, blob.data(), blob.size());
        put_string(msg, data, sizeof data);
        put_u32(msg, 0); // flags
        put_u32(req, std::uint32_t(msg.size()));
        req += msg;
        op_checked();
    }
    ~SshClient() override { ::close(fd); }
    void op_checked() {
        write_all(fd, req.data(), req.size());
        body = ssh_read_msg(fd);
        if (body.empty() || std::uint8_t(body[0]) != SSH2_AGENT_SIGN_RESPONSE)
            throw std::runtime_error("ssh-agent did not answer the sign request with type 14");
    }
    void op() override { op_checked(); }
};

struct RawClient : Client {
    unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
    unsigned char data[32], sig[crypto_sign_BYTES];
    RawClient() {
        crypto_sign_keypair(pk, sk);
        randombytes_buf(data, sizeof data);
    }
    void op() override {
        crypto_sign_detached(sig, nullptr, data, sizeof data, sk);
        // Keep the result observable so the call cannot be dropped.
        asm volatile("" : : "r"(sig) : "memory");
    }
};

constexpr const char *kBusName = "org.puddle.Agent1";
constexpr const char *kPath = "/org/puddle/Agent1";
constexpr const char *kIface = "org.puddle.Agent1";

struct BusClient : Client {
    sd_bus *bus = nullptr;
    bool ping;
    unsigned char data[32];
    explicit BusClient(bool ping_) : ping(ping_) {
        int r = sd_bus_open_user(&bus);
        if (r < 0) throw std::runtime_error("cannot connect to the user bus: " + errtext(-r));
        randombytes_buf(data, sizeof data);
        op();
    }
    ~BusClient() override { sd_bus_flush_close_unref(bus); }
    void op() override {
        sd_bus_message *call = nullptr, *reply = nullptr;
        sd_bus_error err = SD_BUS_ERROR_NULL;
        int r = ping ? sd_bus_message_new_method_call(bus, &call, kBusName, kPath, "org.freedesktop.DBus.Peer", "Ping")
                     : sd_bus_message_new_method_call(bus, &call, kBusName, kPath, kIface, "Sign");
        if (r < 0) throw std::runtime_error("cannot build the call: " + errtext(-r));
        if (!ping) r = sd_bus_message_append_array(call, 'y', data, sizeof data);
        if (r >= 0) r = sd_bus_call(bus, call, 0, &err, &reply);
        sd_bus_message_unref(call);
        if (r < 0) {
            std::string m = err.message ? err.message : errtext(-r);
            sd_bus_error_free(&err);
            throw std::runtime_error(std::string(ping ? "Ping" : "Sign") + " failed: " + m);
        }
        if (!ping) {
            const void *sig = nullptr;
            size_t n = 0;
            r = sd_bus_message_read_array(reply, 'y', &sig, &n);
            if (r < 0 || n != 64) {
                sd_bus_message_unref(reply);
                throw std::runtime_error("Sign returned a malformed signature");
            }
        }
        sd_bus_message_unref(reply);
    }
};

// ---- the load generator

struct alignas(64) Counter {
    std::atomic<std::uint64_t> n{0};
};

struct RunResult {
    std::uint64_t ops = 0;
    std::uint64_t total = 0; // every op, warm-up and the checked first exchange included
    double seconds = 0;
    std::string error;
};

// N threads, each with its own client (its own connection), all running the
// same request/response loop. Time mode: the rate between two snapshots of
// the counters taken after the warm-up. Count mode: until `count` ops are done.
template <class Make>
RunResult run_clients(int nclients, double warmup, double seconds, std::uint64_t count, Make make) {
    std::vector<Counter> counters(static_cast<std::size_t>(nclients));
    std::atomic<bool> stop{false};
    std::atomic<std::int64_t> remaining{std::int64_t(count)};
    std::latch ready(nclients + 1);
    std::latch go(1);
    std::mutex err_mu;
    std::string first_error;
    std::vector<std::thread> threads;
    for (int i = 0; i < nclients; ++i) {
        threads.emplace_back([&, i] {
            std::unique_ptr<Client> c;
            try {
                c = make();
            } catch (const std::exception &e) {
                std::lock_guard g(err_mu);
                if (first_error.empty()) first_error = e.what();
            }
            ready.count_down();
            go.wait();
            if (!c) return;
            auto &n = counters[std::size_t(i)].n;
            try {
                if (count) {
                    while (remaining.fetch_sub(1, std::memory_order_relaxed) > 0) {
                        c->op();
                        n.fetch_add(1, std::memory_order_relaxed);
                    }
                } else {
                    while (!stop.load(std::memory_order_relaxed)) {
                        c->op();
                        n.fetch_add(1, std::memory_order_relaxed);
                    }
                }
            } catch (const std::exception &e) {
                std::lock_guard g(err_mu);
                if (first_error.empty()) first_error = e.what();
                stop = true;
                remaining = 0;
            }
        });
    }
    ready.arrive_and_wait();
    RunResult res;
    if (!first_error.empty()) {
        stop = true;
        remaining = 0;
        go.count_down();
        for (auto &t : threads) t.join();
        res.error = first_error;
        return res;
    }
    auto total = [&] {
        std::uint64_t s = 0;
        for (auto &c : counters) s += c.n.load(std::memory_order_relaxed);
        return s;
    };
    auto t_start = Clock::now();
    go.count_down();
    if (count) {
        for (auto &t : threads) t.join();
        res.seconds = seconds_since(t_start);
        res.ops = total();
        res.total = res.ops + std::uint64_t(nclients);
    } else {
        std::this_thread::sleep_for(std::chrono::duration<double>(warmup));
        std::uint64_t c0 = total();
        auto t0 = Clock::now();
        std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
        std::uint64_t c1 = total();
        res.seconds = seconds_since(t0);
        res.ops = c1 - c0;
        stop = true;
        for (auto &t : threads) t.join();
        res.total = total() + std::uint64_t(nclients);
    }
    res.error = first_error;
    return res;
}

void print_run(const std::string &kind, const std::string &target, int clients, const RunResult &r) {
    if (!r.error.empty()) die(kind + " " + target + ": " + r.error);
    std::printf("{\"kind\":\"%s\",\"target\":\"%s\",\"clients\":%d,\"ops\":%llu,\"total\":%llu,\"seconds\":%s,"
                "\"rate\":%s}\n",
                kind.c_str(), target.c_str(), clients, static_cast<unsigned long long>(r.ops),
                static_cast<unsigned long long>(r.total),
                json_num(r.seconds).c_str(), json_num(r.seconds > 0 ? double(r.ops) / r.seconds : 0).c_str());
}

// The IPC floor: a single-threaded epoll server in a child process that
// answers every line at once with a reply shaped like the agent's (91 bytes),
// doing no work. The same client loop against it measures what a round trip
// costs on this machine before any signing happens.
class EchoServer {
public:
    EchoServer() {
        char tmpl[] = "/tmp/puddle-bench-echo.XXXXXX";
        if (!::mkdtemp(tmpl)) die("mkdtemp: " + errtext(errno));
        dir_ = tmpl;
        path_ = dir_ + "/echo.sock";
        int lfd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::memcpy(addr.sun_path, path_.c_str(), path_.size() + 1);
        if (lfd < 0 || ::bind(lfd, reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0 || ::listen(lfd, 128) != 0)
            die("echo server: " + errtext(errno));
        pid_ = ::fork();
        if (pid_ < 0) die("fork: " + errtext(errno));
        if (pid_ == 0) {
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            serve(lfd);
            _exit(0);
        }
        ::close(lfd);
    }
    ~EchoServer() {
        ::kill(pid_, SIGKILL);
        int st;
        while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {}
        ::unlink(path_.c_str());
        ::rmdir(dir_.c_str());
    }
    const std::string &path() const { return path_; }

private:
    static void serve(int lfd) {
        int ep = ::epoll_create1(EPOLL_CLOEXEC);
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.fd = lfd;
        ::epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
        const std::string reply = "OK " + std::string(88, 'A') + "\n";
        std::unordered_map<int, std::string> in;
        epoll_event evs[64];
        std::vector<char> buf(65536);
        for (;;) {
            int n = ::epoll_wait(ep, evs, 64, -1);
            for (int i = 0; i < n; ++i) {
                int fd = evs[i].data.fd;
                if (fd == lfd) {
                    int c;
                    while ((c = ::accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                        epoll_event cev{};
                        cev.events = EPOLLIN;
                        cev.data.fd = c;
                        ::epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
                        in[c];
                    }
                    continue;
                }
                ssize_t r = ::recv(fd, buf.data(), buf.size(), 0);
                if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
                if (r <= 0) {
                    ::close(fd);
                    in.erase(fd);
                    continue;
                }
                std::string &pending = in[fd];
                pending.append(buf.data(), std::size_t(r));
                std::string out;
                std::size_t start = 0, nl;
                while ((nl = pending.find('\n', start)) != std::string::npos) {
                    out += reply;
                    start = nl + 1;
                }
                pending.erase(0, start);
                if (!out.empty()) (void)!::send(fd, out.data(), out.size(), MSG_NOSIGNAL);
            }
        }
    }
    std::string dir_, path_;
    pid_t pid_ = -1;
};

int cmd_sign(const Args &a) {
    std::string target = a.str("target");
    int clients = int(a.num("clients", 1));
    double warmup = a.num("warmup", 0.3), seconds = a.num("seconds", 2);
    auto count = std::uint64_t(a.num("count", 0));
    RunResult r;
    if (target == "puddle") {
        std::string sock = a.str("socket");
        r = run_clients(clients, warmup, seconds, count, [&] { return std::make_unique<PuddleClient>(sock); });
    } else if (target == "ssh") {
        std::string sock = a.str("socket");
        std::string blob = ssh_ed25519_blob(sock);
        r = run_clients(clients, warmup, seconds, count, [&] { return std::make_unique<SshClient>(sock, blob); });
    } else if (target == "echo") {
        EchoServer echo;
        std::string sock = echo.path();
        r = run_clients(clients, warmup, seconds, count, [&] { return std::make_unique<PuddleClient>(sock); });
    } else if (target == "raw") {
        r = run_clients(clients, warmup, seconds, count, [] { return std::make_unique<RawClient>(); });
    } else {
        die("unknown --target " + target);
    }
    print_run("sign", target, clients, r);
    return 0;
}

int cmd_bus(const Args &a) {
    std::string method = a.str("method");
    if (method != "sign" && method != "ping") die("--method is sign or ping");
    int clients = int(a.num("clients", 1));
    bool ping = method == "ping";
    auto r = run_clients(clients, a.num("warmup", 0.3), a.num("seconds", 2), std::uint64_t(a.num("count", 0)),
                         [&] { return std::make_unique<BusClient>(ping); });
    print_run("bus", method, clients, r);
    return 0;
}

// ---- one PUBKEY round trip, timed from connect() to the reply's LF

double pubkey_roundtrip_ms(const std::string &sock, std::string *reply_out = nullptr) {
    auto t0 = Clock::now();
    LineConn c;
    c.fd = connect_unix(sock);
    if (c.fd < 0) throw std::runtime_error("cannot connect to " + sock + ": " + errtext(errno));
    std::string reply = c.request("PUBKEY\n");
    double ms = seconds_since(t0) * 1e3;
    ::close(c.fd);
    if (!reply.starts_with("OK ed25519:")) throw std::runtime_error("PUBKEY answered '" + reply + "'");
    if (reply_out) *reply_out = reply;
    return ms;
}

int run_wait(const std::vector<std::string> &argv, int extra_fd = -1, bool quiet = false) {
    pid_t pid = ::fork();
    if (pid < 0) die("fork: " + errtext(errno));
    if (pid == 0) {
        if (extra_fd >= 0) {
            if (extra_fd != 3) {
                ::dup2(extra_fd, 3);
                ::close(extra_fd);
            } else {
                ::fcntl(3, F_SETFD, 0);
            }
        }
        if (quiet) {
            int dn = ::open("/dev/null", O_WRONLY);
            ::dup2(dn, 1);
            ::dup2(dn, 2);
        }
        std::vector<char *> v;
        for (auto &s : argv) v.push_back(const_cast<char *>(s.c_str()));
        v.push_back(nullptr);
        ::execvp(v[0], v.data());
        _exit(127);
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int cmd_pubkey(const Args &a) {
    std::string reply;
    double ms = pubkey_roundtrip_ms(a.str("socket"), &reply);
    std::printf("{\"kind\":\"pubkey\",\"ms\":%s,\"reply\":\"%s\"}\n", json_num(ms).c_str(), reply.c_str());
    return 0;
}

// systemctl --user stop (untimed), then connect + PUBKEY (timed): socket
// activation, the manager forking and sandboxing the service, the agent's
// start-up and its first answer.
int cmd_cold(const Args &a) {
    std::string sock = a.str("socket");
    std::string unit = a.str("unit", "puddle-agent.service");
    int runs = int(a.num("runs", 30));
    std::vector<double> ms;
    for (int i = 0; i < runs; ++i) {
        if (run_wait({"systemctl", "--user", "stop", unit}) != 0) die("systemctl --user stop " + unit + " failed");
        ::usleep(20000); // let the manager settle back to listening
        try {
            ms.push_back(pubkey_roundtrip_ms(sock));
        } catch (const std::exception &e) {
            die(std::string("cold start: ") + e.what());
        }
    }
    std::printf("{\"kind\":\"cold\",\"ms\":%s}\n", json_array(ms).c_str());
    return 0;
}

// The agent started by hand on its own socket (no systemd, no sandbox):
// fork+exec to the first PUBKEY reply, for comparison with `cold`.
int cmd_exec_cold(const Args &a) {
    std::string agent = a.str("agent");
    int runs = int(a.num("runs", 30));
    bool no_bus = a.str("bus", "yes") == "no";
    char tmpl[] = "/tmp/puddle-bench.XXXXXX";
    if (!::mkdtemp(tmpl)) die("mkdtemp: " + errtext(errno));
    std::string dir = tmpl, sock = dir + "/agent.sock";
    std::vector<double> ms;
    for (int i = 0; i < runs; ++i) {
        ::unlink(sock.c_str());
        auto t0 = Clock::now();
        pid_t pid = ::fork();
        if (pid < 0) die("fork: " + errtext(errno));
        if (pid == 0) {
            int dn = ::open("/dev/null", O_WRONLY);
            ::dup2(dn, 1);
            ::dup2(dn, 2);
            ::unsetenv("JOURNAL_STREAM");
            if (no_bus) ::execl(agent.c_str(), agent.c_str(), "--socket", sock.c_str(), "--no-bus", (char *)nullptr);
            else ::execl(agent.c_str(), agent.c_str(), "--socket", sock.c_str(), (char *)nullptr);
            _exit(127);
        }
        LineConn c;
        for (;;) {
            c.fd = connect_unix(sock);
            if (c.fd >= 0) break;
            if (seconds_since(t0) > 10) die("the agent started by hand did not listen within 10 s");
            int st;
            if (::waitpid(pid, &st, WNOHANG) == pid) die("the agent started by hand exited");
            ::usleep(50);
        }
        std::string reply = c.request("PUBKEY\n");
        ms.push_back(seconds_since(t0) * 1e3);
        ::close(c.fd);
        if (!reply.starts_with("OK ")) die("the agent started by hand answered '" + reply + "'");
        ::kill(pid, SIGTERM);
        int st;
        while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
    }
    ::unlink(sock.c_str());
    ::rmdir(dir.c_str());
    std::printf("{\"kind\":\"exec-cold\",\"bus\":%s,\"ms\":%s}\n", no_bus ? "false" : "true",
                json_array(ms).c_str());
    return 0;
}

// ---- unlock vs bare Argon2id

std::string read_file(const std::string &path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) die("cannot read " + path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

void bus_call_simple(sd_bus *bus, const char *method) {
    sd_bus_error err = SD_BUS_ERROR_NULL;
    sd_bus_message *reply = nullptr;
    int r = sd_bus_call_method(bus, kBusName, kPath, kIface, method, &err, &reply, "");
    if (r < 0) die(std::string(method) + " failed: " + (err.message ? err.message : errtext(-r)));
    sd_bus_message_unref(reply);
    sd_bus_error_free(&err);
}

int cmd_unlock(const Args &a) {
    int runs = int(a.num("runs", 5));
    std::string pass = read_file(a.str("passphrase-file"));
    while (!pass.empty() && (pass.back() == '\n' || pass.back() == '\r')) pass.pop_back();
    std::string wrapped = read_file(a.str("wrapped"));
    if (wrapped.size() != 90) die("--wrapped is not a 90-byte passphrase wrap (v1; puddle export holds it)");
    auto *w = reinterpret_cast<const unsigned char *>(wrapped.data());
    std::uint32_t ops = get_u32(w + 9), mem_kib = get_u32(w + 13);
    std::string puddle = a.str("puddle", "-");
    std::uint64_t idle_usec = std::uint64_t(a.num("idle-seconds", 36000)) * 1000000;

    sd_bus *bus = nullptr;
    int r = sd_bus_open_user(&bus);
    if (r < 0) die("cannot connect to the user bus: " + errtext(-r));

    std::vector<double> unlock_ms, argon_ms, cmd_ms;
    for (int i = 0; i < runs; ++i) {
        // 1. Unlock through the bus, as `puddle unlock` does it: a sealed memfd.
        bus_call_simple(bus, "Lock");
        {
            auto t0 = Clock::now();
            int fd = ::memfd_create("puddle-passphrase", MFD_CLOEXEC | MFD_ALLOW_SEALING);
            if (fd < 0) die("memfd_create: " + errtext(errno));
            std::string line = pass + "\n";
            write_all(fd, line.data(), line.size());
            ::fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL);
            sd_bus_error err = SD_BUS_ERROR_NULL;
            sd_bus_message *reply = nullptr;
            r = sd_bus_call_method(bus, kBusName, kPath, kIface, "Unlock", &err, &reply, "htu", fd, idle_usec,
                                   std::uint32_t(0));
            unlock_ms.push_back(seconds_since(t0) * 1e3);
            ::close(fd);
            if (r < 0) die(std::string("Unlock failed: ") + (err.message ? err.message : errtext(-r)));
            sd_bus_message_unref(reply);
            sd_bus_error_free(&err);
        }
        // 2. The bare derivation: same passphrase length, same parameters.
        {
            unsigned char salt[crypto_pwhash_SALTBYTES], key[32];
            randombytes_buf(salt, sizeof salt);
            auto t0 = Clock::now();
            if (crypto_pwhash(key, sizeof key, pass.data(), pass.size(), salt, ops, std::size_t(mem_kib) * 1024,
                              crypto_pwhash_ALG_ARGON2ID13) != 0)
                die("crypto_pwhash failed (out of memory?)");
            argon_ms.push_back(seconds_since(t0) * 1e3);
            sodium_memzero(key, sizeof key);
        }
        // 3. The whole command, passphrase on a pipe.
        if (puddle != "-") {
            bus_call_simple(bus, "Lock");
            int p[2];
            if (::pipe2(p, 0) != 0) die("pipe: " + errtext(errno));
            std::string line = pass + "\n";
            write_all(p[1], line.data(), line.size());
            ::close(p[1]);
            auto t0 = Clock::now();
            int rc = run_wait({puddle, "unlock", "--no-watch", "--idle-mins", "600", "--passphrase-fd", "3"}, p[0],
                              true);
            cmd_ms.push_back(seconds_since(t0) * 1e3);
            ::close(p[0]);
            if (rc != 0) die("puddle unlock exited " + std::to_string(rc));
        }
    }
    sd_bus_flush_close_unref(bus);
    std::printf("{\"kind\":\"unlock\",\"opslimit\":%u,\"memlimit_kib\":%u,\"unlock_ms\":%s,\"argon2_ms\":%s,"
                "\"command_ms\":%s}\n",
                ops, mem_kib, json_array(unlock_ms).c_str(), json_array(argon_ms).c_str(),
                json_array(cmd_ms).c_str());
    return 0;
}

} // namespace

// The memory floor: a process with the agent's main libraries loaded and
// initialised (libsodium, libsystemd with an event loop and a user bus
// connection, libstdc++), doing nothing. The driver reads its RSS.
int cmd_idle_floor(const Args &) {
    sd_event *e = nullptr;
    sd_bus *bus = nullptr;
    if (sd_event_new(&e) < 0) die("sd_event_new failed");
    if (sd_bus_open_user(&bus) >= 0) sd_bus_attach_event(bus, e, 0);
    std::string s = "ready";
    std::printf("{\"kind\":\"idle-floor\",\"state\":\"%s\"}\n", s.c_str());
    std::fflush(stdout);
    for (;;) ::pause();
}

int main(int argc, char **argv) {
    if (sodium_init() < 0) die("sodium_init failed");
    ::signal(SIGPIPE, SIG_IGN);
    if (argc < 2) {
        std::fputs("usage: puddle-bench sign|bus|pubkey|cold|exec-cold|unlock --option value...\n"
                   "(see the comment at the top of bench/puddle_bench.cpp, and bench/README.md)\n",
                   stderr);
        return 2;
    }
    std::string cmd = argv[1];
    Args a(argc, argv, 2);
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    try {
        if (cmd == "sign") return cmd_sign(a);
        if (cmd == "bus") return cmd_bus(a);
        if (cmd == "pubkey") return cmd_pubkey(a);
        if (cmd == "cold") return cmd_cold(a);
        if (cmd == "exec-cold") return cmd_exec_cold(a);
        if (cmd == "unlock") return cmd_unlock(a);
        if (cmd == "idle-floor") return cmd_idle_floor(a);
    } catch (const std::exception &e) {
        die(cmd + ": " + e.what());
    }
    die("unknown subcommand '" + cmd + "'");
}
