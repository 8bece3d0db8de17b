#!/bin/sh
# The branch's `millrace` with every durable answer written by the
# connection's task (the path before s15's step): the A side of the A/B runs.
# MILLRACE_BIN: the binary (default target/release/millrace of this checkout).
MILLRACE_DURABLE_ANSWERS=task exec "${MILLRACE_BIN:-$(dirname "$0")/../../../target/release/millrace}" "$@"
