# convergent — one Makefile.
#   make              library + every binary in bin/ (CUDA too when nvcc is found)
#   make CUDA=0       CPU-only engine
#   make MPI=0        without MPI (default: with it when mpicxx is found; bin/correlate, bin/train run under mpirun)
#   make test         install missing Debian packages, build, run the test suite, then make test-emu
#   make demo         train the four default nets if needed, correlate them, print the table
#   make bench        CPU (and GPU when present) benchmarks -> bench/results/
#   make gpu-check    every GPU test + short benchmark; fails without a GPU
#   make gpu-bundle   build/gpu-bundle.tar.xz: the binaries gpu-check runs on a GPU machine that cannot build
#   make install PREFIX=DIR   copies the built binaries to DIR/bin, net configs, docs and python/ to DIR/share
#   make test-emu     the GPU tests and a GPU pipeline on an emulated GPU (CUDA=emu, tests/emu/), no GPU needed
#   make test-emu-mutants  proof that test-emu catches six kinds of injected kernel bugs
#   make CUDA=emu     the emulated-GPU flavour, also the sanitizer ring's (clang, ASan + UBSan):
#                     build/cudaemu/, binaries in build/cudaemu/bin/ (bin/ untouched)
CUDA ?= auto
NVCC ?= $(shell command -v nvcc 2>/dev/null || ls /usr/local/cuda/bin/nvcc 2>/dev/null)
ifeq ($(CUDA),auto)
  CUDA := $(if $(NVCC),1,0)
endif
CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(NVCC))

BUILD := build/cuda$(CUDA)
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CXX ?= g++
# Optimisation and instruction set are separate knobs: OPT=-O0 keeps the ISA, ISA= builds for any
# x86-64 (the AVX-512 GEMM kernels are chosen at run time either way).
ifeq ($(CUDA),emu)
  # -O1: quicker to build under the sanitizers; the emulation, not the code, is slow. clang:
  # libFuzzer is clang's, and the fuzz targets link against this flavour. (Comments on lines of
  # their own: one after a value would leave its spaces in the value.)
  OPT ?= -O1
  CXX := clang++
endif
OPT ?= -O3
ISA ?= -mavx2 -mfma
# OpenBLAS through pkg-config (Debian's multiarch paths differ per architecture); linked statically
# so the binaries carry it (make gpu-bundle).
OPENBLAS_CFLAGS := $(shell pkg-config --cflags openblas 2>/dev/null)
OPENBLAS_LIB := $(or $(shell pkg-config --variable=libdir openblas 2>/dev/null),/usr/lib/$(shell gcc -dumpmachine)/openblas-pthread)/libopenblas.a
CPPFLAGS := -I. $(OPENBLAS_CFLAGS) -MMD -MP
# Line tables only by default (backtraces, perf, sanitizer reports): full -g costs a fifth to a third
# more compile time per file; make DEBUG=-g for a debugger's variables.
DEBUG ?= -g1
CXXFLAGS := -std=c++17 $(OPT) $(ISA) $(DEBUG) -fopenmp -Wall -Wextra -Wno-unused-parameter
LDLIBS := $(OPENBLAS_LIB) -lgfortran -lz -lpthread -fopenmp
# SASS for the GPU this machine has (nvidia-smi's compute capability; Hopper, sm_90, when there is
# none), plus compute_80 PTX that any newer GPU's driver compiles at load time.
GPU_ARCH ?= $(or $(shell nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -n1 | tr -d .),90)
NVCCFLAGS := -std=c++17 -O3 -lineinfo -Xcompiler -fopenmp,-Wall \
  -gencode arch=compute_$(GPU_ARCH),code=sm_$(GPU_ARCH) -gencode arch=compute_80,code=compute_80 --expt-relaxed-constexpr
ifeq ($(CUDA),1)
  CPPFLAGS += -DCONVERGENT_CUDA=1 -I$(CUDA_HOME)/include
  LDLIBS += -L$(CUDA_HOME)/lib64 -lcudart_static -ldl -lrt
endif
# MPI (OpenMPI's mpicxx): only base/dist.cpp is compiled with its flags (the rest of the build is
# unchanged); the binaries link libmpi. MPI=0: base/dist.cpp's single-process stubs.
MPI ?= auto
MPICXX ?= $(shell command -v mpicxx 2>/dev/null)
ifeq ($(MPI),auto)
  MPI := $(if $(MPICXX),1,0)
