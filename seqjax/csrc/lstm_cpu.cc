// The standard LSTM over a whole sequence on the CPU, as two XLA FFI custom calls.
//
// seqjax_lstm_forward:  xs [T, B, I], kernel [I, 4H], recurrent_kernel [H, 4H], bias [4H],
//                       h0, c0 [B, H], lengths s32 [B]
//                    -> ys [T, B, H], h [B, H], c [B, H], residual [T, B, 5H]
// seqjax_lstm_infer:    the same inputs -> ys, h, c (no residual)
// seqjax_lstm_backward: kernel, recurrent_kernel, xs, h0, ys, residual, lengths, d_h, d_c [B, H],
//                       d_ys [T, B, H]
//                    -> d_kernel, d_recurrent_kernel, d_bias, d_xs [T, B, I], d_h0, d_c0
//
// The arithmetic is seqjax.fused_lstm's (gates i, f, g, o; residual = the gates and the cell
// state they updated). Rows are independent, so a call splits its rows into chunks that run
// the whole sequence on their own (XLA's intra-op pool and the calling thread); the weight
// gradient is summed over the chunks at the end. Each step's products run through a small
// register-blocked matrix kernel over weights packed once per call.
#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <exception>
#include <string>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

#if defined(__AVX512F__)
constexpr int VL = 16, MR = 12;
#define SEQJAX_SET1 _mm512_set1_ps
#elif defined(__AVX__)
constexpr int VL = 8, MR = 6;
#define SEQJAX_SET1 _mm256_set1_ps
#else
constexpr int VL = 4, MR = 6;
#define SEQJAX_SET1 _mm_set1_ps
#endif
typedef float vf __attribute__((vector_size(VL * 4), aligned(4)));  // unaligned loads and stores
typedef float vfa __attribute__((vector_size(VL * 4)));
// the ISA's broadcast: a generic `vfa{} + x` costs an extra add per use in the matrix kernel
static inline vfa splat(float x) { return (vfa)SEQJAX_SET1(x); }
constexpr int NV = 2;
constexpr int NR = NV * VL;

// ---------------------------------------------------------------------------------------------
// C [M, N] (=|+=) A [M, K] B [K, N]; A row-major with row stride lda; B either packed in panels
// of NR columns ([ceil(N / NR)][K][NR], ldb = NR, panel stride K * NR) or row-major with N a
// multiple of NR (ldb = N, panel stride NR).

struct Operand {
  const float* data;
  int64_t ldb;
  int64_t panel_stride;
};

template <int R>
static inline void micro(const float* __restrict a, int64_t lda, const float* __restrict b, int64_t ldb,
                         int64_t K, float* __restrict c, int64_t ldc, bool acc, int cols) {
  vfa s[R][NV];
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < NV; ++v) s[r][v] = vfa{};
  for (int64_t k = 0; k < K; ++k) {
    vfa bv[NV];
    for (int v = 0; v < NV; ++v) bv[v] = *(const vf*)(b + k * ldb + v * VL);
    for (int r = 0; r < R; ++r) {
      vfa av = splat(a[r * lda + k]);
      for (int v = 0; v < NV; ++v) s[r][v] += av * bv[v];
    }
  }
  if (cols == NR) {
    for (int r = 0; r < R; ++r)
      for (int v = 0; v < NV; ++v) {
        vf* dst = (vf*)(c + r * ldc + v * VL);
        *dst = acc ? *dst + s[r][v] : s[r][v];
      }
  } else {
    for (int r = 0; r < R; ++r) {
      float tmp[NR];
      for (int v = 0; v < NV; ++v) *(vf*)(tmp + v * VL) = s[r][v];
      for (int j = 0; j < cols; ++j) c[r * ldc + j] = acc ? c[r * ldc + j] + tmp[j] : tmp[j];
    }
  }
}

