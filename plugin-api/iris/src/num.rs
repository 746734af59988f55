//! ObjectScript numbers: decimal values, string-to-number conversion and canonical form.
//!
//! Rule conditions and DTL expressions compile to ObjectScript, where every value is a string
//! and arithmetic works on the string's *numeric prefix* (`"3a"` is 3, `"abc"` is 0, `""` is 0,
//! `"  5"` is 0). Results print in canonical form (`4.10` → `4.1`, `0.5` → `.5`, `-0.5` →
//! `-.5`, `140.0` → `140`). Arithmetic is decimal, so `0.1+0.2=0.3` holds.
//!
//! # Invariants
//!
//! - A [`Num`] is `mant × 10^exp` with `mant` holding at most [`DIGITS`] significant digits
//!   and no trailing zero (zero is `0 × 10^0`); so equal values have equal representations.
//! - No operation panics or overflows: results that cannot be represented are rounded to
//!   [`DIGITS`] digits, exponents saturate, and division by zero is an error.

use std::cmp::Ordering;
use std::fmt;

/// Significant decimal digits kept (ObjectScript keeps about 18).
pub const DIGITS: u32 = 19;

/// Largest exponent magnitude kept; beyond it values saturate (ObjectScript's limit is 145).
const MAX_EXP: i32 = 400;

/// A decimal number as ObjectScript computes with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Num {
    mant: i128,
    exp: i32,
}

/// Arithmetic that has no result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NumError {
    /// Division (or integer division, or modulo) by zero: ObjectScript's `<DIVIDE>`.
    #[error("<DIVIDE>: division by zero")]
    DivideByZero,
}

fn pow10(n: u32) -> i128 {
    10i128.checked_pow(n).unwrap_or(i128::MAX)
}

fn digit_count(mut m: i128) -> u32 {
    let mut n = 0;
    while m != 0 {
        m /= 10;
        n += 1;
    }
    n
}

/// Divides `m` by `10^k`, rounding half away from zero.
fn shift_round(m: i128, k: u32) -> i128 {
    if k == 0 {
        return m;
    }
    if k > 38 {
        return 0;
    }
    let d = pow10(k);
    let q = m / d;
    let r = (m % d).abs();
    if r * 2 >= d { q + m.signum() } else { q }
}

impl Num {
    /// Zero.
    pub const ZERO: Num = Num { mant: 0, exp: 0 };
    /// One.
    pub const ONE: Num = Num { mant: 1, exp: 0 };

    /// `mant × 10^exp`, normalised.
    pub fn new(mant: i128, exp: i32) -> Num {
        let mut n = Num { mant, exp };
        n.normalise();
        n
    }

    /// An integer.
    pub fn from_i64(v: i64) -> Num {
        Num::new(i128::from(v), 0)
    }

    fn normalise(&mut self) {
        if self.mant == 0 {
            self.exp = 0;
            return;
        }
        let digits = digit_count(self.mant);
        if digits > DIGITS {
            let k = digits - DIGITS;
            self.mant = shift_round(self.mant, k);
            self.exp = self.exp.saturating_add(k as i32);
        }
        while self.mant != 0 && self.mant % 10 == 0 {
            self.mant /= 10;
            self.exp = self.exp.saturating_add(1);
        }
        if self.exp > MAX_EXP {
            self.exp = MAX_EXP;
        }
        if self.exp < -MAX_EXP {
            *self = Num::ZERO;
        }
    }

    /// True for zero.
    pub fn is_zero(&self) -> bool {
        self.mant == 0
    }

    /// Reads the longest numeric prefix of `s` (ObjectScript's conversion of a string to a
    /// number): any number of leading `+`/`-` signs, digits, an optional `.` and digits, an
    /// optional exponent `E`/`e` with sign and digits. Anything else ends the number; no digits
    /// at all give 0.
    pub fn parse_prefix(s: &str) -> Num {
        Num::parse_prefix_len(s).0
    }

