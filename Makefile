# convergent — one Makefile.
#   make              library + every binary in bin/ (CUDA too when nvcc is found)
#   make CUDA=0       CPU-only engine
#   make test         install missing Debian packages, build, run the test suite
#   make demo         train the two default nets if needed, correlate them, print the table
#   make bench        CPU (and GPU when present) benchmarks -> bench/results/
#   make gpu-check    every GPU test + short benchmark; fails without a GPU
#   make gpu-bundle   build/gpu-bundle.tar.xz: the binaries gpu-check runs on a GPU machine that cannot build
CUDA ?= auto
NVCC ?= $(shell command -v nvcc 2>/dev/null || ls /usr/local/cuda/bin/nvcc 2>/dev/null)
ifeq ($(CUDA),auto)
  CUDA := $(if $(NVCC),1,0)
endif
CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(NVCC))

BUILD := build/cuda$(CUDA)
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CXX ?= g++
OPT ?= -O3 -mavx2 -mfma
CPPFLAGS := -I. -DFMT_HEADER_ONLY -I/usr/include/x86_64-linux-gnu/openblas-pthread -MMD -MP
CXXFLAGS := -std=c++17 $(OPT) -g -fopenmp -Wall -Wextra -Wno-unused-parameter
LDLIBS := /usr/lib/x86_64-linux-gnu/libopenblas.a -lgfortran -lz -lpthread -fopenmp
NVCCFLAGS := -std=c++17 -O3 -lineinfo -Xcompiler -fopenmp,-Wall \
  -gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90 --expt-relaxed-constexpr
ifeq ($(CUDA),1)
  CPPFLAGS += -DCONVERGENT_CUDA=1 -I$(CUDA_HOME)/include
  LDLIBS += -L$(CUDA_HOME)/lib64 -lcudart_static -ldl -lrt
endif

