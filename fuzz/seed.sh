#!/usr/bin/env bash
# Seeds the fuzz corpora: preprocessed real headers (the ones the tests parse) for
# `declarations`, a few command lines for `call_arguments`, and the regression inputs.
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p corpus/declarations corpus/call_arguments corpus/values corpus/worker_messages
for header in stdio.h stdlib.h string.h math.h signal.h time.h zlib.h sqlite3.h expat.h lzma.h; do
    echo "#include <$header>" | cc -E -x c - 2>/dev/null > "corpus/declarations/$header.i" || rm -f "corpus/declarations/$header.i"
done
printf 'struct s { int a : 3; char c; double d[2]; } __attribute__((packed));\nint f(struct s *, ...);\n' > corpus/declarations/small.h
printf 'enum e { A = 3 };\nstatic const int a = 1 << 40, b = -(3 * 7);\nstatic const unsigned char c = 300;\nstatic const enum e d = A + 1;\nstatic const float f = 1.5;\nstatic const long g = sizeof(struct { char c; int i; }), h = strlen("x");\n' > corpus/declarations/static_const.h
printf '\x00-5' > corpus/call_arguments/abs
printf '\x01\x001\x00-0' > corpus/call_arguments/copysign
printf '\x02buf:32\x0032\x00%%d|%%s\x00int:42\x00char*:ab' > corpus/call_arguments/snprintf
printf '\x07out:struct point\x00{x=1,y=2.5}\x00{u=1}\x00GREEN\x00true\x00(1,2)\x001e300\x00255\x00-128\x0018446744073709551615' > corpus/call_arguments/all
printf '\x09[1,2,3]\x00hex:00ff\x00str:null' > corpus/call_arguments/fill
for target in declarations call_arguments values worker_messages; do
    cp regressions/$target/* corpus/$target/ 2>/dev/null || true
done
