//! The table `bench run` prints, and the targets of issue 7 checked against
//! the results.

use std::fmt::Write as _;

use serde_json::{json, Map, Value};

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

fn s(ms: f64) -> String {
    format!("{:.2}", ms / 1000.0)
}

fn mib(bytes: f64) -> f64 {
    bytes / (1u64 << 20) as f64
}

fn arr(v: &Value) -> &[Value] {
    v.as_array().map(Vec::as_slice).unwrap_or(&[])
}

fn target(name: &str, goal: &str, value: f64, shown: String, met: bool, detail: String) -> Value {
    json!({ "name": name, "target": goal, "value": value, "shown": shown, "met": met, "detail": detail })
}

/// Each target of the issue, met or not, from the results.
pub fn targets(r: &Map<String, Value>) -> Value {
    let mut out = Vec::new();
    let builds = arr(&r["builds"]);
    for b in builds {
        let tree = b["tree"].as_str().unwrap_or("?");
        for m in arr(&b["methods"]).iter().filter(|m| m["method"] != "cp -a") {
            let method = m["method"].as_str().unwrap_or("?");
            let v = f(&m["vs_cp"]);
            out.push(target(
                &format!("template build {tree} ({method}) vs cp -a"),
                match method {
                    "omicron1 copy" => "<= 1.0",
                    "omicron1 split" => "<= 1.0 (split copies less: informative)",
                    _ => "<= 1.0 (one copy thread: informative)",
                },
                v,
                format!("{v:.2}x"),
                v <= 1.0,
                format!(
                    "{} s vs {} s",
                    s(f(&m["median_ms"])),
                    s(f(&arr(&b["methods"])[0]["median_ms"]))
                ),
            ));
        }
    }
    let installs = arr(&r["installs"]);
    let trees: Vec<&str> = {
        let mut t: Vec<&str> = installs.iter().filter_map(|i| i["tree"].as_str()).collect();
        t.dedup();
        t
    };
    if let (Some(small), Some(large)) = (trees.first(), trees.last()) {
        for i in installs.iter().filter(|i| i["tree"] == *large) {
            let img = i["image"].as_str().unwrap_or("?");
            let v = f(&i["copy_over_warm"]);
            out.push(target(
                &format!("warm install vs copy fallback, tree {large}, image {img}"),
                ">= 20x faster",
                v,
                format!("{v:.1}x"),
                v >= 20.0,
                format!(
                    "warm {} s, copy {} s",
                    s(f(&i["warm_median_ms"])),
                    s(f(&i["copy_fallback_ms"]))
                ),
            ));
            if let Some(j) = installs
                .iter()
                .find(|j| j["tree"] == *small && j["image"] == i["image"])
            {
                let v = f(&i["warm_median_ms"]) / f(&j["warm_median_ms"]);
                out.push(target(
                    &format!("warm install, tree {large} vs {small}, image {img}"),
                    "<= 1.2x",
                    v,
                    format!("{v:.2}x"),
                    v <= 1.2,
                    format!(
                        "{} s vs {} s",
                        s(f(&i["warm_median_ms"])),
                        s(f(&j["warm_median_ms"]))
                    ),
                ));
            }
        }
        for i in installs.iter().filter(|i| i["tree"] == *large) {
            let img = i["image"].as_str().unwrap_or("?");
            let v = f(&i["unpack_vs_tar"]);
            out.push(target(
                &format!("unpack rate vs tar xzf, image {img}"),
                ">= 0.8x",
                v,
                format!("{v:.2}x"),
                v >= 0.8,
                format!(
                    "{:.1} MiB/s vs {:.1} MiB/s",
                    f(&i["unpack_mib_per_s"]),
                    f(&i["tar_mib_per_s"])
                ),
            ));
        }
    }
    let procs = installs
        .iter()
        .filter_map(|i| i["warm_zfs_processes"].as_u64())
        .max();
    if let Some(p) = procs {
        let argv = installs
            .first()
            .map(|i| short_argv(&i["warm_zfs_argv"]).join(", "))
            .unwrap_or_default();
        out.push(target(
            "zfs/zpool processes per warm install",
            "<= 5",
            p as f64,
            p.to_string(),
            p <= 5,
            argv,
        ));
    }
    for i in installs {
        let used = f(&i["used_max_bytes"]);
        let limit = f(&i["used_limit_bytes"]);
        let payload = f(&i["payload_bytes"]);
        out.push(target(
            &format!(
                "zone root used, tree {}, image {}",
                i["tree"].as_str().unwrap_or("?"),
                i["image"].as_str().unwrap_or("?")
            ),
            "<= 1.1 x payload + 1 MiB",
            used / payload,
            format!("{:.2} MiB of {:.2} MiB allowed", mib(used), mib(limit)),
            used <= limit,
            format!(
                "payload {:.2} MiB, used/payload {:.3}",
                mib(payload),
                used / payload
            ),
        ));
    }
    let scale = &r["scale"];
    if !scale.is_null() {
        let row = &scale["row"];
        let v = f(&row["last_over_first"]);
        out.push(target(
            &format!(
                "{} installs in a row: last {} vs first {}",
                row["zones"], row["window"], row["window"]
            ),
            "<= 1.5x",
            v,
            format!("{v:.2}x"),
            v <= 1.5,
            format!(
                "{} s vs {} s (medians)",
                s(f(&row["last_median_ms"])),
                s(f(&row["first_median_ms"]))
            ),
        ));
        if let Some(cold) = arr(&scale["parallel"]).first() {
            let t = cold["templates"].as_u64().unwrap_or(0);
            out.push(target(
                &format!("{} installs in parallel build one template", cold["zones"]),
                "1 template",
                t as f64,
                t.to_string(),
                t == 1,
                format!(
                    "{} waited for the build; total {} s",
                    cold["waited_for_build"],
                    s(f(&cold["total_ms"]))
                ),
            ));
        }
    }
    Value::Array(out)
}

