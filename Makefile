# The two README commands, and a few conveniences. Everything real lives in
# scripts/ and CMake; this file only names the entry points.
BUILD ?= build

.PHONY: all build demo test asan fuzz bench format clean

all: build

build:
	scripts/bootstrap build
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build $(BUILD) -j$$(nproc)

# README command 1: install, build, and run berth's main job on the embedded
# default (SQLite; the local Docker engine when one answers, else the mock).
demo:
	scripts/demo

# README command 2: install, build, start what the tests need, run them all.
test:
	scripts/test

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-*