template <int R>
static void row_block(const float* a, int64_t lda, const Operand& b, int64_t K, int64_t N, float* c,
                      int64_t ldc, bool acc) {
  for (int64_t j = 0, p = 0; j < N; j += NR, ++p)
    micro<R>(a, lda, b.data + p * b.panel_stride, b.ldb, K, c + j, ldc, acc, (int)std::min<int64_t>(NR, N - j));
}

template <int R>
static void remainder_rows(int rem, const float* a, int64_t lda, const Operand& b, int64_t K, int64_t N,
                           float* c, int64_t ldc, bool acc) {
  if constexpr (R > 0) {
    if (rem == R) return row_block<R>(a, lda, b, K, N, c, ldc, acc);
    remainder_rows<R - 1>(rem, a, lda, b, K, N, c, ldc, acc);
  }
}

// The rows go in ceil(M / MR) blocks of near-equal size (32 rows: 11, 11, 10, not 12, 12, 8).
static void gemm(const float* a, int64_t M, int64_t K, int64_t lda, const Operand& b, int64_t N, float* c,
                 int64_t ldc, bool acc) {
  const int64_t blocks = (M + MR - 1) / MR;
  for (int64_t k = 0; k < blocks; ++k) {
    const int64_t i = M * k / blocks, rows = M * (k + 1) / blocks - i;
    remainder_rows<MR>((int)rows, a + i * lda, lda, b, K, N, c + i * ldc, ldc, acc);
  }
}

// Packs src (element [k, n] at src[k * sk + n * sn]) into panels of NR columns, zero-padded.
static std::vector<float> pack(const float* src, int64_t K, int64_t N, int64_t sk, int64_t sn) {
  int64_t panels = (N + NR - 1) / NR;
  std::vector<float> out(panels * K * NR, 0.f);
  for (int64_t p = 0; p < panels; ++p)
    for (int64_t k = 0; k < K; ++k)
      for (int64_t j = 0; j < NR && p * NR + j < N; ++j)
        out[(p * K + k) * NR + j] = src[k * sk + (p * NR + j) * sn];
  return out;
}

// W = [[kernel], [recurrent_kernel]], [I + H, 4H] row-major.
static std::vector<float> stacked(const float* kernel, const float* recurrent_kernel, int64_t I, int64_t H) {
  std::vector<float> w((I + H) * 4 * H);
  std::memcpy(w.data(), kernel, I * 4 * H * 4);
  std::memcpy(w.data() + I * 4 * H, recurrent_kernel, H * 4 * H * 4);
  return w;
}

static Operand packed_operand(const std::vector<float>& p, int64_t K) { return {p.data(), NR, K * NR}; }

// ---------------------------------------------------------------------------------------------
// Activations: Cephes' expf (about 1 ulp) for the sigmoid and the rational tanh that Eigen and
// XLA use for float32, on whole vectors; a row's tail shorter than a vector goes through a
// zero-padded copy.

typedef int32_t vi __attribute__((vector_size(VL * 4)));

static inline vfa clamp(vfa x, float lo, float hi) {
  x = x < splat(lo) ? splat(lo) : x;
  return x > splat(hi) ? splat(hi) : x;
}

static inline vfa exp_(vfa x) {
  x = clamp(x, -87.0f, 88.0f);
  const vfa magic = splat(12582912.0f);  // 1.5 * 2^23: adding and subtracting it rounds to an integer
  vfa n = (x * 1.44269504088896341f + magic) - magic;
  vfa r = x - n * 0.693359375f + n * 2.12194440e-4f;
  vfa y = splat(1.9875691500e-4f);
  y = y * r + 1.3981999507e-3f;
  y = y * r + 8.3334519073e-3f;
  y = y * r + 4.1665795894e-2f;
  y = y * r + 1.6666665459e-1f;
  y = y * r + 5.0000001201e-1f;
  y = y * r * r + r + 1.0f;
  vi bits = (__builtin_convertvector(n, vi) + 127) << 23;
  return y * (vfa)bits;
}

static inline vfa sigmoid_(vfa x) { return 1.0f / (1.0f + exp_(-x)); }

