# convergent — one Makefile.
#   make              library + every binary in bin/ (CUDA too when nvcc is found)
#   make CUDA=0       CPU-only engine
#   make test         install missing Debian packages, build, run the test suite, then make test-emu
#   make demo         train the two default nets if needed, correlate them, print the table
#   make bench        CPU (and GPU when present) benchmarks -> bench/results/
#   make gpu-check    every GPU test + short benchmark; fails without a GPU
#   make gpu-bundle   build/gpu-bundle.tar.xz: the binaries gpu-check runs on a GPU machine that cannot build
#   make test-emu     the GPU tests and a GPU pipeline on an emulated GPU (CUDA=emu, tests/emu/), no GPU needed
#   make test-emu-mutants  proof that test-emu catches six kinds of injected kernel bugs
#   make CUDA=emu     the emulated-GPU flavour: build/cudaemu/, binaries in build/cudaemu/bin/ (bin/ untouched)
CUDA ?= auto
NVCC ?= $(shell command -v nvcc 2>/dev/null || ls /usr/local/cuda/bin/nvcc 2>/dev/null)
ifeq ($(CUDA),auto)
  CUDA := $(if $(NVCC),1,0)
endif
CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(NVCC))

BUILD := build/cuda$(CUDA)
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CXX ?= g++
ifeq ($(CUDA),emu)
  OPT ?= -O1 -mavx2 -mfma  # quicker to build under the sanitizers; the emulation, not the code, is slow
endif
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
# The emulated GPU: every .cu compiled by the host compiler through tests/emu/ (never linked into
# bin/), with AddressSanitizer and UBSan unless EMU_SAN is set empty. CUDA's headers, no cudart.
EMU_SAN ?= -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
ifeq ($(CUDA),emu)
  CPPFLAGS += -DCONVERGENT_CUDA=1 -DCONVERGENT_CUDA_EMU=1 -I$(CUDA_HOME)/include
  CXXFLAGS += $(EMU_SAN)
  LDLIBS += -lboost_context -ldl
endif