    /// [`Num::parse_prefix`] and how many bytes of `s` the number used.
    pub fn parse_prefix_len(s: &str) -> (Num, usize) {
        let b = s.as_bytes();
        let mut i = 0;
        let mut negative = false;
        while i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            negative ^= b[i] == b'-';
            i += 1;
        }
        let mut mant: i128 = 0;
        let mut exp: i32 = 0;
        let mut digits = 0u32;
        let mut any = false;
        while i < b.len() && b[i].is_ascii_digit() {
            any = true;
            push_digit(&mut mant, &mut exp, &mut digits, b[i], false);
            i += 1;
        }
        if i < b.len() && b[i] == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
            i += 1;
            while i < b.len() && b[i].is_ascii_digit() {
                any = true;
                push_digit(&mut mant, &mut exp, &mut digits, b[i], true);
                i += 1;
            }
        }
        if !any {
            return (Num::ZERO, 0);
        }
        if i < b.len() && (b[i] == b'E' || b[i] == b'e') {
            let mut j = i + 1;
            let mut eneg = false;
            if j < b.len() && (b[j] == b'+' || b[j] == b'-') {
                eneg = b[j] == b'-';
                j += 1;
            }
            if j < b.len() && b[j].is_ascii_digit() {
                let mut e: i32 = 0;
                while j < b.len() && b[j].is_ascii_digit() {
                    e = e.saturating_mul(10).saturating_add(i32::from(b[j] - b'0'));
                    j += 1;
                }
                exp = exp.saturating_add(if eneg { -e } else { e });
                i = j;
            }
        }
        let n = Num::new(if negative { -mant } else { mant }, exp);
        (n, i)
    }

    /// True when all of `s` is a number in canonical form (what `+s=s` tests in ObjectScript).
    pub fn is_canonical(s: &str) -> bool {
        Num::parse_prefix(s).to_string() == s
    }

    fn sum(self, o: Num) -> Num {
        if self.is_zero() {
            return o;
        }
        if o.is_zero() {
            return self;
        }
        let (hi, lo) = if self.exp >= o.exp { (self, o) } else { (o, self) };
        let diff = (hi.exp - lo.exp) as u32;
        if diff > DIGITS + 2 {
            // The smaller addend is below the precision of the larger one.
            return hi;
        }
        // An overflow means the smaller addend lies below the larger one's precision.
        match hi.mant.checked_mul(pow10(diff)).and_then(|scaled| scaled.checked_add(lo.mant)) {
            Some(sum) => Num::new(sum, lo.exp),
            None => hi,
        }
    }

    fn product(self, o: Num) -> Num {
        Num::new(self.mant * o.mant, self.exp.saturating_add(o.exp))
    }

    /// Quotient, to [`DIGITS`] significant digits.
    pub fn checked_div(self, o: Num) -> Result<Num, NumError> {
        if o.is_zero() {
            return Err(NumError::DivideByZero);
        }
        let k = 37 - digit_count(self.mant).min(37);
        let num = self.mant * pow10(k);
        let q = num / o.mant;
        let r = num % o.mant;
        let q = if (r.abs() * 2) >= o.mant.abs() { q + (num.signum() * o.mant.signum()) } else { q };
        Ok(Num::new(q, self.exp.saturating_sub(o.exp).saturating_sub(k as i32)))
    }

    /// Integer division (`\`): the quotient truncated toward zero.
    pub fn int_div(self, o: Num) -> Result<Num, NumError> {
        Ok(self.checked_div(o)?.trunc())
    }

    /// Modulo (`#`): the result has the sign of the divisor, as in ObjectScript.
    pub fn modulo(self, o: Num) -> Result<Num, NumError> {
        if o.is_zero() {
            return Err(NumError::DivideByZero);
        }
        let q = self.checked_div(o)?.floor();
        Ok(self - q * o)
    }

    /// Power (`**`) for integer exponents; other exponents use binary floating point.
    pub fn pow(self, o: Num) -> Result<Num, NumError> {
        if o.exp >= 0 && o.mant.abs() <= 1000 {
            let e = (o.mant * pow10(o.exp as u32)).abs();
            if e <= 1000 {
                let mut r = Num::ONE;
                for _ in 0..e {
                    r = r * self;
                }
                return if o.mant < 0 { Num::ONE.checked_div(r) } else { Ok(r) };
            }
        }
        let v = self.to_f64().powf(o.to_f64());
        Ok(Num::parse_prefix(&format!("{v:e}")))
    }

    /// Truncated toward zero.
    pub fn trunc(self) -> Num {
        if self.exp >= 0 {
            return self;
        }
        let k = (-self.exp) as u32;
        if k > 38 {
            return Num::ZERO;
        }
        Num::new(self.mant / pow10(k), 0)
    }

    /// Rounded toward negative infinity.
    pub fn floor(self) -> Num {
        let t = self.trunc();
        if t != self && self.mant < 0 { t - Num::ONE } else { t }
    }

    /// Rounded to `places` decimal places (negative: tens, hundreds...), half away from zero.
    pub fn round(self, places: i32) -> Num {
        let target = -places;
        if self.exp >= target {
            return self;
        }
        let k = (target - self.exp) as u32;
        Num::new(shift_round(self.mant, k), target)
    }

    /// The value as an `i64` (truncated; saturating).
    pub fn to_i64(self) -> i64 {
        let t = self.trunc();
        let v = if t.exp > 38 { i128::MAX * t.mant.signum() } else { t.mant.saturating_mul(pow10(t.exp as u32)) };
        i64::try_from(v).unwrap_or(if v < 0 { i64::MIN } else { i64::MAX })
    }

    /// The value as a binary float (approximate).
    pub fn to_f64(self) -> f64 {
        (self.mant as f64) * 10f64.powi(self.exp)
    }
}