SRC_LIB := $(wildcard kernels/*.cpp nn/*.cpp data/*.cpp analysis/*.cpp)
CU_LIB := $(if $(filter 1,$(CUDA)),$(wildcard kernels/*.cu analysis/*.cu),)
OBJ_LIB := $(SRC_LIB:%.cpp=$(BUILD)/%.o) $(CU_LIB:%.cu=$(BUILD)/%.cu.o)
LIB := $(BUILD)/libconvergent.a
TOOLS := $(patsubst tools/%.cpp,bin/%,$(wildcard tools/*.cpp))
TEST_SRC := $(wildcard tests/*.cpp)
TEST_CU := $(if $(filter 1,$(CUDA)),$(wildcard tests/*.cu),)
TEST_OBJ := $(TEST_SRC:%.cpp=$(BUILD)/%.o) $(TEST_CU:%.cu=$(BUILD)/%.cu.o)
BENCH_SRC := $(wildcard bench/*.cpp)
BENCHES := $(patsubst bench/%.cpp,bin/%,$(BENCH_SRC))

.PHONY: all deps test demo bench gpu-check gpu-bundle clean
all: $(TOOLS) $(BENCHES) bin/tests

deps:
	@bash scripts/deps.sh

# The AVX-512 GEMM kernels alone get AVX-512 code; kernels/cpu_gemm.cpp calls them only where the CPU has it.
$(BUILD)/kernels/cpu_gemm_avx512.o: CXXFLAGS += -mavx512f -mavx512vl
$(BUILD)/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(CPPFLAGS) $(CXXFLAGS) -c $< -o $@
$(BUILD)/%.cu.o: %.cu
	@mkdir -p $(dir $@)
	$(NVCC) $(filter-out -MMD -MP,$(CPPFLAGS)) $(NVCCFLAGS) -c $< -o $@
$(LIB): $(OBJ_LIB)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^
# bin/ is shared by CUDA=0 and CUDA=1: a stamp of the flavour last linked (build/flavour-cuda0 or
# -cuda1, the other one removed) is a prerequisite of every binary, so switching flavours relinks.
FLAVOUR := build/flavour-cuda$(CUDA)
$(FLAVOUR):
	@mkdir -p build && rm -f build/flavour-cuda* && touch $@
bin/%: $(BUILD)/tools/%.o $(LIB) $(FLAVOUR)
	@mkdir -p bin
	$(CXX) $(CXXFLAGS) $(filter-out $(FLAVOUR),$^) -o $@ $(LDLIBS)
bin/bench_%: $(BUILD)/bench/bench_%.o $(LIB) $(FLAVOUR)
	@mkdir -p bin
	$(CXX) $(CXXFLAGS) $(filter-out $(FLAVOUR),$^) -o $@ $(LDLIBS)
bin/tests: $(TEST_OBJ) $(LIB) $(FLAVOUR)
	@mkdir -p bin
	$(CXX) $(CXXFLAGS) $(filter-out $(FLAVOUR),$^) -o $@ $(LDLIBS)

test: deps
	@$(MAKE) --no-print-directory -j$(JOBS) all
	./bin/tests
	@# The OpenBLAS fallback of the CPU GEMMs too (AVX-512 CPUs use our kernels by default).
	CONVERGENT_CPU_GEMM=openblas ./bin/tests -tc='cpu gemm*,conv*,stats*,net*'
	@$(MAKE) --no-print-directory san-test fuzz-smoke fault-test

demo: deps
	@$(MAKE) --no-print-directory -j$(JOBS) all
	bash scripts/demo.sh

bench: deps
	@$(MAKE) --no-print-directory -j$(JOBS) all
	bash scripts/bench.sh

gpu-check: deps
	@$(MAKE) --no-print-directory -j$(JOBS) all CUDA=1
	bash scripts/gpu_check.sh

# For a GPU machine that cannot build: build/gpu-bundle.tar.xz, which scripts/gpu_check.sh runs there.
gpu-bundle: deps
	bash scripts/gpu_bundle.sh

# --- Hardening (issue 13): sanitizer flavour, fuzz targets, fault test. ---
# build/san: the CPU library, suite and tools built by clang with AddressSanitizer + UBSan (and
# libFuzzer's coverage hooks, so the fuzz targets link against the same objects). `make test` runs
# san-test (suite + a short train/correlate/align/match pipeline), fuzz-smoke (each target a few
# seconds on its committed corpus) and fault-test (training killed at random moments).
SAN_DIR := build/san
SAN_CXX ?= clang++
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
SAN_CXXFLAGS := -std=c++17 -O1 -gline-tables-only -mavx2 -mfma -fopenmp $(SAN_FLAGS) -fsanitize=fuzzer-no-link -Wall -Wno-unused-parameter -Wno-pass-failed -Wno-unknown-warning-option
SAN_CPP := $(filter-out -DCONVERGENT_CUDA=1 -I$(CUDA_HOME)/include,$(CPPFLAGS))
SAN_LIBS := /usr/lib/x86_64-linux-gnu/libopenblas.a -lgfortran -lz -lpthread -fopenmp
SAN_LIB := $(SAN_DIR)/libconvergent.a
SAN_TOOLS := $(patsubst tools/%.cpp,$(SAN_DIR)/bin/%,$(wildcard tools/*.cpp))
FUZZ_TARGETS := $(patsubst fuzz/fuzz_%.cpp,$(SAN_DIR)/fuzz-bin/%,$(wildcard fuzz/fuzz_*.cpp))
FUZZ_SECONDS ?= 60
export ASAN_OPTIONS := detect_leaks=1:abort_on_error=0:allocator_may_return_null=1
export UBSAN_OPTIONS := print_stacktrace=1:halt_on_error=1
$(SAN_DIR)/kernels/cpu_gemm_avx512.o: SAN_CXXFLAGS += -mavx512f -mavx512vl
# Not product code: Debian's stb_image_write.h (JPEG writer, used by the test's image helpers)
# shifts negative ints in its bit buffer (defined behaviour since C++20, and what every compiler does).
$(SAN_DIR)/tests/test_data.o: SAN_CXXFLAGS += -fno-sanitize=shift-base
$(SAN_DIR)/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(SAN_CXX) $(SAN_CPP) $(SAN_CXXFLAGS) -c $< -o $@
$(SAN_LIB): $(SRC_LIB:%.cpp=$(SAN_DIR)/%.o)
	rm -f $@ && ar rcs $@ $^
$(SAN_DIR)/bin/%: $(SAN_DIR)/tools/%.o $(SAN_LIB)
	@mkdir -p $(dir $@)
	$(SAN_CXX) $(SAN_FLAGS) $^ -o $@ $(SAN_LIBS)
$(SAN_DIR)/bin/tests: $(TEST_SRC:%.cpp=$(SAN_DIR)/%.o) $(SAN_LIB)
	@mkdir -p $(dir $@)
	$(SAN_CXX) $(SAN_FLAGS) $^ -o $@ $(SAN_LIBS)
$(SAN_DIR)/fuzz-bin/%: $(SAN_DIR)/fuzz/fuzz_%.o $(SAN_LIB)
	@mkdir -p $(dir $@)
	$(SAN_CXX) $(SAN_FLAGS) -fsanitize=fuzzer $^ -o $@ $(SAN_LIBS)
.PHONY: san-build san-test fuzz fuzz-smoke fault-test
san-build: deps
	@$(MAKE) --no-print-directory -j$(JOBS) $(SAN_DIR)/bin/tests $(SAN_TOOLS) $(FUZZ_TARGETS)
# Left out under the sanitizers: four long numeric runs (5-350 s each there) whose code paths the
# smaller tests of the same families cover; the plain `./bin/tests` above runs them.
SAN_SKIP := assign: auction twin certifies itself*,conv: CPU twin matches a naive loop on CaffeNet*,stats: CPU moments are bit-identical on 1 and 2 threads*,stats: 4.2M streamed*
san-test: san-build
	$(SAN_DIR)/bin/tests -tce='$(SAN_SKIP)'
	bash scripts/san_pipeline.sh $(SAN_DIR)/bin
fuzz-smoke: san-build
	bash scripts/fuzz.sh $(SAN_DIR)/fuzz-bin 5
fuzz: san-build
	bash scripts/fuzz.sh $(SAN_DIR)/fuzz-bin $(FUZZ_SECONDS)
fault-test: all
	bash scripts/fault_test.sh bin

clean:
	rm -rf build bin

-include $(shell find build -name '*.d' 2>/dev/null)
