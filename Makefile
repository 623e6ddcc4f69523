# SPDX-License-Identifier: MIT
# sbx build: the host CLI's front (build/sbx), the full CLI+daemon it hands most commands
# to (build/sbx-full), the static guest PID 1 (build/sbx-guest), tests.
CC ?= cc
PREFIX ?= /usr/local
BUILD ?= build
# check-asan builds here
ASAN_BUILD ?= build-asan
PKG_CONFIG ?= pkg-config
# sbx's version: written once, in src/common/version.h (sbx version, sbxd, the man pages)
VERSION := $(shell sed -n 's/^\#define SBX_VERSION "\(.*\)"$$/\1/p' src/common/version.h)
DEB_ARCH := $(shell dpkg --print-architecture 2>/dev/null || echo amd64)
DEB := $(BUILD)/sbx_$(VERSION)_$(DEB_ARCH).deb

# Libraries of the host binary: json-c (state and config files), libidn2 (host
# names), OpenSSL (TLS interception), c-ares (resolver), ldns (DNS messages) and
# http-parser (HTTP framing; it has no .pc file), libarchive (the tar format of sbx cp and
# of template export/import: sbx loads it when used, src/host/archive_dl.c, so it is
# not linked into sbx; the unit tests link it).
HOST_PKGS := json-c libidn2 openssl libcares ldns libarchive
HOST_LIB_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(HOST_PKGS))
HOST_LIBS := $(shell $(PKG_CONFIG) --libs $(HOST_PKGS)) -lhttp_parser
# the Secret Service backend of the secret store: a library sbx loads when it is used
# (src/host/creds/secrets_keyring.h says why)
KEYRING_CFLAGS := $(shell $(PKG_CONFIG) --cflags libsecret-1)
KEYRING_LIBS := $(shell $(PKG_CONFIG) --libs libsecret-1)

# src/host/ holds the shared base (paths, settings, processes, sockets, names, address
# parsing, the event-loop reference); each folder is one part of the architecture
# (docs/HACKING.md has the map). Headers sit beside their sources.
HOST_DIRS := src/host $(addprefix src/host/,cli daemon egress vm creds workspace)
HOST_INC := $(addprefix -I,$(HOST_DIRS))

WARN := -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter -Wformat=2 -Wvla
HARDEN := -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIE -fstack-clash-protection
OPT ?= -O2 -g
SAN ?=
# -MMD -MP: every object gets a .d file naming the headers it includes (read below)
DEPFLAGS := -MMD -MP
CFLAGS_ALL := -std=gnu11 $(OPT) $(WARN) $(HARDEN) -D_GNU_SOURCE -Isrc/common $(HOST_INC) $(HOST_LIB_CFLAGS) $(SAN) $(CFLAGS)
CFLAGS_GUEST := -std=gnu11 $(OPT) $(WARN) $(HARDEN) -D_GNU_SOURCE -Isrc/common -Isrc/guest $(CFLAGS)
LDFLAGS_HOST := -pie -Wl,-z,relro,-z,now $(SAN) $(LDFLAGS)
# what libsbx-keyring.so uses of sbx itself
KEYRING_DYNLIST := src/host/creds/keyring.dynlist
LDFLAGS_SBX := -Wl,--dynamic-list=$(KEYRING_DYNLIST)
LDFLAGS_GUEST := -static -Wl,-z,relro,-z,now $(LDFLAGS)

