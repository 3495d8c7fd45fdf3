//! `bench run`: the measurements, inside the VM, on the pool `tp`.
//!
//! Every measurement starts from a quiet pool: `zpool sync` (nothing dirty
//! left by the previous step) and `zpool wait -t free` (no background frees of
//! a destroyed dataset still running); after large destroys `zpool trim -w`
//! gives the freed space back to the guest's RAM, where the pool's file lives.
//! Inputs are staged on a tmpfs first (untimed), as a sled's ramdisk holds
//! `/usr`, `/lib` and `/sbin`, so no step reads the host's files through 9p.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use serde_json::{json, Map, Value};

use crate::report;
use crate::util::{median, ms, run, sh, timed};
use crate::{Args, Plan};

const ZFS: &str = "/usr/sbin/zfs";
const ZPOOL: &str = "/usr/sbin/zpool";
/// The zone the install measurements install, uninstall and install again.
const ZONE: &str = "oxz_bench";

/// One benchmark run's state.
pub struct Bench {
    plan: Plan,
    /// The installer, staged.
    bin: PathBuf,
    data: PathBuf,
    stage: PathBuf,
    out: PathBuf,
    pool: String,
    mount: PathBuf,
    /// `tp/bench`: everything the run makes is below it.
    top: String,
    zones_dir: PathBuf,
    baseline_dir: PathBuf,
    seq: u64,
    /// The results so far, written after each section.
    pub results: Map<String, Value>,
}

/// The settings of one group of installer calls: one boot, one run dir.
#[derive(Clone)]
struct Ctx {
    source_root: PathBuf,
    boot_id: String,
    run_dir: PathBuf,
    replicate: Option<&'static str>,
}

/// One install (or uninstall): wall time, and the installer's own timings line.
#[derive(Clone, Debug)]
struct Call {
    ms: f64,
    timings: Option<Value>,
    stderr: String,
}

