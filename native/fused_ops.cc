// Fused TensorFlow ops for the native backend, registered through TensorFlow's stable C API (kernels.h, ops.h),
// so the library builds against libtensorflow_framework.so.2 alone, with no TensorFlow headers.
//
//   InfLayerNorm(x [N, D], g [D], b [D]; eps)   -> y = x̂·g + b, x̂ [N, D], r [N]     x̂ = (x − μ)·r, r = 1/√(σ² + ε)
//   InfLayerNormGrad(dy [N, D], x̂, r, g)       -> dx = r·(dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂)), dg = Σ_rows dy·x̂,
//                                                 db = Σ_rows dy,  with dx̂ = dy·g   (lib/model/transformer.ts, llm.c)
//
//   InfAdamW(p, g, m, v: N × float tensors; h [9]; decay: N ints) -> p', m', v' (N each): one AdamW update of N
//     parameters, h = [β1, 1−β1, β2, 1−β2, ε, √(1−β2^t), η/(1−β1^t), 1−ηλ, gradient scale], element by element
//     exactly as lib/train/optim.ts's tfjs formulas round (one float32 rounding per operation, no FMA).
//
//   InfSquaredNorm(x: N float tensors) -> Σ_k ‖x_k‖² (a scalar; the squared global gradient norm).
//
//   InfTargetLogProb(logits [N, V], targets [N] int32) -> lp = logits[target] − lse, lse = log Σ_v e^(logits_v) [N];
//   InfTargetLogProbGrad(dlp, logits, targets, lse) -> dlogits = dlp·(onehot(target) − e^(logits − lse)).
//
//   InfGelu(x) -> y = x·Φ(x);  InfGeluGrad(dy, x) -> dx = dy·(Φ(x) + x·φ(x));  Φ(x) = ½(1 + erf(x/√2)), φ = Φ'
//     (exact GELU, PyTorch's nn.GELU(); erf by TensorFlow's own rational approximation), element-wise, any shape.
//
//   InfCausalAttention(qkv [B·T, 3D]; T, H)     -> y [B·T, D], lse [B·H·T]: per sequence b and head h (width d = D/H),
//     y_i = Σ_{j ≤ i} softmax_j(q_i·k_j/√d) v_j and lse_i = log Σ_{j ≤ i} exp(q_i·k_j/√d); columns of qkv are q | k | v,
//     head h at h·d … h·d+d−1 (lib/model/transformer.ts `causalAttention`). Keys after the query are skipped, not masked.
//   InfCausalAttentionGrad(dy [B·T, D], qkv, y, lse; T, H) -> dqkv [B·T, 3D]: with P recomputed from lse,
//     dP = dY·vᵀ, dS = P ⊙ (dP − rowsum(dY ⊙ Y)), dq = dS·k/√d, dk = dSᵀ·q/√d, dv = Pᵀ·dY.
//     Each (b, h) is one unit of work; the units are split over two threads in a fixed way (deterministic).
//
// Float32 throughout. Work is split over two threads in a fixed way (halves of every AdamW tensor, of the LayerNorm
// rows, of the GELU elements, of the attention units), so results do not depend on timing. Built by `npm run native`
// (scripts/build-fused-ops.sh) and loaded by lib/backend/fused.ts, which falls back to tfjs ops without it.
// The exported `napi_register_module_v1` lets Node's process.dlopen load it as an (empty) Node-API module, which
// keeps the library mapped.
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <initializer_list>
#include <string>
#include <thread>
#include <vector>

