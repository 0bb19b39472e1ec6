//! Which file system a database file lives on. SQLite's write-ahead log keeps its index in
//! shared memory beside the database (the `-shm` file), which needs every process on one
//! host and working `mmap` and POSIX locks: it is not safe on network file systems (NFS,
//! SMB) nor on the FUSE mounts of hosted platforms (Databricks' `/dbfs` and `/Volumes`).
//! <https://www.sqlite.org/wal.html>, "WAL does not work over a network filesystem".

use std::path::{Component, Path, PathBuf};

/// The mount holding a path, from `/proc/self/mountinfo`.
#[derive(Debug, Clone, PartialEq)]
pub struct Mount {
    /// Where it is mounted.
    pub point: PathBuf,
    /// Its file system type (`nfs4`, `fuse.sshfs`, `ext4`, ...).
    pub fs_type: String,
}

/// Whether `fs_type` (as `/proc/self/mountinfo` names it) is a network or FUSE file system
/// that SQLite's write-ahead log cannot rely on. Local FUSE overlays that containers use
/// for their root (`fuse-overlayfs`) are local disks and pass.
pub fn unsafe_for_sqlite(fs_type: &str) -> bool {
    let t = fs_type.to_ascii_lowercase();
    if t == "fuse.fuse-overlayfs" {
        return false;
    }
    const NETWORK: [&str; 12] = [
        "nfs",
        "nfs4",
        "cifs",
        "smb3",
        "smbfs",
        "9p",
        "ceph",
        "glusterfs",
        "lustre",
        "afs",
        "gpfs",
        "davfs",
    ];
    NETWORK.contains(&t.as_str()) || t == "fuse" || t.starts_with("fuse.")
}

/// Undoes mountinfo's octal escapes (`\040` for a space, `\011`, `\012`, `\134`).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let code = b
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match code {
            Some(d) if b[i] == b'\\' => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            _ => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The mount in `mountinfo` (the text of `/proc/self/mountinfo`) holding the absolute
/// path `path`: the longest mount point that is a whole-component prefix of it (the last
/// one listed wins, as a later mount hides an earlier one at the same point).
pub fn mount_of(mountinfo: &str, path: &Path) -> Option<Mount> {
    let mut best: Option<(usize, Mount)> = None;
    for line in mountinfo.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let (Some(point), Some(fs_type)) = (left.split(' ').nth(4), right.split(' ').next()) else {
            continue;
        };
        let (point, fs_type) = (PathBuf::from(unescape(point)), fs_type.to_string());
        if !path.starts_with(&point) {
            continue;
        }
        let depth = point
            .components()
            .filter(|c| matches!(c, Component::Normal(_)))
            .count();
        if best.as_ref().is_none_or(|(d, _)| depth >= *d) {
            best = Some((depth, Mount { point, fs_type }));
        }
    }
    best.map(|(_, m)| m)
}

/// The mount holding `path` (an existing file or folder), if this system says (Linux).
pub fn mount_of_path(path: &Path) -> Option<Mount> {
    let path = std::fs::canonicalize(path).ok()?;
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    mount_of(&info, &path)
}

/// Why a SQLite database in folder `dir` is at risk there, if it is: one sentence naming
/// the mount and what to do instead.
pub fn sqlite_risk(dir: &Path) -> Option<String> {
    let m = mount_of_path(dir)?;
    unsafe_for_sqlite(&m.fs_type).then(|| {
        format!(
            "{} is on a {} file system (mounted at {}): SQLite's write-ahead log needs a local disk, and over network or FUSE mounts it can fail with I/O or locking errors or lose writes; put the home (--home / CLAIMS_HOME) and any sqlite: table on a local disk, and send predictions to PostgreSQL if they must outlive the machine",
            dir.display(),
            m.fs_type,
            m.point.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Lines in the format of proc(5), including an escaped space and a later mount that
    // hides an earlier one at the same point.
    const INFO: &str = "\
22 1 259:1 / / rw,relatime shared:1 - ext4 /dev/root rw
30 22 0:40 / /mnt/share rw,relatime shared:9 - nfs4 server:/export rw,vers=4.2
31 30 259:2 / /mnt/share/local rw shared:10 - ext4 /dev/sdb1 rw
40 22 0:50 / /dbfs rw,nosuid shared:11 - fuse /dev/fuse rw,user_id=0
41 22 0:51 / /mnt/my\\040files rw shared:12 - cifs //host/files rw
50 22 0:60 / /data rw shared:13 - ext4 /dev/sdc1 rw
51 22 0:61 / /data rw shared:14 - fuse.sshfs host:/data rw
60 22 0:70 / /var/lib/containers rw shared:15 - fuse.fuse-overlayfs fuse-overlayfs rw
";

    fn at(p: &str) -> String {
        mount_of(INFO, Path::new(p))
            .map(|m| m.fs_type)
            .unwrap_or_default()
    }

    #[test]
    fn finds_the_mount_holding_a_path() {
        assert_eq!(at("/home/claims/claims.db"), "ext4");
        assert_eq!(at("/mnt/share/home"), "nfs4");
        assert_eq!(at("/mnt/share/local/home"), "ext4");
        // Whole components only: /mnt/shared is not under /mnt/share.
        assert_eq!(at("/mnt/shared/home"), "ext4");
        assert_eq!(at("/dbfs/claims"), "fuse");
        assert_eq!(at("/mnt/my files/home"), "cifs");
        assert_eq!(at("/data/home"), "fuse.sshfs");
        assert_eq!(
            mount_of(INFO, Path::new("/mnt/my files/x")).map(|m| m.point),
            Some(PathBuf::from("/mnt/my files"))
        );
    }

    #[test]
    fn network_and_fuse_mounts_are_unsafe_local_ones_are_not() {
        for t in [
            "nfs",
            "nfs4",
            "cifs",
            "smb3",
            "9p",
            "fuse",
            "fuse.sshfs",
            "fuse.dbfs",
            "NFS4",
        ] {
            assert!(unsafe_for_sqlite(t), "{t}");
        }
        for t in [
            "ext4",
            "xfs",
            "btrfs",
            "tmpfs",
            "overlay",
            "zfs",
            "fuse.fuse-overlayfs",
        ] {
            assert!(!unsafe_for_sqlite(t), "{t}");
        }
    }

    #[test]
    fn unescapes_octal() {
        assert_eq!(unescape("/a\\040b\\134c"), "/a b\\c");
        assert_eq!(unescape("/plain\\9"), "/plain\\9");
    }

    #[test]
    fn this_machines_temp_folder_has_a_mount() {
        // Linux only: /proc/self/mountinfo always lists a mount for an existing folder.
        if Path::new("/proc/self/mountinfo").exists() {
            assert!(mount_of_path(&std::env::temp_dir()).is_some());
        }
    }
}
