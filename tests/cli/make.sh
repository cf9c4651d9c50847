#!/bin/bash
# The Makefile itself: deps, check's summary line and exit status,
# install with PREFIX and DESTDIR, clean, plain and sanitizer objects kept
# apart; and the man page lints clean.  Each make runs on a copy of the
# Makefile in $T/tree with stand-ins for what would take long to build,
# so nothing here compiles planmake again or touches the real tree.
. "$(dirname "$0")/lib.sh"

# A make of our own, not a part of the make running this test, and with
# the Makefile's own default flags.
mk() {
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u CFLAGS -u EXTRA_CFLAGS \
	    make --no-print-directory -C "$T/tree" "$@"
}

mkdir -p "$T/tree/tests/cli" "$T/tree/tests/fakellm" "$T/tree/build/san" \
    "$T/tree/man" "$T/bin"
cp "$top/Makefile" "$T/tree/"
cp "$top/tests/run.sh" "$T/tree/tests/"
cp "$top"/man/* "$T/tree/man/"
cp -r "$top/src" "$top/include" "$T/tree/"

# Stand-ins on PATH: apt-get and sudo only log how they were called.
for tool in apt-get sudo; do
	cat >"$T/bin/$tool" <<EOF
#!/bin/sh
echo "$tool DEBIAN_FRONTEND=\${DEBIAN_FRONTEND:-} \$*" >>"$T/calls"
EOF
	chmod +x "$T/bin/$tool"
done
export PATH="$T/bin:$PATH"

# --- deps: nothing to do when every package is there.
: >"$T/calls"
mk deps >"$T/out" 2>&1
check "deps: exits 0 when all is installed" test $? -eq 0
check "deps: prints nothing then" test ! -s "$T/out"
check "deps: runs no apt-get then" test ! -s "$T/calls"

# --- deps: a missing package is installed without a question.
DEBIAN_FRONTEND= mk deps DEBS="pkg-config planmake-no-such-package" >"$T/out" 2>&1
check "deps: names what it installs" \
    grep -qx 'installing: planmake-no-such-package' "$T/out"
if [ "$(id -u)" = 0 ]; then
	check "deps: apt-get update, then install, non-interactively" \
	    test "$(cat "$T/calls")" = "apt-get DEBIAN_FRONTEND= update -q
apt-get DEBIAN_FRONTEND=noninteractive install -y -q --no-install-recommends planmake-no-such-package"
else
	check "deps: through sudo when not root" grep -q '^sudo .*apt-get' \
	    "$T/calls"
fi

# --- check: deps first, then the tests; the last line of stdout is the
# summary and a failure makes make fail.  The test programs here are
# stand-ins: two scripts and a "unit test" that print TAP.
: >"$T/tree/tests/fakellm/fakellm.c"
mk build/san/flags >/dev/null 2>&1
touch "$T/tree/build/san/planmake" "$T/tree/build/fakellm"
cat >"$T/tree/build/san/test_fake" <<EOF
#!/bin/sh
echo "unit ran" >>"$T/calls"
echo "ok 1 - unit one"
echo "ok 2 - unit two"
EOF
chmod +x "$T/tree/build/san/test_fake"
cat >"$T/tree/tests/cli/pass.sh" <<'EOF'
echo "ok 1 - passes"
EOF
: >"$T/calls"
mk check SRC= UNITBIN=build/san/test_fake DEBS="planmake-no-such-package" \
    >"$T/out" 2>"$T/err"
st=$?
check "check: exits 0 when all pass" test "$st" -eq 0
check "check: the last line counts every TAP line" \
    test "$(tail -1 "$T/out")" = "3 passed, 0 failed"
check "check: deps ran before the tests" \
    test "$(sed -n '1s/ .*//p; $p' "$T/calls" | tr '\n' ' ')" = \
    "apt-get unit ran "

cat >"$T/tree/tests/cli/fail.sh" <<'EOF'
echo "ok 1 - fine"
echo "not ok 2 - broken"
exit 1
EOF
cat >"$T/tree/tests/cli/crash.sh" <<'EOF'
echo "Segmentation fault" >&2
exit 139
EOF
cat >"$T/tree/tests/cli/silent.sh" <<'EOF'
exit 0
EOF
cat >"$T/tree/tests/cli/hang.sh" <<'EOF'
echo "ok 1 - started"
exec sleep 5
EOF
TEST_TIMEOUT=1 mk check SRC= UNITBIN=build/san/test_fake DEBS= \
    >"$T/out" 2>"$T/err"
st=$?
check "check: a failure makes make check fail" test "$st" -ne 0
check "check: the summary is still the last line of stdout" \
    test "$(tail -1 "$T/out")" = "5 passed, 4 failed"
check "check: a crash without TAP counts as a failure" \
    grep -q '^not ok - .*crash.sh exited 139' "$T/out"
