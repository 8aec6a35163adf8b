# pam_neostra — see README.md.  `make` builds into $(BUILDDIR);
# `make check` runs the whole suite (plain and under ASan+UBSan);
# `make demo` shows real PAM logins against the bundled mock API.

BUILDDIR   ?= build
PREFIX     ?= /usr/local
DESTDIR    ?=
SBINDIR    ?= $(PREFIX)/sbin
BINDIR     ?= $(PREFIX)/bin
SYSCONFDIR ?= /etc
# Debian's PAM modules live in the multiarch directory; ask pkg-config first.
PAMDIR     ?= $(shell pkg-config --variable=libdir pam 2>/dev/null || echo /lib/x86_64-linux-gnu)/security
UNITDIR    ?= $(shell pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null || echo /lib/systemd/system)
MANDIR     ?= $(PREFIX)/share/man
SYSUSERSDIR ?= $(shell pkg-config --variable=sysusersdir systemd 2>/dev/null || echo /usr/lib/sysusers.d)
TMPFILESDIR ?= $(shell pkg-config --variable=tmpfilesdir systemd 2>/dev/null || echo /usr/lib/tmpfiles.d)
CATALOGDIR ?= $(shell pkg-config --variable=catalogdir systemd 2>/dev/null || echo /usr/lib/systemd/catalog)

CC         ?= gcc
PKG_CONFIG ?= pkg-config
SANITIZE   ?= 0

DAEMON_PKGS := libsystemd libcurl jansson sqlite3 libcrypt libcrypto
# The module links no jansson: libpam loads it at every pam_start, and it
# speaks JSON through its own codec (common/wire.c, README "Dependencies").
MODULE_PKGS := pam
CTL_PKGS    := jansson libcurl sqlite3

WARN    := -Wall -Wextra -Werror -Wformat=2 -Wshadow -Wmissing-prototypes \
           -Wstrict-prototypes -Wno-unused-parameter -Wvla -Wdate-time
HARDEN  := -fstack-protector-strong -fstack-clash-protection -fcf-protection \
           -fno-strict-aliasing -fno-common
BASE    := -std=gnu11 -g -fPIC -fvisibility=hidden -D_GNU_SOURCE -Iinclude -Icommon
ifeq ($(SANITIZE),1)
OPT     := -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
SANLD   := -fsanitize=address,undefined
else
OPT     := -O2 -D_FORTIFY_SOURCE=2
SANLD   :=
endif
CFLAGS  ?=
CFLAGS  += $(BASE) $(OPT) $(WARN) $(HARDEN)
LDHARD  := -Wl,-z,relro,-z,now -Wl,--as-needed $(SANLD)

pc_cflags = $(shell $(PKG_CONFIG) --cflags $(1))
pc_libs   = $(shell $(PKG_CONFIG) --libs $(1))

