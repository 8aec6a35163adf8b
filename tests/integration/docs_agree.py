#!/usr/bin/python3
"""The man pages, README.md, the shipped config and --help against the code,
for tests/integration/docs-agree.sh (Python 3 stdlib only).

    docs_agree.py check TOP BUILDDIR

Every list is read from the sources or from the built programs' --help,
never written down here, so a key, argument, command or option added to
the code is checked at once.  Prints "ok ..." for what holds and
"problem ..." for each disagreement; exit 0 when there is none.

  keys      every key of common/conf-keys.c's table: its default (from
            neostra_config_new_default() in common/conf.c, typed by the
            key's parser) is the default neostrad.conf.5 gives, the
            commented line "#key = value" of packaging/neostrad.conf, and
            every "#key = value" line of README.md's config blocks.
            Durations compare as milliseconds (10 == 10s == 10000ms);
            booleans are written yes or no.  README.md's text too:
            "`[section] key` (default X" and "`key = X` (the default)".  A key without a default shows no "#key ="
            line but an "# Example: key = value" one.  Then neostrad
            --test-config reads the shipped file with every default line
            uncommented: no value may be refused.
  pam       every argument parse_args() (pam_neostra/args.c) accepts is in
            pam_neostra.8's SYNOPSIS and OPTIONS and README.md's argument
            table, with the same value placeholder (a duration as TIME,
            with a unit in its example), and the same default.
  ctl       neostractl's commands and their arguments as `neostractl
            --help` gives them are neostractl.1's SYNOPSIS and COMMANDS
            and README.md's "neostractl [...] a | b ARG" line, no more, no
            less; the long options of neostractl and neostrad as --help
            gives them (with their argument and default) are those of the
            OPTIONS of their page, and of the synopses in the page and
            README.md.
  account   the account line of the Debian pam-auth-update profile is the
            one README.md and the RPM spec tell Fedora/RHEL users to add.
  roff      no alternating-font macro (.BR, .IR, ...) carries running
            text (words would run together: "url),thelast"), and no text
            line starts with ' or . (groff would take it for a request).
"""

import os
import re
import subprocess
import sys
import tempfile

PROBLEMS = []


def ok(msg):
    print("ok " + msg)


def problem(msg):
    PROBLEMS.append(msg)
    print("problem " + msg)


def verdict(bad, good_msg, bad_msg):
    if bad:
        problem(bad_msg + " " + "; ".join(bad))
    else:
        ok(good_msg)


def read(top, path):
    with open(os.path.join(top, path), encoding="utf-8") as f:
        return f.read()


# ---- roff, just enough to read the pages -------------------------------------

ALTERNATING = {"BR", "BI", "IB", "IR", "RB", "RI"}


def roff_args(s):
    """A macro line's arguments, as groff splits them (quotes kept apart:
    [(text, quoted)])."""
    out, i = [], 0
    while i < len(s):
        if s[i] in " \t":
            i += 1
            continue
        if s[i] == '"':
            j, buf = i + 1, ""
            while j < len(s):
                if s[j] == '"':
                    if j + 1 < len(s) and s[j + 1] == '"':
                        buf += '"'
                        j += 2
                        continue
                    break
                buf += s[j]
                j += 1
            out.append((buf, True))
            i = j + 1
        else:
            j = i
            while j < len(s) and s[j] not in " \t":
                j += 1
            out.append((s[i:j], False))
            i = j
    return out


def unescape(s):
    s = re.sub(r"\\f(\[[^\]]*\]|\(..|.)", "", s)
    s = s.replace("\\(dq", '"').replace("\\(lq", '"').replace("\\(rq", '"').replace("\\(aq", "'").replace("\\(em", "--")
    s = s.replace("\\-", "-").replace("\\&", "").replace("\\e", "\\").replace("\\ ", " ")
    s = s.replace("\\c", "\x00")   # continuation, joined by render()
    return s


def render_line(line):
    """One roff line as text; None for requests that print nothing."""
    if line.startswith(".\\\"") or line.startswith("'\\\""):
        return None
    if not line.startswith("."):
        return unescape(line)
    m = re.match(r"\.([A-Za-z]+)\s*(.*)$", line)
    if not m:
        return None
    name, rest = m.groups()
    args = [unescape(a) for a, _ in roff_args(rest)]
    if name in ALTERNATING:
        return "".join(args)
    if name in ("B", "I", "SM", "SB"):
        return " ".join(args)
    return None


def render(lines):
    """Lines of roff as running text (\\c joins a line to the next)."""
    text = ""
    for line in lines:
        r = render_line(line)
        if r is None:
            continue
        if text and not text.endswith("\x00"):
            text += " "
        text += r
    return re.sub(r"\s+", " ", text.replace("\x00", "")).strip()


