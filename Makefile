# Spruce — build, test, demo, benchmarks. `make help` lists the targets.
SHELL := /bin/bash
SWIFT ?= swift
PYTHON ?= .venv/bin/python
DEB_PACKAGES := pkg-config python3-numpy libopenblas-dev libzstd-dev libprotobuf-c-dev protobuf-c-compiler openmpi-bin libopenmpi-dev \
                libturbojpeg0-dev libpng-dev
SPRUCE := .build/release/spruce
# Release builds target this machine's CPU; on x86 with FMA the kernels use fused multiply-add
# (without -target-cpu, Swift lowers a fused SIMD multiply-add to one fmaf call per lane).
ifneq ($(shell grep -qw fma /proc/cpuinfo 2>/dev/null && echo yes),)
RELEASE_FLAGS := -Xswiftc -target-cpu -Xswiftc native -Xswiftc -DSPRUCE_FMA
endif

PREFIX ?= /usr/local
CONFIG ?= release
BUILD_DIR ?= .build/$(CONFIG)
SWIFT_LIB_DIR := $(shell dirname $$(dirname $$(command -v swift 2>/dev/null || echo /usr/bin/swift)))/lib/swift/linux
INSTALLED := include/spruce.h lib/libspruce.so lib/libspruce.a lib/pkgconfig/spruce.pc lib/pkgconfig/spruce-static.pc bin/spruce

.PHONY: help setup build release test demo install uninstall bench bench-torchvision pyenv-torch proto fixtures pyenv check-export report-check study fuzz sanitize clean

help:
	@echo "make setup     install the Debian packages Spruce needs (idempotent)"
	@echo "make build     debug build"
	@echo "make test      build and run every test"
	@echo "make demo      release build, then the main job on the bundled fixtures"
	@echo "make bench     benchmarks against the named peers in one run (needs 'make pyenv')"
	@echo "make bench-torchvision  torchvision classifiers (224 px) against the current onnxruntime (needs 'make pyenv-torch'; BENCH_FLAGS='--models resnet18 --threads 1,2 --ort-int8'; '--family keras' for Keras exports, which also need 'make pyenv')"
	@echo "make proto     regenerate the committed protoc-c output from formats/*.proto"
	@echo "make fixtures  regenerate fixtures/ with onnxruntime (needs 'make pyenv')"
	@echo "make check-export  pack every fixture, export it back to ONNX, compare onnxruntime with spruce run"
	@echo "make study     the overnight study: MobileNet v2 + ResNet50 v2 at 96x96 on ../shared/data/ham10000 (STUDY_FLAGS adds flags)"
	@echo "make report-check  screenshot study/report.html and an inspect --html page with headless Chromium (apt-get install chromium)"
	@echo "make fuzz      build the libFuzzer target for the artifact reader and run it for 3 minutes"
	@echo "make sanitize  runtime, format and pipeline tests under AddressSanitizer, then ThreadSanitizer (slow; not in CI)"
	@echo "make install   install spruce.h, libspruce.so/.a, spruce.pc, spruce-static.pc and the spruce command under PREFIX (default /usr/local)"
	@echo "make uninstall remove exactly what make install installed under PREFIX"
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

# The torchvision classifiers at their native sizes against the current onnxruntime (its own venv:
# torch and torchvision are about 4 GB).
TORCH_PYTHON ?= .venv-torch/bin/python
pyenv-torch:
	test -x $(TORCH_PYTHON) || python3 -m venv .venv-torch
	$(TORCH_PYTHON) -m pip install -q torch torchvision onnx onnxruntime

bench-torchvision: release
	$(TORCH_PYTHON) Tests/Benchmarks/torchvision_bench.py $(BENCH_FLAGS)

check-export: release
	$(PYTHON) Tests/Benchmarks/check_export_onnxruntime.py --spruce $(SPRUCE) --all

# Resumable: run it again after an interruption and the finished steps are skipped.
STUDY_DATA ?= ../shared/data/ham10000
study: release
	$(SPRUCE) study --data $(STUDY_DATA) --models mobilenetv2,resnet50v2 --sparsities 0,0.25,0.5,0.75,0.9 \
		--size 96 --epochs 10 --lr 1e-3,1e-4 --finetune-epochs 8 --allocation global -o study $(STUDY_FLAGS)

