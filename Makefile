# planmake: make for work done by language models.
# GNU make.  `make` builds ./planmake; `make check` runs the tests with
# AddressSanitizer and UBSan; `make demo` runs examples/wc end to end;
# `make bench` times a no-op rerun against ninja, loading against ninja,
# and the scheduler against tests/fakellm.

PREFIX	?= /usr/local
BINDIR	 = $(PREFIX)/bin
MANDIR	 = $(PREFIX)/share/man
CC	?= cc
CFLAGS	?= -O2 -g
PKGS	 = libcurl jansson yaml-0.1 libpcre2-8 libcrypto
TESTPKGS = cmocka libmicrohttpd
PKGCFLAGS = $(shell pkg-config --cflags $(PKGS))
# libcurl is not linked: src/http.c loads it when it is first needed.
PKGLIBS	 = $(shell pkg-config --libs $(filter-out libcurl,$(PKGS))) -ldl -lm
PMCFLAGS = -std=c99 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE \
	   -Wall -Wextra -Wshadow -Iinclude $(PKGCFLAGS)
SAN	 = -fsanitize=address,undefined -fno-sanitize-recover=undefined \
	   -DPM_FREE_AT_EXIT \
	   -fno-omit-frame-pointer

SRC	 = $(sort $(wildcard src/*.c))
HDR	 = $(wildcard include/*.h)
OBJ	 = $(SRC:src/%.c=build/obj/%.o)
SANOBJ	 = $(SRC:src/%.c=build/san/%.o)
LIBSAN	 = $(filter-out build/san/main.o,$(SANOBJ))
UNIT	 = $(sort $(wildcard tests/unit/test_*.c))
UNITBIN	 = $(UNIT:tests/unit/%.c=build/san/%)

# libFuzzer targets (make fuzz): clang with Debian's compiler-rt, whose
# libclang_rt.fuzzer comes in libclang-rt-dev.
FUZZTIME ?= 30
FUZZCC	 = clang
FUZZSAN	 = -fsanitize=address,undefined -fno-sanitize-recover=undefined \
	   -fno-omit-frame-pointer
FUZZOBJ	 = $(filter-out build/fuzz/main.o,$(SRC:src/%.c=build/fuzz/%.o))
FUZZERS	 = build/fuzz/fuzz_planfile build/fuzz/fuzz_yaml
.PRECIOUS: build/fuzz/%.o

# Debian packages: build, test, and the tools the tests and docs use.
DEBS	 = build-essential pkg-config ca-certificates curl \
	   libcurl4-openssl-dev libyaml-dev libjansson-dev libpcre2-dev \
	   libssl-dev libcmocka-dev libmicrohttpd-dev mandoc python3 \
	   python3-jsonschema python3-yaml clang libclang-rt-dev

.PHONY: all deps check test demo install clean lint bench fuzz FORCE

all: planmake

planmake: $(OBJ)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(OBJ) $(PKGLIBS)

build/obj/%.o: src/%.c $(HDR) build/obj/flags
	$(CC) $(CFLAGS) $(PMCFLAGS) -c -o $@ $<

build/san/%.o: src/%.c $(HDR) build/san/flags
	$(CC) -O1 -g $(SAN) $(PMCFLAGS) $(EXTRA_CFLAGS) -c -o $@ $<

# Each object directory remembers the flags it was built with; a change
# (say EXTRA_CFLAGS=-Werror) rebuilds its objects rather than reusing
# ones compiled under other flags.
build/obj/flags: FORCE
	@mkdir -p build/obj
	@echo '$(CC) $(CFLAGS) $(PMCFLAGS)' | cmp -s - $@ || \
	    echo '$(CC) $(CFLAGS) $(PMCFLAGS)' >$@

build/san/flags: FORCE
	@mkdir -p build/san
	@echo '$(CC) $(SAN) $(PMCFLAGS) $(EXTRA_CFLAGS)' | cmp -s - $@ || \
	    echo '$(CC) $(SAN) $(PMCFLAGS) $(EXTRA_CFLAGS)' >$@

FORCE:

build/san/planmake: $(SANOBJ)
	$(CC) $(SAN) -o $@ $(SANOBJ) $(PKGLIBS)

build/san/test_%: tests/unit/test_%.c $(LIBSAN) tests/unit/unit.h \
    build/san/flags
	$(CC) -O1 -g $(SAN) $(PMCFLAGS) $(EXTRA_CFLAGS) -Itests/unit -o $@ \
	    $< $(LIBSAN) $(PKGLIBS) $$(pkg-config --cflags --libs cmocka)

build/fakellm: tests/fakellm/fakellm.c build/san/flags
	$(CC) -std=c99 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -O1 -g \
	    $(EXTRA_CFLAGS) -o $@ tests/fakellm/fakellm.c \
	    $$(pkg-config --cflags --libs libmicrohttpd jansson libcrypto) \
	    -lpthread -lm

build/fuzz/%.o: src/%.c $(HDR)
	@mkdir -p build/fuzz
	$(FUZZCC) -O1 -g $(FUZZSAN) -fsanitize=fuzzer-no-link $(PMCFLAGS) \
	    $(EXTRA_CFLAGS) -c -o $@ $<

build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(FUZZOBJ)
	$(FUZZCC) -O1 -g $(FUZZSAN) -fsanitize=fuzzer $(PMCFLAGS) \
	    $(EXTRA_CFLAGS) -o $@ $< $(FUZZOBJ) $(PKGLIBS)

# Install the Debian packages that are missing (as root, no questions).
# A package counts as there only when dpkg says "install ok installed";
# when all are, this prints nothing and runs nothing.
deps:
	@missing=""; for p in $(DEBS); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | \
	    grep -q 'ok installed' || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	    echo "installing:$$missing"; \
	    if [ "$$(id -u)" != 0 ]; then SUDO=sudo; else SUDO=; fi; \
	    $$SUDO apt-get update -q && \
	    $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	        --no-install-recommends $$missing; \
	fi

check: deps
	@$(MAKE) --no-print-directory test

test: build/san/planmake build/fakellm $(UNITBIN)
	@sh tests/run.sh $(UNITBIN)

# Run each fuzzer for FUZZTIME seconds (ASan, UBSan); see tests/fuzz/run.sh.
fuzz: deps
	@$(MAKE) --no-print-directory $(FUZZERS)
	@sh tests/fuzz/run.sh $(FUZZTIME)

# The benchmarks, with the optimised build; not in check.  Loading a plan
# of BENCHN tasks against ninja on the same graph; a no-op rerun beside
# ninja's at 1,000 to 100,000 tasks; the scheduler against tests/fakellm;
# then 200 kill -9s of a build.  Installs the tools it times with.
BENCHN	?= 100000
bench: deps
	@$(MAKE) --no-print-directory deps DEBS="ninja-build hyperfine time"
	@$(MAKE) --no-print-directory planmake build/fakellm build/san/planmake
	@sh tests/bench/load.sh $(BENCHN)
	@bash tests/bench/noop.sh
	@bash tests/bench/bench.sh
	@KILLS=200 bash tests/cli/crash.sh

demo: deps
	@$(MAKE) --no-print-directory planmake build/fakellm
	@sh examples/demo.sh

lint:
	mandoc -Tlint -W warning man/*.[1-8]

# Every page in man/ goes to the section its suffix names.
install: planmake
	mkdir -p $(DESTDIR)$(BINDIR)
	cp planmake $(DESTDIR)$(BINDIR)/planmake
	chmod 755 $(DESTDIR)$(BINDIR)/planmake
	for m in man/*.[1-8]; do \
	    d=$(DESTDIR)$(MANDIR)/man$${m##*.}; \
	    mkdir -p "$$d" && cp "$$m" "$$d"/ && \
	    chmod 644 "$$d/$${m##*/}" || exit 1; \
	done

clean:
	rm -rf build planmake
