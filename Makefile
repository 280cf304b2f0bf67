# floe: the two commands are `make run` and `make test`.
JOBS ?= $(shell nproc)
BUILD ?= build
MODEL ?= models/demo
CMAKE_FLAGS ?=

.PHONY: deps build test run asan fuzz bench format clean

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

# Unit tests (every layer below serve) under AddressSanitizer + UndefinedBehaviorSanitizer.
asan: deps
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFLOE_SANITIZE=ON -DFLOE_BUILD_BENCH=OFF -DFLOE_BUILD_SERVE=OFF
	cmake --build build-asan -j $(JOBS)
	cd build-asan && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j $(JOBS)

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
	rm -rf $(BUILD) build-asan build-fuzz