def sections(page):
    """{title: [lines]} of a page's .SH sections."""
    out, cur = {}, None
    for line in page.splitlines():
        m = re.match(r"\.SH\s+(.*)$", line)
        if m:
            cur = m.group(1).replace('"', "").strip()
            out[cur] = []
        elif cur is not None:
            out[cur].append(line)
    return out


def tagged(lines):
    """The .TP entries of a section: [(tag line, [body lines])]."""
    out, i = [], 0
    while i < len(lines):
        if lines[i].startswith(".TP") and i + 1 < len(lines):
            tag, body, j = lines[i + 1], [], i + 2
            while j < len(lines) and not re.match(r"\.(TP|SH|SS|PP|P|LP)\b", lines[j]):
                body.append(lines[j])
                j += 1
            out.append((tag, body))
            i = j
        else:
            i += 1
    return out


def man_default(body):
    """What "Default:" says in an entry's body, as text; "" when absent."""
    text = render(body)
    m = re.search(r"\bNo default\b", text)
    if m:
        return "<none>"
    m = re.search(r"\bDefault: *(.*?)(?:\.(?: |$)|$)", text)
    return m.group(1).strip() if m else ""


# ---- values ---------------------------------------------------------------------

UNITS = {"": 1000, "s": 1000, "ms": 1, "m": 60000, "h": 3600000, "d": 86400000,
         "seconds": 1000, "second": 1000, "minutes": 60000, "hours": 3600000, "days": 86400000}


def norm(kind, value):
    """A value as the parser would take it, for comparing; raises
    ValueError on a value of the wrong kind."""
    if value is None:
        return None
    v = value.strip()
    if v.startswith("empty") or v == "":
        v = ""
    if kind == "duration":
        m = re.match(r"^(\d+) ?([a-z]*)$", v)
        if not m or m.group(2) not in UNITS:
            raise ValueError("not a duration: %r" % value)
        return int(m.group(1)) * UNITS[m.group(2)]
    if kind == "bool":
        # The parser also takes true/false, on/off, 1/0; the docs write
        # yes and no only.
        if v in ("yes", "no"):
            return v
        raise ValueError("not yes or no: %r" % value)
    if kind == "number":
        if not re.match(r"^\d+$", v):
            raise ValueError("not a number: %r" % value)
        return int(v)
    if kind == "list":
        return tuple(x for x in re.split(r"[\s,]+", v) if x)
    return v


def same(kind, want, got):
    try:
        return norm(kind, want) == norm(kind, got)
    except ValueError:
        return False


# ---- config keys ------------------------------------------------------------------

PARSER_KIND = {
    "parse_duration_field": "duration",
    "parse_bool_field": "bool",
    "parse_uid_field": "number",
    "parse_unsigned_field": "number",
    "parse_login_list": "list",
    "parse_role_list": "list",
    "parse_domain_list": "list",
    "parse_local_accounts": "list",
}


def c_string_macros(top):
    out = {}
    for path in ("include/neostra/protocol.h",):
        for m in re.finditer(r'^#define\s+(\w+)\s+"([^"]*)"', read(top, path), re.M):
            out[m.group(1)] = m.group(2)
    return out


def c_number(expr):
    expr = re.sub(r"(\d+)(?:ull|ul|u|ll)\b", r"\1", expr.strip())
    if not re.match(r"^[\d\s*+()]+$", expr):
        raise ValueError("not a constant: %r" % expr)
    return eval(expr, {"__builtins__": {}})  # digits, * + ( ) only


def config_keys(top):
    """[(section, key, kind, default)]: default as the docs write it
    ("10000ms", "yes", "", ...) or None for a key without one."""
    src = read(top, "common/conf-keys.c")
    m = re.search(r"^const struct key_def conf_keys\[\] = \{(.*?)^\};", src, re.M | re.S)
    table = m.group(1) if m else ""
    names = dict(re.findall(r'\[SECTION_([A-Z]+)\]\s*=\s*"([a-z]+)"', src))
    body = read(top, "common/conf.c")
    m = re.search(r"^int neostra_config_new_default\(.*?^\}", body, re.M | re.S)
    body = m.group(0) if m else ""
    macros = c_string_macros(top)
    sets = {}
    for f, v in re.findall(r"c->(\w+)\s*=\s*(.+?);", body):
        sm = re.match(r'strdup\("(.*)"\)$', v) or re.match(r"strdup\((\w+)\)$", v)
        if sm:
            sets[f] = macros.get(sm.group(1), sm.group(1))
        elif v in ("true", "false"):
            sets[f] = "yes" if v == "true" else "no"
        else:
            sets[f] = c_number(v)
    out = []
    for sec, key, parser, field in re.findall(
            r'\{\s*SECTION_([A-Z]+),\s*"([a-z_0-9]+)",\s*(\w+),\s*F\((\w+)\)', table):
        kind = PARSER_KIND.get(parser, "string")
        if field in sets:
            d = sets[field]
            if kind == "duration":
                d = "%dms" % d
            elif kind == "number":
                d = str(d)
        elif kind == "bool":
            d = "no"
        elif kind in ("number", "duration"):
            d = "0"
        elif parser == "parse_url":
            d = None        # required: the parser refuses an empty value
        else:
            d = ""
        out.append((names.get(sec, sec.lower()), key, kind, d))
    return out


