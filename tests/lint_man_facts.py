#!/usr/bin/python3
"""puddle.toml(5) documents exactly the keys the configuration parser
accepts: the parser's own table ('puddle --list-config-keys', hidden)
against the page's KEYS section (each key is a .TP entry whose tag line is
'.BR key ...', or '.BR a ", " b ", " c ...' for keys described together,
under '.SS [section]'). A key listed without a description does not count. Then every man page has
an EXAMPLES section, and with PUDDLE_AGENT_BIN set, every option of
'puddle-agent --help' is in the SYNOPSIS of puddle-agent(1).
usage: lint_man_facts.py PUDDLE_BIN puddle.toml.5 PAGE..."""
import os
import re
import subprocess
import sys


def documented_keys(page):
    """The keys of the page's KEYS section that have a description (a tag
    followed by text, not straight by the next entry)."""
    keys, section, tag_next, in_keys, pending = set(), None, False, False, []
    with open(page, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if pending and not line.startswith((".TP", ".SS", ".SH", ".BR", ".B ")) and line.strip():
                keys.update(pending)
            if not line.startswith((".BR", ".B ")):
                pending = []
            if line.startswith(".SH "):
                in_keys = line.strip() == ".SH KEYS"
                section = None
                continue
            if not in_keys:
                continue
            m = re.match(r'\.SS \[([a-z_]+)\]', line)
            if m:
                section = m.group(1)
                continue
            if line == ".TP":
                tag_next = True
                continue
            if tag_next and section:
                m = re.match(r'\.BR? ((?:[a-z_]+(?: ", " )?)+)', line)
                if m:
                    pending = [f"{section}.{k.strip()}" for k in m.group(1).split('", "')]
            tag_next = False
    return keys


def main():
    puddle, toml_page, pages = sys.argv[1], sys.argv[2], sys.argv[3:]
    parsed = set(subprocess.run([puddle, "--list-config-keys"], check=True, capture_output=True,
                                text=True).stdout.split())
    documented = documented_keys(toml_page)
    failed = False
    if len(parsed) < 20:
        print(f"FAIL: 'puddle --list-config-keys' lists only {sorted(parsed)}")
        failed = True
    for k in sorted(parsed - documented):
        print(f"FAIL: {k} is accepted by the parser but not documented (with a description) in {toml_page}")
        failed = True
    for k in sorted(documented - parsed):
        print(f"FAIL: {k} is documented in {toml_page} but the parser does not accept it")
        failed = True
    if not failed:
        print(f"ok the {len(parsed)} configuration keys are the ones documented")
    for page in pages:
        with open(page, encoding="utf-8") as f:
            text = f.read()
        m = re.search(r'^\.SH EXAMPLES\n(.*?)(?=^\.SH |\Z)', text, re.S | re.M)
        if not m or not re.search(r'puddle|\[', m.group(1)):
            print(f"FAIL: {page} has no EXAMPLES section with an example")
            failed = True
        else:
            print(f"ok {page} has examples")
    agent = os.environ.get("PUDDLE_AGENT_BIN")
    agent_page = [p for p in pages if p.endswith("puddle-agent.1")]
    if agent and agent_page:
        usage = subprocess.run([agent, "--help"], capture_output=True, text=True).stdout.splitlines()[0]
        with open(agent_page[0], encoding="utf-8") as f:
            text = f.read()
        synopsis = text[text.index(".SH SYNOPSIS"):text.index(".SH DESCRIPTION")].replace("\\-", "-")
        missing = [opt for opt in re.findall(r"--[a-z-]+", usage) if opt not in synopsis]
        for opt in missing:
            print(f"FAIL: puddle-agent {opt} (from its --help) is not in the SYNOPSIS of {agent_page[0]}")
        failed = failed or bool(missing)
        if not missing:
            print("ok puddle-agent(1) SYNOPSIS has every option of 'puddle-agent --help'")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
