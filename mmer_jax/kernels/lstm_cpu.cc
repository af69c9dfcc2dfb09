// The LSTM recurrence as an XLA:CPU FFI kernel: the same maths as lstm_recurrence.py's scans.
//
// Why: XLA:CPU runs a `lax.scan` step as ~20 small thunks; for seed 002's BiLSTM(128) at batch 32
// that costs ~120 us per layer-step, of which the 8 MFLOP step matmul is under half, and the two
// directions (independent) share one core. Here each direction runs its whole time loop as one task
// (the first on the calling thread, the others offered to XLA's intra-op pool), with the step matmul
// register-blocked and the gate nonlinearities vectorised.
//
// Calls (D directions, each argument a separate contiguous buffer, as in lstm_recurrence.py):
//   mmer_lstm_forward(U (D,H,4H), bias (D,4H), gates_x[D] (T,B,4H), valid[D] (T,B) pred)
//       -> hs[D] (T,B,H), cs[D] (T,B,H), activations[D] (T,B,4H)
//   mmer_lstm_inference(U, bias, gates_x[D], valid[D]) -> hs[D] (no residuals: evaluation)
//   mmer_lstm_backward(U, d_hs[D] (T,B,H), valid[D], cs[D], activations[D]) -> d_gates[D] (T,B,4H)
// hs/cs are the carried states (unchanged at an invalid step); activations are i, f, g, o.
// Each call's attribute `reversed` (int64) is a bit mask: direction i with bit i set reads time from
// T - 1 down to 0 (a BiLSTM's backward direction) and writes each output at its own step, so no
// time-flipped copy of its inputs or outputs is made.
//
// The vectors are GCC/Clang generic vectors, so the file compiles for any target; build.py compiles
// it with -O3 -march=native on the machine that runs it.

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <string>
#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <new>
#include <type_traits>
#include <vector>

#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

// One vector is one native register: 16 lanes with AVX-512, 8 with AVX, 4 otherwise (SSE, NEON).
// GCC lowers a generic vector wider than the target's registers element by element: compiled for
// AVX2, a 16-lane build ran the H = 128 step matmul at 3.6 GFLOP/s instead of 93. A matmul block
// keeps 24 accumulator vectors with AVX-512's 32 registers, 12 with 16 registers (gemm_strip).
#if defined(__AVX512F__)
constexpr int kLanes = 16;
constexpr int kAccumulators = 24;
constexpr int kStripVectors = 3;
#elif defined(__AVX__)
constexpr int kLanes = 8;
constexpr int kAccumulators = 12;
constexpr int kStripVectors = 4;
#else
constexpr int kLanes = 4;
constexpr int kAccumulators = 12;
constexpr int kStripVectors = 4;
#endif
typedef float vf __attribute__((vector_size(kLanes * sizeof(float))));
typedef int32_t vi __attribute__((vector_size(kLanes * sizeof(int32_t))));
// Unaligned, aliasing-safe view of memory as a vector.
typedef float vf_u __attribute__((vector_size(kLanes * sizeof(float)), aligned(4), may_alias));

inline vf load(const float* p) { return *reinterpret_cast<const vf_u*>(p); }
inline void store(float* p, vf v) { *reinterpret_cast<vf_u*>(p) = v; }
inline vf splat(float x) { return vf{} + x; }

// exp with Cephes' range reduction and polynomial (~1 ulp on the clamped range).
inline vf vexp(vf x) {
  x = x > 88.0f ? splat(88.0f) : x;
  x = x < -87.0f ? splat(-87.0f) : x;  // keeps 2^n a normal float
  const vf magic = splat(12582912.0f);  // 1.5 * 2^23: adding it rounds to an integer
  vf n = (x * 1.44269504088896341f + magic) - magic;
  vf r = x - n * 0.693359375f + n * 2.12194440e-4f;
  vf p = splat(1.9875691500e-4f);
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  vi bits = (__builtin_convertvector(n, vi) + 127) << 23;
  vf scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  return p * scale;
}

