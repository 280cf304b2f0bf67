# floe: the two commands are `make run` and `make test`.
JOBS ?= $(shell nproc)
BUILD ?= build
# `make run`: empty serves the real all-MiniLM-L6-v2 (scripts/run-demo.sh, docs/models.md).
MODEL ?=
CMAKE_FLAGS ?=

.PHONY: deps build test run asan fuzz bench format clean cuda arm64

deps:
	@./scripts/install-deps.sh

$(BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

run: build
	./scripts/run-demo.sh $(BUILD)/floe $(MODEL)

# The CUDA backend (needs nvcc; a GPU only to run the GPU tests, which skip
# without one): configure build-cuda with -DFLOE_CUDA=ON, build, run every test
# there (the CPU backend in a CUDA build, and the CUDA tests). docs/cuda.md.
CUDA_BUILD ?= build-cuda
CUDA_CMAKE_FLAGS ?=
cuda: deps
	cmake -S . -B $(CUDA_BUILD) -DCMAKE_BUILD_TYPE=Release -DFLOE_CUDA=ON $(CUDA_CMAKE_FLAGS)
	cmake --build $(CUDA_BUILD) -j $(JOBS)
	# The real-model tests (label real) run in `make test`; they do not touch CUDA, nor do
	# the deployment-files and docs checks (deploy_multihost, docs_examples).
	cd $(CUDA_BUILD) && ctest --output-on-failure -j $(JOBS) -LE real -E '^(deploy_multihost|docs_examples)$$'

# aarch64 (ARM64): a cross build (Debian's cross compiler, an arm64 Debian root with
# floe's libraries) in build-arm64, and the unit tests of the layers below serve under
# qemu-user. Installs what is missing. scripts/arm64-test.sh, docs/cpu-performance.md.
arm64:
	./scripts/arm64-test.sh

# Unit tests (every layer below serve) under AddressSanitizer + UndefinedBehaviorSanitizer.
asan: deps
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFLOE_SANITIZE=ON -DFLOE_BUILD_BENCH=OFF -DFLOE_BUILD_SERVE=OFF
	cmake --build build-asan -j $(JOBS)
	# install_consumer links the sanitized libfloe.so into a plain program: not a unit test.
	cd build-asan && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j $(JOBS) -E install_consumer

# libFuzzer targets (clang). FUZZ_SECONDS per target.
FUZZ_SECONDS ?= 60
fuzz: deps
	CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFLOE_FUZZ=ON -DFLOE_BUILD_TESTS=OFF -DFLOE_BUILD_BENCH=OFF
	cmake --build build-fuzz -j $(JOBS) --target fuzz_safetensors
	mkdir -p build-fuzz/corpus-safetensors
	./build-fuzz/fuzz/fuzz_safetensors build-fuzz/corpus-safetensors fuzz/seeds/safetensors -max_total_time=$(FUZZ_SECONDS)

bench: build
	@ls $(BUILD)/bench/ 

format:
	clang-format -i $$(git ls-files '*.cc' '*.h' '*.cu' '*.cuh')

clean:
	rm -rf $(BUILD) build-asan build-fuzz $(CUDA_BUILD) build-arm64
