# planmake: make for work done by language models.
# GNU make.  `make` builds ./planmake; `make check` runs the tests with
# AddressSanitizer and UBSan; `make demo` runs examples/wc end to end;
# `make bench` times a no-op rerun against ninja's.

PREFIX	?= /usr/local
BINDIR	 = $(PREFIX)/bin
MANDIR	 = $(PREFIX)/share/man
CC	?= cc
CFLAGS	?= -O2 -g
PKGS	 = libcurl jansson yaml-0.1 libpcre2-8 libcrypto
TESTPKGS = cmocka libmicrohttpd
PKGCFLAGS = $(shell pkg-config --cflags $(PKGS))
PKGLIBS	 = $(shell pkg-config --libs $(PKGS)) -lm
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

# Debian packages: build, test, and the tools the tests and docs use.
DEBS	 = build-essential pkg-config ca-certificates curl \
	   libcurl4-openssl-dev libyaml-dev libjansson-dev libpcre2-dev \
	   libssl-dev libcmocka-dev libmicrohttpd-dev mandoc python3

.PHONY: all deps check test unit cli demo install clean lint bench

all: planmake

planmake: $(OBJ)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(OBJ) $(PKGLIBS)

build/obj/%.o: src/%.c $(HDR)
	@mkdir -p build/obj
	$(CC) $(CFLAGS) $(PMCFLAGS) -c -o $@ $<

build/san/%.o: src/%.c $(HDR)
	@mkdir -p build/san
	$(CC) -O1 -g $(SAN) $(PMCFLAGS) $(EXTRA_CFLAGS) -c -o $@ $<

build/san/planmake: $(SANOBJ)
	$(CC) $(SAN) -o $@ $(SANOBJ) $(PKGLIBS)

build/san/test_%: tests/unit/test_%.c $(LIBSAN) tests/unit/unit.h
	$(CC) -O1 -g $(SAN) $(PMCFLAGS) $(EXTRA_CFLAGS) -Itests/unit -o $@ \
	    $< $(LIBSAN) $(PKGLIBS) $$(pkg-config --cflags --libs cmocka)

build/fakellm: tests/fakellm/fakellm.c
	@mkdir -p build
	$(CC) -std=c99 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -O1 -g \
	    $(EXTRA_CFLAGS) -o $@ tests/fakellm/fakellm.c \
	    $$(pkg-config --cflags --libs libmicrohttpd jansson libcrypto) \
	    -lpthread

# Install the Debian packages that are missing (as root, no questions).
deps:
	@missing=""; for p in $(DEBS); do \
	    dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	    echo "installing:$$missing"; \
	    if [ "$$(id -u)" != 0 ]; then SUDO=sudo; else SUDO=; fi; \
	    $$SUDO apt-get update -q && \
	    DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q \
	        --no-install-recommends $$missing; \
	fi

check: deps
	@$(MAKE) --no-print-directory test

test: build/san/planmake build/fakellm $(UNITBIN)
	@sh tests/run.sh $(UNITBIN)

demo: deps
	@$(MAKE) --no-print-directory planmake build/fakellm
	@sh examples/demo.sh

# Speed and crash safety at scale (not part of check): a no-op rerun
# beside ninja's at 1,000 to 100,000 tasks, then 200 kill -9s.
bench: planmake build/fakellm build/san/planmake
	@bash tests/bench/noop.sh
	@KILLS=200 bash tests/cli/crash.sh

lint:
	mandoc -Tlint -W warning man/planmake.1

install: planmake
	mkdir -p $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 \
	    $(DESTDIR)$(MANDIR)/man5
	cp planmake $(DESTDIR)$(BINDIR)/planmake
	cp man/planmake.1 $(DESTDIR)$(MANDIR)/man1/planmake.1
	for m in man/*.5; do [ -f "$$m" ] && \
	    cp "$$m" $(DESTDIR)$(MANDIR)/man5/ || true; done

clean:
	rm -rf build planmake