# The study report (after `make study`) and an inspect --html page of the fixture model packed two ways.
report-check: build
	[ ! -f study/report.html ] || bash Tests/ReportCheck/screenshot.sh study/report.html study/report.png
	mkdir -p demo-out
	.build/debug/spruce pack fixtures/models/ham_mobilenetv2_035_64.onnx -o demo-out/check-dense.spruce --int8
	.build/debug/spruce pack fixtures/models/ham_mobilenetv2_035_64.onnx -o demo-out/check-90.spruce --sparsity 0.9 --int8
	.build/debug/spruce inspect demo-out/check-90.spruce --html demo-out/inspect.html --compare demo-out/check-dense.spruce
	bash Tests/ReportCheck/screenshot.sh demo-out/inspect.html demo-out/inspect.png 1280 2400

fuzz:
	bash Tests/Fuzz/build.sh 180

# Leak checks are off: the only leaks reported are the toolchain's (XCTest's suite objects,
# Foundation.Process). SPRUCE_SANITIZE makes the C-example test build its program with the same sanitizer.
SANITIZE_TESTS := SpruceRuntimeTests|SpruceFormatTests|SprucePipelineTests
sanitize:
	SPRUCE_SANITIZE=address ASAN_OPTIONS=detect_leaks=0 $(SWIFT) test --sanitize=address --scratch-path .build-asan --filter '$(SANITIZE_TESTS)'
	SPRUCE_SANITIZE=thread $(SWIFT) test --sanitize=thread --scratch-path .build-tsan --filter '$(SANITIZE_TESTS)'

# The runtime for C and C++ programs, found by pkg-config: `cc app.c $$(pkg-config --cflags --libs
# spruce)` links the shared library, `spruce-static` the archive (with the Swift runtime it needs).
# CONFIG=debug installs what `make build` or `make test` built, building nothing (the install test).
install: $(if $(filter release,$(CONFIG)),release)
	install -d $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/bin
	install -m 644 Sources/SpruceRuntime/include/spruce.h $(DESTDIR)$(PREFIX)/include/spruce.h
	install -m 755 $(BUILD_DIR)/libSpruceRuntimeC.so $(DESTDIR)$(PREFIX)/lib/libspruce.so
	install -m 644 $(BUILD_DIR)/libSpruceRuntimeStatic.a $(DESTDIR)$(PREFIX)/lib/libspruce.a
	install -m 755 $(BUILD_DIR)/spruce $(DESTDIR)$(PREFIX)/bin/spruce
	@version=$$(sed -n 's/.*current = "\(.*\)".*/\1/p' Sources/SpruceCore/SpruceVersion.swift); \
	common() { printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$${prefix}/lib' 'includedir=$${prefix}/include' \
	  'swiftlibdir=$(SWIFT_LIB_DIR)' '' "Name: $$1" "Description: $$2" "Version: $$version" 'Cflags: -I$${includedir}'; }; \
	{ common spruce "Spruce runtime (shared library): runs .spruce artifacts from their sparse form"; \
	  echo 'Libs: -L$${libdir} -lspruce -Wl,-rpath,$${libdir}'; } > $(DESTDIR)$(PREFIX)/lib/pkgconfig/spruce.pc; \
	{ common spruce-static "Spruce runtime (static archive, with the Swift runtime libraries it needs)"; \
	  echo 'Libs: $${libdir}/libspruce.a $${swiftlibdir}/$(shell uname -m)/swiftrt.o -L$${swiftlibdir} -lswiftCore -lswift_Concurrency -lswift_StringProcessing -lswift_RegexParser -lswiftSynchronization -lswiftGlibc -lswiftSwiftOnoneSupport -Wl,-rpath,$${swiftlibdir} -lzstd -lprotobuf-c -lm'; \
	} > $(DESTDIR)$(PREFIX)/lib/pkgconfig/spruce-static.pc
	@echo "installed under $(DESTDIR)$(PREFIX): $(INSTALLED)"

uninstall:
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/,$(INSTALLED))

clean:
	rm -rf .build