check "check: a script that runs no test counts as a failure" \
    grep -q '^not ok - .*silent.sh ran no test' "$T/out"
check "check: a script that hangs is stopped and counts as a failure" \
    grep -q '^not ok - .*hang.sh exited 124' "$T/out"
rm "$T/tree/tests/cli/fail.sh" "$T/tree/tests/cli/crash.sh" \
    "$T/tree/tests/cli/silent.sh" "$T/tree/tests/cli/hang.sh"

# --- plain objects in build/obj, sanitizer ones in build/san.
mk -n -B planmake >"$T/plain" 2>&1
mk -n -B build/san/planmake >"$T/san" 2>&1
check "objects: plain ones go to build/obj, without sanitizers" \
    sh -c "grep -- ' -c -o ' '$T/plain' | grep -v -- '-fsanitize' |
    grep -c -- '-o build/obj/' | grep -qx $(ls "$top"/src/*.c | wc -l)"
check "objects: sanitizer ones go to build/san" \
    sh -c "grep -- ' -c -o ' '$T/san' | grep -- '-fsanitize=address,undefined' |
    grep -c -- '-o build/san/' | grep -qx $(ls "$top"/src/*.c | wc -l)"
check "objects: no command writes the other kind" \
    sh -c "! grep -- '-o build/san/' '$T/plain' && ! grep -- '-o build/obj/' '$T/san'"
check "objects: both builds warn with -Wall -Wextra" \
    sh -c "grep -- ' -c -o ' '$T/plain' '$T/san' | grep -v -- '-Wall -Wextra' | grep -q . && exit 1 || exit 0"
mk build/san/diag.o build/obj/diag.o >/dev/null 2>&1
check "objects: the two kinds of one source differ" \
    sh -c "! cmp -s '$T/tree/build/san/diag.o' '$T/tree/build/obj/diag.o'"
mk build/san/diag.o >"$T/out" 2>&1
check "objects: up to date when nothing changed" \
    sh -c "! grep -q -- '-o build/san/diag.o' '$T/out'"
mk EXTRA_CFLAGS=-Werror build/san/diag.o >"$T/out" 2>&1
check "objects: new flags rebuild them" \
    grep -q -- '-Werror -c -o build/san/diag.o' "$T/out"
mk CFLAGS="-O0 -g" build/obj/diag.o >"$T/out" 2>&1
check "objects: new CFLAGS rebuild the plain ones" \
    grep -q -- '-O0 -g .*-c -o build/obj/diag.o' "$T/out"

# --- install: PREFIX and DESTDIR, the program and each man page.
printf '#!/bin/sh\necho stand-in\n' >"$T/tree/planmake"
mk -o planmake install DESTDIR="$T/dest" PREFIX=/usr >"$T/out" 2>&1
check "install: exits 0" test $? -eq 0
(cd "$T/dest" && find . | sort) >"$T/list"
# The expected tree: the program, and each man page in its section.
{
	printf '.\n./usr\n./usr/bin\n./usr/bin/planmake\n./usr/share\n'
	printf './usr/share/man\n'
	for m in "$top"/man/*.[1-8]; do
		sec=${m##*.}
		printf './usr/share/man/man%s\n' "$sec"
		printf './usr/share/man/man%s/%s\n' "$sec" "${m##*/}"
	done
} | sort -u >"$T/want"
check "install: the tree under DESTDIR/PREFIX" cmp -s "$T/want" "$T/list"
check "install: a section 5 page too" \
    test -f "$T/dest/usr/share/man/man5/planmake-config.5"
check "install: the program is executable" test -x "$T/dest/usr/bin/planmake"
check "install: the man page as written" \
    cmp -s "$top/man/planmake.1" "$T/dest/usr/share/man/man1/planmake.1"
mk -o planmake install DESTDIR="$T/dest2" >/dev/null 2>&1
check "install: PREFIX defaults to /usr/local" \
    test -x "$T/dest2/usr/local/bin/planmake" -a \
    -f "$T/dest2/usr/local/share/man/man1/planmake.1"

# --- clean removes what the build made, and only that.
mkdir -p "$T/tree/build/obj"
touch "$T/tree/build/obj/x.o"
mk clean >/dev/null 2>&1
check "clean: build/ and ./planmake gone" \
    test ! -e "$T/tree/build" -a ! -e "$T/tree/planmake"
check "clean: the sources stay" test -f "$T/tree/src/main.c" -a \
    -f "$T/tree/Makefile"

# --- the man pages lint clean ("referenced manual not found" aside:
# planfile(5) is still to come).
for m in "$top"/man/*.[1-8]; do
	mandoc -Tlint -W warning "$m" 2>&1 |
	    grep -v 'referenced manual not found' >"$T/lint"
	check "man: ${m##*/} is mandoc -Tlint clean" test ! -s "$T/lint"
	[ -s "$T/lint" ] && cat "$T/lint"
done
finish
