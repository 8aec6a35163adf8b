/* SPDX-License-Identifier: MIT */
/*
 * The built pam_neostra.so loads with RTLD_NOW (no unresolved symbol waits
 * for the first login to fail), resolves the six pam_sm_* entry points, and
 * exports nothing else: our codec and config parser must never interpose on
 * or be interposed by symbols of the process that loads us (sshd, sudo, a
 * screen locker).  Linux-PAM's tests/tst-dlopen.c does the first part.
 * It also needs no library but libpam and libc: libpam loads it at every
 * pam_start, and whatever it needs (libjansson was half its cost) is
 * loaded and unloaded with it every time.
 *
 * The module is the path in argv[1], else $NEOSTRA_MODULE, else
 * ../pam_neostra.so next to this binary (make puts tests in
 * $(BUILDDIR)/tests/).  Without a module every test says skipped, and why.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const exported[] = {
        "pam_sm_authenticate",
        "pam_sm_setcred",
        "pam_sm_acct_mgmt",
        "pam_sm_open_session",
        "pam_sm_close_session",
        "pam_sm_chauthtok",
};

/* A sample of what lives in common/ and the module and must stay inside. */
static const char *const internal[] = {
        "varlink_decode",
        "varlink_encode",
        "vbuf_done",
        "neostra_config_load",
        "neostra_user_excluded",
        "conf_keys",
        "conf_split_list",
        "neostra_client_call",
        "neostra_client_open",
        "neostra_client_receive",
        "wire_parse",
        "wire_request_new",
        "neostra_now_usec",
        "json_wipe_strings",
        "secure_free_string",
        "parse_args",
        "classify_user",
        "call_daemon",
        "check_account",
};

static char module_path[PATH_MAX];

#define ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

static bool have_module(void) {
        if (module_path[0] && access(module_path, R_OK) == 0)
                return true;
        print_message("skipped: no module at '%s' (pass its path as argv[1] or in NEOSTRA_MODULE)\n",
                      module_path);
        return false;
}

static void test_dlopen_now(void **state) {
        void *h;

        if (!have_module())
                skip();
        h = dlopen(module_path, RTLD_NOW | RTLD_LOCAL);
        if (!h)
                fail_msg("dlopen(%s, RTLD_NOW): %s", module_path, dlerror());
        assert_int_equal(dlclose(h), 0);
}

static void test_entry_points_resolve(void **state) {
        void *h;
        size_t i;

        if (!have_module())
                skip();
        h = dlopen(module_path, RTLD_NOW | RTLD_LOCAL);
        assert_non_null(h);
        for (i = 0; i < ELEMENTS(exported); i++) {
                (void) dlerror();
                if (!dlsym(h, exported[i]))
                        fail_msg("%s does not resolve: %s", exported[i], dlerror());
        }
        dlclose(h);
}

static void test_internals_hidden(void **state) {
        void *h;
        size_t i;

        if (!have_module())
                skip();
        h = dlopen(module_path, RTLD_NOW | RTLD_LOCAL);
        assert_non_null(h);
        for (i = 0; i < ELEMENTS(internal); i++)
                if (dlsym(h, internal[i]))
                        fail_msg("internal symbol %s is exported", internal[i]);
        dlclose(h);
}

/* The module, mapped, with its ELF and section headers checked. */
struct elf_file {
        const unsigned char *map;
        size_t size;
        const Elf64_Ehdr *eh;
        const Elf64_Shdr *sh;
};

/* Skips the test when there is no module or it is no 64-bit ELF object. */
static void elf_open(struct elf_file *f) {
        struct stat st;
        int fd;

        if (!have_module())
                skip();
        fd = open(module_path, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(fstat(fd, &st), 0);
        assert_true((size_t) st.st_size >= sizeof(Elf64_Ehdr));
        f->size = (size_t) st.st_size;
        f->map = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, fd, 0);
        close(fd);
        assert_true(f->map != MAP_FAILED);

        f->eh = (const Elf64_Ehdr *) f->map;
        assert_memory_equal(f->eh->e_ident, ELFMAG, SELFMAG);
        if (f->eh->e_ident[EI_CLASS] != ELFCLASS64) {
                munmap((void *) f->map, f->size);
                print_message("skipped: not a 64-bit ELF object\n");
                skip();
        }
        assert_true(f->eh->e_shoff + (uint64_t) f->eh->e_shnum * sizeof(Elf64_Shdr) <= (uint64_t) f->size);
        f->sh = (const Elf64_Shdr *) (f->map + f->eh->e_shoff);
}

/* The string table a section links to, bounds-checked with the section. */
static const Elf64_Shdr *elf_linked_strtab(const struct elf_file *f, const Elf64_Shdr *sec) {
        const Elf64_Shdr *strtab;

        assert_true(sec->sh_link < f->eh->e_shnum);
        strtab = &f->sh[sec->sh_link];
        assert_true(sec->sh_offset + sec->sh_size <= (uint64_t) f->size);
        assert_true(strtab->sh_offset + strtab->sh_size <= (uint64_t) f->size);
        return strtab;
}

