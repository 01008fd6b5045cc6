# convergent — one Makefile.
#   make              library + every binary in bin/ (CUDA too when nvcc is found)
#   make CUDA=0       CPU-only engine
#   make test         install missing Debian packages, build, run the test suite
#   make demo         train the two default nets if needed, correlate them, print the table
#   make bench        CPU (and GPU when present) benchmarks -> bench/results/
#   make gpu-check    every GPU test + short benchmark; fails without a GPU
#   make gpu-bundle   build/gpu-bundle.tar.xz: the binaries gpu-check runs on a GPU machine that cannot build
#   make install PREFIX=DIR   copies the built binaries to DIR/bin, net configs, docs and python/ to DIR/share
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
	bash tests/cli_test.sh
	./bin/tests
	@# The OpenBLAS fallback of the CPU GEMMs too (AVX-512 CPUs use our kernels by default).
	CONVERGENT_CPU_GEMM=openblas ./bin/tests -tc='cpu gemm*,conv*,stats*,net*'

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

clean:
	rm -rf build bin

-include $(shell find build -name '*.d' 2>/dev/null)