/// `zfs list`, `zfs clone`... from full argv strings.
pub fn short_argv(v: &Value) -> Vec<String> {
    arr(v)
        .iter()
        .filter_map(Value::as_str)
        .map(|a| {
            let mut words = a.split_whitespace();
            let prog = words
                .next()
                .unwrap_or("")
                .rsplit('/')
                .next()
                .unwrap_or("")
                .to_string();
            let sub = words.next().unwrap_or("");
            format!("{prog} {sub}")
        })
        .collect()
}

/// The human-readable table.
pub fn table(r: &Map<String, Value>) -> String {
    let mut t = String::new();
    let m = &r["machine"];
    let _ = writeln!(
        t,
        "\nomicron1 benchmarks{}",
        if r["quick"] == true { " (--quick)" } else { "" }
    );
    let _ = writeln!(
        t,
        "guest: {} vCPUs ({}), {:.1} GiB, Linux {}, OpenZFS {}, pool {} ({}) on {}",
        m["guest_cpus"],
        m["guest_cpu_model"].as_str().unwrap_or("?"),
        f(&m["guest_memory_gib"]),
        m["guest_kernel"].as_str().unwrap_or("?"),
        m["guest_zfs_version"].as_str().unwrap_or("?"),
        m["pool"].as_str().unwrap_or("?"),
        m["pool_properties"].as_str().unwrap_or("?"),
        m["pool_vdev"].as_str().unwrap_or("?"),
    );
    if let Some(h) = m["host"].as_object() {
        let _ = writeln!(
            t,
            "host: {}",
            h.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or(&v.to_string())))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }

    let _ = writeln!(
        t,
        "\n1. Template build (system tree -> pool), median of runs"
    );
    let _ = writeln!(
        t,
        "{:<6} {:>7} {:>8} {:<16} {:>4} {:>9} {:>9} {:>8} {:>9} {:>11} {:>11} {:>6}",
        "tree",
        "files",
        "MiB",
        "method",
        "runs",
        "time s",
        "files/s",
        "MiB/s",
        "vs cp -a",
        "written MiB",
        "replicate s",
        "procs"
    );
    for b in arr(&r["builds"]) {
        for mm in arr(&b["methods"]) {
            let mode = mm["method"]
                .as_str()
                .unwrap_or("")
                .strip_prefix("omicron1 ")
                .unwrap_or("-");
            let own: Vec<&Value> = arr(&b["omicron1_builds"])
                .iter()
                .filter(|d| d["mode"] == mode)
                .collect();
            let replicate: Vec<f64> = own.iter().map(|d| f(&d["replicate_ms"])).collect();
            let (rep_s, procs) = if own.is_empty() {
                ("-".to_string(), "-".to_string())
            } else {
                (
                    s(crate::util::median(&replicate)),
                    own[0]["zfs_processes"].to_string(),
                )
            };
            let _ = writeln!(
                t,
                "{:<6} {:>7} {:>8.1} {:<16} {:>4} {:>9} {:>9.0} {:>8.1} {:>8.2}x {:>11.1} {:>11} {:>6}",
                b["tree"].as_str().unwrap_or("?"),
                b["files"],
                mib(f(&b["bytes"])),
                mm["method"].as_str().unwrap_or("?"),
                arr(&mm["samples_ms"]).len(),
                s(f(&mm["median_ms"])),
                f(&mm["files_per_s"]),
                f(&mm["mib_per_s"]),
                f(&mm["vs_cp"]),
                mib(f(&mm["referenced_bytes"])),
                rep_s,
                procs,
            );
        }
    }

    let _ = writeln!(
        t,
        "\n2. Install (default split mode): seconds; warm = median of {} (min-max)",
        r["plan"]["warm"]
    );
    let _ = writeln!(
        t,
        "{:<6} {:<6} {:>8} {:>17} {:>9} {:>10} {:>10} {:>10}",
        "tree", "image", "cold", "warm", "copy", "copy/warm", "uninstall", "copy uninst"
    );
    for i in arr(&r["installs"]) {
        let _ = writeln!(
            t,
            "{:<6} {:<6} {:>8} {:>17} {:>9} {:>9.1}x {:>10} {:>10}",
            i["tree"].as_str().unwrap_or("?"),
            i["image"].as_str().unwrap_or("?"),
            s(f(&i["cold_ms"])),
            format!(
                "{} ({}-{})",
                s(f(&i["warm_median_ms"])),
                s(f(&i["warm_min_ms"])),
                s(f(&i["warm_max_ms"]))
            ),
            s(f(&i["copy_fallback_ms"])),
            f(&i["copy_over_warm"]),
            s(f(&i["uninstall_median_ms"])),
            s(f(&i["copy_fallback_uninstall_ms"])),
        );
    }

    let _ = writeln!(
        t,
        "\n3. Where a warm install's time goes: median ms per phase (OMICRON1_TIMINGS)"
    );
    let names: Vec<String> = arr(&r["installs"])
        .first()
        .and_then(|i| i["warm_phases_median_ms"].as_object())
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    let _ = write!(t, "{:<6} {:<6}", "tree", "image");
    for n in &names {
        let _ = write!(
            t,
            " {:>9}",
            n.replace("-check", "")
                .replace("find-dataset", "find-ds")
                .replace("encryption", "encrypt")
        );
    }
    let _ = writeln!(t, " {:>9} {:>6}", "total", "procs");
    for i in arr(&r["installs"]) {
        let _ = write!(
            t,
            "{:<6} {:<6}",
            i["tree"].as_str().unwrap_or("?"),
            i["image"].as_str().unwrap_or("?")
        );
        let mut sum = 0.0;
        for n in &names {
            let v = f(&i["warm_phases_median_ms"][n]);
            sum += v;
            let _ = write!(t, " {:>9.0}", v);
        }
        let _ = writeln!(
            t,
            " {:>9.0} {:>6}",
            f(&i["warm_median_ms"]),
            i["warm_zfs_processes"]
        );
        let _ = sum;
    }
    let _ = writeln!(t, "(total = wall time of the process; the rest is start-up, argument and baseline checks, exit)");
    if let Some(i) = arr(&r["installs"]).first() {
        let _ = writeln!(
            t,
            "zfs/zpool processes of a warm install: {}",
            short_argv(&i["warm_zfs_argv"]).join(", ")
        );
        let u = short_argv(&i["uninstall_zfs_argv"]);
        let _ = writeln!(
            t,
            "zfs/zpool processes of an uninstall: {} ({})",
            u.len(),
            u.join(", ")
        );
        let cold = short_argv(&i["cold_zfs_argv"]);
        let _ = writeln!(
            t,
            "zfs/zpool processes of a cold install (builds the template): {} ({})",
            cold.len(),
            cold.join(", ")
        );
    }
    let _ = writeln!(
        t,
        "\nUnpack (warm, phase unpack:0) vs tar xzf of the same image into the same pool"
    );
    let _ = writeln!(
        t,
        "{:<6} {:<6} {:>9} {:>9} {:>10} {:>9} {:>10} {:>7}",
        "tree", "image", "payload", "gz MiB", "unpack s", "MiB/s", "tar s", "ratio"
    );
    for i in arr(&r["installs"]) {
        let _ = writeln!(
            t,
            "{:<6} {:<6} {:>9.1} {:>9.1} {:>10} {:>9.1} {:>10} {:>6.2}x",
            i["tree"].as_str().unwrap_or("?"),
            i["image"].as_str().unwrap_or("?"),
            mib(f(&i["payload_bytes"])),
            mib(f(&i["compressed_bytes"])),
            s(f(&i["unpack_median_ms"])),
            f(&i["unpack_mib_per_s"]),
            format!(
                "{} ({:.1}/s)",
                s(f(&i["tar_median_ms"])),
                f(&i["tar_mib_per_s"])
            ),
            f(&i["unpack_vs_tar"]),
        );
    }

    let _ = writeln!(
        t,
        "\n4. Space: zone root `used` after install against the image payload"
    );
    let _ =
        writeln!(t, "(min alloc: what the image's files take at least with this pool's recordsize and compression)");
    let _ = writeln!(
        t,
        "{:<6} {:<6} {:>12} {:>14} {:>12} {:>12} {:>10}",
        "tree", "image", "payload MiB", "min alloc MiB", "used MiB", "limit MiB", "used/pay"
    );
    for i in arr(&r["installs"]) {
        let _ = writeln!(
            t,
            "{:<6} {:<6} {:>12.2} {:>14.2} {:>12.2} {:>12.2} {:>10.3}",
            i["tree"].as_str().unwrap_or("?"),
            i["image"].as_str().unwrap_or("?"),
            mib(f(&i["payload_bytes"])),
            mib(f(&i["payload_allocated_bytes"])),
            mib(f(&i["used_max_bytes"])),
            mib(f(&i["used_limit_bytes"])),
            f(&i["used_over_payload"]),
        );
    }

    let sc = &r["scale"];
    if !sc.is_null() {
        let row = &sc["row"];
        let _ = writeln!(
            t,
            "\n5. Scale (tree {}, image {})",
            sc["tree"].as_str().unwrap_or("?"),
            sc["image"].as_str().unwrap_or("?")
        );
        let _ = writeln!(
            t,
            "{} zones in a row: first {} median {} s, last {} median {} s ({:.2}x); uninstall median {} s",
            row["zones"],
            row["window"],
            s(f(&row["first_median_ms"])),
            row["window"],
            s(f(&row["last_median_ms"])),
            f(&row["last_over_first"]),
            s(f(&row["uninstall_median_ms"])),
        );
        for p in arr(&sc["parallel"]) {
            let _ = writeln!(
                t,
                "{} zones in parallel, {}: total {} s ({} s per zone), per-install median {} s, {} template(s), {} waited for the build; uninstall median {} s",
                p["zones"],
                if p["round"] == "cold" { "template not yet built" } else { "template built" },
                s(f(&p["total_ms"])),
                s(f(&p["total_ms"]) / f(&p["zones"])),
                s(f(&p["per_install_median_ms"])),
                p["templates"],
                p["waited_for_build"],
                s(f(&p["uninstall_median_ms"])),
            );
        }
    }

    let _ = writeln!(t, "\nTargets");
    for g in arr(&r["targets"]) {
        let _ = writeln!(
            t,
            "  [{}] {}: {} (target {}) - {}",
            if g["met"] == true { "met" } else { "MISSED" },
            g["name"].as_str().unwrap_or("?"),
            g["shown"].as_str().unwrap_or("?"),
            g["target"].as_str().unwrap_or("?"),
            g["detail"].as_str().unwrap_or(""),
        );
    }
    let _ = writeln!(t, "\nrun took {:.0} s", f(&r["elapsed_s"]));
    t
}