static bool is_exported_name(const char *name) {
        size_t i;

        for (i = 0; i < ELEMENTS(exported); i++)
                if (strcmp(name, exported[i]) == 0)
                        return true;
        return false;
}

/* The same check as `nm -D --defined-only`, without needing binutils:
 * every defined global or weak symbol in .dynsym is one of the six. */
static void test_dynsym_only_entry_points(void **state) {
        struct elf_file f;
        size_t i, found = 0, bad = 0;

        elf_open(&f);
        for (i = 0; i < f.eh->e_shnum; i++) {
                const Elf64_Shdr *strtab;
                const Elf64_Sym *syms;
                size_t n, j;

                if (f.sh[i].sh_type != SHT_DYNSYM)
                        continue;
                strtab = elf_linked_strtab(&f, &f.sh[i]);
                syms = (const Elf64_Sym *) (f.map + f.sh[i].sh_offset);
                n = f.sh[i].sh_size / sizeof(Elf64_Sym);

                for (j = 1; j < n; j++) {
                        unsigned bind = ELF64_ST_BIND(syms[j].st_info);
                        const char *name;

                        if (syms[j].st_shndx == SHN_UNDEF || bind == STB_LOCAL)
                                continue;
                        assert_true(syms[j].st_name < strtab->sh_size);
                        name = (const char *) (f.map + strtab->sh_offset + syms[j].st_name);
                        /* A named version node shows up as an absolute
                         * symbol of value 0; that is no code or data. */
                        if (syms[j].st_shndx == SHN_ABS && syms[j].st_value == 0)
                                continue;
                        if (is_exported_name(name))
                                found++;
                        else {
                                print_error("unexpected exported symbol: %s\n", name);
                                bad++;
                        }
                }
        }
        munmap((void *) f.map, f.size);
        assert_int_equal(bad, 0);
        assert_int_equal(found, ELEMENTS(exported));
}

/* What DT_NEEDED may name (and the sanitizer runtimes of SANITIZE=1). */
static const char *const needed_allowed[] = {
        "libpam.so.", "libc.so.", "libasan.so.", "libubsan.so.",
};

static bool needed_ok(const char *name) {
        size_t i;

        for (i = 0; i < ELEMENTS(needed_allowed); i++)
                if (strncmp(name, needed_allowed[i], strlen(needed_allowed[i])) == 0)
                        return true;
        return false;
}

/* The same check as `readelf -d | grep NEEDED`, without binutils. */
static void test_needs_only_libpam_and_libc(void **state) {
        struct elf_file f;
        size_t i, needed = 0, bad = 0;

        elf_open(&f);
        for (i = 0; i < f.eh->e_shnum; i++) {
                const Elf64_Shdr *strtab;
                const Elf64_Dyn *dyn;
                size_t n, j;

                if (f.sh[i].sh_type != SHT_DYNAMIC)
                        continue;
                strtab = elf_linked_strtab(&f, &f.sh[i]);
                dyn = (const Elf64_Dyn *) (f.map + f.sh[i].sh_offset);
                n = f.sh[i].sh_size / sizeof(Elf64_Dyn);

                for (j = 0; j < n && dyn[j].d_tag != DT_NULL; j++) {
                        const char *name;

                        if (dyn[j].d_tag != DT_NEEDED)
                                continue;
                        assert_true(dyn[j].d_un.d_val < strtab->sh_size);
                        name = (const char *) (f.map + strtab->sh_offset + dyn[j].d_un.d_val);
                        needed++;
                        if (!needed_ok(name)) {
                                print_error("unexpected DT_NEEDED: %s\n", name);
                                bad++;
                        }
                }
        }
        munmap((void *) f.map, f.size);
        assert_int_equal(bad, 0);
        assert_true(needed >= 2);       /* libpam and libc at least */
}

static void find_module(int argc, char **argv) {
        const char *p = argc > 1 ? argv[1] : getenv("NEOSTRA_MODULE");
        char exe[PATH_MAX];
        ssize_t n;

        if (p && *p) {
                snprintf(module_path, sizeof(module_path), "%s", p);
                return;
        }
        n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
        if (n <= 0)
                return;
        exe[n] = '\0';
        snprintf(module_path, sizeof(module_path), "%s/../pam_neostra.so", dirname(exe));
}

int main(int argc, char **argv) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_dlopen_now),
                cmocka_unit_test(test_entry_points_resolve),
                cmocka_unit_test(test_internals_hidden),
                cmocka_unit_test(test_dynsym_only_entry_points),
                cmocka_unit_test(test_needs_only_libpam_and_libc),
        };

        find_module(argc, argv);
        return cmocka_run_group_tests_name("dlopen", tests, NULL, NULL);
}