# A default the docs must describe rather than give as a value: the key's
# value when unset is computed from another key.
# (What the page says, a word any mention must have.)
DERIVED = {("users", "domains"): ("the domain of email_template", "template")}


def shipped_lines(text):
    """{(section, key): [(lineno, value, is_example)]} of the shipped file's
    commented "#key = value" and "# Example: key = value" lines."""
    out, sec = {}, None
    for n, line in enumerate(text.splitlines(), 1):
        m = re.match(r"^\[([a-z]+)\]$", line)
        if m:
            sec = m.group(1)
            continue
        m = re.match(r"^#([a-z_0-9]+) =(?: (.*))?$", line)
        if m:
            out.setdefault((sec, m.group(1)), []).append((n, m.group(2) or "", False))
            continue
        m = re.match(r"^# Example: ([a-z_0-9]+) = (.*)$", line)
        if m:
            out.setdefault((sec, m.group(1)), []).append((n, m.group(2), True))
    return out


def readme_config_lines(readme):
    """[(section, key, value, commented)] of README.md's ```ini blocks;
    an end-of-line comment (two blanks and '#') is cut off."""
    out, sec, inblock = [], None, False
    for line in readme.splitlines():
        if line.startswith("```"):
            inblock = line.strip() == "```ini"
            sec = None
            continue
        if not inblock:
            continue
        m = re.match(r"^\[([a-z]+)\]", line)
        if m:
            sec = m.group(1)
            continue
        m = re.match(r"^(#?)([a-z_0-9]+) =(.*)$", line)
        if m:
            value = re.split(r"\s{2,}#", m.group(3))[0].strip()
            out.append((sec, m.group(2), value, m.group(1) == "#"))
    return out


