#!/usr/bin/python3
"""Open and close one PAM session through a service file in a private
directory (pam_start_confdir), for tests/integration/pam-stacks.sh.

    pam_session.py CONFDIR SERVICE USER

tests/pamcheck runs authenticate, acct_mgmt and setcred only; the session
lines of the recommended stacks (pam_mkhomedir, pam_neostra) need
pam_open_session and pam_close_session, which this does through libpam
with ctypes.  No password is involved: session modules never ask for one
(a prompt is answered with an empty string and reported).

Prints one line per step ("pam_open_session(USER): Success") and the
modules' messages; exits 0 when both steps succeed, 1 otherwise, 2 on
usage or setup errors.
"""

import ctypes
import sys

PAM_PROMPT_ECHO_OFF = 1
PAM_PROMPT_ECHO_ON = 2
PAM_ERROR_MSG = 3
PAM_TEXT_INFO = 4


class PamMessage(ctypes.Structure):
    _fields_ = [("msg_style", ctypes.c_int), ("msg", ctypes.c_char_p)]


class PamResponse(ctypes.Structure):
    _fields_ = [("resp", ctypes.c_void_p), ("resp_retcode", ctypes.c_int)]


CONV_FUNC = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int,
                             ctypes.POINTER(ctypes.POINTER(PamMessage)),
                             ctypes.POINTER(ctypes.POINTER(PamResponse)),
                             ctypes.c_void_p)


class PamConv(ctypes.Structure):
    _fields_ = [("conv", CONV_FUNC), ("appdata_ptr", ctypes.c_void_p)]


def main(argv):
    if len(argv) != 4:
        sys.stderr.write("usage: pam_session.py CONFDIR SERVICE USER\n")
        return 2
    confdir, service, user = argv[1:4]
    try:
        libpam = ctypes.CDLL("libpam.so.0")
        libc = ctypes.CDLL(None)
    except OSError as e:
        sys.stderr.write("cannot load libpam: %s\n" % e)
        return 2
    libc.calloc.restype = ctypes.c_void_p
    libc.calloc.argtypes = [ctypes.c_size_t, ctypes.c_size_t]
    libc.strdup.restype = ctypes.c_void_p
    libc.strdup.argtypes = [ctypes.c_char_p]
    libpam.pam_start_confdir.argtypes = [ctypes.c_char_p, ctypes.c_char_p,
                                         ctypes.POINTER(PamConv), ctypes.c_char_p,
                                         ctypes.POINTER(ctypes.c_void_p)]
    libpam.pam_strerror.restype = ctypes.c_char_p
    libpam.pam_strerror.argtypes = [ctypes.c_void_p, ctypes.c_int]
    for name in ("pam_open_session", "pam_close_session", "pam_end"):
        getattr(libpam, name).argtypes = [ctypes.c_void_p, ctypes.c_int]

    def conv(n, msgs, resp, _data):
        # libpam frees the array and every resp string: allocate with libc.
        arr = libc.calloc(n, ctypes.sizeof(PamResponse))
        if not arr:
            return 5  # PAM_BUF_ERR
        responses = ctypes.cast(arr, ctypes.POINTER(PamResponse))
        for i in range(n):
            m = msgs[i].contents
            text = (m.msg or b"").decode("utf-8", "replace")
            if m.msg_style in (PAM_PROMPT_ECHO_OFF, PAM_PROMPT_ECHO_ON):
                print("    module asks (unexpected in a session): %s" % text)
                responses[i].resp = libc.strdup(b"")
            elif m.msg_style == PAM_ERROR_MSG:
                print("    module says (error): %s" % text)
            else:
                print("    module says (info): %s" % text)
        resp[0] = responses
        return 0

    pc = PamConv(CONV_FUNC(conv), None)
    pamh = ctypes.c_void_p()
    r = libpam.pam_start_confdir(service.encode(), user.encode(), ctypes.byref(pc),
                                 confdir.encode(), ctypes.byref(pamh))
    if r != 0:
        print("pam_start_confdir: %s" % libpam.pam_strerror(None, r).decode())
        return 2

    def step(name):
        rc = getattr(libpam, name)(pamh, 0)
        print("  %s(%s): %s" % (name, user, libpam.pam_strerror(pamh, rc).decode()))
        return rc

    rc = step("pam_open_session")
    ok = rc == 0
    if ok:
        rc = step("pam_close_session")
        ok = rc == 0
    libpam.pam_end(pamh, rc)
    sys.stdout.flush()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
