// Consent: when it asks (each policy), what the question says, the memory of
// answers, and the prompt machinery against real programs: askpass scripts
// that answer yes, no or never (SSH_ASKPASS_PROMPT=confirm and the question
// as their argument, as OpenSSH's agent runs them) and a pinentry speaking
// Assuan (CONFIRM), each spawned and ended as the agent does.
#define BOOST_TEST_MODULE consent
#ifndef BOOST_TEST_DYN_LINK
#define BOOST_TEST_DYN_LINK
#endif
#include <boost/test/unit_test.hpp>

#include "support.hpp"

#include "agent/consent_policy.hpp"
#include "agent/prompt.hpp"

#include <csignal>
#include <fcntl.h>
#include <unistd.h>
#include <algorithm>
#include <sys/stat.h>

using namespace puddle;
using namespace puddle::agent;
using namespace std::chrono_literals;

namespace {

Use use_of(std::string exe, bool forwarded = false) {
    Requester r;
    r.pid = 9;
    r.exe = std::move(exe);
    r.unit = "session-2.scope";
    Purpose p = raw_purpose();
    p.forwarded = forwarded;
    if (forwarded) p.summary = "ssh login as a to SHA256:x (forwarded)";
    return make_use(Door::ssh, r, puddle_test::bytes_of("x"), p);
}

struct Scripts {
    puddle_test::TempDir tmp;
    std::string make(const std::string &name, const std::string &body) {
        const std::string path = tmp / name;
        puddle_test::write_file(path, "#!/bin/sh\n" + body);
        ::chmod(path.c_str(), 0755);
        return path;
    }
};

const std::atomic<bool> kGoOn{false};

} // namespace

BOOST_AUTO_TEST_CASE(each_policy_asks_when_it_says) {
    const Use local = use_of("/usr/bin/git"), forwarded = use_of("/usr/bin/ssh", true);
    BOOST_TEST(!needs_consent(ConsentMode::never, forwarded, false));
    BOOST_TEST(needs_consent(ConsentMode::always, local, true));
    BOOST_TEST(needs_consent(ConsentMode::new_requester, local, false));
    BOOST_TEST(!needs_consent(ConsentMode::new_requester, local, true));
    BOOST_TEST(needs_consent(ConsentMode::forwarded, forwarded, true));
    BOOST_TEST(!needs_consent(ConsentMode::forwarded, local, false));
}

BOOST_AUTO_TEST_CASE(the_question_names_requester_purpose_and_door) {
    BOOST_TEST(consent_prompt(use_of("/usr/bin/ssh", true)) ==
               "Allow /usr/bin/ssh (session-2.scope) to sign with your puddle key?\n"
               "ssh login as a to SHA256:x (forwarded), through ssh-agent.sock.");
}

BOOST_AUTO_TEST_CASE(a_path_with_newlines_cannot_write_lines_of_the_question) {
    const std::string q = consent_prompt(use_of("/tmp/x\nAllow /usr/bin/git (session-2.scope) to sign?\n"));
    BOOST_TEST(std::count(q.begin(), q.end(), '\n') == 1);
    BOOST_TEST(q.substr(0, q.find('\n')) ==
               "Allow /tmp/x\\x0aAllow /usr/bin/git (session-2.scope) to sign?\\x0a (session-2.scope) to sign with "
               "your puddle key?");
}

BOOST_AUTO_TEST_CASE(answers_are_remembered_for_their_lifetime) {
    ConsentMemory m;
    const std::string key = ConsentMemory::key_of(use_of("/usr/bin/git"));
    const std::uint64_t t0 = 1000000000;
    BOOST_TEST(!m.lookup(key, t0));
    m.remember(key, true, t0, 600);
    BOOST_TEST(*m.lookup(key, t0 + 599'000'000));
    BOOST_TEST(!m.lookup(key, t0 + 600'000'000));
    m.remember(key, false, t0, 600); // a no holds only briefly
    BOOST_TEST(!*m.lookup(key, t0 + 9'000'000));
    BOOST_TEST(!m.lookup(key, t0 + 10'000'000));
    m.remember(key, true, t0, 0); // 0: ask each time
    BOOST_TEST(!m.lookup(key, t0));
    m.remember(key, true, t0, 600);
    m.forget();
    BOOST_TEST(!m.lookup(key, t0));
    // Bounded: the oldest answer makes room.
    for (std::size_t i = 0; i < ConsentMemory::kMaxEntries + 10; ++i)
        m.remember("k" + std::to_string(i), true, t0, 600 + unsigned(i));
    BOOST_TEST(!m.lookup("k0", t0));
    BOOST_TEST(*m.lookup("k" + std::to_string(ConsentMemory::kMaxEntries + 9), t0));
}

BOOST_AUTO_TEST_CASE(assuan_arguments_are_escaped) {
    BOOST_TEST(assuan_escape("a%b\nc\rd") == "a%25b%0Ac%0Dd");
}