SRC_LIB := $(wildcard kernels/*.cpp nn/*.cpp data/*.cpp analysis/*.cpp)
CU_LIB := $(if $(filter 1 emu,$(CUDA)),$(wildcard kernels/*.cu analysis/*.cu),)
OBJ_LIB := $(SRC_LIB:%.cpp=$(BUILD)/%.o) $(CU_LIB:%.cu=$(BUILD)/%.cu.o)
ifeq ($(CUDA),emu)
  OBJ_LIB += $(BUILD)/tests/emu/runtime.o
  BIN := $(BUILD)/bin
else
  BIN := bin
endif
LIB := $(BUILD)/libconvergent.a
TOOLS := $(patsubst tools/%.cpp,$(BIN)/%,$(wildcard tools/*.cpp))
TEST_SRC := $(wildcard tests/*.cpp)
TEST_CU := $(if $(filter 1 emu,$(CUDA)),$(wildcard tests/*.cu),)
TEST_OBJ := $(TEST_SRC:%.cpp=$(BUILD)/%.o) $(TEST_CU:%.cu=$(BUILD)/%.cu.o)
BENCH_SRC := $(wildcard bench/*.cpp)
BENCHES := $(patsubst bench/%.cpp,$(BIN)/%,$(BENCH_SRC))

.PHONY: all deps test test-emu test-emu-mutants demo bench gpu-check gpu-bundle clean
all: $(TOOLS) $(BENCHES) $(BIN)/tests

deps:
	@bash scripts/deps.sh

# The AVX-512 GEMM kernels alone get AVX-512 code; kernels/cpu_gemm.cpp calls them only where the CPU has it.
$(BUILD)/kernels/cpu_gemm_avx512.o: CXXFLAGS += -mavx512f -mavx512vl
$(BUILD)/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(CPPFLAGS) $(CXXFLAGS) -c $< -o $@
ifeq ($(CUDA),emu)
# Line-for-line rewrite of launches and __shared__ (tests/emu/rewrite.py), then the host compiler.
$(BUILD)/%.cu.o: %.cu tests/emu/rewrite.py
	@mkdir -p $(dir $@)
	python3 tests/emu/rewrite.py $< $(BUILD)/$*.emu.cpp
	$(CXX) $(CPPFLAGS) $(CXXFLAGS) -Wno-sign-compare -Wno-unknown-pragmas -include tests/emu/cuda_emu.h -c $(BUILD)/$*.emu.cpp -o $@
else
$(BUILD)/%.cu.o: %.cu
	@mkdir -p $(dir $@)
	$(NVCC) $(filter-out -MMD -MP,$(CPPFLAGS)) $(NVCCFLAGS) -c $< -o $@
endif
$(LIB): $(OBJ_LIB)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^
# bin/ is shared by CUDA=0 and CUDA=1: a stamp of the flavour last linked (build/flavour-cuda0 or
# -cuda1, the other one removed) is a prerequisite of every binary, so switching flavours relinks.
# CUDA=emu links into its own build/cudaemu/bin/ and needs no stamp.
ifeq ($(CUDA),emu)
FLAVOUR := $(BUILD)/flavour
$(FLAVOUR):
	@mkdir -p $(BUILD) && touch $@
else
FLAVOUR := build/flavour-cuda$(CUDA)
$(FLAVOUR):
	@mkdir -p build && rm -f build/flavour-cuda* && touch $@
endif
$(BIN)/%: $(BUILD)/tools/%.o $(LIB) $(FLAVOUR)
	@mkdir -p $(BIN)
	$(CXX) $(CXXFLAGS) $(filter-out $(FLAVOUR),$^) -o $@ $(LDLIBS)
$(BIN)/bench_%: $(BUILD)/bench/bench_%.o $(LIB) $(FLAVOUR)
	@mkdir -p $(BIN)
	$(CXX) $(CXXFLAGS) $(filter-out $(FLAVOUR),$^) -o $@ $(LDLIBS)
$(BIN)/tests: $(TEST_OBJ) $(LIB) $(FLAVOUR)
	@mkdir -p $(BIN)
	$(CXX) $(CXXFLAGS) $(filter-out $(FLAVOUR),$^) -o $@ $(LDLIBS)

test: deps
	@$(MAKE) --no-print-directory -j$(JOBS) all
	./bin/tests
	@# The OpenBLAS fallback of the CPU GEMMs too (AVX-512 CPUs use our kernels by default).
	CONVERGENT_CPU_GEMM=openblas ./bin/tests -tc='cpu gemm*,conv*,stats*,net*'
	@# The GPU test cases and the pipeline on the emulated GPU (no GPU needed; see test-emu).
	@$(MAKE) --no-print-directory test-emu

# The GPU test cases on the emulated GPU (CUDA=emu, tests/emu/), in three thread orders, then the
# pipeline with the emulated GPU's train, correlate, visualize and match.
EMU_TOOLS := $(addprefix build/cudaemu/bin/,tests train correlate visualize match)
test-emu: deps
	@$(MAKE) --no-print-directory -j$(JOBS) CUDA=emu $(EMU_TOOLS)
	@$(MAKE) --no-print-directory -j$(JOBS) bin/train
	bash tests/emu/run.sh

# Proof that test-emu can fail: six kinds of kernel bugs injected into copies of kernels/*.cu.
test-emu-mutants: deps
	@$(MAKE) --no-print-directory -j$(JOBS) CUDA=emu build/cudaemu/bin/tests
	@$(MAKE) --no-print-directory CUDA=emu emu-mutants
emu-mutants:
	EMU_CXX="$(CXX) $(CPPFLAGS) $(CXXFLAGS)" EMU_LDLIBS="$(LDLIBS)" bash tests/emu/mutants.sh

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

clean:
	rm -rf build bin

-include $(shell find build -name '*.d' 2>/dev/null)