def check_keys(top, build):
    keys = config_keys(top)
    if len(keys) < 20:
        problem("read only %d keys from common/conf-keys.c" % len(keys))
        return
    ok("read %d keys and their defaults from common/conf-keys.c and common/conf.c" % len(keys))

    page = sections(read(top, "neostrad/neostrad.conf.5"))
    shipped_text = read(top, "packaging/neostrad.conf")
    shipped = shipped_lines(shipped_text)
    readme = readme_config_lines(read(top, "README.md"))

    bad_man, bad_shipped, bad_readme = [], [], []
    for sec, key, kind, default in keys:
        where = "[%s] %s" % (sec, key)
        # neostrad.conf.5
        entries = [body for tag, body in tagged(page.get("[%s] SECTION" % sec.upper(), []))
                   if re.match(r"\.BI %s= " % key, tag)]
        if len(entries) != 1:
            bad_man.append("%s: %d entries" % (where, len(entries)))
        else:
            said = man_default(entries[0])
            if (sec, key) in DERIVED:
                if DERIVED[(sec, key)][0] not in said:
                    bad_man.append("%s: Default should say '%s', says '%s'" % (where, DERIVED[(sec, key)][0], said))
            elif default is None:
                if said != "<none>":
                    bad_man.append("%s: has no default, the page says 'Default: %s'" % (where, said))
            elif not same(kind, default, said):
                bad_man.append("%s: default %s, the page says '%s'" % (where, default, said))
        # packaging/neostrad.conf
        lines = shipped.get((sec, key), [])
        defaults = [(n, v) for n, v, ex in lines if not ex]
        examples = [(n, v) for n, v, ex in lines if ex]
        if default is None:
            if defaults:
                bad_shipped.append("%s: has no default but line %d shows '#%s = %s'"
                                   % (where, defaults[0][0], key, defaults[0][1]))
            if not examples:
                bad_shipped.append("%s: no '# Example: %s = ...' line" % (where, key))
        elif len(defaults) != 1:
            bad_shipped.append("%s: %d '#%s =' lines" % (where, len(defaults), key))
        elif (sec, key) not in DERIVED and not same(kind, default, defaults[0][1]):
            bad_shipped.append("%s: line %d shows '%s', the default is %s"
                               % (where, defaults[0][0], defaults[0][1], default or "empty"))
        # README.md: a commented line claims the default
        for rsec, rkey, value, commented in readme:
            if (rsec, rkey) != (sec, key) or not commented:
                continue
            if default is None:
                bad_readme.append("%s: has no default, README shows '#%s = %s'" % (where, key, value))
            elif (sec, key) in DERIVED:
                if value:
                    bad_readme.append("%s: README shows '#%s = %s' as if a default" % (where, key, value))
            elif not same(kind, default, value):
                bad_readme.append("%s: README shows '#%s = %s', the default is %s"
                                  % (where, key, value, default or "empty"))
    # README.md's prose: "`[section] key` (default X" and "`key = X` (the default)".
    text = re.sub(r"\s+", " ", read(top, "README.md"))
    bykey = {}
    for sec, key, kind, default in keys:
        bykey.setdefault(key, []).append((sec, kind, default))
    claims = [(a, b, c) for a, b, c in re.findall(
        r"`(?:\[([a-z]+)\] )?([a-z_0-9]+)`\**,? \(default:? `?([^`,;)]+)`?[,;)]", text)]
    claims += [(a, b, c) for a, b, c in re.findall(
        r"`(?:\[([a-z]+)\] )?([a-z_0-9]+) = ([^`]+)`,? \(?the default", text)]
    nclaims = 0
    for sec, key, value in claims:
        cands = [c for c in bykey.get(key, []) if not sec or c[0] == sec]
        if len(cands) != 1:
            continue
        nclaims += 1
        csec, kind, default = cands[0]
        if (csec, key) in DERIVED:
            if DERIVED[(csec, key)][1] not in value:
                bad_readme.append("[%s] %s: README says its default is '%s'" % (csec, key, value))
        elif default is None:
            bad_readme.append("[%s] %s: README says its default is '%s'" % (csec, key, value))
        elif not same(kind, default, value):
            bad_readme.append("[%s] %s: README says default '%s', the code has %s"
                              % (csec, key, value, default or "empty"))
    if nclaims < 3:
        bad_readme.append("read only %d defaults from README.md's text" % nclaims)
    verdict(bad_man, "neostrad.conf.5 gives each key's default as the code has it",
            "neostrad.conf.5 disagrees with the code:")
    verdict(bad_shipped, "packaging/neostrad.conf shows each key at its default (examples marked as such)",
            "packaging/neostrad.conf disagrees with the code:")
    verdict(bad_readme, "README.md's config blocks and text give no default the code does not have",
            "README.md's config blocks disagree with the code:")
    known = {(s, k) for s, k, _, _ in keys}
    stale = sorted("[%s] %s" % sk for sk in shipped if sk not in known and sk[0] != "groups")
    stale += sorted("README [%s] %s" % (s, k) for s, k, _, _ in readme
                    if (s, k) not in known and s != "groups")
    verdict(stale, "no shipped or README key the parser lacks", "keys the parser does not have:")

    # The parser takes every default the shipped file shows.
    exe = os.path.join(build, "neostrad")
    if not os.access(exe, os.X_OK):
        problem("%s is not built" % exe)
        return
    with tempfile.TemporaryDirectory() as tmp:
        conf = os.path.join(tmp, "uncommented.conf")
        with open(conf, "w") as f:
            sec = None
            for line in shipped_text.splitlines():
                m = re.match(r"^\[([a-z]+)\]$", line)
                if m:
                    sec = m.group(1)
                m = re.match(r"^#([a-z_0-9]+ =.*)$", line)
                f.write((m.group(1) if m and sec != "groups" else line) + "\n")
        r = subprocess.run([exe, "--test-config", "-c", conf], capture_output=True, text=True, timeout=60)
        refused = [l for l in r.stderr.splitlines() if re.match(re.escape(conf) + r":\d+: \[", l)]
        if refused or "configuration ok" not in r.stdout and "error(s)" not in r.stdout:
            problem("neostrad --test-config refuses the shipped defaults uncommented: %s%s"
                    % (" | ".join(refused), r.stderr.strip()[:300] if not refused else ""))
        else:
            ok("neostrad --test-config takes every default of packaging/neostrad.conf uncommented")


# ---- PAM arguments ----------------------------------------------------------------

def pam_arguments(top):
    """[(name, kind, default)]: kind None for a flag; default as text or None."""
    src = read(top, "pam_neostra/args.c")
    m = re.search(r"^void parse_args\(.*?^\}", src, re.M | re.S)
    body = m.group(0) if m else ""
    inits = dict(re.findall(r"\.(\w+)\s*=\s*(\w+),", body))
    macros = c_string_macros(top)
    numbers = dict(re.findall(r'^#define\s+(\w+)\s+(\d+)u?\b', read(top, "include/neostra/protocol.h"), re.M))
    out = [(n, None, None) for n in re.findall(r'strcmp\(arg, "([a-z_]+)"\)', body)]
    parts = re.split(r'arg_value\(arg, "([a-z_]+)"\)', body)
    for i in range(1, len(parts), 2):
        name, code = parts[i], parts[i + 1]
        if "neostra_parse_duration_ms" in code:
            kind = "duration"
        elif "strtoull" in code:
            kind = "number"
        elif "*v == '/'" in code:
            kind = "path"
        else:
            kind = "list"
        field = re.search(r"a->(\w+)\s*=", code)
        default = None
        if field and field.group(1) in inits:
            init = inits[field.group(1)]
            if init in macros:
                default = macros[init]
            elif init in numbers:
                default = "%sms" % numbers[init] if kind == "duration" else numbers[init]
        out.append((name, kind, default))
    return out


