# Spruce — build, test, demo, benchmarks. `make help` lists the targets.
SHELL := /bin/bash
SWIFT ?= swift
PYTHON ?= .venv/bin/python
DEB_PACKAGES := pkg-config libopenblas-dev libzstd-dev libprotobuf-c-dev protobuf-c-compiler \
                libturbojpeg0-dev libpng-dev
SPRUCE := .build/release/spruce

.PHONY: help setup build release test demo bench proto fixtures pyenv fuzz clean

help:
	@echo "make setup     install the Debian packages Spruce needs (idempotent)"
	@echo "make build     debug build"
	@echo "make test      build and run every test"
	@echo "make demo      release build, then the main job on the bundled fixtures"
	@echo "make bench     benchmarks against the named peers (needs 'make pyenv' and ../shared data)"
	@echo "make proto     regenerate the committed protoc-c output from formats/*.proto"
	@echo "make fixtures  regenerate fixtures/ with onnxruntime (needs 'make pyenv')"
	@echo "make pyenv     create .venv with the pinned Python peers (onnx, onnxruntime, tensorflow-cpu, tf2onnx)"

setup:
	@missing=$$(for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	else echo "setup: all Debian packages present"; fi

build:
	$(SWIFT) build

release:
	$(SWIFT) build -c release

test:
	$(SWIFT) build --build-tests
	$(SWIFT) test

demo: release
	@bash fixtures/demo.sh $(SPRUCE)

proto:
	@for p in formats/*.proto; do \
	  n=$$(basename $$p .proto); \
	  protoc-c --proto_path=formats --c_out=Sources/CSpruceProto $$p && \
	  mv Sources/CSpruceProto/$$n.pb-c.h Sources/CSpruceProto/include/ && echo "regenerated $$n"; \
	done

pyenv:
	test -x $(PYTHON) || python3 -m venv .venv
	$(PYTHON) -m pip install -q -r fixtures/requirements.txt

fixtures:
	$(PYTHON) fixtures/make_fixtures.py

bench:
	$(SWIFT) build -c release --product spruce-bench
	$(SWIFT) build -c release --product spruce
	$(PYTHON) bench/import_bench.py

clean:
	rm -rf .build
