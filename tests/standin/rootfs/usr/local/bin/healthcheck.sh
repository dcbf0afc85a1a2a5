#!/bin/sh
# Same contract as the real images' healthcheck.sh: exit 0 when the service's own endpoint answers.
case "$STANDIN_SERVICE" in
  web) url=http://127.0.0.1:8000/ ;;
  prosody) url=http://127.0.0.1:5280/health ;;
  jicofo) url=http://127.0.0.1:8888/about/health ;;
  jvb) url=http://127.0.0.1:8080/about/health ;;
  uptime-kuma) url=http://127.0.0.1:3001/ ;;
  *) exit 1 ;;
esac
# (busybox 1.35 wget crashes on -T, hence timeout)
exec timeout 2 wget -q -O /dev/null "$url"