PLACEHOLDER = {"duration": {"TIME", "DURATION"}, "number": {"N"}, "path": {"PATH", "FILE"}}


def check_pam(top):
    args = pam_arguments(top)
    if len(args) < 10:
        problem("read only %d PAM arguments from pam_neostra/args.c" % len(args))
        return
    ok("read %d PAM arguments from pam_neostra/args.c" % len(args))
    page = sections(read(top, "pam_neostra/pam_neostra.8"))
    synopsis = render(page.get("SYNOPSIS", []))
    entries = {}
    for tag, body in tagged(page.get("OPTIONS", [])):
        text = render([tag])
        m = re.match(r"^([a-z_]+)(?:=(.*))?$", text)
        if m:
            entries[m.group(1)] = (m.group(2), body)
    readme = read(top, "README.md")
    # The table whose header is "| argument | ...", wherever it is.
    m = re.search(r"^\| *argument *\|.*\n((?:\|.*\n)+)", readme, re.M | re.I)
    table = {}
    for row in re.findall(r"^\|([^|]*)\|([^|]*)\|", m.group(1) if m else "", re.M):
        for name, ph in re.findall(r"`([a-z_]+)(?:=([^`]*))?`", row[0]):
            table[name] = (ph or None, row[1])
    if not table:
        problem("README.md has no table of PAM arguments ('| argument | meaning |')")

    bad = []
    for name, kind, default in args:
        shown = name if kind is None else None
        if name not in entries:
            bad.append("%s: not under OPTIONS in pam_neostra.8" % name)
            continue
        ph, body = entries[name]
        if kind is None:
            if ph is not None:
                bad.append("%s: a flag, the page gives it a value" % name)
            if not re.search(r"(^|[\s\[|])%s($|[\s\]|])" % name, synopsis):
                bad.append("%s: not in the SYNOPSIS" % name)
        else:
            if ph is None:
                bad.append("%s: takes a value, the page shows none" % name)
                continue
            shown = "%s=%s" % (name, ph)
            if kind in PLACEHOLDER and ph not in PLACEHOLDER[kind]:
                bad.append("%s: a %s, shown as %s=%s" % (name, kind, name, ph))
            if kind == "duration" and not re.search(r"\b\d+(ms|s|m)\b", render(body)):
                bad.append("%s: a duration; the page gives no example with a unit" % name)
            if ("[%s]" % shown) not in synopsis:
                bad.append("%s: SYNOPSIS lacks [%s]" % (name, shown))
            said = man_default(body)
            if default is not None and not same(kind if kind == "duration" else "string", default, said):
                bad.append("%s: default %s, the page says '%s'" % (name, default, said))
        if table:
            if name not in table:
                bad.append("%s: not in README.md's argument table" % name)
            elif kind is not None and table[name][0] != ph:
                bad.append("%s: README.md shows %s=%s, the page %s" % (name, name, table[name][0], shown))
            elif kind is not None and default is not None:
                dm = re.search(r"default `?([^`;)]+)`?", table[name][1])
                if not dm or not same(kind if kind == "duration" else "string", default, dm.group(1)):
                    bad.append("%s: README.md's default is '%s', the code's %s"
                               % (name, dm.group(1) if dm else "", default))
    names = {a[0] for a in args}
    bad += ["%s: documented in pam_neostra.8 but not accepted" % n for n in entries if n not in names]
    bad += ["%s: in README.md's table but not accepted" % n for n in table if n not in names]
    verdict(bad, "every PAM argument agrees between args.c, pam_neostra.8 and README.md",
            "PAM arguments disagree:")


# ---- neostractl and neostrad --------------------------------------------------------

def help_text(build, prog):
    r = subprocess.run([os.path.join(build, prog), "--help"], capture_output=True, text=True, timeout=30)
    return r.stdout