static inline vfa tanh_(vfa x) {
  vfa small = x;
  x = clamp(x, -7.90531110763549805f, 7.90531110763549805f);
  vfa x2 = x * x;
  vfa p = splat(-2.76076847742355e-16f);
  p = p * x2 + 2.00018790482477e-13f;
  p = p * x2 + -8.60467152213735e-11f;
  p = p * x2 + 5.12229709037114e-08f;
  p = p * x2 + 1.48572235717979e-05f;
  p = p * x2 + 6.37261928875436e-04f;
  p = p * x2 + 4.89352455891786e-03f;
  p = p * x;
  vfa q = splat(1.19825839466702e-06f);
  q = q * x2 + 1.18534705686654e-04f;
  q = q * x2 + 2.26843463243900e-03f;
  q = q * x2 + 4.89352518554385e-03f;
  vfa ax = small < 0.0f ? -small : small;
  return ax < 0.0004f ? small : p / q;
}

// Calls op(offset, vector of each input at offset) -> vector, written to out, for n elements
// of `count` input arrays; the tail goes through zero-padded copies.
template <int N, class Op>
static inline void map(int64_t n, float* __restrict out, const float* const (&in)[N], Op op) {
  int64_t j = 0;
  for (; j + VL <= n; j += VL) {
    vfa v[N];
    for (int a = 0; a < N; ++a) v[a] = *(const vf*)(in[a] + j);
    *(vf*)(out + j) = op(v);
  }
  if (j < n) {
    vfa v[N];
    for (int a = 0; a < N; ++a) {
      float tmp[VL] = {};
      for (int64_t k = j; k < n; ++k) tmp[k - j] = in[a][k];
      v[a] = *(const vf*)tmp;
    }
    float res[VL];
    *(vf*)res = op(v);
    for (int64_t k = j; k < n; ++k) out[k] = res[k - j];
  }
}

// ---------------------------------------------------------------------------------------------
// Running chunks of rows on XLA's intra-op pool and the calling thread.
//
// The calling thread may itself be one of the pool's threads (XLA runs a device's program on
// the pool), and every other pool thread may be waiting the same way, so no thread waits for a
// task that has not started: each chunk is claimed from a shared counter by whichever thread
// gets there first, the caller claims chunks until none is left, and then waits only for the
// chunks that others claimed and are running. A task that starts after that finds nothing to
// claim and returns without touching the call's (by then finished) state.

struct ChunkState {
  std::atomic<int> next{0};
  std::mutex mu;
  std::condition_variable cv;
  int running = 0;
  int chunks = 0;
  const std::function<void(int)>* fn = nullptr;
  std::exception_ptr error;  // the first chunk's failure (out of memory), rethrown by the caller
};

// Claims and runs chunks until none is left. A helper counts itself as running before it
// claims, so the caller, once every chunk is claimed, waits for every chunk still in hand.
static void run_chunks(ChunkState& state, bool helper) {
  if (helper) {
    std::lock_guard<std::mutex> lock(state.mu);
    ++state.running;
  }
  for (int k; (k = state.next.fetch_add(1)) < state.chunks;) {
    try {
      (*state.fn)(k);
    } catch (...) {
      std::lock_guard<std::mutex> lock(state.mu);
      if (!state.error) state.error = std::current_exception();
    }
  }
  if (helper) {
    std::lock_guard<std::mutex> lock(state.mu);
    if (--state.running == 0) state.cv.notify_all();
  }
}

// Calls fn(chunk, row_begin, row_end) for `chunks` near-equal slices of `rows`.
static void for_chunks(ffi::ThreadPool& pool, int chunks, int64_t rows,
                       const std::function<void(int, int64_t, int64_t)>& fn) {
  if (chunks <= 1) return fn(0, 0, rows);
  std::function<void(int)> body = [&](int k) { fn(k, rows * k / chunks, rows * (k + 1) / chunks); };
  auto state = std::make_shared<ChunkState>();
  state->chunks = chunks;
  state->fn = &body;
  for (int k = 1; k < chunks; ++k)
    pool.Schedule([state] {
      unsigned csr = _mm_getcsr();
      _mm_setcsr(csr | 0x8040);  // flush denormals, as XLA's own kernels do
      run_chunks(*state, true);
      _mm_setcsr(csr);
    });
  run_chunks(*state, false);
  std::unique_lock<std::mutex> lock(state->mu);
  state->cv.wait(lock, [&] { return state->running == 0; });
  if (state->error) std::rethrow_exception(state->error);
}