extern "C" {
typedef struct TF_Status TF_Status;
typedef struct TF_Tensor TF_Tensor;
typedef struct TF_OpKernelConstruction TF_OpKernelConstruction;
typedef struct TF_OpKernelContext TF_OpKernelContext;
typedef struct TF_KernelBuilder TF_KernelBuilder;
typedef struct TF_OpDefinitionBuilder TF_OpDefinitionBuilder;
typedef struct TF_ShapeInferenceContext TF_ShapeInferenceContext;
typedef struct TF_ShapeHandle TF_ShapeHandle;
enum { TF_OK_CODE = 0, TF_INVALID_ARGUMENT_CODE = 3 };
enum { TF_FLOAT_TYPE = 1, TF_INT32_TYPE = 3 };

TF_Status* TF_NewStatus(void);
void TF_DeleteStatus(TF_Status*);
int TF_GetCode(const TF_Status*);
void TF_SetStatus(TF_Status*, int code, const char* msg);

TF_OpDefinitionBuilder* TF_NewOpDefinitionBuilder(const char* op_name);
void TF_OpDefinitionBuilderAddInput(TF_OpDefinitionBuilder*, const char* spec);
void TF_OpDefinitionBuilderAddOutput(TF_OpDefinitionBuilder*, const char* spec);
void TF_OpDefinitionBuilderAddAttr(TF_OpDefinitionBuilder*, const char* spec);
void TF_OpDefinitionBuilderSetShapeInferenceFunction(TF_OpDefinitionBuilder*,
                                                     void (*fn)(TF_ShapeInferenceContext*, TF_Status*));
void TF_RegisterOpDefinition(TF_OpDefinitionBuilder*, TF_Status*);

TF_ShapeHandle* TF_NewShapeHandle(void);
void TF_DeleteShapeHandle(TF_ShapeHandle*);
void TF_ShapeInferenceContextGetInput(TF_ShapeInferenceContext*, int i, TF_ShapeHandle*, TF_Status*);
void TF_ShapeInferenceContextSetOutput(TF_ShapeInferenceContext*, int i, TF_ShapeHandle*, TF_Status*);
void TF_ShapeInferenceContextSubshape(TF_ShapeInferenceContext*, TF_ShapeHandle*, int64_t start, int64_t end,
                                      TF_ShapeHandle* result, TF_Status*);

TF_KernelBuilder* TF_NewKernelBuilder(const char* op_name, const char* device_name,
                                      void* (*create)(TF_OpKernelConstruction*),
                                      void (*compute)(void*, TF_OpKernelContext*), void (*destroy)(void*));
void TF_RegisterKernelBuilder(const char* kernel_name, TF_KernelBuilder*, TF_Status*);
void TF_OpKernelConstruction_GetAttrFloat(TF_OpKernelConstruction*, const char* name, float* val, TF_Status*);
void TF_OpKernelConstruction_GetAttrInt64(TF_OpKernelConstruction*, const char* name, int64_t* val, TF_Status*);
void TF_OpKernelConstruction_GetAttrInt32List(TF_OpKernelConstruction*, const char* name, int32_t* vals, int max_vals,
                                              TF_Status*);
int64_t TF_ShapeInferenceContextNumInputs(TF_ShapeInferenceContext*);
typedef struct TF_DimensionHandle TF_DimensionHandle;
TF_DimensionHandle* TF_NewDimensionHandle(void);
void TF_DeleteDimensionHandle(TF_DimensionHandle*);
void TF_ShapeInferenceContextDim(TF_ShapeInferenceContext*, TF_ShapeHandle*, int64_t i, TF_DimensionHandle* result);
int64_t TF_DimensionHandleValue(TF_DimensionHandle*);
void TF_ShapeInferenceContextSetUnknownShape(TF_ShapeInferenceContext*, TF_Status*);
TF_ShapeHandle* TF_ShapeInferenceContextVectorFromSize(TF_ShapeInferenceContext*, size_t size);
void TF_ShapeInferenceContextConcatenateShapes(TF_ShapeInferenceContext*, TF_ShapeHandle* first, TF_ShapeHandle* second,
                                               TF_ShapeHandle* result, TF_Status*);
void TF_GetInput(TF_OpKernelContext*, int i, TF_Tensor**, TF_Status*);
TF_Tensor* TF_AllocateOutput(TF_OpKernelContext*, int index, int dtype, const int64_t* dims, int num_dims,
                             size_t len, TF_Status*);
void TF_OpKernelContext_Failure(TF_OpKernelContext*, TF_Status*);
int TF_NumDims(const TF_Tensor*);
int64_t TF_Dim(const TF_Tensor*, int dim_index);
int TF_TensorType(const TF_Tensor*);
void* TF_TensorData(const TF_Tensor*);
void TF_DeleteTensor(TF_Tensor*);
}