fn push_digit(mant: &mut i128, exp: &mut i32, digits: &mut u32, d: u8, fraction: bool) {
    let d = i128::from(d - b'0');
    if *digits < DIGITS + 2 {
        *mant = *mant * 10 + d;
        if *mant != 0 {
            *digits += 1;
        }
        if fraction {
            *exp -= 1;
        }
    } else if !fraction {
        // Integer digits beyond the precision still scale the value.
        *exp = exp.saturating_add(1);
    }
}

impl std::ops::Add for Num {
    type Output = Num;

    /// Sum (exact within [`DIGITS`] digits).
    fn add(self, o: Num) -> Num {
        self.sum(o)
    }
}

impl std::ops::Sub for Num {
    type Output = Num;

    /// Difference.
    fn sub(self, o: Num) -> Num {
        self.sum(-o)
    }
}

impl std::ops::Neg for Num {
    type Output = Num;

    /// Negation.
    fn neg(self) -> Num {
        Num { mant: -self.mant, exp: self.exp }
    }
}

impl std::ops::Mul for Num {
    type Output = Num;

    /// Product.
    fn mul(self, o: Num) -> Num {
        self.product(o)
    }
}

impl Ord for Num {
    fn cmp(&self, o: &Num) -> Ordering {
        let (a, b) = (self.mant.signum(), o.mant.signum());
        if a != b || a == 0 {
            return a.cmp(&b);
        }
        // Same sign, both non-zero: compare magnitudes by their order of magnitude first.
        let mag_a = digit_count(self.mant) as i32 + self.exp;
        let mag_b = digit_count(o.mant) as i32 + o.exp;
        let by_mag = if mag_a != mag_b {
            mag_a.cmp(&mag_b)
        } else {
            let e = self.exp.min(o.exp);
            let x = self.mant.abs() * pow10((self.exp - e) as u32);
            let y = o.mant.abs() * pow10((o.exp - e) as u32);
            x.cmp(&y)
        };
        if a < 0 { by_mag.reverse() } else { by_mag }
    }
}