// Runs a handler's body, turning a C++ exception (say std::bad_alloc) into an XLA error.
template <class Body>
static ffi::Error guarded(Body body) {
  try {
    body();
  } catch (const std::exception& e) {
    return ffi::Error::Internal(std::string("seqjax LSTM kernel: ") + e.what());
  }
  return ffi::Error::Success();
}

struct FlushDenormals {
  unsigned csr = _mm_getcsr();
  FlushDenormals() { _mm_setcsr(csr | 0x8040); }
  ~FlushDenormals() { _mm_setcsr(csr); }
};

struct Shapes {
  int64_t T, B, I, H;
};

// ---------------------------------------------------------------------------------------------
// Forward

static void forward_rows(const Shapes& s, int64_t r0, int64_t r1, const float* xs, const Operand& weights,
                         const float* bias, const float* h0, const float* c0, const int32_t* lengths, float* ys,
                         float* h_out, float* c_out, float* residual) {
  const int64_t T = s.T, B = s.B, I = s.I, H = s.H, G = 4 * H, IH = I + H, rows = r1 - r0;
  // xh [rows, I + H]: this step's inputs beside the state h, one operand for W = [[K], [R]]
  std::vector<float> z(rows * G), xh(rows * IH), c(rows * H);
  for (int64_t r = 0; r < rows; ++r) std::memcpy(xh.data() + r * IH + I, h0 + (r0 + r) * H, H * 4);
  std::memcpy(c.data(), c0 + r0 * H, rows * H * 4);
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t r = 0; r < rows; ++r) std::memcpy(xh.data() + r * IH, xs + (t * B + r0 + r) * I, I * 4);
    gemm(xh.data(), rows, IH, IH, weights, G, z.data(), G, false);
    for (int64_t r = 0; r < rows; ++r) {
      const bool real = t < lengths[r0 + r];
      float* __restrict zr = z.data() + r * G;
      float* __restrict hr = xh.data() + r * IH + I;
      float* __restrict cr = c.data() + r * H;
      float* __restrict yr = ys + (t * B + r0 + r) * H;
      float* __restrict saved = residual ? residual + (t * B + r0 + r) * 5 * H : nullptr;
      if (saved) std::memcpy(saved + 4 * H, cr, H * 4);
      for (int gate = 0; gate < 4; ++gate) {
        float* zg = zr + gate * H;
        const float* bg = bias + gate * H;
        if (gate == 2)
          map<2>(H, zg, {zg, bg}, [](const vfa* v) { return tanh_(v[0] + v[1]); });
        else
          map<2>(H, zg, {zg, bg}, [](const vfa* v) { return sigmoid_(v[0] + v[1]); });
      }
      if (saved) std::memcpy(saved, zr, G * 4);
      if (real) {
        map<4>(H, cr, {zr, zr + H, zr + 2 * H, cr}, [](const vfa* v) { return v[1] * v[3] + v[0] * v[2]; });
        map<2>(H, hr, {zr + 3 * H, cr}, [](const vfa* v) { return v[0] * tanh_(v[1]); });
        std::memcpy(yr, hr, H * 4);
      } else {
        std::memset(yr, 0, H * 4);
      }
    }
  }
  for (int64_t r = 0; r < rows; ++r) std::memcpy(h_out + (r0 + r) * H, xh.data() + r * IH + I, H * 4);
  std::memcpy(c_out + r0 * H, c.data(), rows * H * 4);
}

static int chunks_for(int64_t rows, int64_t chunks) {
  return (int)std::max<int64_t>(1, std::min<int64_t>(chunks, rows));
}

