#!/bin/sh
# Exit 0 when the front page answers (busybox 1.35's wget crashes on -T, hence timeout).
exec timeout 2 wget -q -O /dev/null http://127.0.0.1:3001/