def help_block(text, title):
    """Entries of a --help block ("Commands:", "Options:", or None for
    the lines of option shape anywhere): [(head, description)]."""
    out, on = [], title is None
    for line in text.splitlines():
        if title is not None:
            # "Options:" or "Options (before or after the command):"
            if line.strip() == title or (line.strip().startswith(title[:-1] + " (") and line.strip().endswith("):")):
                on = True
                continue
            if on and line and not line.startswith(" "):
                break
        if not on:
            continue
        # "  head   description", or an option without a short form
        # ("      --strict   ..."); deeper lines continue a description.
        m = re.match(r"^  (\S.*?)(?:\s{2,}(.*))?$", line) or \
            re.match(r"^\s{2,8}(--\S.*?)(?:\s{2,}(.*))?$", line)
        if m:
            out.append([m.group(1).strip(), m.group(2) or ""])
        elif out and line.startswith("    "):
            out[-1][1] += " " + line.strip()
    return out


def norm_opt(head):
    """'-s, --socket PATH' or '-c, --config=FILE' -> ('-s', '--socket', 'PATH')."""
    head = re.sub(r"\s+", " ", head.replace("=", " ")).strip()
    m = re.match(r"^(?:(-[A-Za-z0-9]),? )?(--[a-z-]+)(?: (\S+))?$", head)
    return m.groups() if m else None


def help_options(text, title):
    out = {}
    for head, desc in help_block(text, title):
        o = norm_opt(head)
        if o:
            d = re.search(r"\(default ([^)]*)\)", desc)
            out[o[1]] = (o[0], o[2], d.group(1) if d else None)
    return out


def page_options(page):
    out = {}
    for tag, body in tagged(sections(page).get("OPTIONS", [])):
        o = norm_opt(render([tag]))
        if o:
            said = man_default(body)
            out[o[1]] = (o[0], o[2], said or None)
    return out


def synopsis_options(text):
    """[(--long, ARG)] of "[--long ARG]"/"[-c FILE]" groups in a synopsis."""
    return re.findall(r"\[(-{1,2}[A-Za-z][a-z-]*)(?: ([A-Z]+))?[\] ]", text)


def check_options(bad, prog, helptxt, title, page, readme_syn):
    hopts = help_options(helptxt, title)
    popts = page_options(page)
    if len(hopts) < 3:
        bad.append("%s --help: read only %d options" % (prog, len(hopts)))
        return
    for o, (short, arg, default) in hopts.items():
        if o not in popts:
            bad.append("%s %s: in --help, not under OPTIONS in its page" % (prog, o))
            continue
        pshort, parg, pdefault = popts[o]
        if (short, arg) != (pshort, parg):
            bad.append("%s %s: --help says '%s %s %s', the page '%s %s %s'"
                       % (prog, o, short or "", o, arg or "", pshort or "", o, parg or ""))
        if default is not None:
            kind = "duration" if re.match(r"^\d+ ?[a-z]*$", default) else "string"
            if pdefault is None or not same(kind, default, pdefault):
                bad.append("%s %s: --help says default %s, the page '%s'" % (prog, o, default, pdefault))
    bad += ["%s %s: in its page, not in --help" % (prog, o) for o in popts if o not in hopts]
    # The synopses (the page's and README.md's) name only real options,
    # with their argument, and every option but --help.
    byshort = {v[0]: (k, v[1]) for k, v in hopts.items() if v[0]}
    # A command's own options ("metrics [--textfile DIR]" in --help's
    # Commands) may stand in a synopsis too, with the same argument.
    cmd_opts = {}
    for head, _ in help_block(helptxt, "Commands:"):
        for opt, arg in synopsis_options(head):
            cmd_opts[opt] = arg or None
    for where, syn in readme_syn:
        seen = set()
        for opt, arg in synopsis_options(syn):
            if opt in cmd_opts and opt not in hopts:
                if (arg or None) != cmd_opts[opt]:
                    bad.append("%s synopsis in %s: [%s %s], --help's command: %s %s"
                               % (prog, where, opt, arg, opt, cmd_opts[opt] or ""))
                continue
            name, want = (opt, hopts[opt][1]) if opt in hopts else byshort.get(opt, (None, None))
            if name is None:
                bad.append("%s synopsis in %s: %s is no option" % (prog, where, opt))
                continue
            seen.add(name)
            if (arg or None) != want:
                bad.append("%s synopsis in %s: [%s %s], --help: %s %s" % (prog, where, opt, arg, name, want or ""))
        missing = [o for o in hopts if o not in seen and o != "--help"]
        if missing and "[OPTIONS]" not in syn:
            bad.append("%s synopsis in %s lacks %s" % (prog, where, ", ".join(missing)))