COMMON_SRC := $(wildcard common/*.c)
# neostractl.c, its neostractl-*.c and its doctor (doctor*.c) are the CLI;
# the rest is the daemon.
CTL_SRC    := $(wildcard neostrad/neostractl*.c) $(wildcard neostrad/doctor*.c)
DAEMON_SRC := $(filter-out $(CTL_SRC),$(wildcard neostrad/*.c))
MODULE_SRC := $(wildcard pam_neostra/*.c)

obj = $(patsubst %.c,$(BUILDDIR)/obj/%.o,$(1))
COMMON_OBJ := $(call obj,$(COMMON_SRC))
DAEMON_OBJ := $(call obj,$(DAEMON_SRC))
MODULE_OBJ := $(call obj,$(MODULE_SRC))
# The shared code the module links: none of it uses jansson.
MODULE_COMMON_OBJ := $(call obj,common/conf.c common/conf-keys.c common/conf-load.c \
                                  common/names.c common/policy.c common/text.c \
                                  common/transport.c common/wire.c)
# The doctor probes the API with the daemon's transport rules.
CTL_OBJ    := $(call obj,$(CTL_SRC) neostrad/api-transport.c)
# Everything is rebuilt when a header or the flags here change.
HEADERS    := $(wildcard include/neostra/*.h common/*.h neostrad/*.h pam_neostra/*.h) Makefile

ALL_CFLAGS = $(CFLAGS) $(call pc_cflags,$(DAEMON_PKGS) pam)

.PHONY: all clean install uninstall deps build-deps check check-plain check-asan demo fuzz fuzz-build \
        unit pamtests integration fuzz-smoke bench bench-deps deb rpm package-check rpm-check

all: $(BUILDDIR)/pam_neostra.so $(BUILDDIR)/neostrad $(BUILDDIR)/neostractl

$(BUILDDIR)/obj/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILDDIR)/pam_neostra.so: $(MODULE_OBJ) $(MODULE_COMMON_OBJ) pam_neostra/pam_neostra.map
	$(CC) -shared -Wl,--version-script=pam_neostra/pam_neostra.map -Wl,--no-undefined \
		$(LDHARD) -o $@ $(MODULE_OBJ) $(MODULE_COMMON_OBJ) $(call pc_libs,$(MODULE_PKGS))

$(BUILDDIR)/neostrad: $(DAEMON_OBJ) $(COMMON_OBJ)
	$(CC) -pie $(LDHARD) -o $@ $^ $(call pc_libs,$(DAEMON_PKGS)) -lpthread

$(BUILDDIR)/neostractl: $(CTL_OBJ) $(COMMON_OBJ)
	$(CC) -pie $(LDHARD) -o $@ $^ $(call pc_libs,$(CTL_PKGS))

# ---- tests ---------------------------------------------------------------

# Unit tests: tests/unit/test_<name>.c, each linked with the shared code and
# the daemon's objects (minus its main), run with cmocka.
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
UNIT_BIN   := $(patsubst tests/unit/%.c,$(BUILDDIR)/tests/%,$(UNIT_SRC))
DAEMON_LIB_OBJ := $(filter-out $(BUILDDIR)/obj/neostrad/neostrad.o,$(DAEMON_OBJ))
TEST_LIBS  = $(call pc_libs,$(DAEMON_PKGS) cmocka) -lpthread

$(BUILDDIR)/tests/test_%: tests/unit/test_%.c $(DAEMON_LIB_OBJ) $(COMMON_OBJ) $(HEADERS) $(wildcard tests/unit/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Ineostrad -o $@ $< $(DAEMON_LIB_OBJ) $(COMMON_OBJ) $(LDHARD) $(TEST_LIBS) \
		$(UNIT_LDFLAGS)

# test_wire sees every free() of the codec, to check nothing freed holds a secret.
$(BUILDDIR)/tests/test_wire: UNIT_LDFLAGS := -Wl,--wrap=free

# test_doctor_pam and test_doctor_nss run neostractl doctor's PAM and NSS
# checks on files of their own.
DOCTOR_OBJ := $(call obj,$(wildcard neostrad/doctor*.c))
$(BUILDDIR)/tests/test_doctor_pam $(BUILDDIR)/tests/test_doctor_nss: $(DOCTOR_OBJ)
$(BUILDDIR)/tests/test_doctor_pam $(BUILDDIR)/tests/test_doctor_nss: UNIT_LDFLAGS := $(DOCTOR_OBJ)
# test_doctor_pamsim runs random stacks through the simulator and libpam.
$(BUILDDIR)/tests/test_doctor_pamsim: $(DOCTOR_OBJ)
$(BUILDDIR)/tests/test_doctor_pamsim: UNIT_LDFLAGS = $(DOCTOR_OBJ) $(call pc_libs,pam)

# PAM tests: drive the built module through libpamtest under pam_wrapper.
PAMTEST_SRC := $(wildcard tests/pam/*.c)
$(BUILDDIR)/tests/pamtest: $(PAMTEST_SRC) $(wildcard tests/pam/*.h) $(COMMON_OBJ) $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/pam -o $@ $(PAMTEST_SRC) $(COMMON_OBJ) $(LDHARD) \
		$(call pc_libs,cmocka jansson pam) -lpamtest

TEST_BINS := $(UNIT_BIN) $(if $(PAMTEST_SRC),$(BUILDDIR)/tests/pamtest) $(BUILDDIR)/tests/pamcheck \
             $(BUILDDIR)/tests/clockshift.so $(BUILDDIR)/tests/slownss.so

tests-build: all $(TEST_BINS)

.PHONY: tests-build

# deps: what make check and make demo need (the build's packages too);
# build-deps: only what make, make deb and make rpm need.
deps:
	@sh packaging/install-deps.sh build-deps.txt debian-deps.txt

build-deps:
	@sh packaging/install-deps.sh build-deps.txt

# One sanitizer-free pass and one ASan+UBSan pass, each in its own build
# directory, then the fuzz smoke.  tests/run-suite.sh prints the totals.
check: deps
	@sh tests/run-suite.sh

check-plain: deps
	@$(MAKE) --no-print-directory tests-build
	@sh tests/run-tests.sh $(BUILDDIR)

demo: deps all $(BUILDDIR)/tests/pamcheck
	@sh tests/demo.sh $(BUILDDIR)

# ---- fuzzing ---------------------------------------------------------------
FUZZ_CC    ?= clang
FUZZ_TIME  ?= 60
FUZZ_SRC   := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN   := $(patsubst tests/fuzz/%.c,$(BUILDDIR)/fuzz/%,$(FUZZ_SRC))
FUZZ_FLAGS := -std=gnu11 -g -O1 -D_GNU_SOURCE -Iinclude -Icommon -Ineostrad \
              -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
              $(call pc_cflags,$(DAEMON_PKGS))
FUZZ_LIB_SRC := $(COMMON_SRC) $(filter-out neostrad/neostrad.c,$(DAEMON_SRC))

$(BUILDDIR)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_LIB_SRC) $(HEADERS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $< $(FUZZ_LIB_SRC) $(call pc_libs,$(DAEMON_PKGS)) -lpthread

fuzz-build: $(FUZZ_BIN)

# make fuzz FUZZ_TIME=600 runs each target for that many seconds.
fuzz: deps fuzz-build
	@for f in $(FUZZ_BIN); do \
		n=$$(basename $$f); mkdir -p $(BUILDDIR)/fuzz/corpus-$$n; \
		echo "fuzz: $$n for $(FUZZ_TIME)s"; \
		$$f -max_total_time=$(FUZZ_TIME) -max_len=70000 $(BUILDDIR)/fuzz/corpus-$$n tests/fuzz/corpus/$${n#fuzz_} || exit 1; \
	done

# ---- packages --------------------------------------------------------------
# make deb: the Debian package (debhelper) in $(BUILDDIR)/.
# make package-check: build it, lintian, install into a debootstrap chroot and
# check it there; then the RPM spec (rpmspec -P, rpmbuild -bb --nodeps).
deb: build-deps
	@sh packaging/debian/build-deb.sh $(BUILDDIR)

# make rpm: the RPM (rpmbuild) in $(BUILDDIR)/rpm/RPMS.
rpm: build-deps
	@sh packaging/rpm/build-rpm.sh $(BUILDDIR)

package-check: deps
	@sh tests/package/package-check.sh $(BUILDDIR)

rpm-check: deps
	@sh tests/package/rpm-check.sh $(BUILDDIR)

# ---- benchmark -------------------------------------------------------------
# make bench: our stack side by side with pam_permit, pam_exec + curl,
# pam_ldap + nslcd + slapd and the raw API limit (tests/bench/, BENCHMARKS.md).
# Build rules for the load drivers live in tests/bench/*.mk.
-include $(wildcard tests/bench/*.mk)

bench-deps:
	@sh packaging/install-deps.sh bench-deps.txt

# ---- install ---------------------------------------------------------------
install: all
	install -d $(DESTDIR)$(PAMDIR) $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) \
		$(DESTDIR)$(SYSCONFDIR)/neostra/neostrad.conf.d $(DESTDIR)$(UNITDIR)
	install -m 0644 $(BUILDDIR)/pam_neostra.so $(DESTDIR)$(PAMDIR)/pam_neostra.so
	install -m 0755 $(BUILDDIR)/neostrad $(DESTDIR)$(SBINDIR)/neostrad
	install -m 0755 $(BUILDDIR)/neostractl $(DESTDIR)$(BINDIR)/neostractl
	test -e $(DESTDIR)$(SYSCONFDIR)/neostra/neostrad.conf || \
		install -m 0640 packaging/neostrad.conf $(DESTDIR)$(SYSCONFDIR)/neostra/neostrad.conf
	sed 's|@SBINDIR@|$(SBINDIR)|g' packaging/systemd/neostrad.service.in \
		> $(DESTDIR)$(UNITDIR)/neostrad.service
	install -m 0644 packaging/systemd/neostrad.socket $(DESTDIR)$(UNITDIR)/neostrad.socket
	@# The metrics timer (README, "Metrics"), never enabled here.
	sed 's|@BINDIR@|$(BINDIR)|g' packaging/systemd/neostra-metrics.service.in \
		> $(DESTDIR)$(UNITDIR)/neostra-metrics.service
	install -m 0644 packaging/systemd/neostra-metrics.timer $(DESTDIR)$(UNITDIR)/neostra-metrics.timer
	install -d $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(TMPFILESDIR)
	install -m 0644 packaging/systemd/neostrad.sysusers $(DESTDIR)$(SYSUSERSDIR)/neostrad.conf
	install -m 0644 packaging/systemd/neostrad.tmpfiles $(DESTDIR)$(TMPFILESDIR)/neostrad.conf
	@# sudo by role (README): the rule is commented out.  An existing file
	@# (its rule uncommented by the admin) is kept, and so is the mode of an
	@# existing directory (sudo's own: 0755 on Debian, 0750 on Fedora).
	test -d $(DESTDIR)$(SYSCONFDIR)/sudoers.d || install -d -m 0750 $(DESTDIR)$(SYSCONFDIR)/sudoers.d
	test -e $(DESTDIR)$(SYSCONFDIR)/sudoers.d/neostra || \
		install -m 0440 packaging/sudoers.d/neostra $(DESTDIR)$(SYSCONFDIR)/sudoers.d/neostra
	install -d $(DESTDIR)$(CATALOGDIR)
	install -m 0644 packaging/systemd/neostra.catalog $(DESTDIR)$(CATALOGDIR)/neostra.catalog
	@# journalctl -x explains neostrad's entries once the catalog database
	@# is rebuilt (the packages leave that to systemd's own trigger).
	@if [ -z "$(DESTDIR)" ] && command -v journalctl >/dev/null; then \
		journalctl --update-catalog || true; \
	fi
	@# Installing onto this very system (no DESTDIR): make the user now and
	@# give its group read access to the config: under systemd the daemon
	@# runs as neostra from the start and reads it again at every reload.
	@if [ -z "$(DESTDIR)" ] && command -v systemd-sysusers >/dev/null; then \
		systemd-sysusers $(SYSUSERSDIR)/neostrad.conf && \
		systemd-tmpfiles --create $(TMPFILESDIR)/neostrad.conf && \
		chgrp neostra $(SYSCONFDIR)/neostra/neostrad.conf; \
	fi
	install -d $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8
	install -m 0644 neostrad/neostractl.1 $(DESTDIR)$(MANDIR)/man1/neostractl.1
	install -m 0644 neostrad/neostrad.conf.5 $(DESTDIR)$(MANDIR)/man5/neostrad.conf.5
	install -m 0644 neostrad/neostrad.8 $(DESTDIR)$(MANDIR)/man8/neostrad.8
	install -m 0644 pam_neostra/pam_neostra.8 $(DESTDIR)$(MANDIR)/man8/pam_neostra.8

# Refused while a PAM file still names the module (FORCE=1 to go on).
uninstall:
	@sh packaging/uninstall-check.sh $(DESTDIR)$(SYSCONFDIR)/pam.d
	rm -f $(DESTDIR)$(PAMDIR)/pam_neostra.so $(DESTDIR)$(SBINDIR)/neostrad \
		$(DESTDIR)$(BINDIR)/neostractl $(DESTDIR)$(UNITDIR)/neostrad.service \
		$(DESTDIR)$(UNITDIR)/neostrad.socket $(DESTDIR)$(SYSCONFDIR)/sudoers.d/neostra \
		$(DESTDIR)$(UNITDIR)/neostra-metrics.service $(DESTDIR)$(UNITDIR)/neostra-metrics.timer \
		$(DESTDIR)$(SYSUSERSDIR)/neostrad.conf $(DESTDIR)$(TMPFILESDIR)/neostrad.conf \
		$(DESTDIR)$(CATALOGDIR)/neostra.catalog \
		$(DESTDIR)$(MANDIR)/man1/neostractl.1 $(DESTDIR)$(MANDIR)/man5/neostrad.conf.5 \
		$(DESTDIR)$(MANDIR)/man8/neostrad.8 $(DESTDIR)$(MANDIR)/man8/pam_neostra.8

clean:
	rm -rf build build-asan

# A one-transaction PAM driver for the demo and manual checks.
# Under ASan, libcrypt must be loaded at start: ASan's crypt_r interceptor
# looks up the real one then, and pam_unix (dlopened later) would call NULL.
ifeq ($(SANITIZE),1)
PAMCHECK_LIBS := -Wl,--no-as-needed -lcrypt -Wl,--as-needed
else
PAMCHECK_LIBS :=
endif
$(BUILDDIR)/tests/pamcheck: tests/pamcheck.c Makefile
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LDHARD) $(call pc_libs,pam) $(PAMCHECK_LIBS)

# A test's LD_PRELOAD that moves CLOCK_MONOTONIC forward (tests/clockshift.c).
$(BUILDDIR)/tests/clockshift.so: tests/clockshift.c Makefile
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -fPIC -shared -o $@ $< -ldl

# A test's LD_PRELOAD that makes NSS lookups slow or fail (tests/slownss.c).
$(BUILDDIR)/tests/slownss.so: tests/slownss.c Makefile
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -fPIC -shared -o $@ $< -ldl
