#!/bin/bash
# The suite under load: `tox` RUNS times in a row in a fresh clone of COMMIT (loop A) while
# another fresh clone runs `tox` over and over beside it (loop B), until A is done.
# One line per run in $OUT/summary (rc and seconds); each run's log in $OUT/{a,b}.N.log.
#
#   tools/tox_side_by_side.sh COMMIT [RUNS] [OUT]      (tox on PATH; clones go to /tmp/fa, /tmp/fb)
set -u
C=$1; N=${2:-5}
REPO=$(git rev-parse --show-toplevel)
D=${3:-/tmp/tox-side-by-side/$C}; rm -rf $D; mkdir -p $D
for x in a b; do rm -rf /tmp/f$x; git clone -q "$REPO" /tmp/f$x; (cd /tmp/f$x && git checkout -q $C); done
export CI=true
( i=0; while [ ! -e $D/a.done ]; do i=$((i+1)); s=$(date +%s); (cd /tmp/fb && tox >$D/b.$i.log 2>&1); rc=$?; echo "b run $i rc=$rc $(( $(date +%s)-s ))s $(date +%T)" >>$D/summary; done ) &
sleep 20
for i in $(seq 1 $N); do s=$(date +%s); (cd /tmp/fa && tox >$D/a.$i.log 2>&1); rc=$?; echo "a run $i rc=$rc $(( $(date +%s)-s ))s $(date +%T)" >>$D/summary; done
touch $D/a.done; wait; echo ALLDONE >>$D/summary
