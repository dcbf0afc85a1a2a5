#!/bin/bash
# As in the real image (prosody/rootfs/usr/local/bin/healthcheck.sh at stable-11146-2).
curl --fail-with-body http://127.0.0.1:5280/health
