/* SPDX-License-Identifier: MIT */
/*
 * clockshift.so: an LD_PRELOAD shim for tests that moves CLOCK_MONOTONIC
 * forward, so a test can let "a minute pass" inside a running process
 * without waiting for it.  The shift is the number of seconds written in
 * the file named by $CLOCKSHIFT_FILE, read at every call (no file, or no
 * number in it: no shift).  Every other clock is left alone.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

typedef int (*clock_gettime_fn)(clockid_t, struct timespec *);

static long shift_seconds(void) {
        const char *path = getenv("CLOCKSHIFT_FILE");
        long s = 0;
        FILE *f;

        if (!path || !(f = fopen(path, "re")))
                return 0;
        if (fscanf(f, "%ld", &s) != 1)
                s = 0;
        fclose(f);
        return s;
}

/* Exported whatever -fvisibility the build uses: this is the interposer. */
__attribute__((visibility("default"))) int clock_gettime(clockid_t id, struct timespec *ts);

int clock_gettime(clockid_t id, struct timespec *ts) {
        static clock_gettime_fn real;
        int r;

        if (!real)
                real = (clock_gettime_fn) dlsym(RTLD_NEXT, "clock_gettime");
        if (!real)
                return -1;
        r = real(id, ts);
        if (r == 0 && id == CLOCK_MONOTONIC)
                ts->tv_sec += shift_seconds();
        return r;
}