inline vf vsigmoid(vf x) { return 1.0f / (1.0f + vexp(-x)); }

// tanh: Cephes' odd polynomial near 0 (where 1 - 2/(e^2x + 1) loses relative accuracy), else that.
inline vf vtanh(vf x) {
  vf ax = x < 0.0f ? -x : x;
  vf z = x * x;
  vf small = splat(-5.70498872745e-3f);
  small = small * z + 2.06390887954e-2f;
  small = small * z - 5.37397155531e-2f;
  small = small * z + 1.33314422036e-1f;
  small = small * z - 3.33332819422e-1f;
  small = small * z * x + x;
  vf large = 1.0f - 2.0f / (vexp(2.0f * ax) + 1.0f);
  large = x < 0.0f ? -large : large;
  return ax < 0.625f ? small : large;
}

// R rows x NV vectors of C = A @ Bm, the accumulators held in registers across the whole K loop.
template <int R, int NV>
inline void gemm_block(const float* A, int lda, const float* Bm, int ldb, float* C, int ldc, int K,
                       bool accumulate) {
  vf acc[R][NV];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) acc[r][j] = accumulate ? load(C + size_t(r) * ldc + j * kLanes) : vf{};
  for (int k = 0; k < K; ++k) {
    vf b[NV];
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) b[j] = load(Bm + size_t(k) * ldb + j * kLanes);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const vf a = splat(A[size_t(r) * lda + k]);
#pragma GCC unroll 4
      for (int j = 0; j < NV; ++j) acc[r][j] += a * b[j];
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) store(C + size_t(r) * ldc + j * kLanes, acc[r][j]);
}

// Columns [n0, n0 + kLanes NV) of C for every row, in blocks of R rows holding R x NV accumulator
// vectors across the K loop, plus NV registers for the B row and one for the broadcast A value.
// More rows per block read each B panel fewer times: with AVX-512, 8 rows x 3 vectors instead of
// 4 x 4 took the H = 128 step matmul (B = 32) from 90 to 114 GFLOP/s on one AMD EPYC core, and
// 15-20% at H = 35 to 300; with AVX2, 3 rows x 4 vectors ran at 93 GFLOP/s against 68 for 4 x 4,
// which spills. Narrow column strips take more rows (up to 8), so that enough independent
// accumulator chains hide the FMA latency.
// K is taken in panels of kPanel rows of Bm (32 KB for a 64-column strip) so that the panel stays
// in L1 while every row block reads it: re-reading a whole (300 x 1216) U from L2 for each row
// block made the H = 300 step matmul bandwidth-bound at 51 GFLOP/s.
constexpr int kPanel = 128;

template <int NV>
void gemm_strip(const float* A, const float* Bm, float* C, int M, int K, int N, int n0) {
  constexpr int R = std::min(8, kAccumulators / NV);
  for (int k0 = 0; k0 < K; k0 += kPanel) {
    const int kc = std::min(kPanel, K - k0);
    const float* panel = Bm + size_t(k0) * N + n0;
    auto block = [&](auto rows, int m) {
      gemm_block<decltype(rows)::value, NV>(A + size_t(m) * K + k0, K, panel, N, C + size_t(m) * N + n0, N,
                                            kc, k0 > 0);
    };
    int m = 0;
    for (; m + R <= M; m += R) block(std::integral_constant<int, R>{}, m);
    if constexpr (R > 4)
      for (; m + 4 <= M; m += 4) block(std::integral_constant<int, 4>{}, m);
    for (; m < M; ++m) block(std::integral_constant<int, 1>{}, m);
  }
}

