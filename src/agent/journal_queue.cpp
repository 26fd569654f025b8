#include "agent/journal_queue.hpp"

#include "util/clock.hpp"
#include "util/error.hpp"
#include "util/log.hpp"

#include <algorithm>
#include <cerrno> // program_invocation_short_name (GNU)
#include <cstdlib>
#include <cstring>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

namespace puddle::agent {
namespace {

// Entries per sendmmsg(2): one system call for a burst, small enough that
// the loop comes back to the doors quickly.
constexpr std::size_t kBatch = 64;

} // namespace

std::string journal_datagram(const std::vector<std::string> &fields) {
    std::size_t size = 0;
    for (const auto &f : fields) size += f.size() + 10;
    std::string out;
    out.reserve(size);
    for (const auto &f : fields) {
        const auto eq = f.find('=');
        const std::string_view name = std::string_view(f).substr(0, eq == std::string::npos ? f.size() : eq);
        const std::string_view value = eq == std::string::npos ? std::string_view() : std::string_view(f).substr(eq + 1);
        if (value.find('\n') == std::string_view::npos) {
            out.append(f).push_back('\n');
            continue;
        }
        out.append(name).push_back('\n');
        std::uint64_t n = value.size();
        for (int i = 0; i < 8; ++i) out.push_back(char((n >> (8 * i)) & 0xff));
        out.append(value).push_back('\n');
    }
    return out;
}

JournalQueue::JournalQueue(sd_event *loop, std::string socket_path, std::size_t max_backlog_bytes,
                           std::uint64_t coalesce_usec)
    : loop_(loop), path_(std::move(socket_path)), max_bytes_(max_backlog_bytes), coalesce_us_(coalesce_usec) {}

JournalQueue::~JournalQueue() {
    // The agent is exiting: what a slow journald has not taken yet gets a
    // second, then the rest is said to be lost.
    const std::uint64_t until = now_usec(CLOCK_MONOTONIC) + kUsecPerSec;
    flush();
    while (entries_ > 0 && fd_ && now_usec(CLOCK_MONOTONIC) < until) {
        pollfd p{fd_.get(), POLLOUT, 0};
        ::poll(&p, 1, 100);
        waiting_ = false;
        flush();
    }
    if (entries_ > 0) drop_front(entries_, ETIMEDOUT);
    if (not_written_ == 0) return;
    const std::string msg = std::to_string(not_written_) + " usage record entries were not written to the journal (" +
                            errno_text(last_error_) + ")";
    // Under systemd stderr is a stream to journald that ends with it: after
    // journald was stopped and started again (what loses entries in the
    // first place) only a new datagram reaches the journal.
    if (!std::getenv("JOURNAL_STREAM") || !send_now({"MESSAGE=" + msg, "PRIORITY=4",
                                                     std::string("SYSLOG_IDENTIFIER=") + program_invocation_short_name}))
        log_warning(msg);
}

bool JournalQueue::send_now(const std::vector<std::string> &fields) {
    writable_.reset();
    fd_.reset();
    if (!connect_socket()) return false;
    const std::string d = journal_datagram(fields);
    return ::send(fd_.get(), d.data(), d.size(), MSG_NOSIGNAL) == ssize_t(d.size());
}

bool JournalQueue::connect_socket() {
    if (fd_) return true;
    UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd) return last_error_ = errno, false;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path_.size() >= sizeof addr.sun_path) return last_error_ = ENAMETOOLONG, false;
    std::memcpy(addr.sun_path, path_.c_str(), path_.size() + 1);
    if (::connect(fd.get(), reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0) return last_error_ = errno, false;
    // As sd_journal_sendv does: room for bursts in the kernel before the
    // backlog here is needed at all.
    int sndbuf = 8 << 20;
    (void)::setsockopt(fd.get(), SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    fd_ = std::move(fd);
    return true;
}

void JournalQueue::submit(const std::vector<std::string> &fields, bool more) {
    std::string d = journal_datagram(fields);
    if (queued_bytes_ + d.size() > max_bytes_) {
        // journald has been refusing or falling behind for a while: this
        // entry is not written, and the count says so.
        ++not_written_;
        if (last_error_ == 0) last_error_ = ENOBUFS;
        return;
    }
    if (queue_.empty() || queue_.back().bytes.size() + d.size() > queue_.back().bytes.capacity()) {
        // The first block comes from the heap and goes back to it, reused by
        // the next: a steady stream of signatures costs no mmap/munmap (the
        // profile showed a pair of them per signature).
        const std::size_t size = queue_.empty() ? kFirstBlockBytes : kBlockBytes;
        queue_.emplace_back();
        queue_.back().bytes.reserve(std::max(size, d.size()));
    }
    Block &b = queue_.back();
    b.entries.emplace_back(std::uint32_t(b.bytes.size()), std::uint32_t(d.size()));
    b.bytes.insert(b.bytes.end(), d.begin(), d.end());
    queued_bytes_ += d.size();
    ++entries_;
    if (!more) arm();
}

void JournalQueue::arm() {
    if (waiting_) return;
    const std::uint64_t now = now_usec(CLOCK_MONOTONIC);
    if (now < last_send_us_ + coalesce_us_) {
        // Sent a moment ago: the entries of a burst leave together when the
        // window closes, one wake-up of journald for many signatures.
        if (timer_armed_) return;
        if (!timer_) {
            sd_event_source *s = nullptr;
            if (sd_event_add_time(loop_, &s, CLOCK_MONOTONIC, last_send_us_ + coalesce_us_, 1000, on_timer, this) < 0) {
                flush();
                return;
            }
            timer_.reset(s);
        } else {
            sd_event_source_set_time(timer_.get(), last_send_us_ + coalesce_us_);
        }
        sd_event_source_set_enabled(timer_.get(), SD_EVENT_ONESHOT);
        timer_armed_ = true;
        return;
    }
    // After a quiet spell the entry goes now, before the requester has its
    // reply: a process that kills the agent the moment it has its signature
    // cannot take this entry with it (puddle-agent(1) SECURITY). One
    // non-blocking send; a journald that is behind leaves it queued.
    flush();
}

int JournalQueue::on_timer(sd_event_source *, std::uint64_t, void *userdata) {
    auto *self = static_cast<JournalQueue *>(userdata);
    self->timer_armed_ = false;
    self->flush();
    return 0;
}

int JournalQueue::on_writable(sd_event_source *, int, std::uint32_t, void *userdata) {
    auto *self = static_cast<JournalQueue *>(userdata);
    self->wait_writable(false);
    self->flush();
    return 0;
}

void JournalQueue::wait_writable(bool on) {
    waiting_ = on;
    if (!on) {
        if (writable_) sd_event_source_set_enabled(writable_.get(), SD_EVENT_OFF);
        return;
    }
    if (!writable_) {
        sd_event_source *s = nullptr;
        if (sd_event_add_io(loop_, &s, fd_.get(), EPOLLOUT, on_writable, this) < 0) {
            waiting_ = false; // retried at the next submit
            return;
        }
        writable_.reset(s);
    }
    sd_event_source_set_enabled(writable_.get(), SD_EVENT_ON);
}

void JournalQueue::pop_front(std::size_t n) {
    while (n > 0 && !queue_.empty()) {
        Block &b = queue_.front();
        const std::size_t k = std::min(n, b.entries.size() - b.next);
        for (std::size_t i = 0; i < k; ++i) queued_bytes_ -= b.entries[b.next + i].second;
        b.next += k;
        entries_ -= k;
        n -= k;
        if (b.next == b.entries.size()) queue_.pop_front();
    }
}

void JournalQueue::drop_front(std::size_t n, int err) {
    n = std::min(n, entries_);
    pop_front(n);
    not_written_ += n;
    last_error_ = err;
}

void JournalQueue::flush() {
    while (entries_ > 0 && !waiting_) {
        if (!connect_socket()) {
            // No journald to talk to: the backlog would only grow.
            drop_front(entries_, last_error_);
            return;
        }
        iovec iov[kBatch];
        mmsghdr msgs[kBatch];
        std::size_t n = 0;
        for (auto b = queue_.begin(); b != queue_.end() && n < kBatch; ++b)
            for (std::size_t i = b->next; i < b->entries.size() && n < kBatch; ++i, ++n) {
                iov[n] = iovec{b->bytes.data() + b->entries[i].first, b->entries[i].second};
                msgs[n] = mmsghdr{};
                msgs[n].msg_hdr.msg_iov = &iov[n];
                msgs[n].msg_hdr.msg_iovlen = 1;
            }
        int sent = ::sendmmsg(fd_.get(), msgs, unsigned(n), MSG_NOSIGNAL);
        if (sent < 0) {
            const int err = errno;
            if (err == EINTR) continue;
            if (err == EAGAIN || err == EWOULDBLOCK) {
                wait_writable(true);
                return;
            }
            // The first entry cannot be sent (too large, journald gone):
            // count it and try the rest on a fresh connection.
            drop_front(1, err);
            if (err != EMSGSIZE) writable_.reset(), fd_.reset();
            continue;
        }
        pop_front(std::size_t(sent));
        written_ += std::uint64_t(sent);
        last_send_us_ = now_usec(CLOCK_MONOTONIC);
    }
}

} // namespace puddle::agent
