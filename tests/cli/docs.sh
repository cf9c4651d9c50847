#!/bin/bash
# The man page against the program: every option of the usage text is
# documented and every documented option is in the usage text; the same
# for -d categories, -t tools, environment variables, settings and the
# files planmake makes.
. "$(dirname "$0")/lib.sh"

man=$top/man/planmake.1

# Options: the usage text and the man page's option list.
"$PLANMAKE" -h >"$T/usage" 2>&1
check "-h exits 0" test $? -eq 0
grep -oE '(^|[[ |])--?[A-Za-z][a-z-]*' "$T/usage" | sed 's/^[[ |]//' |
    sort -u >"$T/opt.usage"
grep '^\.It Fl ' "$man" | grep -oE 'Fl [^ ]+' | sed 's/^Fl /-/' |
    sort -u >"$T/opt.man"
check "every option in the usage is in the man page" \
    sh -c "test -z \"\$(comm -23 '$T/opt.usage' '$T/opt.man')\""
check "every option in the man page is in the usage" \
    sh -c "test -z \"\$(comm -13 '$T/opt.usage' '$T/opt.man')\""
check "at least the options of make are there" \
    sh -c "for o in -f -C -j -k -n -q -s -B -v -d -t -h; do grep -qx -- \"\$o\" '$T/opt.usage' || exit 1; done"

# Every option the usage names is accepted.
mkdir -p "$T/w"
printf 'a.txt:\n\tWrite a.\n' >"$T/w/Planfile"
for o in -k -n -s -B -v --offline --refresh; do
	pm -n "$o"
	check "option $o is accepted" test $? -eq 0
done
pm -n -j 3 -f Planfile -C . -d http
check "options with arguments are accepted" test $? -eq 0
pm --version
check "--version prints the version" grep -qE '^planmake [0-9]+\.[0-9]+' "$T/out"

# -d categories: what the program accepts is what the man page lists.
"$PLANMAKE" -d nosuch >/dev/null 2>"$T/err"
cats=$(sed -n 's/.*(known: \(.*\))$/\1/p' "$T/err" | tr -d ' ' | tr , '\n' | sort)
mcats=$(awk '/^\.It Fl d /,/^\.It Fl f /' "$man" | sed -n 's/^\.Cm \([a-z]*\).*/\1/p' | sort -u)
check "-d categories match the man page ($(echo $cats))" \
    test -n "$cats" -a "$cats" = "$mcats"
for c in $cats; do
	pm -n -d "$c"
	check "-d $c is accepted" test $? -eq 0
done

# -t tools: the program's list and the man page's.
pm -t nosuch
tools=$(sed -n 's/.*(known: \(.*\))$/\1/p' "$T/err" | tr -d ' ' | tr , '\n' | sort)
mtools=$(awk '/^\.It Fl t /,/^\.It Fl v/' "$man" | sed -n 's/^\.It Cm \([a-z]*\).*/\1/p' | sort)
check "-t tools match the man page ($(echo $tools))" \
    test -n "$tools" -a "$tools" = "$mtools"

# Environment variables read by the source are documented.
missing=
for v in $(grep -ho 'getenv("[A-Z_]*")' "$top"/src/*.c | sed 's/getenv("\(.*\)")/\1/' | sort -u); do
	grep -q "^\.It Ev $v\$" "$man" || missing="$missing $v"
done
check "every environment variable is in ENVIRONMENT${missing:+ (missing:$missing)}" \
    test -z "$missing"

# Settings the request reads are documented under Settings.
missing=
for v in tier model max_tokens temperature system max_input_bytes; do
	grep -Eq "(task_setting|spec_number)\(p, t, \"$v\"" "$top/src/request.c" ||
	    missing="$missing (not read: $v)"
	awk '/^\.Ss Settings/,/^\.Ss The request/' "$man" | grep -q "^\.It Cm $v\$" ||
	    missing="$missing $v"
done
check "every setting is in the man page${missing:+ (missing:$missing)}" \
    test -z "$missing"

# The files planmake makes beside the plan are all in FILES.
start_fake
printf 'b.txt:\n\tWrite b.\n' >>"$T/w/Planfile"
printf '[{"match": "Write b.", "answer": "x.txt\\n```\\nno\\n```\\n"}]\n' >"$T/script.json"
stop_fake
start_fake --script "$T/script.json"
pm -k a.txt b.txt
missing=
for f in planmake.lock $(cd "$T/w/.planmake" && ls -d *); do
	case $f in
	planmake.lock) p=$f ;;
	*) p=.planmake/$f; [ -d "$T/w/$p" ] && p=$p/ ;;
	esac
	grep -q "^\.It Pa $p" "$man" || missing="$missing $p"
done
check "every file planmake made is in FILES${missing:+ (missing:$missing)}" \
    test -z "$missing" -a -d "$T/w/.planmake/failed"

if command -v mandoc >/dev/null; then
	mandoc -Tlint -W warning "$man" 2>&1 | grep -v 'referenced manual not found' >"$T/lint"
	check "mandoc -Tlint is clean" test ! -s "$T/lint"
fi
finish
