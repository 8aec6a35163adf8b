#!/usr/bin/env python3
"""The findings of `neostrad --test-config` beyond the syntax
(common/conf-check.c), one table row per case: a config, what the case
sets up around it (files, directories, owners, installed units), the exit
status without and with --strict, and the lines stderr must (and must not)
hold.  Root is needed (files owned by other users).

    test_config_cases.py NEOSTRAD

Every case runs in a fresh directory; SYSTEMD_UNIT_PATH points neostrad at
that case's own unit directory (empty: no unit installed), so the host's
units never matter.  Prints "ok - ..." / "FAIL - ..." and ends with
"test-config: N passed, N failed".
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NOBODY = 65534
MISSING_USER = "neostra-test-no-such-user"
MISSING_GROUP = "neostra-test-no-such-group"

BASE = """[api]
url = http://127.0.0.1:1
{api}
[users]
{users}
[identities]
userdb = {userdb}
[groups]
{groups}
[cache]
directory = {cache}
[daemon]
user = {user}
socket = {socket}
userdb_socket = {userdb_socket}
"""


class Case:
    def __init__(self, name, rc, strict_rc=None, match=(), nomatch=(), setup=None, **keys):
        self.name = name
        self.rc = rc
        self.strict_rc = rc if strict_rc is None else strict_rc
        self.match = match
        self.nomatch = nomatch
        self.setup = setup
        self.keys = keys


def config_text(d, keys):
    values = {
        "api": "", "users": "email_template = %u@example.com", "userdb": "no", "groups": "",
        "cache": os.path.join(d, "cache"), "user": "root",
        "socket": os.path.join(d, "a.sock"), "userdb_socket": os.path.join(d, "u.sock"),
    }
    values.update(keys)
    text = BASE.format(**values)
    if "url" in keys and keys["url"] is None:
        text = text.replace("url = http://127.0.0.1:1\n", "")
    return text


def line_of(path, needle):
    with open(path) as f:
        for i, line in enumerate(f, 1):
            if line.startswith(needle):
                return i
    raise AssertionError("%s has no line %r" % (path, needle))


def shipped_units(d, service_extra=None, socket=True):
    """The shipped units, as installed, in d/units; service_extra: a
    drop-in for neostrad.service."""
    units = os.path.join(d, "units")
    with open(os.path.join(TOP, "packaging/systemd/neostrad.service.in")) as f:
        text = f.read().replace("@SBINDIR@", "/usr/sbin")
    with open(os.path.join(units, "neostrad.service"), "w") as f:
        f.write(text)
    if socket:
        shutil.copy(os.path.join(TOP, "packaging/systemd/neostrad.socket"), units)
    if service_extra:
        os.makedirs(os.path.join(units, "neostrad.service.d"))
        with open(os.path.join(units, "neostrad.service.d", "50-test.conf"), "w") as f:
            f.write("[Service]\n" + service_extra)


# ---- set-ups -------------------------------------------------------------------

def mkcache(mode=0o700, owner=0):
    def setup(d):
        c = os.path.join(d, "cache")
        os.mkdir(c)
        os.chmod(c, mode)
        os.chown(c, owner, owner)
    return setup


def both(*fns):
    def setup(d):
        for fn in fns:
            fn(d)
    return setup


def ca_file(mode=0o644):
    def setup(d):
        p = os.path.join(d, "ca.pem")
        with open(p, "w") as f:
            f.write("-----BEGIN CERTIFICATE-----\n")
        os.chmod(p, mode)
    return setup


def conf_mode(mode, owner=0):
    def setup(d):
        p = os.path.join(d, "neostrad.conf")
        os.chmod(p, mode)
        os.chown(p, owner, 0)
    return setup


def dropin(text, mode=0o644):
    def setup(d):
        dd = os.path.join(d, "neostrad.conf.d")
        os.makedirs(dd, exist_ok=True)
        p = os.path.join(dd, "50-local.conf")
        with open(p, "w") as f:
            f.write(text)
        os.chmod(p, mode)
    return setup


def cache_symlink(d):
    os.mkdir(os.path.join(d, "real-cache"), 0o700)
    os.symlink(os.path.join(d, "real-cache"), os.path.join(d, "cache"))


def units(service_extra=None, socket=True):
    return lambda d: shipped_units(d, service_extra, socket)


CONF = "{conf}"  # replaced by the case's config path in patterns

CASES = [
    Case("a good config: ok, no finding", 0, setup=mkcache(),
         match=[r"^\{conf\}: configuration ok$"], nomatch=[r"error|warning"]),
    Case("a cache directory the daemon can create is fine", 0,
         match=[r"configuration ok$"], nomatch=[r"error|warning"]),
    # [daemon] user
    Case("[daemon] user names no user", 1, setup=mkcache(), user=MISSING_USER,
         match=[r"\{conf\}:\{line:user = \}: error: \[daemon\] user '%s' does not exist: the daemon stops"
                % MISSING_USER]),
    # files the daemon reads
    Case("[api] ca_file is missing", 1, setup=mkcache(), api="ca_file = {d}/missing.pem",
         match=[r"\{conf\}:\{line:ca_file\}: error: \[api\] ca_file \{d\}/missing.pem: No such file"]),
    Case("[api] ca_file is a directory", 1, setup=mkcache(), api="ca_file = {d}",
         match=[r"\{conf\}:\{line:ca_file\}: error: \[api\] ca_file \{d\} is not a regular file"]),
    Case("[api] ca_file unreadable by the daemon's user", 1,
         setup=both(mkcache(owner=NOBODY), ca_file(0o600)), api="ca_file = {d}/ca.pem", user="nobody",
         match=[r"\{conf\}:\{line:ca_file\}: error: \[api\] ca_file \{d\}/ca.pem is not readable by the "
                r"daemon's user nobody"], nomatch=[r"cache"]),
    Case("[api] ca_file readable: no finding", 0, setup=both(mkcache(), ca_file()), api="ca_file = {d}/ca.pem",
         nomatch=[r"error|warning"]),
    Case("the config unreadable by the daemon's user", 1,
         setup=both(mkcache(owner=NOBODY), conf_mode(0o600)), user="nobody",
         match=[r"^\{conf\}: error: not readable by the daemon's user nobody .*chgrp nobody \{conf\}"]),
    # the cache directory
    Case("[cache] directory missing, its parent too", 1, cache="{d}/no/such/cache",
         match=[r"\{conf\}:\{line:directory\}: error: \[cache\] directory \{d\}/no/such/cache does not exist "
                r"and the daemon \(user root\) cannot create it"]),
    Case("[cache] directory mode 0755: a named warning, --strict refuses", 0, strict_rc=1,
         setup=mkcache(0o755),
         match=[r"\{conf\}:\{line:directory\}: warning \[cache-mode\]: \[cache\] directory .* mode 0755",
                r"configuration ok, 1 warning|1 warning\(s\), refused by --strict"]),
    Case("[cache] directory owned by another user", 1, setup=mkcache(owner=NOBODY),
         match=[r"\{conf\}:\{line:directory\}: error: \[cache\] directory .* is owned by uid 65534, not by "
                r"the daemon's user root"]),
    Case("[cache] directory is a symlink", 1, setup=cache_symlink,
         match=[r"error: \[cache\] directory .* is a symlink"]),
    # the email
    Case("the default email_template with a url: every login would fail", 1, setup=mkcache(), users="",
         match=[r"^\{conf\}: error: \[users\] email_template = %u makes no email"]),
    Case("email_template without '@' but domains set: a named warning", 0, strict_rc=1, setup=mkcache(),
         users="email_template = %u\ndomains = example.com",
         match=[r"\{conf\}:\{line:email_template\}: warning \[email-template\]"]),
    Case("not configured yet: a named warning, not an error", 0, strict_rc=1, setup=mkcache(), url=None,
         match=[r"warning \[unconfigured\]: not configured yet",
                r"configuration ok, 1 warning|1 warning\(s\), refused by --strict"]),
    # what the module would refuse
    Case("a group-writable config: the module would refuse it", 1, setup=both(mkcache(), conf_mode(0o664)),
         match=[r"error: the PAM module refuses this configuration"]),
    Case("a config owned by another user: the module would refuse it", 1,
         setup=both(mkcache(), conf_mode(0o644, owner=NOBODY)),
         match=[r"not owned by root", r"error: the PAM module refuses this configuration"]),
    Case("a world-writable drop-in: the module would refuse it", 1,
         setup=both(mkcache(), dropin("[access]\nallow_roles = admin\n", 0o666)),
         match=[r"50-local.conf", r"error: the PAM module refuses this configuration"]),
    # [groups]
    Case("[groups] names no group (userdb off)", 0, strict_rc=1, setup=mkcache(),
         groups="admin = " + MISSING_GROUP,
         match=[r"\{conf\}:\{line:admin = \}: warning \[group-missing\]: \[groups\] admin maps to group '%s'"
                % MISSING_GROUP]),
    Case("[groups] names no group (userdb on: neostrad publishes it)", 0, setup=mkcache(), userdb="yes",
         groups="admin = " + MISSING_GROUP, nomatch=[r"error|warning"]),
    Case("[groups] maps a role to gid 0", 1, setup=mkcache(), groups="admin = root",
         match=[r"\{conf\}:\{line:admin = \}: error: \[groups\] admin maps to group 'root' \(gid 0\)"]),
    Case("a drop-in's setting is blamed on the drop-in's line", 1,
         setup=both(mkcache(), dropin("# local\n[users]\nemail_template = %u\n")),
         match=[r"\{conf\}.d/50-local.conf:3: error: \[users\] email_template = %u makes no email"]),
    # the installed units
    Case("the shipped units, [daemon] as they say: ok", 0, setup=units("User=root\n"),
         cache="/var/lib/neostra", socket="/run/neostra/io.neostra.Auth",
         userdb_socket="/run/systemd/userdb/io.neostra", userdb="yes", nomatch=[r"error|warning"]),
    Case("the unit's User= does not exist", 1, setup=units("User=%s\n" % MISSING_USER),
         cache="/var/lib/neostra", socket="/run/neostra/io.neostra.Auth", user="neostra",
         match=[r"runs the daemon as User=%s, which does not exist" % MISSING_USER]),
    Case("a cache directory the sandbox makes read-only", 1, setup=both(mkcache(), units("User=root\n")),
         socket="/run/neostra/io.neostra.Auth", cache="{d}/cache",
         match=[r"\{conf\}:\{line:directory\}: error: \[cache\] directory \{d\}/cache is not writable inside "
                r"the sandbox"]),
    Case("a cache directory given ReadWritePaths=: ok", 0,
         setup=both(mkcache(), units("User=root\nReadWritePaths=-{d}/cache\nPrivateTmp=no\n")),
         socket="/run/neostra/io.neostra.Auth", cache="{d}/cache", nomatch=[r"error|warning"]),
    Case("a ca_file the sandbox hides (PrivateTmp=)", 1, setup=both(ca_file(), units("User=root\n")),
         cache="/var/lib/neostra", socket="/run/neostra/io.neostra.Auth", api="ca_file = {d}/ca.pem",
         match=[r"\{conf\}:\{line:ca_file\}: error: \[api\] ca_file \{d\}/ca.pem is hidden from the daemon "
                r"by PrivateTmp=yes"]),
    Case("a ca_file in /home (ProtectHome=)", 1, setup=units("User=root\nPrivateTmp=no\n"),
         cache="/var/lib/neostra", socket="/run/neostra/io.neostra.Auth",
         api="ca_file = /home/neostra-test-no-such-dir/ca.pem",
         match=[r"\{conf\}:\{line:ca_file\}: error: \[api\] ca_file /home/neostra-test-no-such-dir/ca.pem is "
                r"hidden from the daemon by ProtectHome=yes"]),
    Case("[daemon] socket differs from the socket unit's", 1, setup=units("User=root\n"),
         cache="/var/lib/neostra",
         match=[r"\{conf\}:\{line:socket = \}: error: \[daemon\] socket = \{d\}/a.sock, but .*neostrad.socket "
                r"does not listen there"]),
    Case("userdb_socket differs from the socket unit's (userdb on)", 1, setup=units("User=root\n"),
         cache="/var/lib/neostra", socket="/run/neostra/io.neostra.Auth", userdb="yes",
         match=[r"\{conf\}:\{line:userdb_socket\}: error: \[daemon\] userdb_socket = .*nss-systemd never asks"]),
]


def expand(pattern, d, conf):
    """{conf}, {d} and {line:PREFIX} (the line of conf starting with PREFIX)."""
    def line(m):
        return str(line_of(conf, m.group(1)))
    pattern = re.sub(r"\\\{line:([^}]*)\\\}", line, pattern)
    return pattern.replace(r"\{conf\}", re.escape(conf)).replace(r"\{d\}", re.escape(d))


def run(neostrad, case):
    d = tempfile.mkdtemp(prefix="neostra-test-config-")
    try:
        os.chmod(d, 0o755)
        os.mkdir(os.path.join(d, "units"))
        keys = {k: (v.replace("{d}", d) if isinstance(v, str) else v) for k, v in case.keys.items()}
        conf = os.path.join(d, "neostrad.conf")
        with open(conf, "w") as f:
            f.write(config_text(d, keys))
        os.chmod(conf, 0o644)
        if case.setup:
            setup_d = d
            case.setup(setup_d)
            # drop-ins with {d} in them
            for root, _, files in os.walk(os.path.join(d, "units")):
                for name in files:
                    p = os.path.join(root, name)
                    with open(p) as f:
                        t = f.read()
                    if "{d}" in t:
                        with open(p, "w") as f:
                            f.write(t.replace("{d}", d))
        env = dict(os.environ, SYSTEMD_UNIT_PATH=os.path.join(d, "units"))
        why = []
        for strict, want in ((False, case.rc), (True, case.strict_rc)):
            argv = [neostrad, "-c", conf, "--test-config"] + (["--strict"] if strict else [])
            r = subprocess.run(argv, capture_output=True, text=True, timeout=30, env=env)
            out = r.stderr + r.stdout
            if r.returncode != want:
                why.append("%s: exit %d, expected %d" % (" ".join(argv[3:]), r.returncode, want))
            for p in case.match:
                if not re.search(expand(p, d, conf), out, re.M):
                    why.append("no line matches %r" % expand(p, d, conf))
            for p in case.nomatch:
                if re.search(expand(p, d, conf), out, re.M):
                    why.append("a line matches %r" % p)
            if why:
                why.append("output:\n" + "\n".join("  | " + line for line in out.splitlines()))
                break
        return why
    finally:
        shutil.rmtree(d, ignore_errors=True)


def main(argv):
    neostrad = argv[1]
    passed = failed = 0
    for case in CASES:
        try:
            why = run(neostrad, case)
        except Exception as e:  # a broken case is a failed one
            why = ["%s: %s" % (e.__class__.__name__, e)]
        if why:
            failed += 1
            print("FAIL - %s: %s" % (case.name, "; ".join(why)))
        else:
            passed += 1
            print("ok - %s" % case.name)
    print("test-config: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