def check_ctl(top, build):
    bad = []
    helptxt = help_text(build, "neostractl")
    cmds = {}
    for head, _ in help_block(helptxt, "Commands:"):
        verb = head.split()[0]
        cmds[verb] = re.sub(r"\s+", " ", head)
    if len(cmds) < 5:
        problem("neostractl --help: read only %d commands" % len(cmds))
        return
    ok("read %d commands from neostractl --help: %s" % (len(cmds), ", ".join(cmds)))
    page = read(top, "neostrad/neostractl.1")
    secs = sections(page)
    # SYNOPSIS: one ".br"-separated line per command.
    syn, cur = [], []
    for line in secs.get("SYNOPSIS", []) + [".br"]:
        if line.startswith(".br"):
            if cur:
                syn.append(render(cur))
            cur = []
        else:
            cur.append(line)
    synmap = {}
    for s in syn:
        m = re.match(r"^neostractl \[OPTIONS\] (\S+)(.*)$", s)
        if m:
            synmap[m.group(1)] = (m.group(1) + m.group(2)).strip()
        elif re.match(r"^neostractl --[a-z-]+$", s):
            pass    # "neostractl --version": an option alone, under OPTIONS
        else:
            bad.append("neostractl.1 SYNOPSIS line '%s' is not 'neostractl [OPTIONS] COMMAND ...'" % s)
    commands = {}
    for tag, _ in tagged(secs.get("COMMANDS", [])):
        t = render([tag])
        commands[t.split()[0]] = t
    readme = read(top, "README.md")
    # One line, or continued on lines that start with blanks and "|".
    rm = re.search(r"^neostractl (\[.*(?:\n[ \t]+\|.*)*)$", readme, re.M)
    rcmds = {}
    if not rm:
        bad.append("README.md has no 'neostractl [OPTIONS] a | b ARG' line")
        rsyn = ""
    else:
        rsyn = re.sub(r"\s*\n\s*", " ", rm.group(1))
        opts_end = re.match(r"^(\s*\[[^\]]*\])*\s*", rsyn).end()
        for part in rsyn[opts_end:].split(" | "):
            part = part.strip()
            if part:
                rcmds[part.split()[0]] = part
    for where, got in (("neostractl.1 SYNOPSIS", synmap), ("neostractl.1 COMMANDS", commands),
                       ("README.md", rcmds)):
        if where == "README.md" and not rm:
            continue
        for verb, want in cmds.items():
            if verb not in got:
                bad.append("%s lacks '%s'" % (where, want))
            elif got[verb] != want:
                bad.append("%s shows '%s', --help '%s'" % (where, got[verb], want))
        bad += ["%s shows '%s', which --help does not have" % (where, v) for v in got if v not in cmds]
    # "neostractl --version" on a line of its own counts as [--version].
    alone = " ".join("[%s]" % o for o in re.findall(r"^neostractl (--[a-z-]+)$", readme, re.M))
    check_options(bad, "neostractl", helptxt, "Options:", page,
                  [("neostractl.1", " ".join(syn)), ("README.md", rsyn + " " + alone)])

    dhelp = help_text(build, "neostrad")
    dpage = read(top, "neostrad/neostrad.8")
    dsyn = render(sections(dpage).get("SYNOPSIS", []))
    dm = re.search(r"^neostrad (\[.*)$", readme, re.M)
    dsyns = [("neostrad.8", dsyn)]
    if dm:
        dsyns.append(("README.md", dm.group(1)))
    else:
        bad.append("README.md has no 'neostrad [-c FILE] ...' line")
    check_options(bad, "neostrad", dhelp, None, dpage, dsyns)
    verdict(bad, "neostractl's commands and both programs' options agree between --help, the pages and README.md",
            "commands and options disagree:")


# ---- account lines ---------------------------------------------------------------------

def check_account(top):
    prof = read(top, "packaging/debian/pam-configs/neostra")
    m = re.search(r"^Account:\n\s+(\[[^\]]*\])\s+pam_neostra\.so", prof, re.M)
    if not m:
        problem("packaging/debian/pam-configs/neostra has no Account: line of pam_neostra.so")
        return
    want = m.group(1)
    bad = []
    for path in ("packaging/rpm/pam_neostra.spec", "README.md"):
        found = re.findall(r"^#.*\baccount\s+(\[[^\]]*\])\s+pam_neostra\.so", read(top, path), re.M)
        if not found:
            bad.append("%s tells no authselect account line" % path)
        bad += ["%s: %s" % (path, f) for f in found if f != want]
    if want not in read(top, "pam_neostra/pam_neostra.8"):
        bad.append("pam_neostra.8 does not show it")
    verdict(bad, "the RPM instructions and pam_neostra.8 give the account line of the Debian profile: " + want,
            "account lines differ from the Debian profile's %s:" % want)


# ---- neostrad: what --test-config prints, what it tells systemd ------------------------

