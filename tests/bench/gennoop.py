#!/usr/bin/env python3
"""Write the same graph as a Planfile and as a build.ninja, over real files.

gen.py DIR N: N tasks, each with one output and 3 to 5 inputs (source
files, and from the second layer on the outputs of earlier tasks), under
DIR/src and DIR/out.  The ninja side copies its first input (cat) so
that both tools leave one real file per task."""
import os
import sys

d, n = sys.argv[1], int(sys.argv[2])
os.makedirs(d, exist_ok=True)
per = 100                       # files per directory
nsrc = max(n // 2, 10)

def src(i):
    return 'src/d%d/s%d.txt' % (i // per, i)

def out(i):
    return 'out/d%d/o%d.txt' % (i // per, i)

for i in range(nsrc):
    p = os.path.join(d, src(i))
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, 'w') as f:
        f.write('source %d\n' % i)
for i in range(0, n, per):
    os.makedirs(os.path.join(d, 'out/d%d' % (i // per)), exist_ok=True)

def inputs(i):
    k = 3 + i % 3               # 3, 4 or 5 inputs
    ins = [src(i % nsrc), src((i * 7 + 1) % nsrc)]
    if i >= 1000:               # later tasks read earlier outputs
        ins.append(out(i - 1000))
        ins.append(out((i * 13) % (i - 999)))
    j = 2
    while len(ins) < k:
        ins.append(src((i * 31 + j) % nsrc))
        j += 1
    seen, res = set(), []
    for p in ins[:k]:
        if p not in seen:
            seen.add(p)
            res.append(p)
    return res

with open(os.path.join(d, 'Planfile'), 'w') as pf, \
        open(os.path.join(d, 'build.ninja'), 'w') as nf:
    pf.write('all:')
    for i in range(n):
        pf.write(' ' + out(i))
    pf.write('\n.PHONY: all\n\n')
    nf.write('rule cp\n  command = cat $in > $out\n\n')
    for i in range(n):
        ins = ' '.join(inputs(i))
        pf.write('%s: %s\n\tSummarise part %d of the design.\n'
                 % (out(i), ins, i))
        nf.write('build %s: cp %s\n' % (out(i), ins))
    nf.write('build all: phony')
    for i in range(n):
        nf.write(' ' + out(i))
    nf.write('\ndefault all\n')