// C (M x N) = A (M x K) @ Bm (K x N), row-major and contiguous, N a multiple of kLanes (callers pad
// Bm's columns with zeros: a scalar tail loop, one dependent FMA chain per column, cost more than
// the rest of the product at H = 35 or 74).
void gemm(const float* A, const float* Bm, float* C, int M, int K, int N) {
  int n0 = 0;
  for (; n0 + kStripVectors * kLanes <= N; n0 += kStripVectors * kLanes)
    gemm_strip<kStripVectors>(A, Bm, C, M, K, N, n0);
  switch ((N - n0) / kLanes) {  // the last, narrower strip
    case 3: gemm_strip<3>(A, Bm, C, M, K, N, n0); break;
    case 2: gemm_strip<2>(A, Bm, C, M, K, N, n0); break;
    case 1: gemm_strip<1>(A, Bm, C, M, K, N, n0); break;
    default: break;
  }
}

inline int round_up_lanes(int n) { return (n + kLanes - 1) / kLanes * kLanes; }

// Scratch buffers start on a cache line. A std::vector<float> is only 16-byte aligned, and a 256 KB
// one is mmap'ed at 16 bytes past a page: every 64-byte load of the step matmul's U panel then
// straddles two lines, and that matmul (4 x 4 blocks, AVX-512) took 33 ms instead of 21 ms over 451
// steps at B=32, H=128 (U 16 or 48 bytes past a line; 24 ms at 32 bytes).
template <typename T>
struct CacheLineAllocator {
  using value_type = T;
  static constexpr std::align_val_t kAlign{64};
  CacheLineAllocator() = default;
  template <typename U>
  CacheLineAllocator(const CacheLineAllocator<U>&) {}
  T* allocate(size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), kAlign)); }
  void deallocate(T* p, size_t) { ::operator delete(p, kAlign); }
  template <typename U>
  bool operator==(const CacheLineAllocator<U>&) const { return true; }
  template <typename U>
  bool operator!=(const CacheLineAllocator<U>&) const { return false; }
};
using Floats = std::vector<float, CacheLineAllocator<float>>;

// A run of up to kLanes consecutive elements. A partial run (the last one when n is not a multiple
// of kLanes) goes through zero-padded scratch vectors, so the maths always sees whole vectors.
struct Chunk {
  int start, lanes;
  vf get(const float* p) const {
    if (lanes == kLanes) return load(p + start);
    vf v{};
    std::memcpy(&v, p + start, lanes * sizeof(float));
    return v;
  }
  void put(float* p, vf v) const {
    if (lanes == kLanes) return store(p + start, v);
    std::memcpy(p + start, &v, lanes * sizeof(float));
  }
};

// Runs fn(chunk) over [0, n) in chunks of kLanes elements.
template <typename Fn>
inline void for_chunks(int n, Fn fn) {
  for (int j = 0; j < n; j += kLanes) fn(Chunk{j, std::min(kLanes, n - j)});
}

struct Direction {
  const float* gates_x;  // (T, B, 4H)
  const bool* valid;     // (T, B)
  const float* U;        // (H, 4H)
  const float* bias;     // (4H)
  float* hs;             // (T, B, H)
  float* cs;             // (T, B, H), or null when only hs is wanted (inference)
  float* activations;    // (T, B, 4H), or null when only hs is wanted (inference)
  bool reverse;          // read time from T - 1 down to 0 (outputs stay at their own step)
};