static ffi::Error forward(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> xs, ffi::Buffer<ffi::F32> kernel,
                          ffi::Buffer<ffi::F32> recurrent_kernel, ffi::Buffer<ffi::F32> bias,
                          ffi::Buffer<ffi::F32> h0, ffi::Buffer<ffi::F32> c0, ffi::Buffer<ffi::S32> lengths,
                          float* ys, float* h, float* c, float* residual, int64_t chunks) {
  auto d = xs.dimensions();
  if (d.size() != 3) return ffi::Error::InvalidArgument("xs must be [T, B, I]");
  Shapes s{d[0], d[1], d[2], h0.dimensions()[1]};
  return guarded([&] {
    FlushDenormals flush;
    const int64_t IH = s.I + s.H, G = 4 * s.H;
    auto w = pack(stacked(kernel.typed_data(), recurrent_kernel.typed_data(), s.I, s.H).data(), IH, G, G, 1);
    Operand wo = packed_operand(w, IH);
    for_chunks(pool, chunks_for(s.B, chunks), s.B, [&](int, int64_t r0, int64_t r1) {
      forward_rows(s, r0, r1, xs.typed_data(), wo, bias.typed_data(), h0.typed_data(), c0.typed_data(),
                   lengths.typed_data(), ys, h, c, residual);
    });
  });
}

static ffi::Error forward_train(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> xs, ffi::Buffer<ffi::F32> kernel,
                                ffi::Buffer<ffi::F32> recurrent_kernel, ffi::Buffer<ffi::F32> bias,
                                ffi::Buffer<ffi::F32> h0, ffi::Buffer<ffi::F32> c0, ffi::Buffer<ffi::S32> lengths,
                                ffi::ResultBuffer<ffi::F32> ys, ffi::ResultBuffer<ffi::F32> h,
                                ffi::ResultBuffer<ffi::F32> c, ffi::ResultBuffer<ffi::F32> residual, int64_t chunks) {
  return forward(pool, xs, kernel, recurrent_kernel, bias, h0, c0, lengths, ys->typed_data(), h->typed_data(),
                 c->typed_data(), residual->typed_data(), chunks);
}

static ffi::Error forward_infer(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> xs, ffi::Buffer<ffi::F32> kernel,
                                ffi::Buffer<ffi::F32> recurrent_kernel, ffi::Buffer<ffi::F32> bias,
                                ffi::Buffer<ffi::F32> h0, ffi::Buffer<ffi::F32> c0, ffi::Buffer<ffi::S32> lengths,
                                ffi::ResultBuffer<ffi::F32> ys, ffi::ResultBuffer<ffi::F32> h,
                                ffi::ResultBuffer<ffi::F32> c, int64_t chunks) {
  return forward(pool, xs, kernel, recurrent_kernel, bias, h0, c0, lengths, ys->typed_data(), h->typed_data(),
                 c->typed_data(), nullptr, chunks);
}

// ---------------------------------------------------------------------------------------------
// Backward

