#!/bin/bash
# As in the real image (jvb/rootfs/usr/local/bin/healthcheck.sh at stable-11146-2).
curl --fail-with-body http://127.0.0.1:8080/about/health