void forward_direction(const Direction& d, int T, int B, int H) {
  const int G = 4 * H, Hp = round_up_lanes(H), Gp = 4 * Hp;
  // U with each gate's H columns padded to Hp, so the step matmul has no column tail.
  Floats U_p(size_t(H) * Gp, 0.0f);
  for (int k = 0; k < H; ++k)
    for (int q = 0; q < 4; ++q) std::memcpy(&U_p[size_t(k) * Gp + q * Hp], d.U + size_t(k) * G + q * H, sizeof(float) * H);
  Floats h(size_t(B) * H, 0.0f), c(size_t(B) * H, 0.0f), z(size_t(B) * Gp);
  for (int step = 0; step < T; ++step) {
    const int t = d.reverse ? T - 1 - step : step;
    gemm(h.data(), U_p.data(), z.data(), B, H, Gp);
    // Two passes: first every gate activation of the step (independent vectors, which the core
    // overlaps), then the state update. Interleaved per chunk, each chunk's update waited on its own
    // chain of exponentials and divisions: 29.0 -> 27.2 ms over 451 steps at B = 32, H = 128.
    for (int b = 0; b < B; ++b) {
      float* zb = z.data() + size_t(b) * Gp;
      const float* gx = d.gates_x + (size_t(t) * B + b) * G;
      float* act = d.activations ? d.activations + (size_t(t) * B + b) * G : nullptr;
      for (int q = 0; q < 4; ++q) {
        for_chunks(H, [&](Chunk k) {
          const vf pre = k.get(zb + q * Hp) + k.get(gx + q * H) + k.get(d.bias + q * H);
          const vf a = q == 2 ? vtanh(pre) : vsigmoid(pre);  // gates i, f, g, o
          k.put(zb + q * Hp, a);
          if (act) k.put(act + q * H, a);
        });
      }
    }
    for (int b = 0; b < B; ++b) {
      const float* zb = z.data() + size_t(b) * Gp;
      float* hb = h.data() + size_t(b) * H;
      float* cb = c.data() + size_t(b) * H;
      if (d.valid[size_t(t) * B + b]) {
        for_chunks(H, [&](Chunk k) {
          const vf c_new = k.get(zb + Hp) * k.get(cb) + k.get(zb) * k.get(zb + 2 * Hp);
          k.put(cb, c_new);
          k.put(hb, k.get(zb + 3 * Hp) * vtanh(c_new));
        });
      }
      std::memcpy(d.hs + (size_t(t) * B + b) * H, hb, sizeof(float) * H);
      if (d.cs) std::memcpy(d.cs + (size_t(t) * B + b) * H, cb, sizeof(float) * H);
    }
  }
}

struct DirectionGrad {
  const float* d_hs;         // (T, B, H)
  const bool* valid;         // (T, B)
  const float* cs;           // (T, B, H)
  const float* activations;  // (T, B, 4H)
  const float* U;            // (H, 4H)
  float* d_gates;            // (T, B, 4H)
  bool reverse;              // the forward pass read time from T - 1 down to 0
};

void backward_direction(const DirectionGrad& d, int T, int B, int H) {
  const int G = 4 * H, Hp = round_up_lanes(H);
  Floats U_t(size_t(G) * Hp, 0.0f);  // (4H, Hp): U^T with zero columns up to Hp
  for (int k = 0; k < H; ++k)
    for (int g = 0; g < G; ++g) U_t[size_t(g) * Hp + k] = d.U[size_t(k) * G + g];
  Floats dh(size_t(B) * H, 0.0f), dc(size_t(B) * H, 0.0f), dh_in(size_t(B) * H), dh_prev(size_t(B) * Hp);
  for (int step = T - 1; step >= 0; --step) {
    const int t = d.reverse ? T - 1 - step : step;
    const int before = d.reverse ? t + 1 : t - 1;  // the step the forward pass read just before t
    float* dz_t = d.d_gates + size_t(t) * B * G;
    for (int b = 0; b < B; ++b) {
      const float* a = d.activations + (size_t(t) * B + b) * G;
      const float* c_t = d.cs + (size_t(t) * B + b) * H;
      const float* c_before = step > 0 ? d.cs + (size_t(before) * B + b) * H : nullptr;
      const float* dh_out = d.d_hs + (size_t(t) * B + b) * H;
      float* dz = dz_t + size_t(b) * G;
      float* dhb = dh.data() + size_t(b) * H;
      float* dcb = dc.data() + size_t(b) * H;
      float* dh_inb = dh_in.data() + size_t(b) * H;
      const bool valid = d.valid[size_t(t) * B + b];
      for_chunks(H, [&](Chunk k) {
        vf dh_total = k.get(dhb) + k.get(dh_out);  // the output at t is the carried h_t
        k.put(dh_inb, dh_total);
        if (!valid) {  // a padded step changed nothing, so it passes gradients through
          for (int q = 0; q < 4; ++q) k.put(dz + q * H, vf{});
          return;
        }
        vf i = k.get(a), f = k.get(a + H), g = k.get(a + 2 * H), o = k.get(a + 3 * H);
        vf tanh_c = vtanh(k.get(c_t));
        vf prev_c = c_before ? k.get(c_before) : vf{};
        vf dc_total = k.get(dcb) + dh_total * o * (1.0f - tanh_c * tanh_c);
        k.put(dz, dc_total * g * i * (1.0f - i));
        k.put(dz + H, dc_total * prev_c * f * (1.0f - f));
        k.put(dz + 2 * H, dc_total * i * (1.0f - g * g));
        k.put(dz + 3 * H, dh_total * tanh_c * o * (1.0f - o));
        k.put(dcb, dc_total * f);
      });
    }
    gemm(dz_t, U_t.data(), dh_prev.data(), B, G, Hp);
    for (int b = 0; b < B; ++b) {
      const bool valid = d.valid[size_t(t) * B + b];
      const float* source = valid ? dh_prev.data() + size_t(b) * Hp : dh_in.data() + size_t(b) * H;
      std::memcpy(dh.data() + size_t(b) * H, source, sizeof(float) * H);
    }
  }
}