static void backward_rows(const Shapes& s, int64_t r0, int64_t r1, const Operand& stacked_t, const float* xs,
                          const float* h0, const float* ys, const float* residual, const int32_t* lengths,
                          const float* d_h_last, const float* d_c_last, const float* d_ys, float* d_w, float* d_b,
                          float* d_xs, float* d_h0, float* d_c0) {
  const int64_t T = s.T, B = s.B, I = s.I, H = s.H, G = 4 * H, IH = I + H, rows = r1 - r0;
  std::vector<float> d_h(rows * H), d_c(rows * H), d_z(rows * G), d_xh(rows * IH), xh_t(IH * rows);
  std::memcpy(d_h.data(), d_h_last + r0 * H, rows * H * 4);
  std::memcpy(d_c.data(), d_c_last + r0 * H, rows * H * 4);
  const bool plain = G % NR == 0;
  std::vector<float> d_z_packed, scratch(2 * H);
  for (int64_t t = T - 1; t >= 0; --t) {
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t row = r0 + r;
      const bool real = t < lengths[row];
      const float* __restrict saved = residual + (t * B + row) * 5 * H;
      const float* __restrict d_y = d_ys + (t * B + row) * H;
      float* __restrict dz = d_z.data() + r * G;
      float* __restrict dh = d_h.data() + r * H;
      float* __restrict dc = d_c.data() + r * H;
      if (!real) {
        std::memset(dz, 0, G * 4);
        continue;
      }
      const float* i = saved;
      const float* f = saved + H;
      const float* g = saved + 2 * H;
      const float* o = saved + 3 * H;
      const float* c = saved + 4 * H;
      float* tanh_c = scratch.data();
      float* d_h_total = scratch.data() + H;
      map<4>(H, tanh_c, {f, c, i, g}, [](const vfa* v) { return tanh_(v[0] * v[1] + v[2] * v[3]); });
      map<2>(H, d_h_total, {dh, d_y}, [](const vfa* v) { return v[0] + v[1]; });
      // d_c_total, kept in dc until it is scaled by f below
      map<4>(H, dc, {dc, d_h_total, o, tanh_c},
             [](const vfa* v) { return v[0] + v[1] * v[2] * (1.0f - v[3] * v[3]); });
      map<3>(H, dz, {dc, g, i}, [](const vfa* v) { return v[0] * v[1] * v[2] * (1.0f - v[2]); });
      map<3>(H, dz + H, {dc, c, f}, [](const vfa* v) { return v[0] * v[1] * v[2] * (1.0f - v[2]); });
      map<3>(H, dz + 2 * H, {dc, i, g}, [](const vfa* v) { return v[0] * v[1] * (1.0f - v[2] * v[2]); });
      map<3>(H, dz + 3 * H, {d_h_total, tanh_c, o}, [](const vfa* v) { return v[0] * v[1] * v[2] * (1.0f - v[2]); });
      map<2>(H, dc, {dc, f}, [](const vfa* v) { return v[0] * v[1]; });
    }
    // [x, h_prev]^T, [I + H, rows]
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t row = r0 + r;
      const float* x = xs + (t * B + row) * I;
      const float* hp = t > 0 ? ys + ((t - 1) * B + row) * H : h0 + row * H;
      for (int64_t k = 0; k < I; ++k) xh_t[k * rows + r] = x[k];
      for (int64_t k = 0; k < H; ++k) xh_t[(I + k) * rows + r] = hp[k];
    }
    gemm(d_z.data(), rows, G, G, stacked_t, IH, d_xh.data(), IH, false);
    Operand dz_op;
    if (plain) {
      dz_op = {d_z.data(), G, NR};
    } else {
      d_z_packed = pack(d_z.data(), rows, G, G, 1);
      dz_op = packed_operand(d_z_packed, rows);
    }
    gemm(xh_t.data(), IH, rows, rows, dz_op, G, d_w, G, true);
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t row = r0 + r;
      const float* dz = d_z.data() + r * G;
      for (int64_t j = 0; j < G; ++j) d_b[j] += dz[j];
      float* dx = d_xs + (t * B + row) * I;
      if (t < lengths[row]) {
        std::memcpy(dx, d_xh.data() + r * IH, I * 4);
        std::memcpy(d_h.data() + r * H, d_xh.data() + r * IH + I, H * 4);
      } else {
        std::memset(dx, 0, I * 4);
      }
    }
  }
  std::memcpy(d_h0 + r0 * H, d_h.data(), rows * H * 4);
  std::memcpy(d_c0 + r0 * H, d_c.data(), rows * H * 4);
}

