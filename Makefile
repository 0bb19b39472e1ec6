# claims-ops: `make demo` runs the main job on the embedded default, `make test` runs the
# gate CI runs. Both install missing system build packages with apt-get (or say what to
# install), fetch the pinned XGBoost library once, and build in release.

SHELL := /bin/bash
export CARGO_TARGET_DIR ?= $(HOME)/.cache/claims-ops/target
# XGBOOST=prebuilt (default): official libxgboost 3.2.0 from PyPI's xgboost-cpu wheel.
# XGBOOST=source: compile the XGBoost 3.4.1 sources vendored in xgboost_lib-sys (cmake+ninja, ~21 min cold).
XGBOOST ?= prebuilt
XGB_SOURCE_LIB := $(HOME)/.local/share/claims-ops/xgboost-source-3.4.1
BIN := $(CARGO_TARGET_DIR)/release/claims
DEMO_HOME ?= $(HOME)/.local/share/claims-ops/demo-home

ifeq ($(XGBOOST),source)
CARGO_FEATURES := --no-default-features --features source-xgboost
XGB_ENV := CLAIMS_XGB_RPATH=$(XGB_SOURCE_LIB)
SYS_PKGS := libclang-dev cmake ninja-build
else
CARGO_FEATURES :=
XGB_ENV := XGBOOST_LIB_DIR=$$(scripts/xgboost-lib.sh)
SYS_PKGS := libclang-dev
endif
CARGO := $(XGB_ENV) cargo

.PHONY: demo test build deps fmt lint unit install install-system workflows tui-e2e screenshots

deps:
	@scripts/system-deps.sh $(SYS_PKGS)

build: deps
	$(CARGO) build --release $(CARGO_FEATURES)
ifeq ($(XGBOOST),source)
	@mkdir -p $(XGB_SOURCE_LIB)
	@lib=$$(ls -td $(CARGO_TARGET_DIR)/release/build/xgboost_lib-sys-*/out/lib | head -1); \
	cp -a "$$lib"/libxgboost.so* $(XGB_SOURCE_LIB)/
endif

demo: build
	rm -rf $(DEMO_HOME)
	$(BIN) --home $(DEMO_HOME) demo

fmt:
	cargo fmt --check

lint: deps
	$(CARGO) clippy --release $(CARGO_FEATURES) --all-targets -- -D warnings

unit: build
	CLAIMS_PYTHON=$${CLAIMS_PYTHON:-$$(scripts/python-venv.sh)} \
	CLAIMS_TEST_PG=$${CLAIMS_TEST_PG:-$$(scripts/pg-test-server.sh)} \
	$(CARGO) test --release --no-fail-fast $(CARGO_FEATURES)

# GitHub's workflow schema (vendored in check-jsonschema), when the test venv has it.
workflows:
	@v=$$(scripts/python-venv.sh); c=$$(dirname "$$v")/check-jsonschema; \
	if [ -x "$$c" ]; then "$$c" --builtin-schema vendor.github-workflows .github/workflows/*.yml; \
	else echo "workflows: check-jsonschema unavailable, schema check skipped"; fi

# The console end to end in tmux (skips with a reason when tmux is missing).
tui-e2e: build
	bash tests/tui_tmux.sh $(BIN)

test: deps fmt lint workflows unit tui-e2e

install: deps
	$(CARGO) install --path . --locked $(CARGO_FEATURES)

# For service accounts (systemd units with User=, cron of another user): the binary and
# libxgboost under PREFIX, readable by all (laid out as in the xgboost-cpu wheel, whose
# library finds its OpenMP beside it); the binary finds the library through its
# $$ORIGIN/../lib/xgboost/lib run path (the build's own library folder, under this user's home, may be
# closed to them). `sudo make install-system` (PREFIX=/opt/claims-ops).
PREFIX ?= /opt/claims-ops
install-system: build
	install -d -m 755 $(PREFIX)/bin $(PREFIX)/lib/xgboost/lib
	install -m 755 $(BIN) $(PREFIX)/bin/claims
	lib=$$($(XGB_ENV) sh -c 'echo "$${CLAIMS_XGB_RPATH:-$$XGBOOST_LIB_DIR}"'); \
	install -m 644 "$$lib"/libxgboost.so $(PREFIX)/lib/xgboost/lib/libxgboost.so; \
	if [ -d "$$lib/../../xgboost_cpu.libs" ]; then \
	  install -d -m 755 $(PREFIX)/lib/xgboost_cpu.libs; \
	  install -m 644 "$$lib"/../../xgboost_cpu.libs/* $(PREFIX)/lib/xgboost_cpu.libs/; \
	fi
	@echo "installed $(PREFIX)/bin/claims (libxgboost in $(PREFIX)/lib/xgboost/lib)"

# PNGs of every pane of the real console (tmux capture with colours -> scripts/ansi2png.py).
screenshots: build
	scripts/screenshots.sh $(BIN)
