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

// erf: Taylor series near 0 (relative accuracy), Abramowitz-Stegun 7.1.26 beyond (|error| < 1.5e-7).
fn erf_f32(x: f32) -> f32 {
  let a = abs(x);
  if (a < 0.5) {
    let x2 = x * x;
    return 1.1283791671 * x * (1.0 + x2 * (-0.3333333333 + x2 * (0.1 + x2 * (-0.0238095238 + x2 * 0.0046296296))));
  }
  let t = 1.0 / (1.0 + 0.3275911 * a);
  let p = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  return sign(x) * (1.0 - p * exp(-a * a));
}

// tanh saturates at |x| > 15 in f32; clamping keeps exp-based implementations from overflowing.
fn tanh_f32(x: f32) -> f32 { return tanh(clamp(x, -15.0, 15.0)); }
`;
