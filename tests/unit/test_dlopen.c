/* SPDX-License-Identifier: MIT */
/*
 * The built pam_neostra.so loads with RTLD_NOW (no unresolved symbol waits
 * for the first login to fail), resolves the six pam_sm_* entry points, and
 * exports nothing else: our codec and config parser must never interpose on
 * or be interposed by symbols of the process that loads us (sshd, sudo, a
 * screen locker).  Linux-PAM's tests/tst-dlopen.c does the first part.
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
        "neostra_client_call",
        "neostra_client_open",
        "neostra_now_usec",
        "json_wipe_strings",
        "secure_free_string",
        "parse_args",
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
        const unsigned char *map;
        const Elf64_Ehdr *eh;
        const Elf64_Shdr *sh;
        struct stat st;
        size_t i, found = 0, bad = 0;
        int fd;

        if (!have_module())
                skip();
        fd = open(module_path, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(fstat(fd, &st), 0);
        assert_true((size_t) st.st_size >= sizeof(Elf64_Ehdr));
        map = mmap(NULL, (size_t) st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        close(fd);
        assert_true(map != MAP_FAILED);

        eh = (const Elf64_Ehdr *) map;
        assert_memory_equal(eh->e_ident, ELFMAG, SELFMAG);
        if (eh->e_ident[EI_CLASS] != ELFCLASS64) {
                munmap((void *) map, (size_t) st.st_size);
                print_message("skipped: not a 64-bit ELF object\n");
                skip();
        }
        assert_true(eh->e_shoff + (uint64_t) eh->e_shnum * sizeof(Elf64_Shdr) <= (uint64_t) st.st_size);
        sh = (const Elf64_Shdr *) (map + eh->e_shoff);

        for (i = 0; i < eh->e_shnum; i++) {
                const Elf64_Shdr *strtab;
                const Elf64_Sym *syms;
                size_t n, j;

                if (sh[i].sh_type != SHT_DYNSYM)
                        continue;
                assert_true(sh[i].sh_link < eh->e_shnum);
                strtab = &sh[sh[i].sh_link];
                assert_true(sh[i].sh_offset + sh[i].sh_size <= (uint64_t) st.st_size);
                assert_true(strtab->sh_offset + strtab->sh_size <= (uint64_t) st.st_size);
                syms = (const Elf64_Sym *) (map + sh[i].sh_offset);
                n = sh[i].sh_size / sizeof(Elf64_Sym);

                for (j = 1; j < n; j++) {
                        unsigned bind = ELF64_ST_BIND(syms[j].st_info);
                        const char *name;

                        if (syms[j].st_shndx == SHN_UNDEF || bind == STB_LOCAL)
                                continue;
                        assert_true(syms[j].st_name < strtab->sh_size);
                        name = (const char *) (map + strtab->sh_offset + syms[j].st_name);
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
        munmap((void *) map, (size_t) st.st_size);
        assert_int_equal(bad, 0);
        assert_int_equal(found, ELEMENTS(exported));
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
        };

        find_module(argc, argv);
        return cmocka_run_group_tests_name("dlopen", tests, NULL, NULL);
}
