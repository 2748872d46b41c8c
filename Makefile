# cloudgate — two commands do all the set-up:
#   make run    build the embedded lab, run the nightly profile against it, write reports/
#   make test   run the project's own tests
# Both are idempotent and install what they need (a venv from pyproject.toml, Debian packages).

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CG := $(BIN)/cloudgate
STAMP := $(VENV)/.installed
# the front tier's real software (run only inside the lab's guests), and socat, which the checks use
# over SSH to reach haproxy's stats socket as operators do
FRONT_PACKAGES := haproxy keepalived apache2-bin php8.2-fpm libfcgi-dev g++ socat
APT_PACKAGES := openssh-server iptables iproute2 procps chromium $(FRONT_PACKAGES)
LAB_TARGET := fixtures/targets/lab.yaml
TEST_JUNIT := build/test-junit.xml
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test setup system-deps lint lab-up lab-down clean

setup: $(STAMP) system-deps

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip >/dev/null
	$(BIN)/pip install -q -e '.[dev,lab]'
	@touch $(STAMP)

# Debian packages the lab needs (sshd for the hosts, iptables for partitions, ip for namespaces, the
# front tier's daemons), and headless Chromium, in which the self-tests open the operators' page.
# tools/install-debian-packages.sh installs them with a policy-rc.d forbidding every service start, so
# nothing of them starts or listens in the machine's own namespace.
system-deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) bash tools/install-debian-packages.sh $$missing; \
	fi

# Style, then layering: import-linter's contracts (pyproject.toml [tool.importlinter]; run from the
# repository root, which puts tests/infra in its graph), then what a graph cannot show
# (tools/check_layers.py: the product reaches the lab only through a lazy import).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/python tools/check_layers.py

# The project's own tests: lint, unit tests, placement properties, lab components, self-tests of the suite.
# Fails when no test ran or when one was skipped for lack of something CI must provide.
test: setup lint
	@mkdir -p build
	$(BIN)/pytest tests/unit tests/placement tests/lab tests/self -p no:cacheprovider -q \
	  --junitxml=$(TEST_JUNIT) -o junit_family=xunit1
	$(BIN)/python -m cloudgate.report.junitcheck $(TEST_JUNIT)

# The nightly profile against the embedded lab (smoke first, timed), the placement benchmark, then
# the lab is torn down whatever happened. Prints the path of the HTML report.
run: setup
	$(CG) lab run --target $(LAB_TARGET) --reports-dir reports

lab-up: setup
	$(CG) lab up --target $(LAB_TARGET)

lab-down: $(STAMP)
	$(CG) lab down

clean:
	rm -rf build .pytest_cache .ruff_cache .import_linter_cache .hypothesis
