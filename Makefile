# dockyard: set up a fresh Debian 12 machine, run the demo, the checks and the benchmarks.
#   make demo    install what is missing, build busybox:latest, run `dockyard run --rm busybox echo hello`
#   make test    install, then ruff, ruff format --check, mypy (strict) and the whole pytest suite
#   make bench   install, then bench/compare_bench.py (dockyard vs docker and podman side by side; it apt-installs
#                docker.io and podman for the bench, starts dockerd on a temp socket and stops it again)
#   make refs    Docker's reference files (seccomp default.json from golang-github-docker-docker-dev)
# Runs as root (or with sudo for the apt and /usr/local/bin steps); every target is safe to rerun.

SHELL := /bin/bash
.DEFAULT_GOAL := demo

PYTHON ?= python3
VENV := $(CURDIR)/.venv
BIN_DIR ?= /usr/local/bin
CACHE_DIR ?= /var/cache/dockyard
APT_STAMP := $(CACHE_DIR)/apt-updated.stamp
REFS_DIR := $(CACHE_DIR)/docker-dev
APT_ARCHIVES := /var/cache/apt/archives
APT_PACKAGES := python3-venv busybox-static runc libseccomp2 iptables uidmap curl skopeo umoci tini podman docker.io
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

.PHONY: demo test bench install apt venv links refs image lint clean

demo: install image
	$(VENV)/bin/dockyard run --rm busybox echo hello

test: install refs
	$(VENV)/bin/ruff check src tests
	$(VENV)/bin/ruff format --check src tests
	cd $(CURDIR) && $(VENV)/bin/mypy
	$(VENV)/bin/pytest

bench: install image
	$(VENV)/bin/python bench/compare_bench.py

install: apt venv links

# apt-get update runs only when a package is missing and the index is older than a day (or was never fetched).
apt:
	@missing=""; \
	for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) mkdir -p $(CACHE_DIR); \
	  if [ -z "$$(find $(APT_STAMP) -mmin -1440 2>/dev/null)" ]; then \
	    $(SUDO) apt-get update && $(SUDO) touch $(APT_STAMP); \
	  fi; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing; \
	fi

# Every run: byte-compile src (the environment may set PYTHONDONTWRITEBYTECODE, and each runtime invocation would
# otherwise recompile what changed) and replace pip's dockyard-runtime, dockyard and dockyardd scripts by the faster
# launchers (src/dockyard/runtime/launcher.py says why); both are no-ops when up to date.
venv: $(VENV)/.installed
	@$(VENV)/bin/python -m compileall -q src
	@$(VENV)/bin/python -m dockyard.runtime.launcher $(VENV)/bin/dockyard-runtime $(VENV)/bin/dockyard $(VENV)/bin/dockyardd

$(VENV)/.installed: pyproject.toml
	@[ -x $(VENV)/bin/python ] || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

links: venv
	@for tool in dockyard dockyardd dockyard-runtime; do \
	  if [ "$$(readlink $(BIN_DIR)/$$tool)" != "$(VENV)/bin/$$tool" ]; then \
	    $(SUDO) ln -sfn $(VENV)/bin/$$tool $(BIN_DIR)/$$tool && echo "linked $(BIN_DIR)/$$tool"; \
	  fi; \
	done

# Debian's golang-github-docker-docker-dev cannot be installed as a dependency on its own terms; the .deb is
# downloaded into apt's archive (where the seccomp reference test looks) and unpacked into $(REFS_DIR).
refs: $(REFS_DIR)/.stamp

$(REFS_DIR)/.stamp:
	$(SUDO) mkdir -p $(REFS_DIR) $(APT_ARCHIVES)
	@if ! ls $(APT_ARCHIVES)/golang-github-docker-docker-dev_*.deb >/dev/null 2>&1; then \
	  cd /tmp && ( $(SUDO) apt-get download golang-github-docker-docker-dev \
	    || { $(SUDO) apt-get update && $(SUDO) touch $(APT_STAMP) && $(SUDO) apt-get download golang-github-docker-docker-dev; } ) \
	  && $(SUDO) mv /tmp/golang-github-docker-docker-dev_*.deb $(APT_ARCHIVES)/; \
	fi
	$(SUDO) dpkg -x "$$(ls $(APT_ARCHIVES)/golang-github-docker-docker-dev_*.deb | sort | tail -n 1)" $(REFS_DIR)
	$(SUDO) touch $@

image: venv
	$(VENV)/bin/dockyard image build-busybox

lint: venv
	$(VENV)/bin/ruff check src tests
	$(VENV)/bin/ruff format --check src tests
	cd $(CURDIR) && $(VENV)/bin/mypy

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache bench/results
