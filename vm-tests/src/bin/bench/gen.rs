//! `bench gen`: the inputs, made on the host at native speed and cached.
//!
//! - **System trees** (`trees/LABEL/{usr,lib,sbin}`): files of the kinds an
//!   illumos `/usr`, `/lib` and `/sbin` hold, sizes uniform in their logarithm
//!   within each kind (many small, few large): programs and shared objects
//!   (which split mode links into `/system`), man pages and message catalogs
//!   (linked too), headers, Python modules, small data files such as zoneinfo
//!   (copied), a few large data files and archives (copied), and SMF manifests
//!   (copied, then pruned). `trees/LABEL.json` counts them; `trees/LABEL.tar`
//!   holds the same tree, which the VM reads faster than the files.
//! - **Images** (`images/LABEL.tar.gz`): a service layer as Oxide ships them,
//!   `oxide.json` first, then a program, shared objects, web assets, data and
//!   configuration under `root/`, gzip level 6 (`tar czf`'s); half of the
//!   binary content is random, so it compresses about as real programs do.
//!   `images/LABEL.json` gives the payload (bytes of regular files).
//! - **Baseline** (`baseline/{files.tar.gz,gzonly.txt}`): a small `/etc` and
//!   `/var`, made by `omicron1 baseline create`.
//!
//! Everything is a function of a fixed seed, so every run measures the same
//! bytes; a description file written last marks each input complete.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

use crate::util::{mib, Rng};
use crate::{Args, Plan};

/// Bumped whenever generated content changes, so caches are remade.
const VERSION: u64 = 3;

const WORDS: &[&str] = &[
    "net", "sys", "crypto", "zfs", "dlpi", "kstat", "nvpair", "scf", "xml", "ssl", "z", "curl",
    "ipadm", "dladm", "pool", "proc", "ctf", "elf", "umem", "avl", "uutil", "sqlite", "bsm",
    "socket", "nsl", "md", "sec", "resolv", "gss", "ldap", "iconv", "fm", "topo", "devinfo",
    "smbios", "pci", "usb", "nvme", "vnd", "viona", "dtrace", "mdb", "pkg", "svc", "zone", "brand",
    "audit", "kmf", "pam", "ssh", "ntp", "dns", "dhcp", "tcp", "ip", "route", "ipf", "lofi",
    "sata", "ses", "disk", "ipmi", "sensor", "fru",
];

/// One kind of file in a system tree.
struct Kind {
    name: &'static str,
    /// Relative frequency, in files.
    weight: u64,
    min: u64,
    max: u64,
    /// Text (words and lines) or binary (half random, half repetitive).
    text: bool,
    /// Whether split mode links it into `/system` rather than copying it.
    linked: bool,
}

const KINDS: &[Kind] = &[
    Kind {
        name: "program",
        weight: 8,
        min: 4 << 10,
        max: 384 << 10,
        text: false,
        linked: true,
    },
    Kind {
        name: "shared-object",
        weight: 6,
        min: 8 << 10,
        max: 1536 << 10,
        text: false,
        linked: true,
    },
    Kind {
        name: "man-page",
        weight: 12,
        min: 1 << 10,
        max: 24 << 10,
        text: true,
        linked: true,
    },
    Kind {
        name: "message-catalog",
        weight: 4,
        min: 2 << 10,
        max: 128 << 10,
        text: false,
        linked: true,
    },
    Kind {
        name: "header",
        weight: 20,
        min: 512,
        max: 32 << 10,
        text: true,
        linked: false,
    },
    Kind {
        name: "python",
        weight: 35,
        min: 512,
        max: 64 << 10,
        text: true,
        linked: false,
    },
    Kind {
        name: "small-data",
        weight: 30,
        min: 64,
        max: 4 << 10,
        text: true,
        linked: false,
    },
    Kind {
        name: "large-data",
        weight: 3,
        min: 4 << 10,
        max: 1536 << 10,
        text: false,
        linked: false,
    },
    Kind {
        name: "smf-manifest",
        weight: 1,
        min: 1 << 10,
        max: 16 << 10,
        text: true,
        linked: false,
    },
];

