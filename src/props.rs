//! The `omicron1:` user properties: what each dataset was made from.
//!
//! Values are stored escaped ([`escape`]) so that any text — an image path with
//! a newline, a hostile `pkg` string from an image's `oxide.json` — reads back
//! exactly and cannot break `zfs get`'s line-oriented output.

/// Marks a dataset's role: `template` or `zone-root`.
pub const KIND: &str = "omicron1:kind";
/// Template: the boot it was built for.
pub const BOOT_ID: &str = "omicron1:boot-id";
/// Template: sha256 of the baseline's `files.tar.gz` then `gzonly.txt`.
pub const BASELINE: &str = "omicron1:baseline-sha256";
/// Template: where `usr`, `lib` and `sbin` came from.
pub const SOURCE_ROOT: &str = "omicron1:source-root";
/// Template and zone root: when it was made (RFC 3339, UTC).
pub const CREATED: &str = "omicron1:created";
/// Zone root: `installing` until the install finished, then `installed`.
pub const STATE: &str = "omicron1:state";
/// Zone root: the zone it belongs to.
pub const ZONE: &str = "omicron1:zone";
/// Zone root: the snapshot it was cloned from.
pub const ORIGIN: &str = "omicron1:origin";
/// Zone dataset made by install: what the zonepath dataset it replaced was
/// (its local properties, the zonepath's mode and owner), for uninstall to
/// put back.
pub const ZONEPATH: &str = "omicron1:zonepath";
/// Zone root: how many images were unpacked.
pub const IMAGES: &str = "omicron1:images";
/// Zone root, made by the clone hook: the snapshot of the source zone's root
/// that this zone was cloned from and that uninstall destroys with it.
pub const CLONE_SNAPSHOT: &str = "omicron1:clone-snapshot";

/// Zone root: the installer that made it (`VERSION (commit C)`, as
/// `omicron1 --version` prints it).
pub const INSTALLER: &str = "omicron1:installer";

/// This installer, as [`INSTALLER`] records it: the same text as
/// `omicron1 --version` after the name (`crate::cli::VERSION`).
pub const INSTALLER_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("OMICRON1_COMMIT"),
    ")"
);

/// `omicron1:image.N.FIELD` for the Nth image (0-based): `path`, `sha256`,
/// `pkg`, `version`.
pub fn image(n: usize, field: &str) -> String {
    format!("omicron1:image.{n}.{field}")
}

/// Escapes a value: `%` and every control character become `%XX`.
pub fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if c == '%' || c.is_control() {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Reverses [`escape`]; malformed escapes are kept as they are.
pub fn unescape(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Now, as RFC 3339 UTC (`2026-11-26T05:30:00Z`), without a date crate.
pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    rfc3339(secs)
}

/// Seconds since the epoch as RFC 3339 UTC (Howard Hinnant's civil-from-days).
pub fn rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_round_trips_hostile_text() {
        for v in [
            "plain",
            "/tmp/a b.tar.gz",
            "new\nline",
            "tab\there",
            "100%",
            "ü\u{7f}%41",
            "",
        ] {
            let e = escape(v);
            assert!(!e.contains('\n') && !e.contains('\t'), "{e:?}");
            assert_eq!(unescape(&e), v, "{v:?} via {e:?}");
        }
        assert_eq!(escape("a\nb%"), "a%0Ab%25");
        assert_eq!(unescape("%zz%4"), "%zz%4", "malformed escapes are kept");
    }

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_670_392), "2026-11-26T05:19:52Z");
        // Century and era edges, where the civil-from-days terms for 100- and
        // 400-year cycles matter (found by cargo-mutants), and before 1970.
        for (secs, text) in [
            (-2_203_891_201, "1900-02-28T23:59:59Z"),
            (-2_203_891_200, "1900-03-01T00:00:00Z"),
            (4_107_499_200, "2100-02-28T12:00:00Z"),
            (4_107_542_400, "2100-03-01T00:00:00Z"),
            (13_574_585_228, "2400-02-29T06:07:08Z"),
            (-1, "1969-12-31T23:59:59Z"),
            (-11_644_473_600, "1601-01-01T00:00:00Z"),
            (7_258_118_399, "2199-12-31T23:59:59Z"),
        ] {
            assert_eq!(rfc3339(secs), text, "{secs}");
        }
    }
}
