//! The contract's rules for single values: numbers against their ranges, categories
//! against their allowed values (found without hashing for short codes), labels, and the
//! trimming every value gets. [`super::contract`] applies them row by row.

use std::collections::HashMap;

use super::contract::Mode;
use crate::config::NumericRange;

/// A fast hasher for the per-value lookups (not attacker-facing maps).
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// A categorical column's allowed values and their codes. Short values (the usual codes
/// and letters) are found in a small collision-free table of machine words: one multiply,
/// one load, one compare, without hashing text or branching per candidate.
pub(super) enum Lookup<'s> {
    Words(WordTable),
    Map(FastMap<&'s str, u32>),
}

/// Values of at most 8 bytes by slot `(word * mult) >> shift`: (word, length, code), a
/// length of `usize::MAX` marking an empty slot.
pub(super) struct WordTable {
    mult: u64,
    shift: u32,
    slots: Vec<(u64, usize, u32)>,
}

/// `s` (at most 8 bytes) as one word, zero-padded.
fn word(s: &[u8]) -> u64 {
    // Shifted in byte by byte: no copy through memory, which stalls the load after it.
    s.iter()
        .enumerate()
        .fold(0, |w, (i, &b)| w | u64::from(b) << (8 * i))
}

impl WordTable {
    /// A table with no two of `allowed` in one slot, if a multiplier among the first few
    /// thousand tried gives one (values that differ only in trailing NULs never do).
    fn new(allowed: &[String]) -> Option<WordTable> {
        if allowed.len() > 64 || allowed.iter().any(|v| v.len() > 8) {
            return None;
        }
        let words: Vec<u64> = allowed.iter().map(|v| word(v.as_bytes())).collect();
        let min_bits = (2 * allowed.len())
            .next_power_of_two()
            .trailing_zeros()
            .max(1);
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        for bits in min_bits..=min_bits + 3 {
            for _ in 0..1000 {
                // splitmix64: a well-spread sequence of odd multipliers.
                seed = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
                let mut z = seed;
                z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                let mult = (z ^ (z >> 31)) | 1;
                let shift = 64 - bits;
                let mut slots = vec![(0u64, usize::MAX, 0u32); 1 << bits];
                let placed = words
                    .iter()
                    .zip(allowed)
                    .enumerate()
                    .all(|(code, (&w, v))| {
                        let slot = &mut slots[(w.wrapping_mul(mult) >> shift) as usize];
                        let free = slot.1 == usize::MAX;
                        *slot = (w, v.len(), code as u32);
                        free
                    });
                if placed {
                    return Some(WordTable { mult, shift, slots });
                }
            }
        }
        None
    }

    fn get(&self, s: &[u8]) -> Option<u32> {
        if s.len() > 8 {
            return None;
        }
        let w = word(s);
        let (key, len, code) = self.slots[(w.wrapping_mul(self.mult) >> self.shift) as usize];
        (key == w && len == s.len()).then_some(code)
    }
}

impl<'s> Lookup<'s> {
    pub(super) fn new(allowed: &'s [String]) -> Self {
        match WordTable::new(allowed) {
            Some(t) => Lookup::Words(t),
            None => {
                let codes = allowed.iter().enumerate();
                Lookup::Map(codes.map(|(i, v)| (v.as_str(), i as u32)).collect())
            }
        }
    }

    pub(super) fn get(&self, s: &str) -> Option<u32> {
        match self {
            Lookup::Words(t) => t.get(s.as_bytes()),
            Lookup::Map(m) => m.get(s).copied(),
        }
    }
}

/// `str::trim`, with a quick way out for a value that starts and ends with a printable
/// ASCII character (every whitespace character is either at most a space or not ASCII).
pub(super) fn trim(v: &str) -> &str {
    let plain = |b: u8| b > b' ' && b < 0x80;
    match v.as_bytes() {
        [first, .., last] if plain(*first) && plain(*last) => v,
        [only] if plain(*only) => v,
        _ => v.trim(),
    }
}

