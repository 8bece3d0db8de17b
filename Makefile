# The everyday commands. `.ci/run` runs `make ci`; run the same recipes by hand.
# Needs make and the stable Rust toolchain (with rustfmt and clippy); the C
# parts come from `make build-deps`. `fuzz-smoke` alone needs more (see there).
#
#   make check        fmt, clippy (with the MSRV lint, see `clippy`)
#   make test         the README's test command: every crate's tests, release
#   make loom         the loom models (--cfg loom, own target dir)
#   make negative-control  the simulation against an engine that skips fsync: must fail
#   make kafka-clients  kcat and the Python Kafka clients for the Kafka front's tests
#   make build-deps   a C compiler, pkg-config and libssl-dev (librdkafka, TLS) where missing
#   make ci           all of the above, what CI runs
#   make sim-long     a long power-cut simulation (SIM_SEEDS, default 200000)
#   make fuzz-smoke   each cargo-fuzz target for FUZZ_SECONDS (default 60)
#   make bench        the engine benchmark (BENCH=engine|loopback|idle_rss)

CARGO ?= cargo
SIM_SEEDS ?= 200000
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := batch_decode frame_decode metadata_open segment_recovery server_stream kafka_request kafka_records contract_check schema_compat
BENCH ?= engine
LOOM_TESTS := $(basename $(notdir $(wildcard engine/tests/loom*.rs)))

.PHONY: build-deps ci check fmt clippy doc test loom negative-control sim-long fuzz-smoke bench kafka-clients

ci: build-deps check kafka-clients test loom negative-control

# What the build needs beyond Rust: a C compiler and make for librdkafka
# (built from source by rdkafka-sys), pkg-config and OpenSSL's headers for
# the mirror's TLS. Installed only where missing.
build-deps:
	@echo "== build dependencies"
	command -v cc >/dev/null && command -v pkg-config >/dev/null && pkg-config --exists openssl || \
	  { apt-get update -qq && apt-get install -y -qq build-essential pkg-config libssl-dev; }

check: fmt clippy

fmt:
	@echo "== fmt"
	$(CARGO) fmt --all -- --check

# `rust-version` in Cargo.toml is checked here: clippy's `incompatible_msrv`
# (denied with the other warnings) rejects a std API stabilised after it.
# In the release profile, as `test` builds: build scripts (librdkafka's C
# build among them) and proc macros are then built once, not once per profile.
clippy:
	@echo "== clippy"
	$(CARGO) clippy --release --workspace --all-targets -- -D warnings

# By hand, not in `ci`: a documentation build of every crate with warnings denied.
doc:
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --workspace --no-deps --quiet

test:
	@echo "== tests (README test command)"
	$(CARGO) test --workspace --release

# One build per loom file: each model is its own binary (loom aborts the
# process on a failed model), in target/loom so that --cfg loom never
# invalidates the everyday build.
loom:
	@echo "== loom models"
	for t in $(LOOM_TESTS); do \
	  RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom $(CARGO) test -p millrace --release --test $$t || exit 1; \
	done

# Its own workspace, so that the engine's `test-skip-fsync` feature never
# unifies into the builds above.
negative-control:
	@echo "== simulation negative control"
	CARGO_TARGET_DIR=target/negative-control $(CARGO) test --release --manifest-path tests/negative-control/Cargo.toml

sim-long:
	MILLRACE_SIM_SEEDS=$(SIM_SEEDS) $(CARGO) test --release -p millrace-tests --test it \
	  simulation::seeded_power_cuts -- --exact --nocapture

# Needs cargo-fuzz and a nightly toolchain, which a fresh machine lacks; the
# checked-in corpora are replayed by `make test` without them.
fuzz-smoke:
	@command -v cargo-fuzz >/dev/null || { echo "fuzz-smoke needs cargo-fuzz and a nightly toolchain (cargo install cargo-fuzz)"; exit 1; }
	cd fuzz && for t in $(FUZZ_TARGETS); do \
	  $(CARGO) +nightly fuzz run --sanitizer none $$t -- -max_total_time=$(FUZZ_SECONDS) || exit 1; \
	done

bench:
	case "$(BENCH)" in \
	  engine) $(CARGO) bench -p millrace-benches --bench engine ;; \
	  loopback) $(CARGO) bench -p millrace-server --bench loopback ;; \
	  idle_rss) $(CARGO) bench -p millrace-cli --bench idle_rss ;; \
	  *) echo "BENCH=engine|loopback|idle_rss"; exit 2 ;; \
	esac

# Real Kafka clients for the Kafka front's tests (cli/tests/it/kafka_*.rs):
# kcat from Debian's packages, and confluent-kafka, kafka-python and aiokafka
# in a virtual environment at target/kafka-venv. `make ci` runs it and
# requires the clients (MILLRACE_KAFKA_CLIENTS=require); without them the
# tests say they were skipped.
KAFKA_VENV ?= target/kafka-venv
kafka-clients:
	@echo "== Kafka clients"
	command -v kcat >/dev/null || { apt-get update -qq && apt-get install -y -qq kcat; }
	test -x $(KAFKA_VENV)/bin/python || python3 -m venv $(KAFKA_VENV)
	$(KAFKA_VENV)/bin/pip install -q confluent-kafka==2.16.2 kafka-python==3.0.12 aiokafka==0.14.0
	# Schema registry clients (serializers): confluent-kafka's extras, pinned.
	$(KAFKA_VENV)/bin/pip install -q 'confluent-kafka[avro,json,schemaregistry]==2.16.2' fastavro==1.13.1 jsonschema==4.26.0
