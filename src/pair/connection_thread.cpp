#include "pair/connection_thread.hpp"

#include "pair/channel.hpp"
#include "util/error.hpp"
#include "util/log.hpp"

#include <cerrno>
#include <fcntl.h>
#include <unistd.h>

namespace puddle::pair {

ConnectionThread::ConnectionThread(sd_event *loop, int priority, SSL_CTX *ctx, Holder &holder, UniqueFd conn,
                                   std::string peer, std::string network, Reports reports)
    : peer_(std::move(peer)), reports_(std::move(reports)) {
    int ends[2];
    if (::pipe2(ends, O_CLOEXEC | O_NONBLOCK) != 0) throw_errno("cannot create a pipe for a connection", errno);
    report_.reset(ends[0]);
    UniqueFd write_end(ends[1]);
    sd_event_source *src = nullptr;
    int r = sd_event_add_io(loop, &src, report_.get(), EPOLLIN, on_report, this);
    if (r < 0) throw_errno("cannot watch a connection's pipe", -r);
    source_.reset(src);
    sd_event_source_set_priority(src, priority);
    thread_ = std::thread(serve, ctx, std::ref(holder), std::move(conn), peer_, std::move(network),
                          std::move(write_end));
}

ConnectionThread::~ConnectionThread() {
    source_.reset();
    if (thread_.joinable()) thread_.join();
}

void ConnectionThread::serve(SSL_CTX *ctx, Holder &holder, UniqueFd conn, const std::string &peer,
                             const std::string &network, UniqueFd report) {
    try {
        TlsConnection tls(ctx, TlsRole::server, std::move(conn), Channel::Clock::now() + Channel::kMessageTimeout);
        auto outcome = holder.serve(tls, peer, network);
        if (outcome != ClaimOutcome::untouched) {
            const char byte = char(outcome);
            // A pipe with room for 64 KiB takes this one byte.
            (void)!::write(report.get(), &byte, 1);
        }
        tls.shutdown();
    } catch (const Error &e) {
        log_info("connection from " + peer + " dropped: " + e.why());
    }
    report.reset(); // end of file: the loop joins this thread now
}

std::optional<ClaimOutcome> ConnectionThread::read_outcome() {
    char byte;
    if (::read(report_.get(), &byte, 1) == 1) return ClaimOutcome(byte);
    return std::nullopt;
}

int ConnectionThread::on_report(sd_event_source *, int, std::uint32_t, void *userdata) {
    auto *self = static_cast<ConnectionThread *>(userdata);
    char byte;
    ssize_t n = ::read(self->report_.get(), &byte, 1);
    if (n == 1) {
        self->reports_.outcome(*self, ClaimOutcome(byte));
        return 0;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return 0;
    // End of file: the thread is done. `done` may destroy this object.
    self->source_.reset();
    self->thread_.join();
    auto done = self->reports_.done; // a copy: the call destroys `self` and its members
    done(*self);
    return 0;
}

std::optional<ClaimOutcome> ConnectionThread::join() {
    source_.reset();
    if (thread_.joinable()) thread_.join();
    return read_outcome();
}

} // namespace puddle::pair