impl Call {
    fn to_json(&self) -> Value {
        json!({ "wall_ms": self.ms, "timings": self.timings })
    }
    fn phase(&self, name: &str) -> Option<f64> {
        let phases = self.timings.as_ref()?.get("phases")?.as_array()?;
        phases
            .iter()
            .find(|p| p[0] == name)
            .and_then(|p| p[1].as_f64())
    }
    fn processes(&self) -> Option<u64> {
        self.timings.as_ref()?.get("zfs_processes")?.as_u64()
    }
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(
        &fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The argv of each `zfs`/`zpool` process, from an `OMICRON1_LOG=debug` stderr.
fn argv_lines(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter_map(|l| l.split_once("argv=").map(|(_, a)| a.trim().to_string()))
        .collect()
}

fn say(what: &str) {
    eprintln!("bench: {what}");
}

impl Bench {
    fn zfs(&self, args: &[&str]) -> String {
        sh(ZFS, args)
    }

    fn exists(&self, ds: &str) -> bool {
        Command::new(ZFS)
            .args(["list", "-H", "-o", "name", ds])
            .output()
            .is_ok_and(|o| o.status.success())
    }

    fn create(&self, ds: &str) {
        self.zfs(&["create", ds]);
    }

    /// Destroys `ds`, everything below it and every clone of its snapshots.
    fn destroy(&self, ds: &str) {
        if self.exists(ds) {
            self.zfs(&["destroy", "-R", ds]);
        }
    }

    /// Waits until the pool is quiet; with `trim`, hands freed blocks back to the
    /// file the pool lives in.
    fn settle(&self, trim: bool) {
        sh(ZPOOL, &["sync", &self.pool]);
        sh(ZPOOL, &["wait", "-t", "free", &self.pool]);
        if trim {
            let out = Command::new(ZPOOL)
                .args(["trim", "-w", &self.pool])
                .output()
                .unwrap();
            if !out.status.success() {
                say(&format!(
                    "zpool trim: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
        }
    }

    fn mountpoint(&self, ds: &str) -> PathBuf {
        self.mount
            .join(ds.strip_prefix(&format!("{}/", self.pool)).unwrap())
    }

    fn get_bytes(&self, ds: &str, prop: &str) -> u64 {
        self.zfs(&["get", "-Hp", "-o", "value", prop, ds])
            .trim()
            .parse()
            .unwrap()
    }

    /// A fresh boot identity and run directory, so the next install builds.
    fn ctx(&mut self, source_root: &Path, what: &str, replicate: Option<&'static str>) -> Ctx {
        self.seq += 1;
        let run_dir = self.stage.join("run").join(format!("{what}-{}", self.seq));
        fs::create_dir_all(&run_dir).unwrap();
        Ctx {
            source_root: source_root.into(),
            boot_id: format!("bench-{what}-{}", self.seq),
            run_dir,
            replicate,
        }
    }

    fn omicron1(&self, ctx: &Ctx) -> Command {
        let mut c = Command::new(&self.bin);
        c.env("OMICRON1_SOURCE_ROOT", &ctx.source_root)
            .env("OMICRON1_BASELINE_DIR", &self.baseline_dir)
            .env("OMICRON1_ZONES_DIR", &self.zones_dir)
            .env("OMICRON1_RUN_DIR", &ctx.run_dir)
            .env("OMICRON1_BOOT_ID", &ctx.boot_id)
            .env_remove("OMICRON1_LOG")
            .env_remove("OMICRON1_TIMINGS")
            .env_remove("OMICRON1_REPLICATE");
        if let Some(mode) = ctx.replicate {
            c.env("OMICRON1_REPLICATE", mode);
        }
        c
    }

    /// Writes the zonecfg export zoneadm would have for `zone`.
    fn zone_config(&self, zone: &str, zonepath: &Path) {
        let xml = format!(
            "<?xml version=\"1.0\"?>\n<zone name=\"{zone}\" zonepath=\"{}\" brand=\"omicron1\" \
             ip-type=\"exclusive\"></zone>\n",
            zonepath.display()
        );
        fs::write(self.zones_dir.join(format!("{zone}.xml")), xml).unwrap();
    }

    fn timings_file(&mut self) -> PathBuf {
        self.seq += 1;
        self.stage
            .join("timings")
            .join(format!("{}.jsonl", self.seq))
    }

    /// The command for `omicron1 -z ZONE -R ZONEPATH install IMAGE`, with its timings file.
    fn install_cmd(
        &mut self,
        ctx: &Ctx,
        zone: &str,
        zonepath: &Path,
        image: &Path,
    ) -> (Command, PathBuf) {
        let timings = self.timings_file();
        let mut c = self.omicron1(ctx);
        c.env("OMICRON1_TIMINGS", &timings)
            .arg("-z")
            .arg(zone)
            .arg("-R")
            .arg(zonepath)
            .arg("install")
            .arg(image);
        (c, timings)
    }

    fn install(
        &mut self,
        ctx: &Ctx,
        zone: &str,
        zonepath: &Path,
        image: &Path,
        debug: bool,
    ) -> Call {
        self.zone_config(zone, zonepath);
        let (mut c, timings) = self.install_cmd(ctx, zone, zonepath, image);
        if debug {
            c.env("OMICRON1_LOG", "debug");
        }
        let (took, out) = timed(&mut c);
        if debug {
            let name = format!("install-{zone}-{}", self.seq);
            self.log(
                &name,
                &String::from_utf8_lossy(&out.stdout),
                &String::from_utf8_lossy(&out.stderr),
            );
        }
        Call {
            ms: took,
            timings: fs::read_to_string(&timings)
                .ok()
                .and_then(|t| serde_json::from_str(t.lines().next()?).ok()),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    fn uninstall(&self, ctx: &Ctx, zone: &str, zonepath: &Path) -> f64 {
        timed(
            self.omicron1(ctx)
                .arg("-z")
                .arg(zone)
                .arg("-R")
                .arg(zonepath)
                .arg("uninstall")
                .arg("-F"),
        )
        .0
    }

    /// Keeps what a call printed (with debug timestamps) in `OUT/logs/NAME.log`.
    fn log(&self, name: &str, stdout: &str, stderr: &str) {
        let dir = self.out.join("logs");
        fs::create_dir_all(&dir).unwrap();
        fs::write(
            dir.join(format!("{name}.log")),
            format!("{stdout}\n--- stderr\n{stderr}"),
        )
        .unwrap();
    }

    fn save(&self) {
        fs::create_dir_all(&self.out).unwrap();
        let v = Value::Object(self.results.clone());
        fs::write(
            self.out.join("results.json"),
            serde_json::to_string_pretty(&v).unwrap(),
        )
        .unwrap();
    }

    /// Copies tree `label` from the host (9p) to the tmpfs stage.
    fn stage_tree(&mut self, label: &str) -> PathBuf {
        let dest = self.stage.join("trees").join(label);
        let _ = fs::remove_dir_all(&dest);
        fs::create_dir_all(dest.parent().unwrap()).unwrap();
        fs::create_dir(&dest).unwrap();
        let archive = self.data.join("trees").join(format!("{label}.tar"));
        let (took, _) = timed(
            Command::new("tar")
                .arg("-xf")
                .arg(archive)
                .arg("-C")
                .arg(&dest),
        );
        say(&format!(
            "staged tree {label} on tmpfs in {:.1} s (untimed)",
            took / 1000.0
        ));
        dest
    }

    /// Template builds against `cp -a` of the same tree into the same pool.
    fn builds(&mut self, label: &str, src: &Path, tree: &Value) -> Value {
        let reps = self.plan.build_reps(label);
        let (mut cp, mut copy, mut split) = (Vec::new(), Vec::new(), Vec::new());
        // Copy mode on one thread, once, on the smallest tree: does parallel
        // copying pay on this machine? (OMICRON1_COPY_THREADS)
        let mut copy_1t = Vec::new();
        let one_thread_too = self.plan.trees.first().map(|t| t.0) == Some(label);
        let mut referenced = Map::new();
        let mut details = Vec::new();
        for rep in 0..reps {
            let ds = format!("{}/cp", self.top);
            self.create(&ds);
            self.settle(false);
            let started = Instant::now();
            run(Command::new("cp")
                .arg("-a")
                .arg("-t")
                .arg(self.mountpoint(&ds))
                .arg(src.join("usr"))
                .arg(src.join("lib"))
                .arg(src.join("sbin")));
            sh(ZPOOL, &["sync", &self.pool]);
            let took = ms(started.elapsed());
            say(&format!(
                "tree {label} rep {rep}: cp -a + zpool sync {:.0} ms",
                took
            ));
            referenced.insert("cp -a".into(), json!(self.get_bytes(&ds, "referenced")));
            cp.push(took);
            self.destroy(&ds);
            self.settle(true);
            let mut variants = vec![("copy", &mut copy), ("split", &mut split)];
            if one_thread_too && rep == 0 {
                variants.push(("copy-1t", &mut copy_1t));
            }
            for (mode, samples) in variants {
                let parent = format!("{}/build", self.top);
                self.create(&parent);
                self.settle(false);
                let ctx = self.ctx(
                    src,
                    &format!("build-{label}-{mode}"),
                    mode.starts_with("copy").then_some("copy"),
                );
                let mut cmd = self.omicron1(&ctx);
                cmd.env("OMICRON1_LOG", "debug").args([
                    "template", "build", "--pool", &self.pool, "--parent", &parent,
                ]);
                if mode == "copy-1t" {
                    cmd.env("OMICRON1_COPY_THREADS", "1");
                }
                let (took, out) = timed(&mut cmd);
                let (stdout, stderr) = (
                    String::from_utf8_lossy(&out.stdout).into_owned(),
                    String::from_utf8_lossy(&out.stderr).into_owned(),
                );
                self.log(&format!("build-{label}-{mode}-{rep}"), &stdout, &stderr);
                // "replicated /usr: N files, B bytes, L links, T msec"
                let replicate: f64 = stdout
                    .lines()
                    .filter(|l| l.contains("replicated /") && l.ends_with(" msec"))
                    .filter_map(|l| {
                        l.trim_end_matches(" msec")
                            .rsplit(' ')
                            .next()?
                            .parse::<f64>()
                            .ok()
                    })
                    .sum();
                let argv = argv_lines(&stderr);
                details.push(
                    json!({"mode": mode, "rep": rep, "wall_ms": took, "replicate_ms": replicate,
                    "zfs_processes": argv.len(), "zfs_argv": argv}),
                );
                say(&format!(
                    "tree {label} rep {rep}: template build ({mode}) {:.0} ms, replicating {:.0} ms",
                    took, replicate
                ));
                let container = format!("{parent}/omicron1-templates");
                let templates = self.zfs(&[
                    "list",
                    "-Hp",
                    "-o",
                    "name,referenced",
                    "-d",
                    "1",
                    &container,
                ]);
                if let Some(line) = templates
                    .lines()
                    .find(|l| !l.starts_with(&format!("{container}\t")))
                {
                    let bytes: u64 = line.split('\t').nth(1).unwrap().parse().unwrap();
                    referenced.insert(format!("omicron1 {mode}"), json!(bytes));
                }
                samples.push(took);
                self.destroy(&parent);
                self.settle(true);
            }
        }
        let files = tree["files"].as_f64().unwrap();
        let bytes = tree["bytes"].as_f64().unwrap();
        let cp_ms = median(&cp);
        let row = |method: &str, samples: &[f64]| {
            let m = median(samples);
            json!({
                "method": method,
                "samples_ms": samples,
                "median_ms": m,
                "files_per_s": files / (m / 1000.0),
                "mib_per_s": bytes / (1u64 << 20) as f64 / (m / 1000.0),
                "vs_cp": m / cp_ms,
                "referenced_bytes": referenced.get(method),
            })
        };
        let mut methods = vec![
            row("cp -a", &cp),
            row("omicron1 copy", &copy),
            row("omicron1 split", &split),
        ];
        if !copy_1t.is_empty() {
            methods.push(row("omicron1 copy-1t", &copy_1t));
        }
        json!({
            "tree": label,
            "files": tree["files"],
            "bytes": tree["bytes"],
            "linked_files": tree["linked_files"],
            "linked_bytes": tree["linked_bytes"],
            "methods": methods,
            "omicron1_builds": details,
        })
    }

    /// Cold, warm and copy-fallback installs of one zone with one image, and
    /// `tar xzf` of the image into the same pool.
    fn installs(
        &mut self,
        label: &str,
        src: &Path,
        image_label: &str,
        image: &Path,
        img: &Value,
    ) -> Value {
        let payload = img["payload_bytes"].as_u64().unwrap();
        let parent = format!("{}/zones", self.top);
        self.destroy(&parent);
        self.create(&parent);
        let ds = format!("{parent}/{ZONE}");
        self.create(&ds);
        let zonepath = self.mountpoint(&ds);
        let ctx = self.ctx(src, &format!("install-{label}-{image_label}"), None);
        self.settle(false);

        let cold = self.install(&ctx, ZONE, &zonepath, image, true);
        say(&format!(
            "tree {label} image {image_label}: cold install {:.0} ms",
            cold.ms
        ));
        let mut uninstalls = vec![self.uninstall(&ctx, ZONE, &zonepath)];

        let mut warm = Vec::new();
        let mut space = Vec::new();
        for i in 0..self.plan.warm {
            self.settle(false);
            let call = self.install(&ctx, ZONE, &zonepath, image, false);
            say(&format!(
                "tree {label} image {image_label}: warm install {i} {:.0} ms",
                call.ms
            ));
            sh(ZPOOL, &["sync", &self.pool]);
            let root = format!("{ds}/root");
            let used = self.get_bytes(&root, "used");
            let referenced = self.get_bytes(&root, "referenced");
            space.push(json!({"used": used, "referenced": referenced}));
            warm.push(call);
            uninstalls.push(self.uninstall(&ctx, ZONE, &zonepath));
        }

        // Which zfs processes a warm install starts: its argv, logged at debug level.
        self.settle(false);
        let debug = self.install(&ctx, ZONE, &zonepath, image, true);
        let argv = argv_lines(&debug.stderr);
        let out = timed(
            self.omicron1(&ctx)
                .env("OMICRON1_LOG", "debug")
                .arg("-z")
                .arg(ZONE)
                .arg("-R")
                .arg(&zonepath)
                .args(["uninstall", "-F"]),
        )
        .1;
        let uninstall_argv = argv_lines(&String::from_utf8_lossy(&out.stderr));

        let mut tar = Vec::new();
        for _ in 0..self.plan.tar_reps {
            let t = format!("{}/tar", self.top);
            self.create(&t);
            self.settle(false);
            let (took, _) = timed(
                Command::new("tar")
                    .arg("-xzf")
                    .arg(image)
                    .arg("-C")
                    .arg(self.mountpoint(&t)),
            );
            tar.push(took);
            self.destroy(&t);
        }
        say(&format!(
            "tree {label} image {image_label}: tar xzf {:.0} ms",
            median(&tar)
        ));

        // The copy fallback: a zonepath that is a plain folder inside a dataset.
        let copy_ds = format!("{}/copy", self.top);
        self.create(&copy_ds);
        let copy_zonepath = self.mountpoint(&copy_ds).join(ZONE);
        fs::create_dir(&copy_zonepath).unwrap();
        self.settle(false);
        let copy = self.install(&ctx, ZONE, &copy_zonepath, image, false);
        say(&format!(
            "tree {label} image {image_label}: copy-fallback install {:.0} ms",
            copy.ms
        ));
        let copy_uninstall = self.uninstall(&ctx, ZONE, &copy_zonepath);
        self.destroy(&copy_ds);
        self.destroy(&parent);
        self.settle(true);

        let warm_ms: Vec<f64> = warm.iter().map(|c| c.ms).collect();
        let warm_median = median(&warm_ms);
        let mut phases = Map::new();
        if let Some(first) = warm.first().and_then(|c| c.timings.as_ref()) {
            for p in first["phases"].as_array().unwrap() {
                let name = p[0].as_str().unwrap();
                let xs: Vec<f64> = warm.iter().filter_map(|c| c.phase(name)).collect();
                phases.insert(name.into(), json!(median(&xs)));
            }
        }
        let unpack: Vec<f64> = warm.iter().filter_map(|c| c.phase("unpack:0")).collect();
        let unpack_ms = median(&unpack);
        let tar_ms = median(&tar);
        let mib = payload as f64 / (1u64 << 20) as f64;
        let used: Vec<f64> = space.iter().map(|s| s["used"].as_f64().unwrap()).collect();
        let used_max = crate::util::max(&used);
        json!({
            "tree": label,
            "image": image_label,
            "payload_bytes": payload,
            "compressed_bytes": img["compressed_bytes"],
            "image_files": img["files"],
            "cold": cold.to_json(),
            "cold_ms": cold.ms,
            "cold_phases": cold.timings.as_ref().map(|t| t["phases"].clone()),
            "warm": warm.iter().map(Call::to_json).collect::<Vec<_>>(),
            "warm_ms": warm_ms,
            "warm_median_ms": warm_median,
            "warm_min_ms": crate::util::min(&warm_ms),
            "warm_max_ms": crate::util::max(&warm_ms),
            "warm_phases_median_ms": phases,
            "warm_zfs_processes": warm.iter().filter_map(Call::processes).max(),
            "cold_zfs_processes": cold.processes(),
            "cold_zfs_argv": argv_lines(&cold.stderr),
            "warm_zfs_argv": argv,
            "uninstall_zfs_argv": uninstall_argv,
            "copy_fallback": copy.to_json(),
            "copy_fallback_ms": copy.ms,
            "copy_fallback_phases": copy.timings.as_ref().map(|t| t["phases"].clone()),
            "copy_over_warm": copy.ms / warm_median,
            "uninstall_ms": uninstalls,
            "uninstall_median_ms": median(&uninstalls),
            "copy_fallback_uninstall_ms": copy_uninstall,
            "unpack_median_ms": unpack_ms,
            "unpack_mib_per_s": mib / (unpack_ms / 1000.0),
            "tar_ms": tar,
            "tar_median_ms": tar_ms,
            "tar_mib_per_s": mib / (tar_ms / 1000.0),
            "unpack_vs_tar": (mib / (unpack_ms / 1000.0)) / (mib / (tar_ms / 1000.0)),
            "space": space,
            "used_max_bytes": used_max,
            "used_over_payload": used_max / payload as f64,
            "used_limit_bytes": 1.1 * payload as f64 + (1u64 << 20) as f64,
            "payload_allocated_bytes": img["allocated_bytes"],
        })
    }

    /// Installs in a row, then in parallel, on tree `label` with `image`.
    fn scale(&mut self, label: &str, src: &Path, image_label: &str, image: &Path) -> Value {
        // In a row: one template, built first; the zones pile up.
        let parent = format!("{}/row", self.top);
        self.destroy(&parent);
        self.create(&parent);
        let ctx = self.ctx(src, &format!("row-{label}"), None);
        self.settle(false);
        let (build_ms, _) = timed(self.omicron1(&ctx).args([
            "template", "build", "--pool", &self.pool, "--parent", &parent,
        ]));
        let mut row = Vec::new();
        let mut zonepaths = Vec::new();
        for i in 0..self.plan.row {
            let zone = format!("oxz_row{i:02}");
            let ds = format!("{parent}/{zone}");
            self.create(&ds);
            let zonepath = self.mountpoint(&ds);
            let call = self.install(&ctx, &zone, &zonepath, image, false);
            row.push(call.ms);
            zonepaths.push((zone, zonepath));
        }
        say(&format!(
            "{} installs in a row: {:?}",
            row.len(),
            row.iter().map(|m| m.round()).collect::<Vec<_>>()
        ));
        let mut row_uninstall = Vec::new();
        for (zone, zonepath) in &zonepaths {
            row_uninstall.push(self.uninstall(&ctx, zone, zonepath));
        }
        self.destroy(&parent);
        self.settle(true);
        let w = self.plan.row_window.min(row.len());
        let first = median(&row[..w]);
        let last = median(&row[row.len() - w..]);

        // In parallel: N zones race for a template none has built yet, then
        // again once it exists.
        let parent = format!("{}/par", self.top);
        self.destroy(&parent);
        self.create(&parent);
        let ctx = self.ctx(src, &format!("par-{label}"), None);
        let mut zonepaths = Vec::new();
        for i in 0..self.plan.parallel {
            let zone = format!("oxz_par{i:02}");
            let ds = format!("{parent}/{zone}");
            self.create(&ds);
            let zonepath = self.mountpoint(&ds);
            self.zone_config(&zone, &zonepath);
            zonepaths.push((zone, zonepath));
        }
        let mut rounds = Vec::new();
        for round in ["cold", "warm"] {
            self.settle(false);
            let mut children = Vec::new();
            let started = Instant::now();
            for (zone, zonepath) in &zonepaths {
                let (mut c, timings) = self.install_cmd(&ctx, zone, zonepath, image);
                let child = c
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap();
                children.push((child, timings));
            }
            let mut each = Vec::new();
            let mut waited = 0;
            for (child, timings) in children {
                let out = child.wait_with_output().unwrap();
                assert!(
                    out.status.success(),
                    "parallel install failed: {}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
                if String::from_utf8_lossy(&out.stdout).contains("waiting for another install") {
                    waited += 1;
                }
                let t: Value = serde_json::from_str(
                    fs::read_to_string(&timings)
                        .unwrap()
                        .lines()
                        .next()
                        .unwrap(),
                )
                .unwrap();
                each.push(t["total_ms"].as_f64().unwrap());
            }
            let total = ms(started.elapsed());
            let container = format!("{parent}/omicron1-templates");
            let templates = self
                .zfs(&["list", "-H", "-o", "name", "-d", "1", &container])
                .lines()
                .filter(|l| *l != container)
                .count();
            say(&format!(
                "{} installs in parallel ({round}): {:.0} ms, {templates} template(s)",
                zonepaths.len(),
                total
            ));
            let mut uninstall = Vec::new();
            for (zone, zonepath) in &zonepaths {
                uninstall.push(self.uninstall(&ctx, zone, zonepath));
            }
            rounds.push(json!({
                "round": round,
                "zones": zonepaths.len(),
                "total_ms": total,
                "per_install_ms": each,
                "per_install_median_ms": median(&each),
                "templates": templates,
                "waited_for_build": waited,
                "uninstall_median_ms": median(&uninstall),
            }));
        }
        self.destroy(&parent);
        self.settle(true);
        json!({
            "tree": label,
            "image": image_label,
            "row": {
                "zones": row.len(),
                "template_build_ms": build_ms,
                "install_ms": row,
                "window": w,
                "first_median_ms": first,
                "last_median_ms": last,
                "last_over_first": last / first,
                "uninstall_ms": row_uninstall,
                "uninstall_median_ms": median(&row_uninstall),
            },
            "parallel": rounds,
        })
    }
}

fn machine(data: &Path) -> Value {
    let host: Value = fs::read_to_string(data.join("host.json"))
        .ok()
        .and_then(|h| serde_json::from_str(&h).ok())
        .unwrap_or(Value::Null);
    let read = |p: &str| fs::read_to_string(p).unwrap_or_default().trim().to_string();
    let meminfo = read("/proc/meminfo");
    let mem_kib: u64 = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let cpuinfo = read("/proc/cpuinfo");
    json!({
        "guest_zfs_version": read("/sys/module/zfs/version"),
        "guest_kernel": sh("uname", &["-r"]).trim(),
        "guest_cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "guest_cpu_model": cpuinfo.lines().find(|l| l.starts_with("model name")).and_then(|l| l.split_once(':')).map(|(_, m)| m.trim()),
        "guest_memory_gib": mem_kib as f64 / (1u64 << 20) as f64,
        "arc_max_bytes": read("/sys/module/zfs/parameters/zfs_arc_max"),
        "pool": sh(ZPOOL, &["list", "-H", "-o", "name,size", "tp"]).trim().replace('\t', " "),
        "pool_properties": sh(ZFS, &["get", "-H", "-o", "property,value", "recordsize,compression,atime", "tp"]).trim().replace('\t', "=").replace('\n', ", "),
        "pool_vdev": "a file on the guest's tmpfs (guest RAM)",
        "host": host,
    })
}

/// `bench run`.
pub fn main(args: &Args, plan: &Plan) {
    let started = Instant::now();
    let data = args.path("data");
    let stage = args.path("stage");
    let out = args.path("out");
    let pool = std::env::var("OMICRON1_TEST_POOL").unwrap_or_else(|_| "tp".into());
    let mount =
        PathBuf::from(std::env::var("OMICRON1_TEST_MOUNT").unwrap_or_else(|_| "/tmp/tp".into()));
    for sub in ["trees", "run", "timings", "zones", "images"] {
        fs::create_dir_all(stage.join(sub)).unwrap();
    }
    // Stage the installer, the baseline and the images on tmpfs too.
    let bin = stage.join("omicron1");
    fs::copy(args.path("bin"), &bin).unwrap();
    let baseline_dir = stage.join("baseline");
    run(Command::new("cp")
        .arg("-a")
        .arg(data.join("baseline"))
        .arg(&baseline_dir));
    let mut images = Vec::new();
    for (label, _) in &plan.images {
        let desc = read_json(&data.join("images").join(format!("{label}.json")));
        let path = stage.join("images").join(format!("{label}.tar.gz"));
        fs::copy(data.join("images").join(format!("{label}.tar.gz")), &path).unwrap();
        images.push((*label, path, desc));
    }
    let top = format!("{pool}/bench");
    let mut b = Bench {
        plan: plan.clone(),
        bin,
        data: data.clone(),
        stage: stage.clone(),
        out,
        pool: pool.clone(),
        mount,
        top: top.clone(),
        zones_dir: stage.join("zones"),
        baseline_dir,
        seq: 0,
        results: Map::new(),
    };
    b.destroy(&top);
    b.create(&top);
    b.results.insert("quick".into(), json!(plan.quick));
    b.results.insert("machine".into(), machine(&data));
    b.results.insert(
        "plan".into(),
        json!({
            "trees": plan.trees, "images": plan.images, "warm": plan.warm, "tar_reps": plan.tar_reps,
            "build_reps": plan.build_reps, "row": plan.row, "row_window": plan.row_window, "parallel": plan.parallel,
        }),
    );
    let only = args.opt("only");
    if let Some(o) = &only {
        assert!(
            ["builds", "installs", "scale"].contains(&o.as_str()),
            "--only builds|installs|scale, not {o}"
        );
    }
    let want = |section: &str| only.as_deref().is_none_or(|o| o == section);
    b.results.insert("only".into(), json!(only));
    b.results.insert("builds".into(), json!([]));
    b.results.insert("installs".into(), json!([]));
    b.results.insert("scale".into(), Value::Null);
    let (mut builds, mut installs, mut scale) = (Vec::new(), Vec::new(), Value::Null);
    for (n, (label, _)) in plan.trees.iter().enumerate() {
        let last = n + 1 == plan.trees.len();
        if !want("builds") && !want("installs") && !last {
            continue;
        }
        let tree = read_json(&data.join("trees").join(format!("{label}.json")));
        let src = b.stage_tree(label);
        if want("builds") {
            builds.push(b.builds(label, &src, &tree));
            b.results.insert("builds".into(), json!(builds));
            b.save();
        }
        for (image_label, path, desc) in images.iter().filter(|_| want("installs")) {
            installs.push(b.installs(label, &src, image_label, path, desc));
            b.results.insert("installs".into(), json!(installs));
            b.save();
        }
        if last && want("scale") {
            let (image_label, path, _) = &images[0];
            scale = b.scale(label, &src, image_label, path);
            b.results.insert("scale".into(), scale.clone());
        }
        fs::remove_dir_all(&src).unwrap();
    }
    b.destroy(&top);
    b.results
        .insert("elapsed_s".into(), json!(started.elapsed().as_secs_f64()));
    let targets = report::targets(&b.results);
    b.results.insert("targets".into(), targets);
    b.save();
    let table = report::table(&b.results);
    print!("{table}");
    fs::write(b.out.join("results.txt"), table).unwrap();
    let _ = scale;
}