// Runs fn(0..D-1): directions beyond the first are offered to XLA's own intra-op thread pool and
// the calling thread runs the first. Whichever thread reaches a direction first claims it, so the
// caller never waits for a task that has not started: when the pool is busy with other ops, the
// caller runs the remaining directions itself instead of oversubscribing the cores (a new thread
// per call made step times bimodal whenever XLA ran other ops at the same time).
struct DirectionClaims {
  explicit DirectionClaims(int n) : claimed(new std::atomic<bool>[n]), finished(new std::atomic<bool>[n]) {
    for (int i = 0; i < n; ++i) claimed[i] = finished[i] = false;
  }
  std::unique_ptr<std::atomic<bool>[]> claimed, finished;
  std::mutex mutex;
  std::condition_variable done;
};

template <typename Fn>
void parallel_directions(ffi::ThreadPool& pool, int D, const Fn& fn) {
  auto claims = std::make_shared<DirectionClaims>(D);
  // A late task finds its direction claimed and returns without touching fn (which lives on the
  // caller's stack); only `claims`, which it co-owns, outlives the call.
  auto run = [claims, &fn](int i) {
    if (claims->claimed[i].exchange(true)) return;
    fn(i);
    {
      std::lock_guard<std::mutex> lock(claims->mutex);
      claims->finished[i] = true;
    }
    claims->done.notify_all();
  };
  for (int i = 1; i < D; ++i) pool.Schedule([run, i] { run(i); });
  for (int i = 0; i < D; ++i) run(i);
  std::unique_lock<std::mutex> lock(claims->mutex);
  claims->done.wait(lock, [&] {
    for (int i = 0; i < D; ++i)
      if (!claims->finished[i]) return false;
    return true;
  });
}

template <typename T>
T* data_of(ffi::AnyBuffer buffer) { return reinterpret_cast<T*>(buffer.untyped_data()); }

ffi::Error check_f32(ffi::AnyBuffer buffer, const char* what) {
  if (buffer.element_type() != ffi::F32)
    return ffi::Error::InvalidArgument(std::string("mmer_lstm: ") + what + " must be float32");
  return ffi::Error::Success();
}

// True when `buffer` has exactly `dims` (a guard against calls from other code than
// lstm_recurrence.py: a wrong shape would otherwise read or write out of bounds).
bool has_dims(ffi::AnyBuffer buffer, std::initializer_list<int64_t> dims) {
  auto actual = buffer.dimensions();
  if (actual.size() != dims.size()) return false;
  size_t i = 0;
  for (int64_t d : dims)
    if (actual[i++] != d) return false;
  return true;
}