namespace {

struct Eps {
  float eps;
};

void* ln_create(TF_OpKernelConstruction* ctx) {
  Eps* a = new Eps{1e-5f};
  TF_Status* s = TF_NewStatus();
  TF_OpKernelConstruction_GetAttrFloat(ctx, "eps", &a->eps, s);
  TF_DeleteStatus(s);
  return a;
}
void ln_delete(void* p) { delete static_cast<Eps*>(p); }
void* no_state(TF_OpKernelConstruction*) { return nullptr; }
void no_delete(void*) {}

bool is_matrix(const TF_Tensor* t) { return TF_NumDims(t) == 2 && TF_TensorType(t) == TF_FLOAT_TYPE; }
bool is_vector(const TF_Tensor* t, int64_t n) {
  return TF_NumDims(t) == 1 && TF_Dim(t, 0) == n && TF_TensorType(t) == TF_FLOAT_TYPE;
}

// One kernel call's tensors: inputs fetched and outputs allocated through it, all released when it goes out of
// scope, and the first error (TensorFlow's, or ours through `fail`) reported to TensorFlow once, at the end.
struct Call {
  TF_OpKernelContext* ctx;
  TF_Status* s = TF_NewStatus();
  std::vector<TF_Tensor*> held;
  explicit Call(TF_OpKernelContext* c) : ctx(c) {}
  Call(const Call&) = delete;
  ~Call() {
    for (TF_Tensor* t : held) TF_DeleteTensor(t);
    if (!ok()) TF_OpKernelContext_Failure(ctx, s);
    TF_DeleteStatus(s);
  }
  bool ok() const { return TF_GetCode(s) == TF_OK_CODE; }
  // Input i, or nullptr once anything failed.
  TF_Tensor* in(int64_t i) {
    TF_Tensor* t = nullptr;
    if (ok()) TF_GetInput(ctx, static_cast<int>(i), &t, s);
    if (t) held.push_back(t);
    return ok() ? t : nullptr;
  }
  // Float output i of the given shape, or nullptr once anything failed.
  TF_Tensor* out(int64_t i, const int64_t* dims, int nd) {
    int64_t n = 1;
    for (int d = 0; d < nd; d++) n *= dims[d];
    TF_Tensor* t = ok() ? TF_AllocateOutput(ctx, static_cast<int>(i), TF_FLOAT_TYPE, dims, nd, n * sizeof(float), s) : nullptr;
    if (t) held.push_back(t);
    return ok() ? t : nullptr;
  }
  TF_Tensor* out(int64_t i, std::initializer_list<int64_t> dims) { return out(i, dims.begin(), static_cast<int>(dims.size())); }
  // Output i shaped like `like`.
  TF_Tensor* out_like(int64_t i, const TF_Tensor* like) {
    int64_t dims[8];
    const int nd = TF_NumDims(like);
    if (nd > 8) return fail("at most 8 dimensions"), nullptr;
    for (int d = 0; d < nd; d++) dims[d] = TF_Dim(like, d);
    return out(i, dims, nd);
  }
  // Fails the call with InvalidArgument (the first error wins); returns false for `return c.fail(...)`.
  bool fail(const char* msg) {
    if (ok()) TF_SetStatus(s, TF_INVALID_ARGUMENT_CODE, msg);
    return false;
  }
};

template <typename T = float>
T* data(const TF_Tensor* t) {
  return static_cast<T*>(TF_TensorData(t));
}

// The LayerNorm and attention loops (native/kernels.inc), compiled twice: for AVX2/FMA and for the x86-64 baseline
// (or whatever the compiler targets), the first used when the CPU has AVX2 and FMA. Sums are split over vector
// lanes and products contract into FMAs there (unlike AdamW below); a machine gives the same bits on every run.
struct AttnShape {
  int64_t B, T, H, d, D, W, Tp;
  float scale;
};
constexpr int64_t JB = 16;  // keys per block of scores (two 8-float vectors)
constexpr int64_t DMAX = 256;  // largest head width
#pragma GCC diagnostic ignored "-Wpsabi"  // 8-float vectors in inline helpers of the baseline copy
namespace kernels_base {
#pragma GCC push_options
#pragma GCC optimize("O3", "fp-contract=fast")
#include "kernels.inc"
#pragma GCC pop_options
}  // namespace kernels_base
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define INF_KERNELS_AVX2 1
namespace kernels_avx2 {
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#pragma GCC optimize("O3", "fp-contract=fast")
#include "kernels.inc"
#pragma GCC pop_options
}  // namespace kernels_avx2
#endif

bool use_avx2() {
#ifdef INF_KERNELS_AVX2
  // INFIFPO_FUSED_BASELINE=1 forces the baseline copy (tests run it on AVX2 machines too)
  static const bool yes = getenv("INFIFPO_FUSED_BASELINE") == nullptr && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return yes;
#else
  return false;
#endif
}

// KERNEL(f): the AVX2/FMA copy of kernels.inc's f where the CPU has it, else the baseline copy (same signature).
#ifdef INF_KERNELS_AVX2
#define KERNEL(f) (use_avx2() ? kernels_avx2::f : kernels_base::f)
#else
#define KERNEL(f) kernels_base::f
#endif

// part(0) and part(1), on two threads when `parallel`, else one after the other.
template <typename F>
void both_halves(bool parallel, F part) {
  if (!parallel) {
    part(0);
    part(1);
    return;
  }
  std::thread other([&] { part(1); });
  part(0);
  other.join();
}

// body(0, n) on this thread, or, when `parallel`, body(0, mid) here and body(mid, n) on a second thread.
template <typename F>
void split_range(int64_t n, int64_t mid, bool parallel, F body) {
  if (!parallel) return body(0, n);
  both_halves(true, [&](int which) { which == 0 ? body(0, mid) : body(mid, n); });
}

// Runs body(u0, u1) over the units [0, n) on two threads when there is enough work (TensorFlow's pools are not
// reachable through the C API); the split is fixed, so results do not depend on timing. Returns where the second
// thread's share began (0: one thread did all).
template <typename F>
int64_t split_units(int64_t n, int64_t work_per_unit, F body) {
  const bool parallel = n >= 2 && n * work_per_unit >= (1 << 17);
  split_range(n, n / 2, parallel, body);
  return parallel ? n / 2 : 0;
}

void ln_compute(void* kernel, TF_OpKernelContext* ctx) {
  const float eps = static_cast<Eps*>(kernel)->eps;
  Call c(ctx);
  TF_Tensor *x = c.in(0), *g = c.in(1), *b = c.in(2);
  if (!c.ok()) return;
  if (!is_matrix(x) || !is_vector(g, TF_Dim(x, 1)) || !is_vector(b, TF_Dim(x, 1)))
    return void(c.fail("InfLayerNorm: x must be float32 [N, D], g and b float32 [D]"));
  const int64_t N = TF_Dim(x, 0), D = TF_Dim(x, 1);
  TF_Tensor *y = c.out(0, {N, D}), *xh = c.out(1, {N, D}), *r = c.out(2, {N});
  if (!c.ok()) return;
  split_units(N, D, [&](int64_t i0, int64_t i1) { KERNEL(ln_forward_rows)(data(x), data(g), data(b), data(y), data(xh), data(r), D, eps, i0, i1); });
}

void ln_grad_compute(void*, TF_OpKernelContext* ctx) {
  Call c(ctx);
  TF_Tensor *dy = c.in(0), *xh = c.in(1), *r = c.in(2), *g = c.in(3);
  if (!c.ok()) return;
  if (!is_matrix(dy) || !is_matrix(xh) || TF_Dim(xh, 0) != TF_Dim(dy, 0) || TF_Dim(xh, 1) != TF_Dim(dy, 1) ||
      !is_vector(r, TF_Dim(dy, 0)) || !is_vector(g, TF_Dim(dy, 1)))
    return void(c.fail("InfLayerNormGrad: dy and xhat must be float32 [N, D], rstd [N], g [D]"));
  const int64_t N = TF_Dim(dy, 0), D = TF_Dim(dy, 1);
  TF_Tensor *dx = c.out(0, {N, D}), *dg = c.out(1, {D}), *db = c.out(2, {D});
  if (!c.ok()) return;
  float *DG = data(dg), *DB = data(db);
  // each half of the rows sums its own dg, db; the halves are added in a fixed order
  std::vector<float> part(2 * D, 0.f);
  memset(DG, 0, D * sizeof(float));
  memset(DB, 0, D * sizeof(float));
  const int64_t half = split_units(N, D, [&](int64_t i0, int64_t i1) {
    const bool second = i0 > 0;
    KERNEL(ln_backward_rows)(data(dy), data(xh), data(r), data(g), data(dx), second ? part.data() : DG, second ? part.data() + D : DB, D, i0, i1);
  });
  if (half > 0)
    for (int64_t j = 0; j < D; j++) {
      DG[j] += part[j];
      DB[j] += part[D + j];
    }
}

int64_t num_elements(const TF_Tensor* t) {
  int64_t n = 1;
  for (int d = 0; d < TF_NumDims(t); d++) n *= TF_Dim(t, d);
  return n;
}

struct AdamAttrs {
  int64_t n;
  int32_t* decay;
};

void* adam_create(TF_OpKernelConstruction* ctx) {
  AdamAttrs* a = new AdamAttrs{0, nullptr};
  TF_Status* s = TF_NewStatus();
  TF_OpKernelConstruction_GetAttrInt64(ctx, "N", &a->n, s);
  a->decay = new int32_t[a->n > 0 ? a->n : 1]();
  if (TF_GetCode(s) == TF_OK_CODE) TF_OpKernelConstruction_GetAttrInt32List(ctx, "decay", a->decay, static_cast<int>(a->n), s);
  TF_DeleteStatus(s);
  return a;
}
void adam_delete(void* p) {
  AdamAttrs* a = static_cast<AdamAttrs*>(p);
  delete[] a->decay;
  delete a;
}

// One tensor's update, elements [i0, i1). Compiled with -ffp-contract=off and without fast-math, so every product,
// sum, square root and quotient rounds on its own as in tfjs — also in the vectorised loop -O3 makes of it.
#pragma GCC push_options
#pragma GCC optimize("O3")
void adam_update(const float* P, const float* G, const float* M, const float* V, const float* h, bool decay,
                 float* P1, float* M1, float* V1, int64_t i0, int64_t i1) {
  const float b1 = h[0], omb1 = h[1], b2 = h[2], omb2 = h[3], eps = h[4], bc2 = h[5], step = h[6], df = h[7], gs = h[8];
  for (int64_t i = i0; i < i1; i++) {
    const float g = G[i] * gs;
    const float m = M[i] * b1 + g * omb1;
    const float gg = g * g;
    const float v = V[i] * b2 + gg * omb2;
    const float theta = decay ? P[i] * df : P[i];
    const float denom = sqrtf(v) / bc2 + eps;
    const float upd = (m / denom) * step;
    M1[i] = m;
    V1[i] = v;
    P1[i] = theta - upd;
  }
}
#pragma GCC pop_options

void adam_compute(void* kernel, TF_OpKernelContext* ctx) {
  const AdamAttrs* a = static_cast<AdamAttrs*>(kernel);
  const int64_t N = a->n;
  Call c(ctx);
  TF_Tensor* h = c.in(4 * N);
  if (!c.ok()) return;
  if (TF_NumDims(h) != 1 || TF_Dim(h, 0) != 9) return void(c.fail("InfAdamW: h must be float32 [9]"));
  // all inputs read and outputs allocated here; then the element-wise update runs over two threads, each taking one
  // half of every tensor (same bits as one thread)
  std::vector<TF_Tensor*> in(4 * N, nullptr), out(3 * N, nullptr);
  std::vector<int64_t> sizes(N, 0);
  int64_t total = 0;
  for (int64_t k = 0; k < N && c.ok(); k++) {
    for (int64_t j = 0; j < 4; j++) in[j * N + k] = c.in(j * N + k);
    if (!c.ok()) return;
    sizes[k] = num_elements(in[k]);
    for (int64_t j = 1; j < 4; j++)
      if (num_elements(in[j * N + k]) != sizes[k]) return void(c.fail("InfAdamW: p, g, m, v differ in size"));
    for (int64_t j = 0; j < 3; j++) out[j * N + k] = c.out_like(j * N + k, in[k]);
    total += sizes[k];
  }
  if (!c.ok()) return;
  const float* H = data(h);
  auto part = [&](int which) {
    for (int64_t k = 0; k < N; k++) {
      const int64_t mid = (sizes[k] / 2) & ~int64_t(7);
      const int64_t i0 = which == 0 ? 0 : mid, i1 = which == 0 ? mid : sizes[k];
      adam_update(data(in[k]), data(in[N + k]), data(in[2 * N + k]), data(in[3 * N + k]), H, a->decay[k] != 0, data(out[k]),
                  data(out[N + k]), data(out[2 * N + k]), i0, i1);
    }
  };
  both_halves(total >= (1 << 16), part);
}


// ---- log-softmax at the targets ---------------------------------------------------------------------------------

// Checks logits [N, V] float32 and targets [N] int32 with every id in [0, V); returns an error message or nullptr.
const char* check_targets(const TF_Tensor* x, const TF_Tensor* t) {
  if (!is_matrix(x) || TF_NumDims(t) != 1 || TF_TensorType(t) != TF_INT32_TYPE || TF_Dim(t, 0) != TF_Dim(x, 0))
    return "InfTargetLogProb: logits must be float32 [N, V] and targets int32 [N]";
  const int32_t* T = static_cast<const int32_t*>(TF_TensorData(t));
  const int64_t V = TF_Dim(x, 1);
  for (int64_t i = 0; i < TF_Dim(t, 0); i++)
    if (T[i] < 0 || T[i] >= V) return "InfTargetLogProb: a target id is outside [0, V)";
  return nullptr;
}

// InfTargetLogProb(logits [N, V], targets [N]) -> lp [N], lse [N]
void tlp_compute(void*, TF_OpKernelContext* ctx) {
  Call c(ctx);
  TF_Tensor *x = c.in(0), *t = c.in(1);
  if (!c.ok()) return;
  if (const char* err = check_targets(x, t)) return void(c.fail(err));
  const int64_t N = TF_Dim(x, 0), V = TF_Dim(x, 1);
  TF_Tensor *lp = c.out(0, {N}), *lse = c.out(1, {N});
  if (!c.ok()) return;
  split_units(N, V, [&](int64_t i0, int64_t i1) { KERNEL(target_logprob_rows)(data(x), data<int32_t>(t), data(lp), data(lse), V, i0, i1); });
}

// InfTargetLogProbGrad(dlp [N], logits [N, V], targets [N], lse [N]) -> dlogits [N, V]
void tlp_grad_compute(void*, TF_OpKernelContext* ctx) {
  Call c(ctx);
  TF_Tensor *dlp = c.in(0), *x = c.in(1), *t = c.in(2), *lse = c.in(3);
  if (!c.ok()) return;
  if (const char* err = check_targets(x, t)) return void(c.fail(err));
  if (!is_vector(dlp, TF_Dim(x, 0)) || !is_vector(lse, TF_Dim(x, 0))) return void(c.fail("InfTargetLogProbGrad: dlp and lse must be float32 [N]"));
  const int64_t N = TF_Dim(x, 0), V = TF_Dim(x, 1);
  TF_Tensor* dx = c.out(0, {N, V});
  if (!c.ok()) return;
  split_units(N, V, [&](int64_t i0, int64_t i1) { KERNEL(target_logprob_grad_rows)(data(dlp), data(x), data<int32_t>(t), data(lse), data(dx), V, i0, i1); });
}

// ---- squared global norm ---------------------------------------------------------------------------------------

struct CountAttr {
  int64_t n;
};
void* count_create(TF_OpKernelConstruction* ctx) {
  CountAttr* a = new CountAttr{0};
  TF_Status* s = TF_NewStatus();
  TF_OpKernelConstruction_GetAttrInt64(ctx, "N", &a->n, s);
  TF_DeleteStatus(s);
  return a;
}
void count_delete(void* p) { delete static_cast<CountAttr*>(p); }

// InfSquaredNorm(x: N float tensors) -> Σ_k Σ_i x_k[i]² (a scalar). Each tensor's two halves are summed on two threads
// and added in a fixed order (first half + second half, tensors in order), so the result does not depend on timing.
void sqnorm_compute(void* kernel, TF_OpKernelContext* ctx) {
  const int64_t N = static_cast<CountAttr*>(kernel)->n;
  Call c(ctx);
  std::vector<TF_Tensor*> in(N, nullptr);
  int64_t total = 0;
  for (int64_t k = 0; k < N && c.ok(); k++) {
    in[k] = c.in(k);
    if (in[k]) total += num_elements(in[k]);
  }
  TF_Tensor* out = c.out(0, {});
  if (!c.ok()) return;
  std::vector<float> parts(2 * N, 0.f);
  auto part = [&](int which) {
    for (int64_t k = 0; k < N; k++) {
      const int64_t n = num_elements(in[k]), mid = (n / 2) & ~int64_t(15);
      parts[2 * k + which] = KERNEL(sum_squares)(data(in[k]), which == 0 ? 0 : mid, which == 0 ? mid : n);
    }
  };
  both_halves(total >= (1 << 16), part);
  float sum = 0.f;
  for (int64_t k = 0; k < N; k++) sum += parts[2 * k] + parts[2 * k + 1];
  *data(out) = sum;
}

// ---- GELU ------------------------------------------------------------------------------------------------------

// Splits [0, n) into two halves at a multiple of 8 (the vector loops' step) when there is enough work.
template <typename F>
void split_elements(int64_t n, F body) {
  split_range(n, (n / 2) & ~int64_t(7), n >= (1 << 15), body);
}

// InfGelu(x) -> y and InfGeluGrad(dy, x) -> dx, any shape (dy and x alike).
void gelu_compute(void*, TF_OpKernelContext* ctx) {
  Call c(ctx);
  TF_Tensor* x = c.in(0);
  if (!c.ok()) return;
  if (TF_TensorType(x) != TF_FLOAT_TYPE) return void(c.fail("InfGelu: x must be float32"));
  TF_Tensor* y = c.out_like(0, x);
  if (!c.ok()) return;
  split_elements(num_elements(x), [&](int64_t i0, int64_t i1) { KERNEL(gelu_forward_range)(data(x), data(y), i0, i1); });
}

void gelu_grad_compute(void*, TF_OpKernelContext* ctx) {
  Call c(ctx);
  TF_Tensor *dy = c.in(0), *x = c.in(1);
  if (!c.ok()) return;
  if (TF_TensorType(x) != TF_FLOAT_TYPE || TF_TensorType(dy) != TF_FLOAT_TYPE || num_elements(x) != num_elements(dy))
    return void(c.fail("InfGeluGrad: dy and x must be float32 of one shape"));
  TF_Tensor* dx = c.out_like(0, x);
  if (!c.ok()) return;
  split_elements(num_elements(x), [&](int64_t i0, int64_t i1) { KERNEL(gelu_backward_range)(data(dy), data(x), data(dx), i0, i1); });
}

// ---- causal self-attention ----------------------------------------------------------------------------------

struct AttnAttrs {
  int64_t T, H;
};

void* attn_create(TF_OpKernelConstruction* ctx) {
  AttnAttrs* a = new AttnAttrs{0, 0};
  TF_Status* s = TF_NewStatus();
  TF_OpKernelConstruction_GetAttrInt64(ctx, "T", &a->T, s);
  if (TF_GetCode(s) == TF_OK_CODE) TF_OpKernelConstruction_GetAttrInt64(ctx, "H", &a->H, s);
  TF_DeleteStatus(s);
  return a;
}
void attn_delete(void* p) { delete static_cast<AttnAttrs*>(p); }

// Checks qkv [B·T, 3D] against the attributes; fills the shape. Returns an error message or nullptr.
const char* attn_shape(const AttnAttrs* a, const TF_Tensor* qkv, AttnShape* g) {
  if (!is_matrix(qkv) || a->T < 1 || a->H < 1 || TF_Dim(qkv, 0) % a->T != 0 || TF_Dim(qkv, 1) % (3 * a->H) != 0)
    return "InfCausalAttention: qkv must be float32 [B·T, 3D] with D divisible by H";
  g->T = a->T;
  g->H = a->H;
  g->B = TF_Dim(qkv, 0) / a->T;
  g->W = TF_Dim(qkv, 1);
  g->D = g->W / 3;
  g->d = g->D / a->H;
  if (g->d > DMAX) return "InfCausalAttention: head width above 256";
  g->Tp = (a->T + JB - 1) / JB * JB;
  g->scale = 1.f / sqrtf(static_cast<float>(g->d));
  return nullptr;
}

void attn_compute(void* kernel, TF_OpKernelContext* ctx) {
  const AttnAttrs* a = static_cast<AttnAttrs*>(kernel);
  Call c(ctx);
  TF_Tensor* qkv = c.in(0);
  AttnShape g;
  if (!c.ok()) return;
  if (const char* err = attn_shape(a, qkv, &g)) return void(c.fail(err));
  TF_Tensor *y = c.out(0, {g.B * g.T, g.D}), *lse = c.out(1, {g.B * g.H * g.T});
  if (!c.ok()) return;
  split_units(g.B * g.H, g.T * g.T * g.d, [&](int64_t u0, int64_t u1) { KERNEL(attn_forward_units)(g, data(qkv), data(y), data(lse), u0, u1); });
}

void attn_grad_compute(void* kernel, TF_OpKernelContext* ctx) {
  const AttnAttrs* a = static_cast<AttnAttrs*>(kernel);
  Call c(ctx);
  TF_Tensor *dy = c.in(0), *qkv = c.in(1), *y = c.in(2), *lse = c.in(3);
  AttnShape g;
  if (!c.ok()) return;
  if (const char* err = attn_shape(a, qkv, &g)) return void(c.fail(err));
  if (!is_matrix(dy) || !is_matrix(y) || TF_Dim(dy, 0) != g.B * g.T || TF_Dim(dy, 1) != g.D || TF_Dim(y, 0) != g.B * g.T ||
      TF_Dim(y, 1) != g.D || !is_vector(lse, g.B * g.H * g.T))
    return void(c.fail("InfCausalAttentionGrad: dy and y must be float32 [B·T, D], lse [B·H·T]"));
  TF_Tensor* dqkv = c.out(0, {g.B * g.T, g.W});
  if (!c.ok()) return;
  split_units(g.B * g.H, 2 * g.T * g.T * g.d,
              [&](int64_t u0, int64_t u1) { KERNEL(attn_backward_units)(g, data(dy), data(qkv), data(y), data(lse), data(dqkv), u0, u1); });
}

void copy_shape(TF_ShapeInferenceContext* ctx, int in, int out, TF_Status* s) {
  TF_ShapeHandle* h = TF_NewShapeHandle();
  TF_ShapeInferenceContextGetInput(ctx, in, h, s);
  if (TF_GetCode(s) == TF_OK_CODE) TF_ShapeInferenceContextSetOutput(ctx, out, h, s);
  TF_DeleteShapeHandle(h);
}

void ln_shapes(TF_ShapeInferenceContext* ctx, TF_Status* s) {
  copy_shape(ctx, 0, 0, s);
  if (TF_GetCode(s) == TF_OK_CODE) copy_shape(ctx, 0, 1, s);
  if (TF_GetCode(s) != TF_OK_CODE) return;
  TF_ShapeHandle* x = TF_NewShapeHandle();
  TF_ShapeHandle* rows = TF_NewShapeHandle();
  TF_ShapeInferenceContextGetInput(ctx, 0, x, s);
  if (TF_GetCode(s) == TF_OK_CODE) TF_ShapeInferenceContextSubshape(ctx, x, 0, 1, rows, s);
  if (TF_GetCode(s) == TF_OK_CODE) TF_ShapeInferenceContextSetOutput(ctx, 2, rows, s);
  TF_DeleteShapeHandle(x);
  TF_DeleteShapeHandle(rows);
}

// outputs j·N + k take the shape of input k (p_k)
void adam_shapes(TF_ShapeInferenceContext* ctx, TF_Status* s) {
  const int64_t n = (TF_ShapeInferenceContextNumInputs(ctx) - 1) / 4;
  for (int64_t j = 0; j < 3; j++)
    for (int64_t k = 0; k < n && TF_GetCode(s) == TF_OK_CODE; k++) copy_shape(ctx, static_cast<int>(k), static_cast<int>(j * n + k), s);
}

void ln_grad_shapes(TF_ShapeInferenceContext* ctx, TF_Status* s) {
  copy_shape(ctx, 0, 0, s);
  if (TF_GetCode(s) == TF_OK_CODE) copy_shape(ctx, 3, 1, s);
  if (TF_GetCode(s) == TF_OK_CODE) copy_shape(ctx, 3, 2, s);
}


// y [N, W/3] from qkv [N, W] (N may be unknown: reshape targets are fed); lse's shape is left unknown
void attn_shapes(TF_ShapeInferenceContext* ctx, TF_Status* s) {
  TF_ShapeHandle* qkv = TF_NewShapeHandle();
  TF_ShapeHandle* rows = TF_NewShapeHandle();
  TF_ShapeHandle* y = TF_NewShapeHandle();
  TF_DimensionHandle* dw = TF_NewDimensionHandle();
  TF_ShapeInferenceContextGetInput(ctx, 0, qkv, s);
  if (TF_GetCode(s) == TF_OK_CODE) {
    TF_ShapeInferenceContextDim(ctx, qkv, 1, dw);
    const int64_t W = TF_DimensionHandleValue(dw);
    if (W < 0) {
      TF_ShapeInferenceContextSetUnknownShape(ctx, s);  // rows may be unknown too (a fed reshape target)
    } else {
      TF_ShapeHandle* cols = TF_ShapeInferenceContextVectorFromSize(ctx, static_cast<size_t>(W / 3));
      TF_ShapeInferenceContextSubshape(ctx, qkv, 0, 1, rows, s);
      if (TF_GetCode(s) == TF_OK_CODE) TF_ShapeInferenceContextConcatenateShapes(ctx, rows, cols, y, s);
      if (TF_GetCode(s) == TF_OK_CODE) TF_ShapeInferenceContextSetOutput(ctx, 0, y, s);
      TF_DeleteShapeHandle(cols);
    }
  }
  TF_DeleteDimensionHandle(dw);
  TF_DeleteShapeHandle(qkv);
  TF_DeleteShapeHandle(rows);
  TF_DeleteShapeHandle(y);
}

void attn_grad_shapes(TF_ShapeInferenceContext* ctx, TF_Status* s) { copy_shape(ctx, 1, 0, s); }
void gelu_shapes(TF_ShapeInferenceContext* ctx, TF_Status* s) { copy_shape(ctx, 0, 0, s); }
void scalar_shape(TF_ShapeInferenceContext* ctx, TF_Status* s) {
  TF_ShapeHandle* none = TF_NewShapeHandle();
  TF_ShapeHandle* any = TF_NewShapeHandle();
  TF_ShapeInferenceContextGetInput(ctx, 0, any, s);
  if (TF_GetCode(s) == TF_OK_CODE) TF_ShapeInferenceContextSubshape(ctx, any, 0, 0, none, s);  // rank 0
  if (TF_GetCode(s) == TF_OK_CODE) TF_ShapeInferenceContextSetOutput(ctx, 0, none, s);
  TF_DeleteShapeHandle(none);
  TF_DeleteShapeHandle(any);
}
void tlp_shapes(TF_ShapeInferenceContext* ctx, TF_Status* s) {
  copy_shape(ctx, 1, 0, s);
  if (TF_GetCode(s) == TF_OK_CODE) copy_shape(ctx, 1, 1, s);
}
void tlp_grad_shapes(TF_ShapeInferenceContext* ctx, TF_Status* s) { copy_shape(ctx, 1, 0, s); }
void gelu_grad_shapes(TF_ShapeInferenceContext* ctx, TF_Status* s) { copy_shape(ctx, 1, 0, s); }

// One op definition ("name", attribute / input / output specs, shape function) and its CPU kernel ("nameCPU").
struct OpSpec {
  const char* name;
  std::initializer_list<const char*> attrs, inputs, outputs;
  void (*shapes)(TF_ShapeInferenceContext*, TF_Status*);
  void* (*create)(TF_OpKernelConstruction*);
  void (*compute)(void*, TF_OpKernelContext*);
  void (*destroy)(void*);
};

void register_op(const OpSpec& spec, TF_Status* s) {
  TF_OpDefinitionBuilder* op = TF_NewOpDefinitionBuilder(spec.name);
  for (const char* a : spec.attrs) TF_OpDefinitionBuilderAddAttr(op, a);
  for (const char* in : spec.inputs) TF_OpDefinitionBuilderAddInput(op, in);
  for (const char* out : spec.outputs) TF_OpDefinitionBuilderAddOutput(op, out);
  TF_OpDefinitionBuilderSetShapeInferenceFunction(op, spec.shapes);
  TF_RegisterOpDefinition(op, s);
  const std::string kernel = std::string(spec.name) + "CPU";
  TF_RegisterKernelBuilder(kernel.c_str(), TF_NewKernelBuilder(spec.name, "CPU", spec.create, spec.compute, spec.destroy), s);
}

__attribute__((constructor)) void register_ops() {
  TF_Status* s = TF_NewStatus();
  register_op({"InfLayerNorm", {"eps: float"}, {"x: float", "g: float", "b: float"}, {"y: float", "xhat: float", "rstd: float"},
               ln_shapes, ln_create, ln_compute, ln_delete}, s);
  register_op({"InfLayerNormGrad", {}, {"dy: float", "xhat: float", "rstd: float", "g: float"}, {"dx: float", "dg: float", "db: float"},
               ln_grad_shapes, no_state, ln_grad_compute, no_delete}, s);
  register_op({"InfAdamW", {"N: int >= 1", "decay: list(int)"}, {"p: N * float", "g: N * float", "m: N * float", "v: N * float", "h: float"},
               {"p_out: N * float", "m_out: N * float", "v_out: N * float"}, adam_shapes, adam_create, adam_compute, adam_delete}, s);
  register_op({"InfSquaredNorm", {"N: int >= 1"}, {"x: N * float"}, {"sq: float"}, scalar_shape, count_create, sqnorm_compute,
               count_delete}, s);
  register_op({"InfTargetLogProb", {}, {"logits: float", "targets: int32"}, {"lp: float", "lse: float"}, tlp_shapes, no_state,
               tlp_compute, no_delete}, s);
  register_op({"InfTargetLogProbGrad", {}, {"dlp: float", "logits: float", "targets: int32", "lse: float"}, {"dlogits: float"},
               tlp_grad_shapes, no_state, tlp_grad_compute, no_delete}, s);
  register_op({"InfGelu", {}, {"x: float"}, {"y: float"}, gelu_shapes, no_state, gelu_compute, no_delete}, s);
  register_op({"InfGeluGrad", {}, {"dy: float", "x: float"}, {"dx: float"}, gelu_grad_shapes, no_state, gelu_grad_compute, no_delete}, s);
  register_op({"InfCausalAttention", {"T: int >= 1", "H: int >= 1"}, {"qkv: float"}, {"y: float", "lse: float"}, attn_shapes,
               attn_create, attn_compute, attn_delete}, s);
  register_op({"InfCausalAttentionGrad", {"T: int >= 1", "H: int >= 1"}, {"dy: float", "qkv: float", "y: float", "lse: float"},
               {"dqkv: float"}, attn_grad_shapes, attn_create, attn_grad_compute, attn_delete}, s);
  TF_DeleteStatus(s);
}

}  // namespace

extern "C" __attribute__((visibility("default"))) void* napi_register_module_v1(void*, void* exports) { return exports; }