static ffi::Error backward(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> kernel, ffi::Buffer<ffi::F32> recurrent_kernel,
                           ffi::Buffer<ffi::F32> xs, ffi::Buffer<ffi::F32> h0, ffi::Buffer<ffi::F32> ys,
                           ffi::Buffer<ffi::F32> residual, ffi::Buffer<ffi::S32> lengths, ffi::Buffer<ffi::F32> d_h,
                           ffi::Buffer<ffi::F32> d_c, ffi::Buffer<ffi::F32> d_ys,
                           ffi::ResultBuffer<ffi::F32> d_kernel, ffi::ResultBuffer<ffi::F32> d_recurrent_kernel,
                           ffi::ResultBuffer<ffi::F32> d_bias, ffi::ResultBuffer<ffi::F32> d_xs,
                           ffi::ResultBuffer<ffi::F32> d_h0, ffi::ResultBuffer<ffi::F32> d_c0, int64_t chunks) {
  auto d = xs.dimensions();
  if (d.size() != 3) return ffi::Error::InvalidArgument("xs must be [T, B, I]");
  Shapes s{d[0], d[1], d[2], h0.dimensions()[1]};
  const int64_t I = s.I, H = s.H, G = 4 * H, IH = I + H;
  return guarded([&] {
    FlushDenormals flush;
    // W^T [4H, I + H] packed: element [k, n] is W[n, k] with W = [[kernel], [recurrent_kernel]].
    auto w_t = pack(stacked(kernel.typed_data(), recurrent_kernel.typed_data(), I, H).data(), G, IH, 1, G);
    Operand wo = packed_operand(w_t, G);
    const int n = chunks_for(s.B, chunks);
    std::vector<std::vector<float>> d_w(n, std::vector<float>(IH * G, 0.f)), d_b(n, std::vector<float>(G, 0.f));
    for_chunks(pool, n, s.B, [&](int k, int64_t r0, int64_t r1) {
      backward_rows(s, r0, r1, wo, xs.typed_data(), h0.typed_data(), ys.typed_data(), residual.typed_data(),
                    lengths.typed_data(), d_h.typed_data(), d_c.typed_data(), d_ys.typed_data(), d_w[k].data(),
                    d_b[k].data(), d_xs->typed_data(), d_h0->typed_data(), d_c0->typed_data());
    });
    for (int k = 1; k < n; ++k) {
      for (int64_t j = 0; j < IH * G; ++j) d_w[0][j] += d_w[k][j];
      for (int64_t j = 0; j < G; ++j) d_b[0][j] += d_b[k][j];
    }
    std::memcpy(d_kernel->typed_data(), d_w[0].data(), I * G * 4);
    std::memcpy(d_recurrent_kernel->typed_data(), d_w[0].data() + I * G, H * G * 4);
    std::memcpy(d_bias->typed_data(), d_b[0].data(), G * 4);
  });
}

}  // namespace

#define SEQJAX_FORWARD_ARGS                                                                           \
  ffi::Ffi::Bind()                                                                                    \
      .Ctx<ffi::ThreadPool>()                                                                         \
      .Arg<ffi::Buffer<ffi::F32>>()                                                                   \
      .Arg<ffi::Buffer<ffi::F32>>()                                                                   \
      .Arg<ffi::Buffer<ffi::F32>>()                                                                   \
      .Arg<ffi::Buffer<ffi::F32>>()                                                                   \
      .Arg<ffi::Buffer<ffi::F32>>()                                                                   \
      .Arg<ffi::Buffer<ffi::F32>>()                                                                   \
      .Arg<ffi::Buffer<ffi::S32>>()                                                                   \
      .Ret<ffi::Buffer<ffi::F32>>()                                                                   \
      .Ret<ffi::Buffer<ffi::F32>>()                                                                   \
      .Ret<ffi::Buffer<ffi::F32>>()

XLA_FFI_DEFINE_HANDLER_SYMBOL(SeqjaxLstmForward, forward_train,
                              SEQJAX_FORWARD_ARGS.Ret<ffi::Buffer<ffi::F32>>().Attr<int64_t>("chunks"));
XLA_FFI_DEFINE_HANDLER_SYMBOL(SeqjaxLstmInfer, forward_infer, SEQJAX_FORWARD_ARGS.Attr<int64_t>("chunks"));
XLA_FFI_DEFINE_HANDLER_SYMBOL(SeqjaxLstmBackward, backward,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::S32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>()
                                  .Attr<int64_t>("chunks"));
