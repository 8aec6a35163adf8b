#!/usr/bin/env python3
"""The README's config examples work as pasted, and the README keeps its
other promises about itself.

    readme_config.py NEOSTRAD

Config examples.  Every fenced block opened with ```ini in README.md, then
in doc/*.md (in name order), is one example:

* a block whose first line is a comment naming a drop-in,
  "# /etc/neostra/neostrad.conf.d/NAME.conf", is that drop-in: it is
  checked beside the shipped packaging/neostrad.conf (every key commented
  out) and the drop-ins shown before it, in the order a reader following
  the documents would have made them (a later block of the same NAME
  replaces the earlier one);
* any other block is a whole /etc/neostra/neostrad.conf, checked alone.

Each is written, exactly as shown, to a fresh directory (the main file as
neostrad.conf, drop-ins in neostrad.conf.d/), root's and mode 0644, and
checked with `neostrad -c DIR/neostrad.conf --test-config --strict`.  Only
what depends on this host is neutralised, by one more drop-in the test
adds last (zz-readme-test.conf): [daemon] user = root (the packages'
user neostra need not exist here), [cache] directory = a fresh 0700
directory, and [daemon] socket and userdb_socket in the test directory.
SYSTEMD_UNIT_PATH points at an empty directory, so no installed unit
matters.  An example must then load and have no finding at all: a
syntax error (an end-of-line comment included), an unknown key, no
[api] url ("unconfigured" is a warning, which --strict refuses), an
email_template that makes no email, a file an example names that does
not exist, all fail.  Three broken copies of the first whole example (an
end-of-line comment, email_template = %u, no url) must fail, so the
check is known to bite.

The README's recommended account line is the one the Debian package's
pam-auth-update profile writes, and the README and doc/ point at no file
outside the repository and at no doc/ file that does not exist.

Prints "ok - ..." / "FAIL - ..." and ends with
"readme-config: N passed, N failed".
"""
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DROPIN_RE = re.compile(r"^# /etc/neostra/neostrad\.conf\.d/([A-Za-z0-9._-]+\.conf)$")

passed = failed = 0


def ok(msg):
    global passed
    passed += 1
    print("ok - " + msg)


def fail(msg, detail=""):
    global failed
    failed += 1
    print("FAIL - " + msg)
    for line in detail.rstrip("\n").splitlines():
        print("  | " + line)


def fenced_blocks(path, lang):
    """(line number of the fence, text) of each ```LANG block of path."""
    blocks = []
    with open(path) as f:
        lines = f.read().split("\n")
    i = 0
    while i < len(lines):
        if lines[i].strip() == "```" + lang:
            start = i + 1
            j = start
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            blocks.append((start, "\n".join(lines[start:j]) + "\n"))
            i = j
        i += 1
    return blocks


def test_config(neostrad, main_text, dropins):
    """Runs --test-config --strict on main_text and dropins ({name: text});
    returns (exit status, output)."""
    d = tempfile.mkdtemp(prefix="neostra-readme-")
    try:
        conf = os.path.join(d, "neostrad.conf")
        dropdir = conf + ".d"
        units = os.path.join(d, "units")
        cache = os.path.join(d, "cache")
        os.mkdir(dropdir, 0o755)
        os.mkdir(units, 0o755)
        os.mkdir(cache, 0o700)
        os.chmod(cache, 0o700)
        files = {conf: main_text}
        for name, text in dropins.items():
            files[os.path.join(dropdir, name)] = text
        files[os.path.join(dropdir, "zz-readme-test.conf")] = (
            "[cache]\ndirectory = %s\n[daemon]\nuser = root\nsocket = %s\nuserdb_socket = %s\n"
            % (cache, os.path.join(d, "a.sock"), os.path.join(d, "u.sock")))
        for path, text in files.items():
            with open(path, "w") as f:
                f.write(text)
            os.chown(path, 0, 0)
            os.chmod(path, 0o644)
        os.chmod(d, 0o755)
        env = dict(os.environ, SYSTEMD_UNIT_PATH=units)
        p = subprocess.run([neostrad, "-c", conf, "--test-config", "--strict"], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60,
                           universal_newlines=True)
        return p.returncode, p.stdout.replace(d, "DIR")
    finally:
        shutil.rmtree(d, ignore_errors=True)


def clean(rc, out):
    return rc == 0 and "configuration ok" in out and "error" not in out and "warning" not in out