/// A numeric value (NaN for an allowed empty one), or why it fails the contract.
pub(super) fn number(v: Option<&str>, range: &NumericRange) -> std::result::Result<f64, String> {
    match v {
        None if range.nullable => Ok(f64::NAN),
        None => Err("missing required value".into()),
        Some(s) => match s.parse::<f64>() {
            Ok(x) if x.is_nan() && range.nullable => Ok(f64::NAN),
            Ok(x) if x.is_nan() => Err(format!(
                "value {} is not a number, and the column needs one",
                show(s)
            )),
            Ok(x) if x >= range.min && x <= range.max => Ok(x),
            // The file's text, as the other reasons quote it (1e400 would read as "inf").
            Ok(_) => Err(format!(
                "value {} is out of the allowed range [{}, {}]",
                show(s),
                range.min,
                range.max
            )),
            Err(_) => Err(format!("value {} is not a number", show(s))),
        },
    }
}

/// A category's code, or why the value fails the contract.
pub(super) fn category(
    v: Option<&str>,
    lookup: &Lookup,
    allowed: &[String],
) -> std::result::Result<u32, String> {
    let s = v.ok_or("missing required value")?;
    // A whole number written as a float ("1.0", as pandas writes an integer column that
    // has gaps) is that number's category, as it is when read from Parquet.
    fn whole(s: &str) -> Option<&str> {
        let (int, frac) = s.split_once('.')?;
        let digits = int.strip_prefix('-').unwrap_or(int);
        (!digits.is_empty()
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !frac.is_empty()
            && frac.bytes().all(|b| b == b'0'))
        .then_some(int)
    }
    lookup
        .get(s)
        .or_else(|| whole(s).and_then(|w| lookup.get(w)))
        .ok_or_else(|| {
            let list = if allowed.len() > 8 {
                format!("{}..{}", allowed[0], allowed[allowed.len() - 1])
            } else {
                allowed.join(", ")
            };
            format!("unknown category {} (allowed: {list})", show(s))
        })
}

/// A label (`None` when empty), and why it fails the contract, if it does.
pub(crate) fn label(v: Option<&str>, mode: Mode) -> (Option<u8>, Option<String>) {
    // Scoring does not use a label column a file happens to have: its values are not
    // checked, and a bad one does not quarantine the row.
    if mode == Mode::Inference {
        return (None, None);
    }
    match v {
        None => (None, Some("missing label (null target)".to_string())),
        Some("0") | Some("0.0") => (Some(0), None),
        Some("1") | Some("1.0") => (Some(1), None),
        Some(s) => (None, Some(format!("label {} is not 0 or 1", show(s)))),
    }
}

/// The most of a quarantined row's raw line that is stored (bytes): enough to see what was
/// wrong, not a 60 MiB value copied into the quarantine table.
pub const RAW_KEPT_BYTES: usize = 64 << 10;

/// A quarantined row's raw line as stored: a NUL byte as the text `\x00` (PostgreSQL's
/// text cannot hold one; the same in every sink), at most [`RAW_KEPT_BYTES`] of it.
pub fn stored_raw(raw: &str) -> String {
    let mut cut = raw.len().min(RAW_KEPT_BYTES);
    while !raw.is_char_boundary(cut) {
        cut -= 1;
    }
    let kept = raw[..cut].replace('\0', "\\x00");
    if cut < raw.len() {
        format!("{kept}... ({} bytes in all)", raw.len())
    } else {
        kept
    }
}

/// The longest application id accepted (bytes): ids are keys in the predictions table.
pub const MAX_ID_BYTES: usize = 256;

/// Why `id` cannot be an application id, if it cannot: longer than [`MAX_ID_BYTES`] or
/// than the sink's id column holds (`chars`), or holding a control character
/// (PostgreSQL's text cannot store a NUL byte, and a tab or a newline in a key breaks every
/// export of the table).
pub fn id_problem(id: &str, chars: Option<usize>) -> Option<String> {
    if id.len() > MAX_ID_BYTES {
        return Some(format!(
            "id {} is {} bytes long; at most {MAX_ID_BYTES}",
            show(id),
            id.len()
        ));
    }
    if let Some(most) = chars.filter(|&m| id.chars().count() > m) {
        return Some(format!(
            "id {} is {} characters long; the sink's application_id column holds at most {most}",
            show(id),
            id.chars().count()
        ));
    }
    id.chars().find(|&c| unprintable(c)).map(|c| {
        format!(
            "id '{}' holds a control character (U+{:04X}); ids must be printable text",
            id.escape_debug(),
            c as u32
        )
    })
}

