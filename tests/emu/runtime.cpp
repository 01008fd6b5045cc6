// The emulated GPU (make CUDA=emu): the CUDA runtime calls the engine makes, backed by host memory,
// and the fiber scheduler that runs kernels compiled through tests/emu/cuda_emu.h. See emu.h.
#include "tests/emu/emu.h"

#include <boost/context/detail/fcontext.hpp>
#include <dlfcn.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define EMU_ASAN 1
#endif

namespace bctx = boost::context::detail;

namespace emu {

ThreadState* g_thread = nullptr;
uint3 g_block_idx;
dim3 g_block_dim, g_grid_dim;

namespace {

// sm_90 limits.
constexpr unsigned kMaxThreads = 1024, kMaxBlockZ = 64, kMaxGridYZ = 65535;
constexpr unsigned long kMaxGridX = 2147483647ul;
constexpr size_t kStaticSharedMax = 48 * 1024, kDefaultDynamicMax = 48 * 1024, kSharedOptinMax = 227 * 1024;
constexpr size_t kStack = 256 * 1024;  // per fiber; AddressSanitizer frames are large
constexpr int kWarp = 32;

std::mutex g_launch_mutex;  // one launch at a time: the built-ins are globals
std::map<uintptr_t, size_t> g_allocs;  // device allocations: base -> bytes
std::map<const void*, int> g_max_dynamic;  // cudaFuncSetAttribute(MaxDynamicSharedMemorySize)
int g_device = 0;

// ---- the current launch ----------------------------------------------------------------------
Site g_site;
Config g_cfg;
const void* g_kernel = nullptr;
bool g_bounds_checked = false;
void (*g_body)(void*) = nullptr;
void* g_body_ctx = nullptr;

enum class State { Ready, Barrier, Shuffle, Done };
struct Fiber : ThreadState {
  int tid = 0;  // linear thread index in the block
  State state = State::Ready;
  bool started = false;
  bctx::fcontext_t ctx = nullptr;
  char* stack = nullptr;
  const char* file = nullptr;  // where it waits
  int line = 0;
  // a pending shuffle
  Shfl kind = Shfl::Down;
  unsigned mask = 0;
  uint64_t bits = 0;
  int arg = 0, width = kWarp;
#ifdef EMU_ASAN
  void* fake_stack = nullptr;
#endif
};
std::vector<Fiber> g_fibers;
std::vector<char*> g_free_stacks;
bctx::fcontext_t g_sched = nullptr;
#ifdef EMU_ASAN
const void* g_main_bottom = nullptr;
size_t g_main_size = 0;
void* g_main_fake = nullptr;
#endif

struct SharedSlot {
  const char* key;
  void* p;
  size_t bytes;
};
std::vector<SharedSlot> g_shared;
size_t g_static_shared = 0;
void* g_dynamic = nullptr;

std::string where() {
  char buf[512];
  std::snprintf(buf, sizeof buf, "kernel %s launched at %s:%d, block (%u,%u,%u)", g_site.kernel, g_site.file, g_site.line,
                g_block_idx.x, g_block_idx.y, g_block_idx.z);
  std::string s = buf;
  if (g_thread) {
    std::snprintf(buf, sizeof buf, ", thread (%u,%u,%u)", g_thread->idx.x, g_thread->idx.y, g_thread->idx.z);
    s += buf;
  }
  return s;
}

[[noreturn]] __attribute__((format(printf, 1, 2))) void fail(const char* fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  std::fprintf(stderr, "emu: error: %s (%s)\n", msg, where().c_str());
  std::fflush(stderr);
  std::abort();
}

// ---- thread order ------------------------------------------------------------------------------
enum class Order { Forward, Reverse, Random };
struct OrderSpec {
  Order order = Order::Forward;
  uint64_t seed = 1;
};
const OrderSpec& order_spec() {
  static OrderSpec s = [] {
    OrderSpec o;
    const char* e = std::getenv("CONVERGENT_EMU_ORDER");
    std::string v = e ? e : "forward";
    if (v == "forward") o.order = Order::Forward;
    else if (v == "reverse") o.order = Order::Reverse;
    else if (v.rfind("random", 0) == 0) {
      o.order = Order::Random;
      if (v.size() > 7 && v[6] == ':') o.seed = std::strtoull(v.c_str() + 7, nullptr, 10);
    } else {
      std::fprintf(stderr, "emu: error: CONVERGENT_EMU_ORDER must be forward, reverse or random[:SEED], got '%s'\n", e);
      std::exit(2);
    }
    return o;
  }();
  return s;
}
std::mt19937_64& order_rng() {
  static std::mt19937_64 rng(order_spec().seed);
  return rng;
}

// ---- fibers ----------------------------------------------------------------------------------
char* take_stack() {
  if (!g_free_stacks.empty()) {
    char* s = g_free_stacks.back();
    g_free_stacks.pop_back();
    return s;
  }
  const size_t guard = 4096;
  void* m = mmap(nullptr, kStack + guard, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (m == MAP_FAILED) fail("out of memory for fiber stacks");
  mprotect(m, guard, PROT_NONE);  // overflow of a fiber stack faults instead of corrupting
  return static_cast<char*>(m) + guard;
}

// In a fiber: back to the scheduler (for good when the fiber is done).
void to_scheduler(Fiber* f) {
#ifdef EMU_ASAN
  __sanitizer_start_switch_fiber(f->state == State::Done ? nullptr : &f->fake_stack, g_main_bottom, g_main_size);
#endif
  bctx::transfer_t t = bctx::jump_fcontext(g_sched, nullptr);
  g_sched = t.fctx;
#ifdef EMU_ASAN
  __sanitizer_finish_switch_fiber(f->fake_stack, &g_main_bottom, &g_main_size);
#endif
}

void fiber_main(bctx::transfer_t t) {
  g_sched = t.fctx;
  Fiber* f = static_cast<Fiber*>(t.data);
#ifdef EMU_ASAN
  __sanitizer_finish_switch_fiber(nullptr, &g_main_bottom, &g_main_size);
#endif
  g_body(g_body_ctx);
  f->state = State::Done;
  to_scheduler(f);
  std::abort();  // a finished fiber is never resumed
}

void resume(Fiber* f) {
  if (!f->started) {
    f->started = true;
    f->stack = take_stack();
    f->ctx = bctx::make_fcontext(f->stack + kStack, kStack, fiber_main);
  }
  g_thread = f;
#ifdef EMU_ASAN
  __sanitizer_start_switch_fiber(&g_main_fake, f->stack, kStack);
#endif
  bctx::transfer_t t = bctx::jump_fcontext(f->ctx, f);
#ifdef EMU_ASAN
  __sanitizer_finish_switch_fiber(g_main_fake, nullptr, nullptr);
#endif
  f->ctx = t.fctx;
  g_thread = nullptr;
  if (f->state == State::Done) {
    g_free_stacks.push_back(f->stack);
    f->stack = nullptr;
  }
}

Fiber* current() {
  if (!g_thread) {
    std::fprintf(stderr, "emu: error: a device-only call outside a kernel\n");
    std::abort();
  }
  return static_cast<Fiber*>(g_thread);
}

// ---- shuffles --------------------------------------------------------------------------------
const char* shfl_name(Shfl k) {
  return k == Shfl::Down ? "__shfl_down_sync" : k == Shfl::Up ? "__shfl_up_sync" : k == Shfl::Xor ? "__shfl_xor_sync" : "__shfl_sync";
}

// Resolves warp w's shuffle once every lane in the mask waits at it; true when it did.
bool try_resolve_shuffle(int w) {
  const int n = (int)g_fibers.size(), lo = w * kWarp, hi = std::min(n, lo + kWarp);
  Fiber* first = nullptr;
  for (int t = lo; t < hi; ++t)
    if (g_fibers[t].state == State::Shuffle) { first = &g_fibers[t]; break; }
  if (!first) return false;
  const unsigned mask = first->mask;
  for (int l = 0; l < kWarp; ++l) {
    if (!(mask >> l & 1)) continue;
    if (lo + l >= n) {
      g_thread = first;
      fail("%s at %s:%d: mask 0x%08x names lane %d, past the block's last thread", shfl_name(first->kind), first->file,
           first->line, mask, l);
    }
    const Fiber& o = g_fibers[lo + l];
    if (o.state != State::Shuffle) return false;  // not there yet (deadlocks are found later)
  }
  for (int t = lo; t < hi; ++t) {
    Fiber& o = g_fibers[t];
    if (o.state != State::Shuffle || !(mask >> (t - lo) & 1)) continue;
    if (o.mask != mask || o.kind != first->kind || o.line != first->line || std::strcmp(o.file, first->file)) {
      g_thread = &o;
      fail("lanes of one warp meet at different shuffles: %s at %s:%d (mask 0x%08x) and %s at %s:%d (mask 0x%08x)",
           shfl_name(first->kind), first->file, first->line, mask, shfl_name(o.kind), o.file, o.line, o.mask);
    }
  }
  uint64_t result[kWarp];
  for (int l = 0; l < kWarp; ++l) {
    if (!(mask >> l & 1)) continue;
    const Fiber& o = g_fibers[lo + l];
    const int width = o.width, base = l / width * width, in = l - base;
    int src = l;
    switch (o.kind) {
      case Shfl::Down: src = in + o.arg < width ? l + o.arg : l; break;
      case Shfl::Up: src = in - o.arg >= 0 ? l - o.arg : l; break;
      case Shfl::Xor: src = (l ^ o.arg) < base + width ? l ^ o.arg : l; break;
      case Shfl::Idx: src = base + ((o.arg % width) + width) % width; break;
    }
    if (!(mask >> src & 1)) {
      g_thread = &g_fibers[lo + l];
      fail("%s at %s:%d reads lane %d, outside its mask 0x%08x", shfl_name(o.kind), o.file, o.line, src, mask);
    }
    result[l] = g_fibers[lo + src].bits;
  }
  for (int l = 0; l < kWarp; ++l)
    if (mask >> l & 1) g_fibers[lo + l].bits = result[l], g_fibers[lo + l].state = State::Ready;
  return true;
}

// ---- one block ---------------------------------------------------------------------------------
void free_shared() {
  for (SharedSlot& s : g_shared) std::free(s.p);
  g_shared.clear();
  std::free(g_dynamic);
  g_dynamic = nullptr;
  g_static_shared = 0;
}

void run_block() {
  const unsigned n = g_block_dim.x * g_block_dim.y * g_block_dim.z;
  g_fibers.assign(n, Fiber());
  for (unsigned t = 0; t < n; ++t) {
    Fiber& f = g_fibers[t];
    f.tid = (int)t;
    f.idx = {t % g_block_dim.x, t / g_block_dim.x % g_block_dim.y, t / (g_block_dim.x * g_block_dim.y)};
  }
  // The launch's dynamic shared memory: exact size, 0xff (reads as NaN) until written.
  if (posix_memalign(&g_dynamic, 16, g_cfg.smem)) fail("out of host memory");
  if (g_cfg.smem) std::memset(g_dynamic, 0xff, g_cfg.smem);

  std::vector<int> order(n);
  const Order ord = order_spec().order;
  for (unsigned t = 0; t < n; ++t) order[t] = ord == Order::Reverse ? (int)(n - 1 - t) : (int)t;
  for (;;) {
    if (ord == Order::Random) std::shuffle(order.begin(), order.end(), order_rng());
    bool ran = false;
    for (int t : order) {
      Fiber& f = g_fibers[t];
      if (f.state != State::Ready) continue;
      resume(&f);
      ran = true;
      if (f.state == State::Shuffle) try_resolve_shuffle(t / kWarp);
    }
    if (ran) continue;
    // Nobody can run: a barrier every live thread waits at, or a bug.
    const Fiber* at_barrier = nullptr;
    const Fiber* done = nullptr;
    for (const Fiber& f : g_fibers) {
      if (f.state == State::Shuffle) {
        g_thread = const_cast<Fiber*>(&f);
        fail("%s at %s:%d never completes: a lane of mask 0x%08x has exited or waits elsewhere", shfl_name(f.kind),
             f.file, f.line, f.mask);
      }
      if (f.state == State::Barrier && !at_barrier) at_barrier = &f;
      if (f.state == State::Done && !done) done = &f;
    }
    if (!at_barrier) break;  // all done
    for (const Fiber& f : g_fibers) {
      if (f.state == State::Barrier && (f.line != at_barrier->line ||
                                        (f.file != at_barrier->file && std::strcmp(f.file, at_barrier->file)))) {
        g_thread = const_cast<Fiber*>(&f);
        fail("divergent barrier: __syncthreads at %s:%d and at %s:%d (thread (%u,%u,%u)) in the same round", f.file,
             f.line, at_barrier->file, at_barrier->line, at_barrier->idx.x, at_barrier->idx.y, at_barrier->idx.z);
      }
    }
    if (done) {
      g_thread = const_cast<Fiber*>(at_barrier);
      fail("__syncthreads at %s:%d waits for thread (%u,%u,%u), which has exited", at_barrier->file, at_barrier->line,
           done->idx.x, done->idx.y, done->idx.z);
    }
    for (Fiber& f : g_fibers) f.state = State::Ready;
  }
  free_shared();
}

// ---- dlopen: NVIDIA's libraries cannot run on the emulated device ------------------------------
bool nvidia_library(const char* name) {
  if (!name) return false;
  for (const char* lib : {"libcublas", "libcusolver", "libcudnn", "libcuda.", "libcudart", "libcufft", "libcurand"})
    if (std::strstr(name, lib)) return true;
  return false;
}
thread_local bool g_dlopen_refused = false;

}  // namespace

// ---- launch API ----------------------------------------------------------------------------------
// CONVERGENT_EMU_KERNELS=FILE: the names of the kernels launched, one a line, appended at exit.
void note_kernel(const char* name) {
  static const char* path = std::getenv("CONVERGENT_EMU_KERNELS");
  static std::set<std::string> seen;
  if (!path || !seen.insert(name).second) return;
  if (seen.size() == 1)
    std::atexit([] {
      if (FILE* f = std::fopen(path, "a")) {
        for (const std::string& k : seen) std::fprintf(f, "%s\n", k.c_str());
        std::fclose(f);
      }
    });
}

void launch_begin(const Site& site, const void* kernel, const Config& c) {
  g_launch_mutex.lock();
  note_kernel(site.kernel);
  g_site = site, g_cfg = c, g_kernel = kernel, g_bounds_checked = false;
  g_thread = nullptr;
  g_block_idx = {0, 0, 0};
  const dim3 b = c.block, g = c.grid;
  const unsigned long threads = (unsigned long)b.x * b.y * b.z;
  if (b.x == 0 || b.y == 0 || b.z == 0 || g.x == 0 || g.y == 0 || g.z == 0)
    fail("empty launch: grid (%u,%u,%u), block (%u,%u,%u)", g.x, g.y, g.z, b.x, b.y, b.z);
  if (b.x > kMaxThreads || b.y > kMaxThreads || b.z > kMaxBlockZ || threads > kMaxThreads)
    fail("block (%u,%u,%u) exceeds sm_90's limits (1024 threads, x,y <= 1024, z <= 64)", b.x, b.y, b.z);
  if (g.x > kMaxGridX || g.y > kMaxGridYZ || g.z > kMaxGridYZ)
    fail("grid (%u,%u,%u) exceeds sm_90's limits (x < 2^31, y,z <= 65535)", g.x, g.y, g.z);
  if (c.smem > kSharedOptinMax) fail("%zu bytes of dynamic shared memory exceed sm_90's 227 KB", c.smem);
  if (c.smem > kDefaultDynamicMax) {
    auto it = kernel ? g_max_dynamic.find(kernel) : g_max_dynamic.end();
    if (it == g_max_dynamic.end() || (size_t)it->second < c.smem)
      fail("%zu bytes of dynamic shared memory, above 48 KB, without cudaFuncSetAttribute("
           "cudaFuncAttributeMaxDynamicSharedMemorySize) of at least that for this kernel",
           c.smem);
  }
  g_grid_dim = g, g_block_dim = b;
}

void check_pointer_arg(const void* p, int index) {
  if (!p) return;
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  auto it = g_allocs.upper_bound(a);
  if (it != g_allocs.begin()) {
    --it;
    if (a <= it->first + it->second) return;
  }
  fail("argument %d is %p, not device memory (every pointer argument must come from cudaMalloc)", index, p);
}

void run_grid(void (*body)(void*), void* ctx) {
  g_body = body, g_body_ctx = ctx;
  for (unsigned z = 0; z < g_grid_dim.z; ++z)
    for (unsigned y = 0; y < g_grid_dim.y; ++y)
      for (unsigned x = 0; x < g_grid_dim.x; ++x) {
        g_block_idx = {x, y, z};
        run_block();
      }
  g_fibers.clear();
  g_thread = nullptr;
  g_launch_mutex.unlock();
}

void launch_bounds(long max_threads) {
  if (g_bounds_checked) return;
  g_bounds_checked = true;
  const unsigned long threads = (unsigned long)g_block_dim.x * g_block_dim.y * g_block_dim.z;
  if ((long)threads > max_threads) fail("block of %lu threads exceeds the kernel's __launch_bounds__(%ld)", threads, max_threads);
}

void syncthreads(const char* file, int line) {
  Fiber* f = current();
  f->state = State::Barrier, f->file = file, f->line = line;
  to_scheduler(f);
}

uint64_t shuffle(Shfl kind, unsigned mask, uint64_t bits, int arg, int width, const char* file, int line) {
  Fiber* f = current();
  const int lane = f->tid % kWarp;
  if (!(mask >> lane & 1))
    fail("%s at %s:%d called by lane %d, which its mask 0x%08x leaves out", shfl_name(kind), file, line, lane, mask);
  if (width < 1 || width > kWarp || (width & (width - 1))) fail("%s at %s:%d: width %d is not a power of two <= 32", shfl_name(kind), file, line, width);
  f->state = State::Shuffle, f->kind = kind, f->mask = mask, f->bits = bits, f->arg = arg, f->width = width;
  f->file = file, f->line = line;
  to_scheduler(f);
  return f->bits;
}

void* shared_alloc(const char* key, size_t bytes) {
  current();
  for (const SharedSlot& s : g_shared)
    if (s.key == key || !std::strcmp(s.key, key)) {
      if (s.bytes != bytes) fail("__shared__ at %s declared with %zu and %zu bytes in one block", key, s.bytes, bytes);
      return s.p;
    }
  g_static_shared += bytes;
  if (g_static_shared > kStaticSharedMax)
    fail("%zu bytes of static __shared__ (up to %s) exceed the 48 KB limit", g_static_shared, key);
  if (g_static_shared + g_cfg.smem > kSharedOptinMax)
    fail("static (%zu) + dynamic (%zu) shared memory exceed sm_90's 227 KB", g_static_shared, g_cfg.smem);
  void* p = nullptr;
  if (posix_memalign(&p, 16, bytes)) fail("out of host memory");
  std::memset(p, 0xff, bytes);
  g_shared.push_back({key, p, bytes});
  return p;
}

void* dynamic_shared() {
  current();
  return g_dynamic;
}

}  // namespace emu

// ---- the CUDA runtime surface the engine, tests and tools use -------------------------------------
using namespace emu;

extern "C" {

cudaError_t cudaMalloc(void** p, size_t bytes) {
  *p = nullptr;
  if (bytes == 0) return cudaSuccess;
  // Exact size (AddressSanitizer guards the byte past the end), 256-byte aligned like the GPU's,
  // filled with 0xff so that reading memory nobody wrote gives NaN / -1, not a lucky zero.
  if (posix_memalign(p, 256, bytes)) return cudaErrorMemoryAllocation;
  std::memset(*p, 0xff, bytes);
  std::lock_guard<std::mutex> lock(g_launch_mutex);
  g_allocs[reinterpret_cast<uintptr_t>(*p)] = bytes;
  return cudaSuccess;
}

cudaError_t cudaFree(void* p) {
  if (!p) return cudaSuccess;
  {
    std::lock_guard<std::mutex> lock(g_launch_mutex);
    auto it = g_allocs.find(reinterpret_cast<uintptr_t>(p));
    if (it == g_allocs.end()) {
      std::fprintf(stderr, "emu: error: cudaFree(%p) of memory cudaMalloc did not return\n", p);
      std::abort();
    }
    g_allocs.erase(it);
  }
  std::free(p);
  return cudaSuccess;
}

cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind) {
  if (bytes) std::memmove(dst, src, bytes);
  return cudaSuccess;
}
cudaError_t cudaMemset(void* p, int value, size_t bytes) {
  if (bytes) std::memset(p, value, bytes);
  return cudaSuccess;
}
cudaError_t cudaMemGetInfo(size_t* free_b, size_t* total_b) {
  *free_b = size_t(8) << 30, *total_b = size_t(8) << 30;
  return cudaSuccess;
}
cudaError_t cudaGetDeviceCount(int* n) {
  *n = 1;
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int d) {
  if (d != 0) return cudaErrorInvalidDevice;
  g_device = d;
  return cudaSuccess;
}
cudaError_t cudaGetDevice(int* d) {
  *d = g_device;
  return cudaSuccess;
}
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int d) {
  if (d != 0) return cudaErrorInvalidDevice;
  *prop = cudaDeviceProp{};
  std::snprintf(prop->name, sizeof prop->name, "emulated sm_90 on the CPU (make CUDA=emu)");
  prop->major = 9, prop->minor = 0, prop->multiProcessorCount = 132, prop->warpSize = 32;
  prop->maxThreadsPerBlock = 1024, prop->sharedMemPerBlock = 48 * 1024, prop->sharedMemPerBlockOptin = 227 * 1024;
  prop->totalGlobalMem = size_t(8) << 30;
  return cudaSuccess;
}
cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int d) {
  if (d != 0) return cudaErrorInvalidDevice;
  switch (attr) {
    case cudaDevAttrMultiProcessorCount: *value = 132; break;
    case cudaDevAttrMaxThreadsPerBlock: *value = 1024; break;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin: *value = 227 * 1024; break;
    default: *value = 0;  // clocks and bus widths: none on an emulated device
  }
  return cudaSuccess;
}
cudaError_t cudaFuncSetAttribute(const void* func, cudaFuncAttribute attr, int value) {
  if (attr == cudaFuncAttributeMaxDynamicSharedMemorySize) {
    if (value < 0 || (size_t)value > 227 * 1024) return cudaErrorInvalidValue;
    std::lock_guard<std::mutex> lock(g_launch_mutex);
    g_max_dynamic[func] = value;
  }
  return cudaSuccess;
}
cudaError_t cudaGetLastError() { return cudaSuccess; }
cudaError_t cudaPeekAtLastError() { return cudaSuccess; }
cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }
const char* cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorInvalidValue: return "invalid argument";
    default: return "emulated CUDA error";
  }
}

// NVIDIA's libraries (cuBLAS, cuSOLVER, cuDNN) need a real GPU: under emulation dlopen refuses them,
// so every caller takes its "library unavailable" path.
void* dlopen(const char* name, int flags) {
  if (nvidia_library(name)) {
    g_dlopen_refused = true;
    return nullptr;
  }
  static auto real = reinterpret_cast<void* (*)(const char*, int)>(dlsym(RTLD_NEXT, "dlopen"));
  g_dlopen_refused = false;
  return real(name, flags);
}
char* dlerror() {
  static char msg[] = "NVIDIA libraries are unavailable on the emulated GPU (make CUDA=emu)";
  if (g_dlopen_refused) {
    g_dlopen_refused = false;
    return msg;
  }
  static auto real = reinterpret_cast<char* (*)()>(dlsym(RTLD_NEXT, "dlerror"));
  return real();
}

}  // extern "C"