/// Writes `size` bytes of deterministic content.
fn fill(rng: &mut Rng, text: bool, size: u64, out: &mut Vec<u8>) {
    out.clear();
    let size = size as usize;
    if text {
        let mut col = 0;
        while out.len() < size {
            let w = rng.pick(WORDS);
            out.extend_from_slice(w.as_bytes());
            col += w.len() + 1;
            if col > 72 {
                out.push(b'\n');
                col = 0;
            } else {
                out.push(b' ');
            }
        }
    } else {
        // 4 KiB blocks, alternately random and repetitive with a random byte
        // every 64: about 2:1 under gzip, like real programs.
        while out.len() < size {
            if rng.below(2) == 0 {
                for _ in 0..512 {
                    out.extend_from_slice(&rng.next().to_le_bytes());
                }
            } else {
                let pattern: [u8; 8] = rng.next().to_le_bytes();
                for i in 0..64 {
                    out.extend_from_slice(&pattern);
                    out.extend_from_slice(&pattern);
                    out.extend_from_slice(&pattern);
                    out.extend_from_slice(&pattern);
                    out.extend_from_slice(&pattern);
                    out.extend_from_slice(&pattern);
                    out.extend_from_slice(&pattern);
                    out.extend_from_slice(&(rng.next() ^ i).to_le_bytes());
                }
            }
        }
    }
    out.truncate(size);
}

fn write_file(path: &Path, content: &[u8], mode: u32) {
    let mut f = BufWriter::new(
        File::create(path).unwrap_or_else(|e| panic!("create {}: {e}", path.display())),
    );
    f.write_all(content).unwrap();
    f.into_inner()
        .unwrap()
        .set_permissions(fs::Permissions::from_mode(mode))
        .unwrap();
}

/// Where a file of `kind` goes and its mode; `n` makes the name unique.
fn place(rng: &mut Rng, kind: &str, n: u64) -> (String, u32) {
    let w = *rng.pick(WORDS);
    let w2 = *rng.pick(WORDS);
    match kind {
        "program" => {
            let dir = match rng.below(20) {
                0..=9 => "usr/bin".to_string(),
                10..=14 => "usr/sbin".to_string(),
                15..=16 => "sbin".to_string(),
                17..=18 => format!("usr/lib/{w}"),
                _ => "lib/svc/method".to_string(),
            };
            (format!("{dir}/{w}{n}"), 0o755)
        }
        "shared-object" => {
            let dir = match rng.below(6) {
                0 => "usr/lib".to_string(),
                1 => "usr/lib/amd64".to_string(),
                2 => "lib".to_string(),
                3 => "lib/amd64".to_string(),
                4 => "usr/lib/python3.11/lib-dynload".to_string(),
                _ => format!("usr/lib/{w2}"),
            };
            let mode = if n % 2 == 0 { 0o755 } else { 0o644 };
            (format!("{dir}/lib{w}{n}.so.1"), mode)
        }
        "man-page" => {
            let sec = *rng.pick(&["1", "1m", "3c", "3lib", "4", "5", "7", "8"]);
            (format!("usr/share/man/man{sec}/{w}{n}.{sec}"), 0o444)
        }
        "message-catalog" => {
            let lang = *rng.pick(&[
                "de", "es", "fr", "it", "ja", "ko", "pt_BR", "sv", "zh_CN", "zh_TW",
            ]);
            (
                format!("usr/share/locale/{lang}/LC_MESSAGES/{w}{n}.mo"),
                0o444,
            )
        }
        "header" => {
            let dir = if rng.below(3) == 0 {
                format!("usr/include/{w2}")
            } else {
                format!("usr/include/sys/{w2}")
            };
            (format!("{dir}/{w}{n}.h"), 0o644)
        }
        "python" => {
            let ext = if rng.below(3) == 0 { "pyc" } else { "py" };
            (
                format!(
                    "usr/lib/python3.11/{w2}/{}/{w}{n}.{ext}",
                    WORDS[(n % 7) as usize]
                ),
                0o644,
            )
        }
        "small-data" => {
            let dir = match rng.below(3) {
                0 => format!(
                    "usr/share/lib/zoneinfo/{}",
                    ["Africa", "America", "Asia", "Europe", "Pacific"][(n % 5) as usize]
                ),
                1 => format!("usr/share/lib/terminfo/{}", (b'a' + (n % 26) as u8) as char),
                _ => format!("usr/share/{w2}"),
            };
            (format!("{dir}/{w}{n}"), 0o644)
        }
        "large-data" => {
            if rng.below(2) == 0 {
                (format!("usr/lib/lib{w}{n}.a"), 0o644)
            } else {
                (format!("usr/share/{w2}/{w}{n}.dat"), 0o644)
            }
        }
        "smf-manifest" => {
            let group = *rng.pick(&["system", "network", "platform", "application"]);
            (format!("lib/svc/manifest/{group}/{w}{n}.xml"), 0o444)
        }
        _ => unreachable!("kind {kind}"),
    }
}

