// Sends the usage record to journald off the reply path: an entry made
// within 10 ms of the last send is queued and leaves with the others of its
// burst when those 10 ms are over, a batch per sendmmsg(2) on the agent's own
// non-blocking connection to journald, after the requesters have their
// replies. Journald is woken a hundred times a second under a stream of
// signatures, not once per signature (on two CPUs those wake-ups cost the
// one-connection signer a third of its rate). An entry after a quiet spell is
// sent at once, before its reply: one send, and a kill of the agent right
// after a lone signature cannot lose it. A journal that refuses or falls
// behind never slows signing: the backlog waits for the socket to drain, and
// past its bound an entry is counted as not written (health Warning,
// puddle-agent(1) RECORD) instead of being lost unsaid.
#pragma once

#include "util/fd.hpp"
#include "util/sd.hpp"

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

namespace puddle::agent {

// One entry in journald's native datagram protocol: "NAME=value\n", or, for
// a value with a line break, NAME "\n" little-endian u64 length, value "\n".
std::string journal_datagram(const std::vector<std::string> &fields);

class JournalQueue {
public:
    static constexpr const char *kJournalSocket = "/run/systemd/journal/socket";
    // About 120,000 entries of the usage record. On the 2-vCPU test VM,
    // Debian 13's journald took 11,300 entries/s while 64 clients had
    // 12,200 signatures/s: 64 x 10,000 signatures left it 60,000 behind
    // (30,000 were lost with a quarter of this bound). Held only while
    // journald is behind, in blocks handed back as they drain.
    static constexpr std::size_t kDefaultBacklogBytes = 64u << 20;

    // Entries made within this long of the last send wait for the window to
    // close and leave together. One entry after a quiet spell leaves at once.
    static constexpr std::uint64_t kDefaultCoalesceUsec = 10000;

    explicit JournalQueue(sd_event *loop, std::string socket_path = kJournalSocket,
                          std::size_t max_backlog_bytes = kDefaultBacklogBytes,
                          std::uint64_t coalesce_usec = kDefaultCoalesceUsec);
    // Writes what is left, waiting up to a second for a slow journald.
    ~JournalQueue();
    JournalQueue(const JournalQueue &) = delete;
    JournalQueue &operator=(const JournalQueue &) = delete;

    // `more` says another entry of the same use follows at once: the use's
    // entries then go out together, all before its reply or all after.
    void submit(const std::vector<std::string> &fields, bool more = false);

    std::uint64_t written() const noexcept { return written_; }
    std::uint64_t not_written() const noexcept { return not_written_; }
    std::size_t backlog() const noexcept { return entries_; }
    // Sends what the socket takes now (the loop does this by itself).
    void flush();

private:
    static int on_timer(sd_event_source *s, std::uint64_t usec, void *userdata);
    static int on_writable(sd_event_source *s, int fd, std::uint32_t revents, void *userdata);
    bool connect_socket();
    bool send_now(const std::vector<std::string> &fields); // on a fresh connection, not queued
    void arm();
    void wait_writable(bool on);
    void drop_front(std::size_t n, int err);
    void pop_front(std::size_t n);

    // Entries are kept back to back in blocks. Behind the first (a small one
    // from the heap, reused by the next) they are large enough for malloc to
    // map them on their own (main.cpp fixes the threshold at 128 KiB): a
    // backlog that drains hands its memory back at once, and leaves no
    // fragments in the heap.
    struct Block {
        std::vector<char> bytes;
        std::vector<std::pair<std::uint32_t, std::uint32_t>> entries; // offset, size
        std::size_t next = 0;                                         // first entry not yet sent
    };
    static constexpr std::size_t kBlockBytes = 256 * 1024;
    static constexpr std::size_t kFirstBlockBytes = 16 * 1024;

    sd_event *loop_;
    std::string path_;
    std::size_t max_bytes_;
    UniqueFd fd_;
    std::uint64_t coalesce_us_;
    SdEventSource writable_, timer_;
    std::uint64_t last_send_us_ = 0; // CLOCK_MONOTONIC
    bool timer_armed_ = false;
    std::deque<Block> queue_;
    std::size_t queued_bytes_ = 0, entries_ = 0;
    bool waiting_ = false; // for EPOLLOUT: journald's queue is full
    std::uint64_t written_ = 0, not_written_ = 0;
    int last_error_ = 0;
};

} // namespace puddle::agent
