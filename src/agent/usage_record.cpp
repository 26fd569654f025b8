#include "agent/usage_record.hpp"

#include "util/clock.hpp"
#include "util/error.hpp"
#include "util/log.hpp"


namespace puddle::agent {

void UsageRecord::record(const Use &use, Outcome outcome, std::string_view reason, std::string_view key) {
    // A program is "seen" once it had a signature: a refused request does
    // not make a stranger known (consent's new-requester policy relies on it).
    if (outcome == Outcome::signed_) note_requester(use);
    // After a quiet spell sent before the reply; in a burst, queued and sent
    // with the burst after the replies (journal_queue.hpp).
    journal_.submit(journal_fields(use, outcome, reason, key));
    if (outcome == Outcome::signed_) ++counts_.signed_;
    else ++counts_.refused;
    last_ = LastUse{now_usec(CLOCK_REALTIME), use.who.program_label(), use.who.unit_label(), use.purpose.summary,
                    outcome_name(outcome)};
}

void UsageRecord::load_known() {
    if (known_) return;
    try {
        known_ = load_requesters(dir_).value_or(RequestersView{});
    } catch (const Error &e) {
        log_warning(std::string(e.what()) + "; it is written afresh at the next first use");
        known_ = RequestersView{};
    }
    for (const auto &r : known_->requesters) programs_.insert(r.program);
}

bool UsageRecord::known(const std::string &program) {
    load_known();
    return programs_.count(program) > 0;
}

void UsageRecord::note_requester(const Use &use) {
    const std::string program = use.who.program();
    if (known(program)) return;
    programs_.insert(program);
    if (!add_requester(*known_, RequesterRecord{program, use.who.unit, std::int64_t(now_usec(CLOCK_REALTIME) / 1000000)}))
        return;
    // The use's own entry follows at once (record()): with it, so a kill
    // cannot keep the one and lose the other.
    journal_.submit(new_requester_fields(use), true);
    try {
        save_requesters(dir_, *known_);
    } catch (const std::exception &e) {
        log_warning(std::string("cannot remember the new requester ") + program + ": " + e.what());
    }
}

} // namespace puddle::agent