/// Whether `path/LABEL.json` describes a complete input made by this version
/// with these parameters.
fn cached(desc: &Path, target: u64) -> Option<Value> {
    let v: Value = serde_json::from_str(&fs::read_to_string(desc).ok()?).ok()?;
    (v["version"] == VERSION && v["target_bytes"] == target).then_some(v)
}

/// Makes the system tree `label` of about `target` bytes under `dir`.
pub fn tree(dir: &Path, label: &str, target: u64) -> Value {
    let desc = dir.join(format!("{label}.json"));
    if let Some(v) = cached(&desc, target) {
        return v;
    }
    let root = dir.join(label);
    let _ = fs::remove_file(&desc);
    let _ = fs::remove_dir_all(&root);
    eprintln!(
        "bench gen: system tree {label} ({:.0} MiB) in {}",
        mib(target),
        root.display()
    );
    let mut rng = Rng::new(0x7EE5 ^ target);
    let total_weight: u64 = KINDS.iter().map(|k| k.weight).sum();
    let mut dirs: BTreeSet<PathBuf> = BTreeSet::new();
    let mut buf = Vec::new();
    let (mut files, mut bytes, mut symlinks) = (0u64, 0u64, 0u64);
    let (mut linked_files, mut linked_bytes) = (0u64, 0u64);
    let mut per_kind: Vec<(u64, u64)> = vec![(0, 0); KINDS.len()];
    let mut n = 0u64;
    let ensure_dir = |dirs: &mut BTreeSet<PathBuf>, p: &Path| {
        if !dirs.contains(p) {
            fs::create_dir_all(p).unwrap();
            let mut a = Some(p);
            while let Some(d) = a {
                if d == root || !dirs.insert(d.to_path_buf()) {
                    break;
                }
                a = d.parent();
            }
        }
    };
    // What the baseline's gzonly.txt removes.
    ensure_dir(&mut dirs, &root.join("usr/lib"));
    write_file(
        &root.join("usr/lib/gz-only.conf"),
        b"global zone only\n",
        0o644,
    );
    while bytes < target {
        n += 1;
        let mut r = rng.below(total_weight);
        let ki = KINDS.iter().position(|k| {
            if r < k.weight {
                true
            } else {
                r -= k.weight;
                false
            }
        });
        let kind = &KINDS[ki.unwrap()];
        let size = rng
            .log_uniform(kind.min, kind.max)
            .min(target - bytes)
            .max(1);
        let (rel, mode) = place(&mut rng, kind.name, n);
        let path = root.join(&rel);
        ensure_dir(&mut dirs, path.parent().unwrap());
        fill(&mut rng, kind.text, size, &mut buf);
        write_file(&path, &buf, mode);
        files += 1;
        bytes += size;
        per_kind[ki.unwrap()].0 += 1;
        per_kind[ki.unwrap()].1 += size;
        if kind.linked {
            linked_files += 1;
            linked_bytes += size;
        }
        if kind.name == "shared-object" && n % 2 == 0 {
            // The development link: libfoo.so -> libfoo.so.1.
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            symlink(&name, path.with_file_name(name.trim_end_matches(".1"))).unwrap();
            symlinks += 1;
        }
    }
    let v = json!({
        "version": VERSION,
        "label": label,
        "target_bytes": target,
        "files": files,
        "bytes": bytes,
        "dirs": dirs.len() + 3,
        "symlinks": symlinks,
        "linked_files": linked_files,
        "linked_bytes": linked_bytes,
        "copied_files": files - linked_files,
        "copied_bytes": bytes - linked_bytes,
        "kinds": KINDS.iter().zip(&per_kind).map(|(k, (f, b))| json!({
            "kind": k.name, "files": f, "bytes": b, "linked_in_split_mode": k.linked,
        })).collect::<Vec<_>>(),
    });
    // One archive as well: the VM reads it in one sequential stream, which 9p
    // does far faster than thousands of small files.
    let archive = dir.join(format!("{label}.tar"));
    let status = Command::new("tar")
        .arg("-C")
        .arg(&root)
        .arg("-cf")
        .arg(&archive)
        .arg(".")
        .status()
        .unwrap();
    assert!(status.success(), "tar of {}", root.display());
    fs::write(&desc, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    v
}

/// Makes the image `label` with about `payload` bytes of files.
pub fn image(dir: &Path, label: &str, payload: u64) -> Value {
    let desc = dir.join(format!("{label}.json"));
    if let Some(v) = cached(&desc, payload) {
        return v;
    }
    let path = dir.join(format!("{label}.tar.gz"));
    eprintln!(
        "bench gen: image {label} ({:.0} MiB payload) at {}",
        mib(payload),
        path.display()
    );
    let mut rng = Rng::new(0x1A6E ^ payload);
    let svc = format!("bench{label}");
    let base = format!("root/opt/oxide/{svc}");
    // (path, size, mode, text)
    let mut files: Vec<(String, u64, u32, bool)> = Vec::new();
    files.push((
        format!("{base}/bin/{svc}"),
        payload * 30 / 100,
        0o755,
        false,
    ));
    for (i, w) in WORDS.iter().take(5).enumerate() {
        files.push((
            format!("{base}/lib/lib{w}{i}.so.1"),
            payload * 4 / 100,
            0o755,
            false,
        ));
    }
    let mut add = |files: &mut Vec<(String, u64, u32, bool)>,
                   share: u64,
                   min,
                   max,
                   mk: &dyn Fn(&mut Rng, usize) -> (String, u32, bool)| {
        let want = payload * share / 100;
        let mut got = 0;
        while got < want {
            let size = rng.log_uniform(min, max).min(want - got).max(1);
            let (p, mode, text) = mk(&mut rng, files.len());
            files.push((p, size, mode, text));
            got += size;
        }
    };
    let b = base.clone();
    add(&mut files, 35, 1 << 10, 64 << 10, &|r, i| {
        let ext = *r.pick(&["js", "html", "json", "css", "svg"]);
        (
            format!(
                "{b}/share/assets/{}/{}{i}.{ext}",
                r.pick(WORDS),
                r.pick(WORDS)
            ),
            0o644,
            true,
        )
    });
    add(&mut files, 10, 64 << 10, 1 << 20, &|_, i| {
        (format!("{b}/share/data/blob{i}.bin"), 0o644, false)
    });
    add(&mut files, 5, 256, 4 << 10, &|r, i| {
        (format!("{b}/etc/{}{i}.toml", r.pick(WORDS)), 0o644, true)
    });
    files.push((
        format!("root/var/svc/manifest/site/{svc}/manifest.xml"),
        2048,
        0o444,
        true,
    ));
    files.push(("root/etc/motd".to_string(), 64, 0o644, true));

    let dirs: BTreeSet<String> = files
        .iter()
        .flat_map(|(p, ..)| {
            let parts: Vec<&str> = p.split('/').collect();
            (1..parts.len()).map(move |i| parts[..i].join("/"))
        })
        .collect();
    let out = File::create(&path).unwrap();
    let enc = flate2::write::GzEncoder::new(BufWriter::new(out), flate2::Compression::new(6));
    let mut tar = tar::Builder::new(enc);
    let header = |kind: tar::EntryType, size: u64, mode: u32| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_700_000_000);
        h
    };
    let meta = format!(r#"{{"v":"1","t":"layer","pkg":"{svc}","version":"1.0.0"}}"#);
    tar.append_data(
        &mut header(tar::EntryType::Regular, meta.len() as u64, 0o644),
        "oxide.json",
        meta.as_bytes(),
    )
    .unwrap();
    for d in &dirs {
        tar.append_data(
            &mut header(tar::EntryType::Directory, 0, 0o755),
            format!("{d}/"),
            std::io::empty(),
        )
        .unwrap();
    }
    let mut buf = Vec::new();
    let mut total = 0;
    for (p, size, mode, text) in &files {
        fill(&mut rng, *text, *size, &mut buf);
        tar.append_data(
            &mut header(tar::EntryType::Regular, *size, *mode),
            p,
            buf.as_slice(),
        )
        .unwrap();
        total += size;
    }
    tar.into_inner().unwrap().finish().unwrap().flush().unwrap();
    let compressed = fs::metadata(&path).unwrap().len();
    // What the files take at least on a pool with compression off and
    // recordsize 128 KiB: a file of one block takes its size in 512-byte
    // sectors; a larger one takes whole records, its last one included.
    let allocated: u64 = files
        .iter()
        .map(|(_, size, ..)| {
            if *size <= 128 << 10 {
                size.div_ceil(512) * 512
            } else {
                size.div_ceil(128 << 10) * (128 << 10)
            }
        })
        .sum();
    let v = json!({
        "version": VERSION,
        "label": label,
        "target_bytes": payload,
        "path": path,
        "payload_bytes": total,
        "files": files.len(),
        "dirs": dirs.len(),
        "compressed_bytes": compressed,
        "allocated_bytes": allocated,
    });
    fs::write(&desc, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    v
}

/// Makes the baseline with `omicron1 baseline create`.
pub fn baseline(dir: &Path, bin: &Path) -> Value {
    let desc = dir.join("baseline.json");
    if let Some(v) = cached(&desc, 0) {
        return v;
    }
    eprintln!("bench gen: baseline in {}", dir.display());
    let root = dir.join("baseline-root");
    let _ = fs::remove_dir_all(&root);
    let mut rng = Rng::new(0xBA5E);
    let mut buf = Vec::new();
    let mut n = 0;
    for (top, count) in [("etc", 120), ("var", 60)] {
        for i in 0..count {
            let sub = WORDS[i % 12];
            let p = root.join(format!("{top}/{sub}/{}{i}.conf", rng.pick(WORDS)));
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            let size = rng.log_uniform(64, 8 << 10);
            fill(&mut rng, true, size, &mut buf);
            write_file(&p, &buf, 0o644);
            n += 1;
        }
    }
    write_file(&root.join("etc/motd"), b"baseline motd\n", 0o644);
    write_file(
        &root.join("etc/passwd"),
        b"root:x:0:0::/root:/bin/sh\n",
        0o644,
    );
    let include = dir.join("baseline-include");
    fs::write(&include, "etc\nvar\n").unwrap();
    let gzonly = dir.join("baseline-gzonly");
    fs::write(&gzonly, "usr/lib/gz-only.conf\n").unwrap();
    let out_dir = dir.join("baseline");
    let _ = fs::remove_dir_all(&out_dir);
    let status = Command::new(bin)
        .args(["baseline", "create", "--root"])
        .arg(&root)
        .arg("--include")
        .arg(&include)
        .arg("--gzonly")
        .arg(&gzonly)
        .arg("--output")
        .arg(&out_dir)
        .env("OMICRON1_RUN_DIR", dir.join("run"))
        .status()
        .unwrap();
    assert!(status.success(), "omicron1 baseline create failed");
    let v = json!({ "version": VERSION, "target_bytes": 0, "files": n + 2, "dir": out_dir });
    fs::write(&desc, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    v
}

/// `bench gen`.
pub fn main(args: &Args, plan: &Plan) {
    let data = args.path("data");
    let bin = args.path("bin");
    for sub in ["trees", "images"] {
        fs::create_dir_all(data.join(sub)).unwrap();
    }
    for (label, size) in &plan.trees {
        let v = tree(&data.join("trees"), label, *size);
        eprintln!(
            "bench gen: tree {label}: {} files, {:.1} MiB ({:.1} MiB linked in split mode)",
            v["files"],
            mib(v["bytes"].as_u64().unwrap()),
            mib(v["linked_bytes"].as_u64().unwrap())
        );
    }
    for (label, size) in &plan.images {
        let v = image(&data.join("images"), label, *size);
        eprintln!(
            "bench gen: image {label}: {} files, {:.1} MiB payload, {:.1} MiB compressed",
            v["files"],
            mib(v["payload_bytes"].as_u64().unwrap()),
            mib(v["compressed_bytes"].as_u64().unwrap())
        );
    }
    baseline(&data, &bin);
}
