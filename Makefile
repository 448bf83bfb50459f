# Spruce — build, test, demo, benchmarks. `make help` lists the targets.
SHELL := /bin/bash
SWIFT ?= swift
PYTHON ?= .venv/bin/python
DEB_PACKAGES := pkg-config libopenblas-dev libzstd-dev libprotobuf-c-dev protobuf-c-compiler openmpi-bin libopenmpi-dev \
                libturbojpeg0-dev libpng-dev
SPRUCE := .build/release/spruce
# Release builds target this machine's CPU; on x86 with FMA the kernels use fused multiply-add
# (without -target-cpu, Swift lowers a fused SIMD multiply-add to one fmaf call per lane).
ifneq ($(shell grep -qw fma /proc/cpuinfo 2>/dev/null && echo yes),)
RELEASE_FLAGS := -Xswiftc -target-cpu -Xswiftc native -Xswiftc -DSPRUCE_FMA
endif

.PHONY: help setup build release test demo bench proto fixtures pyenv check-export report-check study fuzz sanitize clean

help:
	@echo "make setup     install the Debian packages Spruce needs (idempotent)"
	@echo "make build     debug build"
	@echo "make test      build and run every test"
	@echo "make demo      release build, then the main job on the bundled fixtures"
	@echo "make bench     benchmarks against the named peers in one run (needs 'make pyenv')"
	@echo "make proto     regenerate the committed protoc-c output from formats/*.proto"
	@echo "make fixtures  regenerate fixtures/ with onnxruntime (needs 'make pyenv')"
	@echo "make check-export  pack every fixture, export it back to ONNX, compare onnxruntime with spruce run"
	@echo "make study     the overnight study: MobileNet v2 + ResNet50 v2 at 96x96 on ../shared/data/ham10000 (STUDY_FLAGS adds flags)"
	@echo "make report-check  screenshot study/report.html with headless Chromium (apt-get install chromium)"
	@echo "make fuzz      build the libFuzzer target for the artifact reader and run it for 3 minutes"
	@echo "make sanitize  runtime, format and pipeline tests under AddressSanitizer, then ThreadSanitizer (slow; not in CI)"
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
	$(SWIFT) build -c release $(RELEASE_FLAGS)

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
	$(SWIFT) build -c release $(RELEASE_FLAGS)
	$(PYTHON) Tests/Benchmarks/import_bench.py
	$(PYTHON) Tests/Benchmarks/runtime_bench.py
	$(PYTHON) Tests/Benchmarks/train_bench.py
	SPRUCE=.build/release/spruce bash Tests/Benchmarks/mpi_bench.sh

check-export: release
	$(PYTHON) Tests/Benchmarks/check_export_onnxruntime.py --spruce $(SPRUCE) --all

# Resumable: run it again after an interruption and the finished steps are skipped.
STUDY_DATA ?= ../shared/data/ham10000
study: release
	$(SPRUCE) study --data $(STUDY_DATA) --models mobilenetv2,resnet50v2 --sparsities 0,0.25,0.5,0.75,0.9 \
		--size 96 --epochs 10 --lr 1e-3,1e-4 --finetune-epochs 8 --allocation global -o study $(STUDY_FLAGS)

report-check:
	bash Tests/ReportCheck/screenshot.sh study/report.html study/report.png

fuzz:
	bash Tests/Fuzz/build.sh 180

# Leak checks are off: the only leaks reported are the toolchain's (XCTest's suite objects,
# Foundation.Process). SPRUCE_SANITIZE makes the C-example test build its program with the same sanitizer.
SANITIZE_TESTS := SpruceRuntimeTests|SpruceFormatTests|SprucePipelineTests
sanitize:
	SPRUCE_SANITIZE=address ASAN_OPTIONS=detect_leaks=0 $(SWIFT) test --sanitize=address --scratch-path .build-asan --filter '$(SANITIZE_TESTS)'
	SPRUCE_SANITIZE=thread $(SWIFT) test --sanitize=thread --scratch-path .build-tsan --filter '$(SANITIZE_TESTS)'

clean:
	rm -rf .build