impl PartialOrd for Num {
    fn partial_cmp(&self, o: &Num) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

impl fmt::Display for Num {
    /// Canonical ObjectScript form: no trailing zeros, no leading `0` before the point.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.mant == 0 {
            return f.write_str("0");
        }
        if self.mant < 0 {
            f.write_str("-")?;
        }
        let digits = self.mant.unsigned_abs().to_string();
        if self.exp >= 0 {
            f.write_str(&digits)?;
            for _ in 0..self.exp {
                f.write_str("0")?;
            }
            return Ok(());
        }
        let frac = (-self.exp) as usize;
        if digits.len() > frac {
            let (int, dec) = digits.split_at(digits.len() - frac);
            write!(f, "{int}.{dec}")
        } else {
            f.write_str(".")?;
            for _ in 0..frac - digits.len() {
                f.write_str("0")?;
            }
            f.write_str(&digits)
        }
    }
}

/// The numeric value of a string, as ObjectScript converts it.
pub fn num(s: &str) -> Num {
    Num::parse_prefix(s)
}

/// ObjectScript truth: a value is true when its numeric value is not zero.
pub fn truthy(s: &str) -> bool {
    !num(s).is_zero()
}

/// `1` or `0`.
pub fn bool_str(b: bool) -> String {
    if b { "1".to_owned() } else { "0".to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> String {
        num(s).to_string()
    }

    #[test]
    fn numeric_prefix_follows_objectscript() {
        assert_eq!(c("68.50"), "68.5");
        assert_eq!(c("007"), "7");
        assert_eq!(c("0.5"), ".5");
        assert_eq!(c("-0.5"), "-.5");
        assert_eq!(c("3a"), "3");
        assert_eq!(c("abc"), "0");
        assert_eq!(c(""), "0");
        assert_eq!(c("  5"), "0");
        assert_eq!(c("1.2.3"), "1.2");
        assert_eq!(c("1E3"), "1000");
        assert_eq!(c("--3"), "3");
        assert_eq!(c("140.0"), "140");
        assert_eq!(c("5."), "5");
        assert_eq!(c(".5"), ".5");
        assert_eq!(c("1e"), "1");
    }

    #[test]
    fn arithmetic_is_decimal() {
        assert_eq!(num(".1") + num(".2"), num(".3"));
        assert_eq!((num("172") - num("68.5")).to_string(), "103.5");
        assert_eq!(num("172").checked_div(num("7")).unwrap().round(1).to_string(), "24.6");
        assert_eq!(num("1").checked_div(num("3")).unwrap().to_string(), ".3333333333333333333");
        assert_eq!(num("2").checked_div(num("0")), Err(NumError::DivideByZero));
        assert_eq!(num("7").modulo(num("-3")).unwrap().to_string(), "-2");
        assert_eq!(num("-7").int_div(num("2")).unwrap().to_string(), "-3");
        assert_eq!(num("2").pow(num("10")).unwrap().to_string(), "1024");
    }

    #[test]
    fn rounding_is_half_away_from_zero() {
        assert_eq!(num("4.1").round(0).to_string(), "4");
        assert_eq!(num("6.8").round(0).to_string(), "7");
        assert_eq!(num("2.5").round(0).to_string(), "3");
        assert_eq!(num("-2.5").round(0).to_string(), "-3");
        assert_eq!(num("1.25").round(1).to_string(), "1.3");
    }

    #[test]
    fn comparison_is_numeric() {
        assert!(num("68.5") > num("9"));
        assert!(num("10") > num("9"));
        assert!(num("-1") < num("0"));
        assert!(num("-10") < num("-9"));
        assert_eq!(num("68.50").cmp(&num("68.5")), Ordering::Equal);
        assert!(num("") < num("1"));
    }

    #[test]
    fn huge_inputs_do_not_overflow() {
        let big = "9".repeat(100);
        let n = num(&big);
        assert!(n > num("1"));
        let _ = (n * n * n + n).checked_div(num(".0000001"));
        assert_eq!(num("1E99999").to_string().len(), 401);
        assert_eq!(num(&big).to_i64(), i64::MAX);
        let wide = num("9999999999999999999E20");
        assert_eq!(wide + num("1"), wide);
        assert_eq!((wide - num("1")).cmp(&wide), Ordering::Equal);
        assert!(wide.checked_div(num(".0000000000000000001")).is_ok());
    }
}