ffi::Error shape_error(const char* call) {
  return ffi::Error::InvalidArgument(std::string(call) +
                                     ": inconsistent shapes (see lstm_cpu.cc for the expected ones)");
}

// Bit i of `reversed` set: direction i reads time from T - 1 down to 0.
bool is_reversed(int64_t reversed, int i) { return (reversed >> i) & 1; }

// residuals: also return cs and the activations (for the backward pass); without them only hs is
// written, which in evaluation saves writing 5 of every 6 output floats.
ffi::Error RunForward(ffi::ThreadPool& pool, ffi::AnyBuffer U, ffi::AnyBuffer bias, ffi::RemainingArgs args,
                      ffi::RemainingRets rets, int64_t reversed, bool residuals) {
  const int D = static_cast<int>(args.size() / 2);
  if (D < 1 || args.size() != size_t(2 * D) || rets.size() != size_t((residuals ? 3 : 1) * D))
    return ffi::Error::InvalidArgument("mmer_lstm_forward: expects U, bias, D gate inputs, D masks");
  if (auto error = check_f32(U, "U"); error.failure()) return error;
  if (auto error = check_f32(bias, "bias"); error.failure()) return error;
  if (U.dimensions().size() != 3) return shape_error("mmer_lstm_forward");
  const int H = static_cast<int>(U.dimensions()[1]);
  if (!has_dims(U, {D, H, 4 * H}) || !has_dims(bias, {D, 4 * H})) return shape_error("mmer_lstm_forward");
  std::vector<Direction> dirs(D);
  int T = 0, B = 0;
  for (int i = 0; i < D; ++i) {
    auto gx = args.get<ffi::AnyBuffer>(i);
    auto valid = args.get<ffi::AnyBuffer>(D + i);
    auto hs = rets.get<ffi::AnyBuffer>(i);
    if (!gx || !valid || !hs) return ffi::Error::InvalidArgument("mmer_lstm_forward: unreadable buffer");
    if (auto error = check_f32(*gx, "gates_x"); error.failure()) return error;
    if (gx->dimensions().size() != 3) return shape_error("mmer_lstm_forward");
    T = static_cast<int>(gx->dimensions()[0]);
    B = static_cast<int>(gx->dimensions()[1]);
    if (!has_dims(*gx, {T, B, 4 * H}) || !has_dims(*valid, {T, B}) || !has_dims(**hs, {T, B, H}) ||
        valid->element_type() != ffi::PRED)
      return shape_error("mmer_lstm_forward");
    float* cs_data = nullptr;
    float* act_data = nullptr;
    if (residuals) {
      auto cs = rets.get<ffi::AnyBuffer>(D + i);
      auto act = rets.get<ffi::AnyBuffer>(2 * D + i);
      if (!cs || !act) return ffi::Error::InvalidArgument("mmer_lstm_forward: unreadable buffer");
      if (!has_dims(**cs, {T, B, H}) || !has_dims(**act, {T, B, 4 * H})) return shape_error("mmer_lstm_forward");
      cs_data = data_of<float>(**cs);
      act_data = data_of<float>(**act);
    }
    dirs[i] = Direction{data_of<const float>(*gx), data_of<const bool>(*valid),
                        data_of<const float>(U) + size_t(i) * H * 4 * H,
                        data_of<const float>(bias) + size_t(i) * 4 * H, data_of<float>(**hs), cs_data, act_data,
                        is_reversed(reversed, i)};
  }
  parallel_directions(pool, D, [&](int i) { forward_direction(dirs[i], T, B, H); });
  return ffi::Error::Success();
}

ffi::Error LstmForward(ffi::ThreadPool pool, ffi::AnyBuffer U, ffi::AnyBuffer bias, ffi::RemainingArgs args,
                       ffi::RemainingRets rets, int64_t reversed) {
  return RunForward(pool, U, bias, args, rets, reversed, /*residuals=*/true);
}