BOOST_FIXTURE_TEST_CASE(askpass_answers_by_exit_status_with_the_question_as_argument, Scripts) {
    const std::string seen = tmp / "seen";
    const std::string yes = make("yes", "printf '%s|%s' \"$SSH_ASKPASS_PROMPT\" \"$1\" > " + seen + "\nexit 0\n");
    auto out = ask_confirm({yes, ""}, "Allow git?\nraw Sign", 10s, kGoOn);
    BOOST_TEST(int(out.answer) == int(PromptAnswer::yes));
    BOOST_TEST(puddle_test::read_file(seen) == "confirm|Allow git?\nraw Sign");
    BOOST_TEST(int(ask_confirm({make("no", "exit 1\n"), ""}, "q", 10s, kGoOn).answer) == int(PromptAnswer::no));
    // No answer in time: refused, and the program is ended.
    const std::string pidfile = tmp / "pid";
    const auto t = std::chrono::steady_clock::now();
    out = ask_confirm({make("slow", "echo $$ > " + pidfile + "\nexec sleep 30\n"), ""}, "q", 500ms, kGoOn);
    BOOST_TEST(int(out.answer) == int(PromptAnswer::timed_out));
    BOOST_TEST((std::chrono::steady_clock::now() - t < 5s));
    const pid_t pid = std::stoi(puddle_test::read_file(pidfile));
    BOOST_TEST(::kill(pid, 0) == -1); // gone (reaped)
    // It gets none of our descriptors beyond 0-2, even one without CLOEXEC
    // (as socket activation hands them over).
    const int leaky = ::open("/dev/null", O_RDONLY);
    BOOST_REQUIRE(leaky > 2);
    const std::string fds = tmp / "fds";
    ask_confirm({make("fds", "if [ -e /proc/$$/fd/" + std::to_string(leaky) + " ]; then echo open; else echo closed; fi > " +
                                 fds + "\nexit 0\n"),
                 ""},
                "q", 10s, kGoOn);
    ::close(leaky);
    BOOST_TEST(puddle_test::read_file(fds) == "closed\n");
}

BOOST_FIXTURE_TEST_CASE(pinentry_is_asked_with_confirm, Scripts) {
    // A pinentry in a few lines of sh: greets, takes settings, answers CONFIRM
    // with OK or a cancel error, as pinentry does.
    auto pinentry = [&](const std::string &name, const std::string &answer) {
        return make(name, "log=" + (tmp / (name + ".log")) + "\n"
                          "echo 'OK Pleased to meet you'\n"
                          "while read -r cmd rest; do\n"
                          "  echo \"$cmd $rest\" >> $log\n"
                          "  case $cmd in\n"
                          "    CONFIRM) echo '" + answer + "' ;;\n"
                          "    BYE) echo OK; exit 0 ;;\n"
                          "    *) echo OK ;;\n"
                          "  esac\n"
                          "done\n");
    };
    auto out = ask_confirm({"", pinentry("pe-yes", "OK")}, "Allow git?\n100% sure", 10s, kGoOn);
    BOOST_TEST(int(out.answer) == int(PromptAnswer::yes));
    const std::string log = puddle_test::read_file(tmp / "pe-yes.log");
    BOOST_TEST(log.find("SETDESC Allow git?%0A100%25 sure\n") != std::string::npos, log);
    BOOST_TEST(log.find("CONFIRM") != std::string::npos);
    out = ask_confirm({"", pinentry("pe-no", "ERR 83886179 Operation cancelled <Pinentry>")}, "q", 10s, kGoOn);
    BOOST_TEST(int(out.answer) == int(PromptAnswer::no));
    out = ask_confirm({"", make("not-a-pinentry", "exit 0\n")}, "q", 10s, kGoOn);
    BOOST_TEST(int(out.answer) == int(PromptAnswer::unavailable));
    BOOST_TEST(out.detail.find("did not greet") != std::string::npos);
}

BOOST_FIXTURE_TEST_CASE(programs_are_found_in_order_and_none_is_a_refusal, Scripts) {
    const std::string a = make("a", "exit 0\n"), b = make("b", "exit 0\n");
    BOOST_TEST(find_prompt_programs(a, "", b.c_str()).askpass == a);
    BOOST_TEST(find_prompt_programs("", "", b.c_str()).askpass == b);
    BOOST_TEST(find_prompt_programs("", a, nullptr).pinentry == a);
    BOOST_TEST(find_prompt_programs("", tmp / "missing", nullptr).pinentry == "");
    auto out = ask_confirm({"", ""}, "q", 1s, kGoOn);
    BOOST_TEST(int(out.answer) == int(PromptAnswer::unavailable));
    BOOST_TEST(out.detail.find("SSH_ASKPASS") != std::string::npos);
}

BOOST_FIXTURE_TEST_CASE(a_cancel_ends_the_question_at_once, Scripts) {
    std::atomic<bool> cancel{true};
    const auto t = std::chrono::steady_clock::now();
    auto out = ask_confirm({make("slow", "exec sleep 30\n"), ""}, "q", 30s, cancel);
    BOOST_TEST(int(out.answer) == int(PromptAnswer::timed_out));
    BOOST_TEST((std::chrono::steady_clock::now() - t < 5s));
}