/// A name as shown in a message: at most 40 characters, and "..." when cut; control
/// characters escaped (a header name is the data file's text).
pub fn short(v: &str) -> String {
    match v.char_indices().nth(40) {
        Some((at, _)) => format!("{}...", escape_controls(&v[..at])),
        None => escape_controls(v),
    }
}

/// A control character, or one that reorders the text around it (bidirectional controls:
/// `APP_OK\u{202e}live` prints as another id): never printed as it is.
fn unprintable(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `s` with its control and bidirectional characters escaped (`\u{1b}`), so text from a
/// data file or a hook cannot send escape sequences to the terminal that prints it.
pub fn escape_controls(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let escaped: Vec<char> = if unprintable(c) {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect()
}

/// Text about to be printed on a terminal (a message, a report, a JSON summary): control
/// and bidirectional characters escaped as `\u001b`, except the line ends and tabs the text
/// is laid out with. A file or column name from the user then cannot clear the screen or
/// retitle the window when an error quotes it. The escape is JSON's own, so a JSON line
/// (which serde leaves holding a bidi character raw) stays valid and decodes to the same
/// text.
pub fn for_terminal(s: &str) -> std::borrow::Cow<'_, str> {
    let keep = |c: char| c == '\n' || c == '\t' || !unprintable(c);
    if s.chars().all(keep) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if keep(c) {
            out.push(c);
        } else {
            // Every such character is in the Basic Multilingual Plane: four hex digits.
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        }
    }
    std::borrow::Cow::Owned(out)
}

/// A value as quoted in a reason (at most 40 characters, control characters escaped).
fn show(v: &str) -> String {
    let cut: String = v.chars().take(40).collect();
    format!("'{}'", escape_controls(&cut))
}

#[cfg(test)]
mod tests {
    use super::Lookup;

    /// Ids a table can key on: printable, at most 256 bytes; names cut at 40 characters.
    #[test]
    fn ids_and_long_names() {
        use super::{id_problem, short};
        assert_eq!(id_problem("APP00000001", None), None);
        assert_eq!(id_problem("Zoë-7", None), None);
        assert_eq!(
            id_problem("APP\u{0}X", None).unwrap(),
            "id 'APP\\0X' holds a control character (U+0000); ids must be printable text"
        );
        assert!(id_problem("a\tb", None).unwrap().contains("U+0009"));
        let long = "9".repeat(257);
        assert!(
            id_problem(&long, None)
                .unwrap()
                .ends_with("is 257 bytes long; at most 256")
        );
        assert_eq!(id_problem(&"9".repeat(256), None), None);
        assert!(
            id_problem("APP0000001", Some(8)).unwrap().ends_with(
                "is 10 characters long; the sink's application_id column holds at most 8"
            )
        );
        assert_eq!(id_problem("Zoë-7", Some(5)), None);
        assert!(
            id_problem("APP_OK\u{202e}live", None)
                .unwrap()
                .contains("U+202E")
        );
        // A value's escape sequences are shown escaped, not sent to the terminal.
        assert_eq!(super::show("12\u{1b}]0;X\u{7}"), "'12\\u{1b}]0;X\\u{7}'");
        assert_eq!(
            super::stored_raw(&format!("a\u{0}{}", "é".repeat(40_000))),
            format!("a\\x00{}... (80002 bytes in all)", "é".repeat(32_767))
        );
        assert_eq!(short("age"), "age");
        assert_eq!(short("X\u{1b}[2Jcol"), "X\\u{1b}[2Jcol");
        // At the terminal: lines and tabs kept, the rest escaped; plain text not copied.
        let named = super::for_terminal("error: 'day\u{1b}]0;pwned\u{7}.csv'\n\tline 2\r\u{202e}");
        assert_eq!(
            named,
            "error: 'day\\u001b]0;pwned\\u0007.csv'\n\tline 2\\u000d\\u202e"
        );
        // A JSON line holding a bidi character raw (serde does not escape it) stays JSON,
        // and decodes to the same text.
        let line = serde_json::json!({"data": "a\u{202e}b.csv"}).to_string();
        let back: serde_json::Value = serde_json::from_str(&super::for_terminal(&line)).unwrap();
        assert_eq!(back["data"], "a\u{202e}b.csv");
        assert!(matches!(
            super::for_terminal("plain\n"),
            std::borrow::Cow::Borrowed(_)
        ));
        assert_eq!(short(&"x".repeat(41)), format!("{}...", "x".repeat(40)));
        assert_eq!(short(&"é".repeat(50)).chars().count(), 43);
    }

