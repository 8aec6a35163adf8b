#!/usr/bin/python3
"""core_search.py CORE < SECRET: exit 1 when a 32-byte window of SECRET
(past its first 16 bytes) is in a PT_LOAD segment of the ELF core image,
0 when not, 2 when CORE is not a 64-bit little-endian ELF core.  Windows
found only in the notes (saved registers) are reported but do not count.
The secret comes on stdin, never on the command line."""
import struct
import sys

PT_LOAD, PT_NOTE = 1, 4


def main():
    secret = sys.stdin.readline().rstrip("\n").encode()
    data = open(sys.argv[1], "rb").read()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1 or struct.unpack_from("<H", data, 16)[0] != 4:
        print("not a 64-bit little-endian ELF core")
        return 2
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    windows = [secret[o:o + 32] for o in range(16, len(secret) - 32, 8)]
    if not windows:
        print("secret too short to search")
        return 2
    found = 0
    for i in range(phnum):
        p_type, _, off, vaddr, _, filesz, _, _ = struct.unpack_from("<IIQQQQQQ", data, phoff + i * phentsize)
        if p_type not in (PT_LOAD, PT_NOTE):
            continue
        seg = data[off:off + filesz]
        for w in windows:
            at = seg.find(w)
            if at >= 0:
                where = "memory" if p_type == PT_LOAD else "register notes (not counted)"
                print("found at %#x in %s" % (vaddr + at, where))
                found += p_type == PT_LOAD
                break
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