ffi::Error LstmInference(ffi::ThreadPool pool, ffi::AnyBuffer U, ffi::AnyBuffer bias, ffi::RemainingArgs args,
                         ffi::RemainingRets rets, int64_t reversed) {
  return RunForward(pool, U, bias, args, rets, reversed, /*residuals=*/false);
}

ffi::Error LstmBackward(ffi::ThreadPool pool, ffi::AnyBuffer U, ffi::RemainingArgs args, ffi::RemainingRets rets,
                        int64_t reversed) {
  const int D = static_cast<int>(args.size() / 4);
  if (D < 1 || args.size() != size_t(4 * D) || rets.size() != size_t(D))
    return ffi::Error::InvalidArgument("mmer_lstm_backward: expects U, D x (d_hs, masks, cs, activations)");
  if (auto error = check_f32(U, "U"); error.failure()) return error;
  if (U.dimensions().size() != 3) return shape_error("mmer_lstm_backward");
  const int H = static_cast<int>(U.dimensions()[1]);
  if (!has_dims(U, {D, H, 4 * H})) return shape_error("mmer_lstm_backward");
  std::vector<DirectionGrad> dirs(D);
  int T = 0, B = 0;
  for (int i = 0; i < D; ++i) {
    auto d_hs = args.get<ffi::AnyBuffer>(i);
    auto valid = args.get<ffi::AnyBuffer>(D + i);
    auto cs = args.get<ffi::AnyBuffer>(2 * D + i);
    auto act = args.get<ffi::AnyBuffer>(3 * D + i);
    auto d_gates = rets.get<ffi::AnyBuffer>(i);
    if (!d_hs || !valid || !cs || !act || !d_gates)
      return ffi::Error::InvalidArgument("mmer_lstm_backward: unreadable buffer");
    if (auto error = check_f32(*d_hs, "d_hs"); error.failure()) return error;
    if (d_hs->dimensions().size() != 3) return shape_error("mmer_lstm_backward");
    T = static_cast<int>(d_hs->dimensions()[0]);
    B = static_cast<int>(d_hs->dimensions()[1]);
    if (!has_dims(*valid, {T, B}) || !has_dims(*cs, {T, B, H}) ||
        !has_dims(*act, {T, B, 4 * H}) || !has_dims(**d_gates, {T, B, 4 * H}) ||
        valid->element_type() != ffi::PRED || cs->element_type() != ffi::F32 ||
        act->element_type() != ffi::F32)
      return shape_error("mmer_lstm_backward");
    dirs[i] = DirectionGrad{data_of<const float>(*d_hs), data_of<const bool>(*valid),
                            data_of<const float>(*cs), data_of<const float>(*act),
                            data_of<const float>(U) + size_t(i) * H * 4 * H, data_of<float>(**d_gates),
                            is_reversed(reversed, i)};
  }
  parallel_directions(pool, D, [&](int i) { backward_direction(dirs[i], T, B, H); });
  return ffi::Error::Success();
}

}  // namespace

// Forward and inference take the same arguments: the pool, U, bias, then the per-direction buffers
// and the `reversed` bit mask.
auto ForwardBinding() {
  return ffi::Ffi::Bind().Ctx<ffi::ThreadPool>().Arg<ffi::AnyBuffer>().Arg<ffi::AnyBuffer>().RemainingArgs()
      .RemainingRets().Attr<int64_t>("reversed");
}

XLA_FFI_DEFINE_HANDLER_SYMBOL(MmerLstmForward, LstmForward, ForwardBinding());
XLA_FFI_DEFINE_HANDLER_SYMBOL(MmerLstmInference, LstmInference, ForwardBinding());
XLA_FFI_DEFINE_HANDLER_SYMBOL(MmerLstmBackward, LstmBackward,
                              ffi::Ffi::Bind().Ctx<ffi::ThreadPool>().Arg<ffi::AnyBuffer>().RemainingArgs()
                                  .RemainingRets().Attr<int64_t>("reversed"));