    /// Out-of-range values are quoted as the file has them: 1e400 is not shown as "inf".
    #[test]
    fn out_of_range_values_quote_the_text() {
        let range = crate::config::NumericRange {
            min: 0.0,
            max: 1e9,
            nullable: false,
        };
        for (text, shown) in [("1e400", "'1e400'"), ("-inf", "'-inf'"), ("2e9", "'2e9'")] {
            let e = super::number(Some(text), &range).unwrap_err();
            assert_eq!(
                e,
                format!("value {shown} is out of the allowed range [0, 1000000000]")
            );
        }
        assert_eq!(super::number(Some("1e3"), &range), Ok(1000.0));
    }

    /// A category code written as a whole float ("1.0") is that code; other texts are not.
    #[test]
    fn whole_float_texts_are_their_category() {
        let allowed: Vec<String> = ["0", "1", "-1", "A"].map(String::from).to_vec();
        let lookup = Lookup::new(&allowed);
        let code = |s: &str| super::category(Some(s), &lookup, &allowed);
        assert_eq!(code("1.0"), code("1"));
        assert_eq!(code("0.000"), code("0"));
        assert_eq!(code("-1.0"), code("-1"));
        assert!(code("1").is_ok() && code("-1").is_ok());
        for bad in ["1.5", "1.", ".0", "01.0", "A.0", "1.0e0", "-.0", "2.0"] {
            let e = code(bad).unwrap_err();
            assert!(
                e.starts_with(&format!("unknown category '{bad}'")),
                "{bad}: {e}"
            );
        }
    }

    /// The word table finds exactly what a map of the values finds, for values that differ
    /// only by a trailing NUL, a prefix, case or length past 8 bytes; sets it cannot hold
    /// fall back to a map.
    #[test]
    fn word_lookup_equals_a_map() {
        let owned = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let short = owned(&["", "A", "a", "ab", "abcdefgh", "é", "0", "10", "N", "Y"]);
        let digits: Vec<String> = (0..64).map(|i| i.to_string()).collect();
        let nul = owned(&["a", "a\0"]);
        let long = owned(&["abcdefghi", "x"]);
        let many: Vec<String> = (0..65).map(|i| format!("v{i}")).collect();
        for (set, words) in [
            (&short, true),
            (&digits, true),
            (&nul, false),
            (&long, false),
            (&many, false),
        ] {
            let lookup = Lookup::new(set);
            assert_eq!(matches!(lookup, Lookup::Words(_)), words, "{set:?}");
            let probes = set.iter().map(String::as_str).chain([
                "",
                "A\0",
                "a\0",
                "abcdefg",
                "abcdefghi",
                "B",
                "é\0",
                "v65",
                "1",
                "64",
                "00",
                "\0",
            ]);
            for p in probes {
                let want = set.iter().position(|v| v == p).map(|i| i as u32);
                assert_eq!(lookup.get(p), want, "{p:?} in {set:?}");
            }
        }
    }

    /// The quick trim gives `str::trim`'s result on ASCII and Unicode whitespace.
    #[test]
    fn trim_equals_str_trim() {
        for v in [
            "",
            " ",
            "a",
            " a",
            "a ",
            "\ta\r",
            "1.5",
            "\u{a0}x",
            "x\u{3000}",
            "\u{1f}",
            "é",
            "a b",
            "\u{85}",
        ] {
            assert_eq!(super::trim(v), v.trim(), "{v:?}");
        }
    }
}
