//! A training file that rows were appended to since a model was trained on it (the
//! monthly routine appends the month to the history): the bytes trained on, found by their
//! SHA-256, and read as the file they were.

use std::path::Path;

use crate::data::load;
use crate::error::{ClaimsError, Result};

/// How many leading bytes of CSV file `path` are the ones hashed as `sha256` when it was
/// trained on (`rows` data rows then): a file rows were appended to since. The hash is
/// checked at every line end from the `rows + 1`th on, with and without that line end (a
/// file saved without a final newline gets one from whoever appends), so blank lines and
/// quoted line ends count as the reader counts them, and the file is streamed, never held.
/// `None` when no prefix matches.
pub(super) fn trained_len(path: &Path, rows: usize, sha256: &str) -> Result<Option<u64>> {
    use sha2::Digest;
    use std::io::Read;
    if crate::data::files::is_parquet(path) {
        return Ok(None);
    }
    let matches = |h: &sha2::Sha256| hex::encode(h.clone().finalize()) == sha256;
    let mut file = std::fs::File::open(path).map_err(|e| ClaimsError::io(path, e))?;
    let mut buf = vec![0u8; 1 << 20];
    let (mut h, mut len, mut ends) = (sha2::Sha256::new(), 0u64, 0usize);
    loop {
        let n = file.read(&mut buf).map_err(|e| ClaimsError::io(path, e))?;
        if n == 0 {
            return Ok(None);
        }
        let mut start = 0;
        for i in memchr::memchr_iter(b'\n', &buf[..n]) {
            ends += 1;
            if ends <= rows {
                continue;
            }
            // Before the line end (and before its CR), then with it.
            let cr = usize::from(i > start && buf[i - 1] == b'\r');
            h.update(&buf[start..i - cr]);
            if matches(&h) {
                return Ok(Some(len + (i - cr - start) as u64));
            }
            h.update(&buf[i - cr..=i]);
            len += (i + 1 - start) as u64;
            start = i + 1;
            if matches(&h) {
                return Ok(Some(len));
            }
        }
        h.update(&buf[start..n]);
        len += (n - start) as u64;
    }
}

/// The first `len` bytes of `path`, read as a file of its own (named as `path`): copied to a
/// private folder in the home (not the system's temporary folder: it is applicants' data),
/// removed when read.
pub(super) fn read_prefix(home: &Path, path: &Path, len: u64) -> Result<load::RawFile> {
    use std::io::Read;
    let dir = home.join("tmp");
    std::fs::create_dir_all(&dir).map_err(|e| ClaimsError::io(&dir, e))?;
    let tmp = tempfile::Builder::new()
        .prefix("trained-")
        .tempdir_in(&dir)
        .map_err(|e| ClaimsError::io(&dir, e))?;
    let copy = tmp.path().join(path.file_name().unwrap_or_default());
    let mut src = std::fs::File::open(path)
        .map_err(|e| ClaimsError::io(path, e))?
        .take(len);
    let mut dst = std::fs::File::create(&copy).map_err(|e| ClaimsError::io(&copy, e))?;
    std::io::copy(&mut src, &mut dst).map_err(|e| ClaimsError::io(&copy, e))?;
    let mut file = load::read_file(&copy)?;
    file.name = path.display().to_string();
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::Digest;

    fn sha(b: &[u8]) -> String {
        hex::encode(sha2::Sha256::digest(b))
    }

    #[test]
    fn the_trained_bytes_are_found_however_the_file_ended() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("h.csv");
        let more = "5,1\n6,0\n";
        // (trained text, data rows, what was appended)
        for (trained, rows, joint) in [
            ("a,b\n1,0\n2,1\n", 2, ""),
            // Saved without a final newline: the appender adds one.
            ("a,b\n1,0\n2,1", 2, "\n"),
            ("a,b\r\n1,0\r\n2,1", 2, "\r\n"),
            // A blank line and a quoted line end: more line ends than rows.
            ("a,b\n1,0\n\n\"x\ny\",1\n", 2, ""),
            // A stray quote inside an unquoted field.
            ("a,b\n5'10\",0\n2,1\n", 2, ""),
        ] {
            std::fs::write(&p, format!("{trained}{joint}{more}")).unwrap();
            let got = trained_len(&p, rows, &sha(trained.as_bytes())).unwrap();
            assert_eq!(got, Some(trained.len() as u64), "{trained:?}");
        }
        // Edited trained rows: no prefix matches.
        std::fs::write(&p, format!("a,b\n1,1\n2,1\n{more}")).unwrap();
        assert_eq!(trained_len(&p, 2, &sha(b"a,b\n1,0\n2,1\n")).unwrap(), None);
        // The copy is read as the trained file, under the file's own name.
        let home = dir.path().join("home");
        std::fs::write(&p, format!("a,b\n1,0\n2,1\n{more}")).unwrap();
        let f = read_prefix(&home, &p, 12).unwrap();
        assert_eq!((f.rows(), f.name.as_str()), (2, p.to_str().unwrap()));
        assert_eq!(std::fs::read_dir(home.join("tmp")).unwrap().count(), 0);
    }
}
