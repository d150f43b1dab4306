# Quick start:  make run   (sets everything up, starts the router and its demo)
#               make test  (sets everything up, runs the whole test suite)
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: run test peers venv lint bench build-ext pcaps clean

$(STAMP): pyproject.toml setup.py $(wildcard rtpstack/*.c rtpstack/sframe/*.c router/forwarding/*.c)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip setuptools wheel
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

# Third-party peers used by interop tests (ffmpeg, GStreamer, tshark, chromium).
# Installs them when run as root on Debian; otherwise says what is missing.
peers:
	@bash tools/install-peers.sh

run: $(STAMP)
	$(PY) tools/demo.py

# Per-stream analysis of the project's own regression captures.
analyze: $(STAMP)
	$(VENV)/bin/rtpstack pcap analyze pcaps/

# Rebuild the optional C accelerators in place after editing a .c file.
build-ext: $(STAMP)
	$(PY) setup.py build_ext --inplace

# Re-record pcaps/ from real peers (ffmpeg, GStreamer).
pcaps: $(STAMP) peers
	$(PY) tools/make_pcaps.py

# Lint and type-check first (ruff, mypy --strict): a regression there fails the run too.
test: peers $(STAMP) lint
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check rtpstack router tools tests
	$(VENV)/bin/mypy

bench: $(STAMP)
	@for b in tools/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

# The router against a C UDP relay: egress at saturation, latency, room scale (~60 s).
bench-router: $(STAMP)
	$(PY) tools/bench_router.py

# A 10 s load test: an 8-participant e2ee room against a router this target starts and stops.
loadgen: $(STAMP)
	@$(VENV)/bin/rtp-router --port 8790 --media-ports 40100 --log-level warning & pid=$$!; \
	trap "kill $$pid" EXIT; \
	for i in $$(seq 50); do $(PY) -c "import urllib.request as u; u.urlopen('http://127.0.0.1:8790/healthz', timeout=1)" 2>/dev/null && break; sleep 0.2; done; \
	$(VENV)/bin/rtpstack loadgen --url http://127.0.0.1:8790 --router-pid $$pid --room 8 -t 10 \
	  --json load.json --plot load.png

clean:
	rm -rf $(VENV) build *.egg-info