def check_daemon(top):
    src = "".join(read(top, "neostrad/" + f) for f in sorted(os.listdir(os.path.join(top, "neostrad")))
                  if f.endswith(".c"))
    page = read(top, "neostrad/neostrad.8")
    readme = read(top, "README.md")
    bad = []
    m = re.search(r"^static int test_config_report\(.*?^\}", src, re.M | re.S)
    formats = re.findall(r'printf\("%s: ([^"]*)\\n"', m.group(0) if m else "")
    if len(formats) < 3:
        bad.append("read only %d summary lines of --test-config in neostrad.c" % len(formats))
    entry = [render(b) for t, b in tagged(sections(page).get("OPTIONS", [])) if "test-config" in render([t])]
    text = entry[0] if entry else ""
    for f in formats:
        rx = r"\S+: " + re.sub(r"%[su]", r"\\S+", re.escape(f).replace("%", "%"))
        if not re.search(rx, text):
            bad.append("neostrad.8 --test-config does not show the summary '%%s: %s'" % f)
    # sd_notify() messages, and WATCHDOG=1 when sd-event sends it.
    sent = set(re.findall(r'sd_notifyf?\([^"]*"([A-Z_]+=)(1?)', src))
    msgs = {a + b for a, b in sent}
    if "sd_event_set_watchdog" in src:
        msgs.add("WATCHDOG=1")
    if len(msgs) < 4:
        bad.append("read only %d sd_notify messages from neostrad/*.c" % len(msgs))
    desc = render(sections(page).get("DESCRIPTION", []))
    for msg in sorted(msgs):
        if msg not in desc:
            bad.append("neostrad.8 DESCRIPTION does not name %s" % msg)
        if msg not in readme:
            bad.append("README.md does not name %s" % msg)
    unit = read(top, "packaging/systemd/neostrad.service.in")
    wd = re.search(r"^WatchdogSec=(\d+)s?$", unit, re.M)
    if wd and "WATCHDOG=1" in msgs:
        secs = wd.group(1)
        if not re.search(r"\b%s seconds\b" % secs, desc):
            bad.append("neostrad.8 does not give the unit's WatchdogSec=%ss" % secs)
        if not re.search(r"\b%s ?s\b" % secs, readme):
            bad.append("README.md does not give the unit's WatchdogSec=%ss" % secs)
    elif "WATCHDOG=1" in msgs:
        bad.append("packaging/systemd/neostrad.service.in sets no WatchdogSec=")
    verdict(bad, "neostrad.8 and README.md give --test-config's summary lines and the sd_notify messages (watchdog included)",
            "neostrad.8 or README.md disagree with neostrad:")


# ---- roff ------------------------------------------------------------------------------

def check_roff(top):
    bad = []
    for path in ("neostrad/neostractl.1", "neostrad/neostrad.8", "neostrad/neostrad.conf.5",
                 "pam_neostra/pam_neostra.8"):
        inex = False
        lines = read(top, path).splitlines()
        for n, line in enumerate(lines, 1):
            if line.startswith(".EX"):
                inex = True
            elif line.startswith(".EE"):
                inex = False
            if line.startswith("'") and not line.startswith("'\\\""):
                bad.append("%s:%d: a text line starting with ' is a request" % (path, n))
            if not inex and re.match(r"^[,;:)]", line) and n > 1 and \
                    re.match(r"\.(B|I|BR|BI|IB|IR|RB|RI)\s", lines[n - 2]):
                bad.append("%s:%d: a blank before '%s' (put it on the macro line)" % (path, n, line[0]))
            m = re.match(r"\.(BR|BI|IB|IR|RB|RI)\s+(.*)$", line)
            if not m or inex:
                continue
            args = roff_args(m.group(2))
            # Two plain words in a row run together ("thelast"): running
            # text has no place in an alternating-font macro.  A word
            # ending in = / : . - ( or a suffix glued on (".d", "'s") is
            # meant to touch the next.
            for (a, qa), (b, qb) in zip(args, args[1:]):
                if not qa and not qb and re.match(r"^[A-Za-z0-9]", a) and re.match(r"^[A-Za-z0-9]", b) \
                        and not re.search(r"[=/:.(-]$", a):
                    bad.append("%s:%d: '%s' and '%s' run together: %s" % (path, n, a, b, line))
                    break
    verdict(bad, "no running text in alternating-font macros and no text line taken for a request",
            "roff that renders wrong:")


def main(argv):
    if len(argv) != 4 or argv[1] != "check":
        sys.stderr.write("usage: docs_agree.py check TOP BUILDDIR\n")
        return 2
    top, build = argv[2], argv[3]
    for fn in (lambda: check_keys(top, build), lambda: check_pam(top),
               lambda: check_ctl(top, build), lambda: check_account(top), lambda: check_daemon(top),
               lambda: check_roff(top)):
        try:
            fn()
        except Exception as e:  # a reader that broke must fail, not pass
            problem("%s: %r" % (fn.__code__.co_names, e))
    return 1 if PROBLEMS else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
