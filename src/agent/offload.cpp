#include "agent/offload.hpp"

#include "util/error.hpp"
#include "util/log.hpp"

#include <cerrno>
#include <cstdint>
#include <sys/eventfd.h>

namespace puddle::agent {

Offload::Offload(sd_event *loop) : loop_(loop) {
    wake_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!wake_) throw_errno("cannot create the worker's eventfd", errno);
    sd_event_source *src = nullptr;
    int r = sd_event_add_io(loop_, &src, wake_.get(), EPOLLIN, on_wake, this);
    if (r < 0) throw_errno("cannot watch the worker's eventfd", -r);
    wake_source_.reset(src);
}

Offload::~Offload() {
    {
        std::lock_guard lock(mutex_);
        stop_ = true;
        jobs_.clear();
    }
    cv_.notify_all();
    if (worker_.joinable()) worker_.join();
}

void Offload::submit(Job job) {
    {
        std::lock_guard lock(mutex_);
        jobs_.push_back(std::move(job));
        if (!worker_.joinable()) worker_ = std::thread([this] { worker_main(); });
    }
    ++pending_;
    cv_.notify_one();
}

void Offload::worker_main() {
    std::unique_lock lock(mutex_);
    for (;;) {
        cv_.wait(lock, [this] { return stop_ || !jobs_.empty(); });
        if (stop_) return;
        Job job = std::move(jobs_.front());
        jobs_.pop_front();
        lock.unlock();
        Continuation next = job();
        job = nullptr; // its captures (a passphrase buffer) go now, on this thread
        lock.lock();
        done_.push_back(std::move(next));
        const std::uint64_t one = 1;
        // Cannot fail short of a full counter (2^64 - 2 wake-ups).
        (void)!::write(wake_.get(), &one, sizeof one);
    }
}

int Offload::on_wake(sd_event_source *, int fd, std::uint32_t, void *userdata) {
    auto *self = static_cast<Offload *>(userdata);
    std::uint64_t n;
    (void)!::read(fd, &n, sizeof n);
    std::deque<Continuation> ready;
    {
        std::lock_guard lock(self->mutex_);
        ready.swap(self->done_);
    }
    for (auto &next : ready) {
        --self->pending_;
        try {
            if (next) next();
        } catch (const std::exception &e) {
            log_error(std::string("after background work: ") + e.what());
        }
    }
    return 0;
}

} // namespace puddle::agent
