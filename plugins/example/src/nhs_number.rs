//! NHS numbers: ten digits, the last a modulus 11 check digit.

/// Why an NHS number is not valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NhsNumberError {
    /// Not ten digits once spaces and dashes are removed.
    WrongLength(usize),
    /// Contains something other than digits, spaces and dashes.
    NotDigits,
    /// The check digit does not match (or the number can never be valid).
    BadCheckDigit,
}

impl std::fmt::Display for NhsNumberError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NhsNumberError::WrongLength(n) => write!(f, "has {n} digits, not 10"),
            NhsNumberError::NotDigits => write!(f, "contains characters other than digits, spaces and dashes"),
            NhsNumberError::BadCheckDigit => write!(f, "fails the modulus 11 check"),
        }
    }
}

/// Removes spaces and dashes and checks the modulus 11 check digit.
/// `"943 476 5919"` becomes `"9434765919"`.
pub fn normalise_nhs_number(raw: &str) -> Result<String, NhsNumberError> {
    let cleaned: String = raw.chars().filter(|c| *c != ' ' && *c != '-').collect();
    if !cleaned.chars().all(|c| c.is_ascii_digit()) {
        return Err(NhsNumberError::NotDigits);
    }
    if cleaned.len() != 10 {
        return Err(NhsNumberError::WrongLength(cleaned.len()));
    }
    let digits: Vec<u32> = cleaned.chars().filter_map(|c| c.to_digit(10)).collect();
    let sum: u32 = digits[..9].iter().enumerate().map(|(i, d)| d * (10 - i as u32)).sum();
    let check = match 11 - (sum % 11) {
        11 => 0,
        10 => return Err(NhsNumberError::BadCheckDigit),
        c => c,
    };
    if check != digits[9] {
        return Err(NhsNumberError::BadCheckDigit);
    }
    Ok(cleaned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spaced_valid_number_is_normalised() {
        assert_eq!(normalise_nhs_number("943 476 5919").unwrap(), "9434765919");
        assert_eq!(normalise_nhs_number("943-476-5919").unwrap(), "9434765919");
    }

    #[test]
    fn wrong_check_digit_length_or_characters_are_rejected() {
        assert_eq!(normalise_nhs_number("9434765918"), Err(NhsNumberError::BadCheckDigit));
        assert_eq!(normalise_nhs_number("94347659"), Err(NhsNumberError::WrongLength(8)));
        assert_eq!(normalise_nhs_number("94347A5919"), Err(NhsNumberError::NotDigits));
    }
}