KEYRING_SRC := src/host/creds/secrets_keyring.c
FRONT_MAIN_SRC := src/host/cli/front.c
COMMON_SRC := $(wildcard src/common/*.c)
HOST_SRC := $(filter-out $(KEYRING_SRC) $(FRONT_MAIN_SRC),$(wildcard $(addsuffix /*.c,$(HOST_DIRS))))
GUEST_SRC := $(wildcard src/guest/*.c)
COMMON_OBJ := $(COMMON_SRC:src/%.c=$(BUILD)/obj/%.o)
HOST_OBJ := $(HOST_SRC:src/%.c=$(BUILD)/obj/%.o)
GUEST_OBJ := $(GUEST_SRC:src/%.c=$(BUILD)/gobj/%.o)
GUEST_COMMON_OBJ := $(COMMON_SRC:src/%.c=$(BUILD)/gobj/%.o)
KEYRING_OBJ := $(KEYRING_SRC:src/%.c=$(BUILD)/pobj/%.o)
# The front, build/sbx (src/host/cli/front.c says why): the client commands it runs
# (exec, ls) from the same objects as sbx-full, linked statically (static-pie, with
# json-c's archive) so that it loads nothing: ~0.15 ms sooner than with libc.so
# (docs/exec-profile.md); the sanitizers need their dynamic runtime, so a SAN build
# links libc dynamically. Every other command it hands to sbx-full, found beside it
# (or in PREFIX/lib/sbx when installed).
FRONT_OBJ := $(FRONT_MAIN_SRC:src/%.c=$(BUILD)/obj/%.o) \
	$(addprefix $(BUILD)/obj/host/,cli/cmd_exec.o cli/cmd_ls.o cli/cmd_common.o cli/cmd_sync.o \
		cli/sbxd_conn.o paths.o progress.o names.o textesc.o sock.o portspec.o)
JSONC_STATIC := $(shell $(PKG_CONFIG) --variable=libdir json-c)/libjson-c.a
LDFLAGS_FRONT := $(if $(SAN),-pie,-static-pie) -Wl,-z,relro,-z,now $(SAN) $(LDFLAGS)
# Host objects that unit tests link against (everything except main.c).
HOST_LIB_OBJ := $(filter-out $(BUILD)/obj/host/cli/main.o,$(HOST_OBJ))

UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all clean install test unit integration check-asan setup bench fuzz fuzz-regress man install-doc deb deb-lint
all: $(BUILD)/sbx $(BUILD)/sbx-full $(BUILD)/sbx-guest $(BUILD)/libsbx-keyring.so

$(BUILD)/obj/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(DEPFLAGS) -c -o $@ $<

# The guest is linked statically; without SAN (sanitizers do not link statically).
$(BUILD)/gobj/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_GUEST) $(DEPFLAGS) -c -o $@ $<

$(BUILD)/sbx: $(FRONT_OBJ) $(COMMON_OBJ)
	$(CC) -o $@ $(FRONT_OBJ) $(COMMON_OBJ) $(LDFLAGS_FRONT) $(JSONC_STATIC)

$(BUILD)/sbx-full: $(HOST_OBJ) $(COMMON_OBJ) $(KEYRING_DYNLIST)
	$(CC) -o $@ $(HOST_OBJ) $(COMMON_OBJ) $(LDFLAGS_HOST) $(LDFLAGS_SBX) $(filter-out -larchive,$(HOST_LIBS))

# position-independent (not PIE) for the shared object
$(KEYRING_OBJ): $(KEYRING_SRC)
	@mkdir -p $(dir $@)
	$(CC) $(filter-out -fPIE,$(CFLAGS_ALL)) -fPIC -fvisibility=hidden $(KEYRING_CFLAGS) $(DEPFLAGS) -c -o $@ $<

$(BUILD)/libsbx-keyring.so: $(KEYRING_OBJ)
	$(CC) -shared -o $@ $^ -Wl,-z,relro,-z,now $(SAN) $(LDFLAGS) $(KEYRING_LIBS)

$(BUILD)/sbx-guest: $(GUEST_OBJ) $(GUEST_COMMON_OBJ)
	$(CC) -o $@ $^ $(LDFLAGS_GUEST) -lutil

# unit tests link the keyring backend in (no dlopen)
$(BUILD)/tests/%: tests/unit/%.c $(HOST_LIB_OBJ) $(COMMON_OBJ) $(KEYRING_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(DEPFLAGS) -Itests/unit -o $@ $(filter %.c %.o,$^) $(LDFLAGS_HOST) $(HOST_LIBS) $(KEYRING_LIBS)

# guest unit tests: compiled as the guest is (-Isrc/guest) and linked against its
# objects except main.o (nothing may call into the loop's owner); not static.
GUEST_LIB_OBJ := $(filter-out $(BUILD)/gobj/guest/main.o,$(GUEST_OBJ))
$(BUILD)/tests/test_guest_%: tests/unit/test_guest_%.c $(GUEST_LIB_OBJ) $(GUEST_COMMON_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_GUEST) $(DEPFLAGS) -Itests/unit $(SAN) -o $@ $(filter %.c %.o,$^) -pie $(SAN) $(LDFLAGS) -lutil

unit: $(UNIT_BIN)
	@set -e; for t in $(UNIT_BIN); do echo "== $$t"; $$t; done

# Kernel, initramfs and the minimal template in the user's cache (idempotent, fast when present).
setup: all
	./scripts/setup.sh --deps-only
	$(BUILD)/sbx template build minimal

integration: all
	./scripts/test-integration.sh

# The one test command (README, .ci/run): installs missing Debian packages, builds,
# runs the unit tests, builds the .deb and lints it (a few seconds), makes sure kernel
# and templates are cached, runs the VM tests (test_deb installs the .deb in a chroot).
test:
	./scripts/setup.sh --deps-only
	$(MAKE) all unit
	$(MAKE) deb-lint
	$(BUILD)/sbx template build minimal
	$(BUILD)/sbx template build agents
	./scripts/test-integration.sh

# The unit tests, then the egress engine's tests against an ASan build of sbx, then
# the fuzz corpora and crash reproducers once through the libFuzzer targets.
check-asan:
	$(MAKE) BUILD=$(ASAN_BUILD) SAN="-fsanitize=address,undefined -fno-omit-frame-pointer" OPT="-O1 -g" unit \
		$(ASAN_BUILD)/sbx $(ASAN_BUILD)/sbx-full $(ASAN_BUILD)/sbx-guest $(ASAN_BUILD)/libsbx-keyring.so
	SBX_BIN=$(CURDIR)/$(ASAN_BUILD)/sbx ASAN_OPTIONS=detect_leaks=1 /usr/bin/python3 -m pytest -q -x tests/proxy
	@if command -v $(FUZZ_CC) >/dev/null 2>&1; then $(MAKE) fuzz-regress; else echo "check-asan: no $(FUZZ_CC): fuzz replay skipped"; fi

bench: all
	./bench/start

# man pages and shell completion
# sbx(1) and sbx-CMD(1), made by the binary from its help table (src/host/cli/cmd_doc.c)
man: $(BUILD)/sbx $(BUILD)/sbx-full
	@mkdir -p $(BUILD)/man
	$(BUILD)/sbx __man >$(BUILD)/man/sbx.1
	@set -e; for c in $$($(BUILD)/sbx __man --list); do $(BUILD)/sbx __man $$c >$(BUILD)/man/sbx-$$c.1; done

# Debian's places: man1, bash-completion, zsh vendor-completions, fish vendor_completions.d
install-doc: man
	install -d $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/bash-completion/completions \
		$(DESTDIR)$(PREFIX)/share/zsh/vendor-completions $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d
	@set -e; for f in $(BUILD)/man/*.1; do \
		gzip -9n -c $$f >$(DESTDIR)$(PREFIX)/share/man/man1/$$(basename $$f).gz; \
		chmod 0644 $(DESTDIR)$(PREFIX)/share/man/man1/$$(basename $$f).gz; done
	install -m 0644 completion/sbx.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/sbx
	install -m 0644 completion/_sbx $(DESTDIR)$(PREFIX)/share/zsh/vendor-completions/_sbx
	install -m 0644 completion/sbx.fish $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/sbx.fish

install: all install-doc
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/sbx
	install -m 0755 $(BUILD)/sbx $(DESTDIR)$(PREFIX)/bin/sbx
	install -m 0755 $(BUILD)/sbx-full $(DESTDIR)$(PREFIX)/lib/sbx/sbx-full
	install -m 0755 $(BUILD)/sbx-guest $(DESTDIR)$(PREFIX)/lib/sbx/sbx-guest
	install -m 0644 $(BUILD)/libsbx-keyring.so $(DESTDIR)$(PREFIX)/lib/sbx/libsbx-keyring.so
	@set -e; for f in $$(cd recipes && find . -type f | sort); do \
		install -D -m 0644 recipes/$$f $(DESTDIR)$(PREFIX)/share/sbx/recipes/$$f; done

# The Debian package, built as an ordinary user (no root, no fakeroot): `make install`
# with PREFIX=/usr into a staging root, then scripts/mkdeb.sh (docs, strip, Depends
# from dpkg-shlibdeps plus the programs sbx runs, control, md5sums, dpkg-deb).
# packaging/deb/ holds the control template, copyright, changelog and lintian overrides.
deb: all man
	rm -rf $(BUILD)/deb
	$(MAKE) --no-print-directory -s install DESTDIR=$(CURDIR)/$(BUILD)/deb/debian/sbx PREFIX=/usr
	scripts/mkdeb.sh $(BUILD)/deb/debian/sbx $(VERSION) $(DEB_ARCH) $(DEB)

# lintian on the package: no error and no warning (those kept are overridden, with a reason)
deb-lint: deb
	lintian --fail-on error,warning --display-info $(DEB)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)

# libFuzzer targets for every parser that reads guest, network or file bytes
# (tests/fuzz/README.md). `make fuzz` builds them with ASan+UBSan into $(BUILD)/fuzz/;
# `make fuzz FUZZ_S=N` then runs each for N seconds, one after the other, on a copy
# of its seed corpus, and fails on the first crash. `make fuzz-regress` replays the
# seed corpora and every saved crash once through each target (~5 s once built;
# `make check-asan` runs it; the ASan build of the targets is ~1 min of CPU, too much
# for `make test`, which has test_fuzz_crashes for every crash found).
FUZZ_CC ?= clang
FUZZ_S ?= 0
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
# The whole fuzz build (library and targets alike) gets a small DNS address table, so
# that fuzz_dns reaches eviction in ~200 inserts instead of 4099; 200 still makes the
# entry array grow twice (64, 128, then the clamp to 200).
FUZZ_DEFS := -DDNS_TABLE_MAX=200u
FUZZ_CFLAGS := -std=gnu11 -g -O1 $(filter-out -Werror,$(WARN)) -D_GNU_SOURCE $(FUZZ_DEFS) -Isrc/common $(HOST_INC) $(HOST_LIB_CFLAGS) $(FUZZ_SAN)
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzz/%)
FUZZ_LIB_OBJ := $(patsubst src/%.c,$(BUILD)/fuzz/obj/%.o,$(COMMON_SRC) $(filter-out src/host/cli/main.c,$(HOST_SRC)))

$(BUILD)/fuzz/obj/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(DEPFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

# An archive, so each target pulls in only the objects it uses.
$(BUILD)/fuzz/libsbx.a: $(FUZZ_LIB_OBJ)
	rm -f $@
	ar rcs $@ $^

# fuzz_dns_guest and fuzz_sshagent include a .c file of their own (static functions).
$(BUILD)/fuzz/%: tests/fuzz/%.c $(BUILD)/fuzz/libsbx.a
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(DEPFLAGS) -Itests/fuzz -fsanitize=fuzzer -o $@ $< $(BUILD)/fuzz/libsbx.a $(HOST_LIBS)

fuzz: $(FUZZ_BIN)
	@if [ "$(FUZZ_S)" -gt 0 ]; then tests/fuzz/run.sh $(BUILD) $(FUZZ_S) $(notdir $(FUZZ_BIN)); fi

fuzz-regress: $(FUZZ_BIN)
	@set -e; for t in $(FUZZ_BIN); do n=$$(basename $$t); \
		files=$$(find tests/fuzz/corpus/$$n tests/fuzz/crashes/$$n -type f 2>/dev/null | sort); \
		[ -n "$$files" ] || continue; \
		echo "== $$n: $$(echo "$$files" | wc -l) inputs"; \
		$$t -runs=1 $$files >$(BUILD)/fuzz/$$n.regress.log 2>&1 || { cat $(BUILD)/fuzz/$$n.regress.log; exit 1; }; \
	done

# the header dependencies the compiler wrote (-MMD); absent on a first build
-include $(shell find $(BUILD) -type f -name '*.d' 2>/dev/null)