def check_examples(neostrad):
    with open(os.path.join(TOP, "packaging/neostrad.conf")) as f:
        shipped = f.read()
    docs = [os.path.join(TOP, "README.md")] + sorted(glob.glob(os.path.join(TOP, "doc", "*.md")))
    dropins = {}
    whole = []
    n_dropins = 0
    for path in docs:
        rel = os.path.relpath(path, TOP)
        for line, text in fenced_blocks(path, "ini"):
            first = text.split("\n", 1)[0]
            m = DROPIN_RE.match(first)
            if m:
                n_dropins += 1
                dropins[m.group(1)] = text
                what = "%s:%d: the drop-in %s (beside the shipped config and the drop-ins before it: %s)" % (
                    rel, line, m.group(1), " ".join(sorted(dropins)))
                rc, out = test_config(neostrad, shipped, dict(dropins))
            else:
                whole.append(text)
                what = "%s:%d: a whole neostrad.conf" % (rel, line)
                rc, out = test_config(neostrad, text, {})
            if clean(rc, out):
                ok(what + " passes --test-config --strict as pasted")
            else:
                fail(what + " does not pass --test-config --strict (exit %d)" % rc, out)
    if whole:
        ok("README.md and doc/ show %d whole config(s) and %d drop-in(s)" % (len(whole), n_dropins))
    else:
        fail("no whole ```ini config found in README.md or doc/ (the extraction is broken)")
        return

    # The check bites: broken copies of the first whole example fail.
    base = whole[0]
    if not re.search(r"(?m)^url = ", base) or not re.search(r"(?m)^email_template = ", base):
        fail("the first whole example sets no url or no email_template: nothing to break")
        return
    broken = [
        ("an end-of-line comment", re.sub(r"(?m)^(url = .*)$", r"\1  # the API", base, count=1),
         "url"),
        ("email_template = %u", re.sub(r"(?m)^email_template = .*$", "email_template = %u", base, count=1),
         "email_template"),
        ("no url", re.sub(r"(?m)^url = .*\n", "", base, count=1), "url"),
    ]
    for name, text, key in broken:
        rc, out = test_config(neostrad, text, {})
        if rc != 0 and key in out:
            ok("the first whole example with %s fails (exit %d): %s" % (name, rc, out.strip().splitlines()[0]))
        else:
            fail("the first whole example with %s was not refused (exit %d)" % (name, rc), out)


def squeeze(line):
    return " ".join(line.split())


def check_package_account_line():
    """The README's block after "The package's account lines" is what the
    pam-auth-update profile writes: common-account.example's pam_unix,
    pam_deny and pam_permit lines, then the profile's Account: line."""
    readme = os.path.join(TOP, "README.md")
    with open(readme) as f:
        lines = f.read().split("\n")
    block = None
    for i, line in enumerate(lines):
        if line.startswith("The package's account lines"):
            j = i + 1
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            k = j + 1
            while k < len(lines) and not lines[k].startswith("```"):
                k += 1
            block = [squeeze(x) for x in lines[j + 1:k] if x.strip() and not x.lstrip().startswith("#")]
            break
    if block is None:
        fail("README.md has no line starting \"The package's account lines\" before the package's block")
        return
    with open(os.path.join(TOP, "packaging/pam/common-account.example")) as f:
        example = [squeeze(x) for x in f if x.strip() and not x.lstrip().startswith("#")]
    with open(os.path.join(TOP, "packaging/debian/pam-configs/neostra")) as f:
        profile = f.read().split("\n")
    account = None
    for i, line in enumerate(profile):
        if line.strip() == "Account:":
            account = squeeze(profile[i + 1])
    if account is None:
        fail("packaging/debian/pam-configs/neostra has no Account: line")
        return
    want = [x for x in example if "pam_neostra.so" not in x] + ["account " + account]
    if block == want:
        ok("README.md's package account block is pam-auth-update's: " + block[-1])
    else:
        fail("README.md's package account block differs from the profile's",
             "README: %s\nwant:   %s" % (" | ".join(block), " | ".join(want)))


def strip_fences(text):
    """text without its fenced blocks (a "# comment" there is no heading)."""
    return re.sub(r"(?ms)^```.*?^```", "", text)


def check_references():
    docs = [os.path.join(TOP, "README.md")] + sorted(glob.glob(os.path.join(TOP, "doc", "*.md")))
    for path in docs:
        rel = os.path.relpath(path, TOP)
        with open(path) as f:
            text = f.read()
        bad = [w for w in ("DESIGN.md", "/work/", "STYLE.md") if w in text]
        if bad:
            fail("%s names files outside the repository: %s" % (rel, ", ".join(bad)))
        else:
            ok("%s names no file outside the repository" % rel)
        missing = []
        for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text):
            if re.match(r"[a-z]+:", target):
                continue
            if not os.path.exists(os.path.normpath(os.path.join(os.path.dirname(path), target))):
                missing.append(target)
        # Anchors within the file, as GitHub makes them from headings.
        slugs = set()
        for h in re.findall(r"(?m)^#+ (.*)$", strip_fences(text)):
            slugs.add(re.sub(r"[^a-z0-9 _-]", "", h.strip().lower()).replace(" ", "-"))
        for anchor in re.findall(r"\]\(#([^)]+)\)", text):
            if anchor not in slugs:
                missing.append("#" + anchor)
        if missing:
            fail("%s links to files or headings that do not exist: %s" % (rel, ", ".join(missing)))
        else:
            ok("%s: every relative link and anchor resolves" % rel)


def main():
    neostrad = sys.argv[1]
    check_examples(neostrad)
    check_package_account_line()
    check_references()
    print("readme-config: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
