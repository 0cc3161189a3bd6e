/**
 * WGSL helpers every kernel may call. Conversions are written out in integer arithmetic because
 * WGSL leaves the rounding of f32 -> f16 to the implementation, and the Backend contract asks for
 * round-to-nearest-even; NaN tests use bits because compilers may fold `x != x` away.
 */
export const WGSL_LIB = /* wgsl */ `
// Infinity and NaN come from a private variable: WGSL rejects constant expressions that overflow.
var<private> INF_BITS: u32 = 0x7f800000u;
fn pos_inf() -> f32 { return bitcast<f32>(INF_BITS); }
fn neg_inf() -> f32 { return -bitcast<f32>(INF_BITS); }
fn nan_f32() -> f32 { return bitcast<f32>(INF_BITS | 0x400000u); }

fn is_nan(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }

fn f32_to_i32(x: f32) -> i32 { return select(i32(x), 0, is_nan(x)); }

fn f32_to_bf16(f: f32) -> u32 {
  let x = bitcast<u32>(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) { return ((x >> 16u) & 0x8000u) | 0x7fc0u; }
  return ((x + 0x7fffu + ((x >> 16u) & 1u)) >> 16u) & 0xffffu;
}

fn f32_to_f16(f: f32) -> u32 {
  let x = bitcast<u32>(f);
  let sign = (x >> 16u) & 0x8000u;
  let ax = x & 0x7fffffffu;
  if (ax > 0x7f800000u) { return sign | 0x7e00u; }
  if (ax >= 0x477ff000u) { return sign | 0x7c00u; }
  if (ax < 0x38800000u) {
    if (ax <= 0x33000000u) { return sign; }
    let e = ax >> 23u;
    let m = (ax & 0x7fffffu) | 0x800000u;
    let s = 126u - e;
    let q = m >> s;
    let rem = m & ((1u << s) - 1u);
    let half = 1u << (s - 1u);
    return sign | select(q, q + 1u, rem > half || (rem == half && (q & 1u) == 1u));
  }
  return sign | (((ax + 0x0fffu + ((ax >> 13u) & 1u)) - 0x38000000u) >> 13u);
}

// NaN-propagating max/min, like Math.max and torch.maximum.
fn max_nan(a: f32, b: f32) -> f32 { return select(max(a, b), a + b, is_nan(a) || is_nan(b)); }
fn min_nan(a: f32, b: f32) -> f32 { return select(min(a, b), a + b, is_nan(a) || is_nan(b)); }

// Math.pow's special cases: negative bases with integer exponents, 0^negative = Infinity.
fn pow_f32(x: f32, y: f32) -> f32 {
  if (y == 0.0) { return 1.0; }
  if (is_nan(x) || is_nan(y)) { return x + y; }
  if (x == 0.0) {
    if (y > 0.0) { return select(0.0, x, fract(y * 0.5) != 0.0 && fract(y) == 0.0); }
    return select(pos_inf(), 1.0 / x, fract(y * 0.5) != 0.0 && fract(y) == 0.0);
  }
  let m = exp2(y * log2(abs(x)));
  if (x > 0.0) { return m; }
  if (fract(y) != 0.0) { return nan_f32(); }
  return select(m, -m, fract(y * 0.5) != 0.0);
}

fn pow_i32(x: i32, y: i32) -> i32 {
  if (y < 0) {
    if (x == 1) { return 1; }
    if (x == -1) { return select(1, -1, (y & 1) != 0); }
    return 0;
  }
  var r = 1;
  var b = x;
  var e = u32(y);
  loop {
    if (e == 0u) { break; }
    if ((e & 1u) != 0u) { r = r * b; }
    b = b * b;
    e = e >> 1u;
  }
  return r;
}

// Integer division truncates; division by zero gives 0 (the CPU backend's Math.trunc(x / 0) | 0).
fn div_i32(a: i32, b: i32) -> i32 { return select(a / b, 0, b == 0); }

// erf as the CPU backend computes it (~1e-7 absolute): Maclaurin series for |x| < 1, else
// 1 - erfc with Numerical Recipes' Chebyshev-fitted erfc.
fn erf_f32(x: f32) -> f32 {
  let a = abs(x);
  if (a < 1.0) {
    let x2 = x * x;
    let s = (((((((((((-1.0892221037e-9) * x2 + 1.3122532964e-8) * x2 + -1.4503852223e-7) * x2 + 1.4589169001e-6) * x2 + -1.3227513228e-5) * x2 + 1.0683760684e-4) * x2 + -7.5757575758e-4) * x2 + 4.6296296296e-3) * x2 + -2.3809523810e-2) * x2 + 1.0000000000e-1) * x2 + -3.3333333333e-1) * x2 + 1.0000000000e+0;
    return 1.1283791671 * x * s;
  }
  if (is_nan(x)) { return x; }
  let t = 1.0 / (1.0 + 0.5 * a);
  let erfc = t * exp(-a * a - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 +
    t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
  return select(erfc - 1.0, 1.0 - erfc, x >= 0.0);
}

// log and sqrt outside their domain: some drivers (SwiftShader) return finite values there.
fn log_f32(x: f32) -> f32 {
  if (x == 0.0) { return neg_inf(); }
  if (x < 0.0 || is_nan(x)) { return nan_f32(); }
  if (x == pos_inf()) { return x; }
  return log(x);
}
fn sqrt_f32(x: f32) -> f32 { return select(sqrt(x), nan_f32(), x < 0.0 || is_nan(x)); }

// sin/cos (Cephes sinf/cosf): WGSL only promises 2^-11 absolute error on [-pi, pi], and rotary
// embeddings take sines of positions in the thousands, so reduce the argument ourselves.
fn sincos_reduce(ax: f32) -> vec2<f32> {
  var j = u32(ax * 1.27323954473516);
  var y = f32(j);
  if ((j & 1u) == 1u) { j += 1u; y += 1.0; }
  let z = ((ax - y * 0.78515625) - y * 2.4187564849853515625e-4) - y * 3.77489497744594108e-8;
  return vec2<f32>(z, f32(j & 7u));
}
fn sin_poly(z: f32) -> f32 {
  let zz = z * z;
  return ((-1.9515295891e-4 * zz + 8.3321608736e-3) * zz - 1.6666654611e-1) * zz * z + z;
}
fn cos_poly(z: f32) -> f32 {
  let zz = z * z;
  return ((2.443315711809948e-5 * zz - 1.388731625493765e-3) * zz + 4.166664568298827e-2) * zz * zz - 0.5 * zz + 1.0;
}
fn sin_f32(x: f32) -> f32 {
  if (is_nan(x) || abs(x) == pos_inf()) { return nan_f32(); }
  let r = sincos_reduce(abs(x));
  var j = u32(r.y);
  var s = select(1.0, -1.0, x < 0.0);
  if (j > 3u) { s = -s; j -= 4u; }
  return s * select(sin_poly(r.x), cos_poly(r.x), j == 1u || j == 2u);
}
fn cos_f32(x: f32) -> f32 {
  if (is_nan(x) || abs(x) == pos_inf()) { return nan_f32(); }
  let r = sincos_reduce(abs(x));
  var j = u32(r.y);
  var s = 1.0;
  if (j > 3u) { s = -s; j -= 4u; }
  if (j > 1u) { s = -s; }
  return s * select(cos_poly(r.x), sin_poly(r.x), j == 1u || j == 2u);
}

// tanh saturates at |x| > 15 in f32; clamping keeps exp-based implementations from overflowing.
fn tanh_f32(x: f32) -> f32 { return tanh(clamp(x, -15.0, 15.0)); }

// Activation backwards in one pass (FusedKernels.activationGrad), g * f'(x). 1 - s is taken as
// e s (e = e^(-z), s = 1 / (1 + e)) so it keeps its precision where s is near 1; x is clamped
// where f' is already 0 or 1 to f32 and e would overflow further out.
fn gelu_tanh_grad(x: f32, g: f32) -> f32 {
  let v = clamp(x, -9.0, 9.0);
  let e = exp(-1.5957691216057308 * v * (1.0 + 0.044715 * v * v));
  let s = 1.0 / (1.0 + e);
  return g * s * (1.0 + v * e * s * 1.5957691216057308 * (1.0 + 0.134145 * v * v));
}
fn gelu_grad(x: f32, g: f32) -> f32 {
  return g * (0.5 * (1.0 + erf_f32(x * 0.70710678118654752)) + x * exp(-0.5 * x * x) * 0.3989422804014327);
}
fn silu_grad(x: f32, g: f32) -> f32 {
  let v = clamp(x, -80.0, 80.0);
  let e = exp(-v);
  let s = 1.0 / (1.0 + e);
  return g * s * (1.0 + v * e * s);
}
`;
