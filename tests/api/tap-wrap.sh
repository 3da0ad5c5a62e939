#!/bin/sh
# Run one conformance test under softkvm and, when this machine has a usable
# /dev/kvm, on the host's KVM too; print one TAP stream for prove.
# Known ways the host deviates from the document: tests/api/host-deviations.txt
exec perl "$(dirname "$0")/tap-wrap.pl" "$@"