endif
ifeq ($(MPI),1)
  MPI_CFLAGS := -DCONVERGENT_MPI=1 $(shell $(MPICXX) --showme:compile)
  LDLIBS += $(shell $(MPICXX) --showme:link)
endif
# The emulated GPU: every .cu compiled by clang through tests/emu/ (never linked into bin/), with
# AddressSanitizer and UBSan; CUDA's headers, no cudart. The same build is the hardening ring's
# (san-test, fuzz): one sanitizer build, not two, is ten minutes less of make test on 2 cores.
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
ifeq ($(CUDA),emu)
  CPPFLAGS += -DCONVERGENT_CUDA=1 -DCONVERGENT_CUDA_EMU=1 -I$(CUDA_HOME)/include
  CXXFLAGS += $(SAN_FLAGS) -Wno-pass-failed -Wno-unknown-warning-option
  LDLIBS += -lboost_context -ldl
endif

SRC_LIB := $(wildcard base/*.cpp kernels/*.cpp nn/*.cpp data/*.cpp analysis/*/*.cpp)
CU_LIB := $(if $(filter 1 emu,$(CUDA)),$(wildcard kernels/*.cu),)
# base/dist.cpp's object is named by MPI=0/1, so switching rebuilds it and the library.
OBJ_LIB := $(patsubst $(BUILD)/base/dist.o,$(BUILD)/base/dist-mpi$(MPI).o,$(SRC_LIB:%.cpp=$(BUILD)/%.o)) $(CU_LIB:%.cu=$(BUILD)/%.cu.o)
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

.PHONY: all tools deps test test-emu test-emu-mutants demo bench gpu-check gpu-bundle clean print-cuda print-ldlibs FORCE
# Keep every object: make deletes a chain's intermediate files (the tools' and benches' .o) after a
# first build, and once their .d files exist the next make compiles them all again (2.5 min of each
# make test on 2 cores, where fault-test makes `all` a second time).
.SECONDARY:
all: $(TOOLS) $(BENCHES) $(BIN)/tests

deps:
	@bash scripts/deps.sh

# The AVX-512 kernels alone get AVX-512 code; kernels/gemm_cpu.cpp and stats_cpu.cpp call them only where the CPU has it.
$(BUILD)/kernels/gemm_avx512.o: CXXFLAGS += -mavx512f -mavx512vl
$(BUILD)/kernels/gemm_avx2.o $(BUILD)/kernels/conv_direct_avx2.o: CXXFLAGS += -mavx2 -mfma
$(BUILD)/kernels/joint_hist_avx512.o: CXXFLAGS += -mavx512f -mavx512bw -mavx512vpopcntdq -mpopcnt
$(BUILD)/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(CPPFLAGS) $(CXXFLAGS) -c $< -o $@
$(BUILD)/base/dist-mpi$(MPI).o: base/dist.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(CPPFLAGS) $(MPI_CFLAGS) $(CXXFLAGS) -c $< -o $@
ifeq ($(CUDA),emu)
# Line-for-line rewrite of launches and __shared__ (tests/emu/rewrite.py), then the host compiler.
$(BUILD)/%.cu.o: %.cu tests/emu/rewrite.py
	@mkdir -p $(dir $@)
	python3 tests/emu/rewrite.py $< $(BUILD)/$*.emu.cpp
	$(CXX) $(CPPFLAGS) $(CXXFLAGS) -Wno-sign-compare -Wno-unknown-pragmas -include tests/emu/cuda_emu.h -c $(BUILD)/$*.emu.cpp -o $@
else
$(BUILD)/%.cu.o: %.cu
	@mkdir -p $(dir $@)
	$(NVCC) $(CPPFLAGS) $(NVCCFLAGS) -c $< -o $@
endif
$(LIB): $(OBJ_LIB) $(BUILD)/lib-mpi$(MPI)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $(filter %.o,$^)
$(BUILD)/lib-mpi$(MPI):
	@mkdir -p $(BUILD) && rm -f $(BUILD)/lib-mpi* && touch $@
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
# --version of every tool: commit, flavour, compiler and ISA, rewritten only when they change.
VERSION_SRC := $(BUILD)/version.cpp
$(VERSION_SRC): FORCE
	@mkdir -p $(dir $@)
	@printf 'extern const char convergent_build[] = "%s (%s; %s; %s)";\n' \
	  "$$(git describe --always --dirty 2>/dev/null || echo unknown)" \
	  "$(if $(filter 1,$(CUDA)),CUDA sm_$(GPU_ARCH),$(if $(filter emu,$(CUDA)),emulated GPU,CPU-only))" "$$($(CXX) --version | head -n1)" "$(strip $(ISA))" > $@.tmp
	@cmp -s $@.tmp $@ && rm -f $@.tmp || mv $@.tmp $@
$(BUILD)/version.o: $(VERSION_SRC)
	$(CXX) $(CXXFLAGS) -c $< -o $@
$(BIN)/%: $(BUILD)/tools/%.o $(BUILD)/version.o $(LIB) $(FLAVOUR)
	@mkdir -p $(BIN)
	$(CXX) $(CXXFLAGS) $(filter-out $(FLAVOUR),$^) -o $@ $(LDLIBS)
$(BIN)/bench_%: $(BUILD)/bench/bench_%.o $(BUILD)/version.o $(LIB) $(FLAVOUR)
	@mkdir -p $(BIN)
	$(CXX) $(CXXFLAGS) $(filter-out $(FLAVOUR),$^) -o $@ $(LDLIBS)
$(BIN)/tests: $(TEST_OBJ) $(LIB) $(FLAVOUR)
	@mkdir -p $(BIN)
	$(CXX) $(CXXFLAGS) $(filter-out $(FLAVOUR),$^) -o $@ $(LDLIBS)

ifeq ($(SAN),1)
# make SAN=1 test: the sanitizer ring alone (suite, tools' pipeline, fuzz smoke runs).
test: deps
	@$(MAKE) --no-print-directory san-test fuzz-smoke
else
test: deps
	@$(MAKE) --no-print-directory -j$(JOBS) all
	bash tests/cli_test.sh
	bash scripts/check_report_browser.sh
	$(if $(filter 1,$(MPI)),bash tests/mpi_test.sh,@echo "mpi: skipped (built with MPI=0)")
	./bin/tests
	bash scripts/check_rebuild.sh
	bash scripts/check_deps.sh
	bash scripts/test_openblas_path.sh
	bash scripts/check_same_bits.sh
	@$(MAKE) --no-print-directory san-test fuzz-smoke fault-test
	@# The GPU test cases and the pipeline on the emulated GPU (no GPU needed; see test-emu).
	@$(MAKE) --no-print-directory test-emu
endif

# The GPU test cases on the emulated GPU (CUDA=emu, tests/emu/), in three thread orders, then the
# pipeline with the emulated GPU's train, correlate, visualize and match.
# $(BUILD) under CUDA=emu, for the targets that make that flavour from outside it.
EMU_DIR := build/cudaemu
EMU_TOOLS := $(addprefix $(EMU_DIR)/bin/,tests train correlate visualize match)
test-emu: deps
	@$(MAKE) --no-print-directory -j$(JOBS) CUDA=emu $(EMU_TOOLS)
	bash tests/emu/run.sh

# Proof that test-emu can fail: six kinds of kernel bugs injected into copies of kernels/*.cu.
test-emu-mutants: deps
	@$(MAKE) --no-print-directory -j$(JOBS) CUDA=emu $(EMU_DIR)/bin/tests
	@$(MAKE) --no-print-directory CUDA=emu emu-mutants
emu-mutants:
	EMU_CXX="$(CXX) $(CPPFLAGS) $(CXXFLAGS)" EMU_LDLIBS="$(LDLIBS)" bash tests/emu/mutants.sh

# The demo builds only the tools it runs, and the CUDA flavour only when a GPU is present (the CPU
# engine is what runs without one, and nvcc's minutes would be wasted).
DEMO_CUDA := $(if $(filter 1,$(CUDA)),$(if $(shell nvidia-smi -L 2>/dev/null | grep -m1 GPU),1,0),$(CUDA))
DEMO_TOOLS := $(addprefix bin/,train correlate align visualize report)
tools: $(TOOLS)
demo: deps
	@$(MAKE) --no-print-directory -j$(JOBS) CUDA=$(DEMO_CUDA) $(DEMO_TOOLS)
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

# What `make` built (no rebuild here, so the flavour you built is the one installed). The tools find
# the net configs in PREFIX/share/convergent/ (tools/data_path.h).
.PHONY: install
PREFIX ?= /usr/local
SHARE := $(DESTDIR)$(PREFIX)/share/convergent
install:
	@for t in $(TOOLS); do [ -x $$t ] || { echo "error: $$t is not built; run make first" >&2; exit 2; }; done
	install -d $(DESTDIR)$(PREFIX)/bin $(SHARE)/nets $(SHARE)/python $(SHARE)/docs
	install -m 755 $(TOOLS) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 data/nets/*.json $(SHARE)/nets/
	install -m 644 python/convergent.py $(SHARE)/python/
	install -m 644 README.md docs/OUTPUTS.md $(SHARE)/docs/

# --- Hardening (issue 13): sanitizer ring, fuzz targets, fault test. ---
# The ring runs on the CUDA=emu flavour (clang, AddressSanitizer + UBSan): `make test` runs san-test
# (the suite's CPU cases + a short train/correlate/align/match pipeline; test-emu runs the GPU cases),
# fuzz-smoke (each target a few seconds on its committed corpus) and fault-test (training killed at
# random moments). The readers' objects (base/, data/, nn/) carry libFuzzer's coverage hooks.
SAN_TOOLS := $(patsubst tools/%.cpp,$(EMU_DIR)/bin/%,$(wildcard tools/*.cpp))
FUZZ_TARGETS := $(patsubst fuzz/fuzz_%.cpp,$(EMU_DIR)/fuzz-bin/%,$(wildcard fuzz/fuzz_*.cpp))
FUZZ_SECONDS ?= 60
# For the sanitizer targets only (test-emu sets its own).
san-test fuzz-smoke fuzz: export ASAN_OPTIONS := detect_leaks=1:abort_on_error=0:allocator_may_return_null=1
san-test fuzz-smoke fuzz: export UBSAN_OPTIONS := print_stacktrace=1:halt_on_error=1
ifeq ($(CUDA),emu)
$(BUILD)/base/%.o $(BUILD)/data/%.o $(BUILD)/nn/%.o $(BUILD)/fuzz/%.o: CXXFLAGS += -fsanitize=fuzzer-no-link
# Not product code: Debian's stb_image_write.h (JPEG writer, used by the test's image helpers)
# shifts negative ints in its bit buffer (defined behaviour since C++20, and what every compiler does).
$(BUILD)/tests/test_data.o: CXXFLAGS += -fno-sanitize=shift-base
$(BUILD)/fuzz-bin/%: $(BUILD)/fuzz/fuzz_%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -fsanitize=fuzzer $^ -o $@ $(LDLIBS)
endif
.PHONY: san-build san-test fuzz fuzz-smoke fault-test
san-build: deps
	@$(MAKE) --no-print-directory -j$(JOBS) CUDA=emu $(EMU_DIR)/bin/tests $(SAN_TOOLS) $(FUZZ_TARGETS)
# Left out under the sanitizers: the GPU cases (test-emu runs them) and four long numeric runs
# (5-350 s each there) whose code paths the smaller tests of the same families cover; the plain
# `./bin/tests` above runs them.
SAN_SKIP := *GPU*,assign: auction twin certifies itself*,conv: CPU twin matches a naive loop on CaffeNet*,stats: CPU moments are bit-identical on 1 and 2 threads*,stats: 4.2M streamed*
san-test: san-build
	$(EMU_DIR)/bin/tests -tce='$(SAN_SKIP)'
	bash scripts/san_pipeline.sh $(EMU_DIR)/bin
fuzz-smoke: san-build
	@# A fixed seed in make test: the smoke run repeats itself (make fuzz explores with fresh seeds).
	FUZZ_SEED=1 bash scripts/fuzz.sh $(EMU_DIR)/fuzz-bin 5
fuzz: san-build
	bash scripts/fuzz.sh $(EMU_DIR)/fuzz-bin $(FUZZ_SECONDS)
fault-test: all
	bash scripts/fault_test.sh bin

clean:
	rm -rf build bin

# The flavour this invocation builds (used by scripts/check_rebuild.sh), and what its binaries
# link (scripts/check_deps.sh).
print-cuda:
	@echo $(CUDA)
print-ldlibs:
	@echo $(LDLIBS)

-include $(shell find build -name '*.d' 2>/dev/null)
