#!/bin/bash
# Answers to files, through the whole program: a bad answer writes none
# of its task's targets and is kept but not cached; targets are written
# whole, all of a task's or none, in new directories, keeping modes.
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/w"
cd "$T/w"
echo 'spec' >SPEC.md
cat >Planfile <<'PF'
all: one.txt two.txt deep/er/still/x.sh mixed.c
.PHONY: all
one.txt two.txt: SPEC.md
	Write both files.
deep/er/still/x.sh: SPEC.md
	Write the script.
mixed.c: SPEC.md
	Write mixed.
PF
echo 'old one' >one.txt
echo 'old two' >two.txt
cd "$top"
# one.txt and two.txt were there before planmake: it may overwrite them.
F="--force=one.txt --force=two.txt"

# One of two targets missing from the answer: neither is written.
cat >"$T/script.json" <<'JS'
[{"match": "Write both", "times": 2,
  "answer": "Here you are.\n\none.txt\n```\nnew one\n```\n"},
 {"match": "Write mixed", "answer": "### ./mixed.c\r\n\r\n````c\r\n```\r\nx\r\n```\r\n````\r\n"}]
JS
start_fake --script "$T/script.json"
pm -k $F
check "a missing target fails the task: exit 1" test $? -eq 1
check "a missing target is named" \
    grep -q "task 'one.txt' failed: answer has no block for 'two.txt'; the answer is kept in .*failed/one.txt.answer" "$T/err"
check "the target that was there is not written" test "$(cat "$T/w/one.txt")" = 'old one'
check "the other keeps its old content" test "$(cat "$T/w/two.txt")" = 'old two'
check "the raw answer is kept under .planmake/failed" \
    grep -qx 'new one' "$T/w/.planmake/failed/one.txt.answer"
check "directories are created for a new target" test -s "$T/w/deep/er/still/x.sh"
check "'### ./path', CRLF and a longer fence give the file" \
    test "$(printf '```\nx\n```\n')" = "$(cat "$T/w/mixed.c")"
check "no temporary file is left" \
    test -z "$(find "$T/w" -name '*.pm-tmp.*')"
check "the lock has no entry for the failed task" \
    sh -c "! grep -q '^one.txt' '$T/w/planmake.lock' && ! grep -q '^two.txt' '$T/w/planmake.lock'"

# An unusable answer is not cached: the rerun asks again.
: >"$T/fake.log"
pm -k $F
check "a bad answer is asked again on the next run" test "$(requests_for one.txt)" -eq 1
check "and fails again" test "$(cat "$T/w/one.txt")" = 'old one'

# The rule is used up: the default answer names both.  A directory in the
# way of the second target fails the task, and the first is not renamed
# over either.
rm "$T/w/two.txt"
mkdir "$T/w/two.txt"
pm $F
check "a target that cannot be written fails the task" \
    grep -q "task 'one.txt' failed: cannot write two.txt: Is a directory" "$T/err"
check "the other target of the task is left as it was" \
    test "$(cat "$T/w/one.txt")" = 'old one'
check "no temporary file is left after a failed write" \
    test -z "$(find "$T/w" -name '*.pm-tmp.*')"
rmdir "$T/w/two.txt"
: >"$T/fake.log"
pm $F
check "the answer was cached before the write failed: no request now" \
    test "$(requests)" -eq 0
check "both targets are written from the cache" \
    sh -c "grep -qx 'content for one.txt' '$T/w/one.txt' && grep -qx 'content for two.txt' '$T/w/two.txt'"

# An existing file's mode is kept when it is rewritten.
cp "$T/w/deep/er/still/x.sh" "$T/x.before"
chmod 755 "$T/w/deep/er/still/x.sh"
chmod 600 "$T/w/one.txt"
sed -i 's/Write the script\./Write the script again./; s/Write both files\./Write both files again./' "$T/w/Planfile"
pm
check "the rebuild exits 0" test $? -eq 0
check "the rebuilt script has new content" \
    sh -c "! cmp -s '$T/x.before' '$T/w/deep/er/still/x.sh'"
check "mode 755 is kept" test "$(stat -c %a "$T/w/deep/er/still/x.sh")" = 755
check "mode 600 is kept" test "$(stat -c %a "$T/w/one.txt")" = 600
umask_mode=$(printf '%o' $((0666 & ~$(umask))))
check "a new file gets 0666 less the umask" \
    test "$(stat -c %a "$T/w/mixed.c")" = "$umask_mode"

# Paths in a plan are relative to its directory, where the lock and
# .planmake/ go too: -f sub/Plan works as -C sub -f Plan.
mkdir -p "$T/w/sub"
printf 'z.txt: in.txt\n\tWrite z.\n' >"$T/w/sub/Plan"
echo input >"$T/w/sub/in.txt"
pm -f sub/Plan
check "-f sub/Plan: the lock is beside the plan" \
    sh -c "grep -q '^z.txt	' '$T/w/sub/planmake.lock' && test -d '$T/w/sub/.planmake/cache'"
check "-f sub/Plan: inputs and targets are relative to the plan" \
    sh -c "test -s '$T/w/sub/z.txt' && test ! -e '$T/w/z.txt'"
printf 'z.txt: nothere.txt\n\tWrite z.\n' >"$T/w/sub/Plan"
pm -f sub/Plan
check "-f sub/Plan: diagnostics name the plan as given" \
    grep -q "^sub/Plan:1:" "$T/err"
finish
