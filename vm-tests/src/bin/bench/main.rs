//! `bench`: the benchmark driver behind `./bench.sh` (see BENCHMARKS.md).
//!
//! Two halves, one binary:
//!
//! - `bench gen --data DIR --bin OMICRON1 [--quick]` runs on the host, at native
//!   speed: it writes the synthetic system trees, the image layers and the
//!   baseline the benchmark installs, deterministically, and caches them in DIR.
//! - `bench run --data DIR --bin OMICRON1 --stage DIR --out DIR [--quick]` runs
//!   inside the VM (`vm-tests/bench-guest.sh`), against the real pool `tp`: it
//!   times template builds against `cp -a`, installs (cold, warm, the copy
//!   fallback), unpacking against `tar xzf`, space, and installs in a row and
//!   in parallel, then prints a table and writes it, with every sample, as JSON.
//!   `--only SECTION` runs one section (`scale` on the largest tree only).
//!
//! Absolute times under emulation mean little; the ratios between methods
//! measured in the same run are the result.

mod gen;
mod report;
mod run;
mod util;

fn usage() -> ! {
    eprintln!(
        "usage: bench gen --data DIR --bin OMICRON1 [--quick]\n       \
         bench run --data DIR --bin OMICRON1 --stage DIR --out DIR [--quick] [--only builds|installs|scale]"
    );
    std::process::exit(2)
}

/// The command line: a verb, `--flag VALUE` pairs and `--quick`.
pub struct Args {
    verb: String,
    pairs: Vec<(String, String)>,
    /// Smaller trees and images, fewer repeats.
    pub quick: bool,
}

impl Args {
    fn parse() -> Args {
        let mut it = std::env::args().skip(1);
        let verb = it.next().unwrap_or_else(|| usage());
        let mut pairs = Vec::new();
        let mut quick = false;
        while let Some(a) = it.next() {
            if a == "--quick" {
                quick = true;
            } else if let Some(flag) = a.strip_prefix("--") {
                let v = it.next().unwrap_or_else(|| usage());
                pairs.push((flag.to_string(), v));
            } else {
                usage();
            }
        }
        Args { verb, pairs, quick }
    }

    /// The value of `--name`, if given.
    pub fn opt(&self, name: &str) -> Option<String> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }

    /// The value of `--name`, which must be given.
    pub fn path(&self, name: &str) -> std::path::PathBuf {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| std::path::PathBuf::from(v))
            .unwrap_or_else(|| {
                eprintln!("bench {}: --{name} is required", self.verb);
                usage()
            })
    }
}

/// What one run measures: tree and image sizes and repeat counts.
#[derive(Debug, Clone)]
pub struct Plan {
    /// `--quick`.
    pub quick: bool,
    /// System trees: label and size in bytes, smallest first.
    pub trees: Vec<(&'static str, u64)>,
    /// Image layers: label and payload in bytes, smallest first.
    pub images: Vec<(&'static str, u64)>,
    /// Warm installs per tree and image (the median is reported).
    pub warm: usize,
    /// Template builds (and `cp -a`) per tree: (tree label, repeats).
    pub build_reps: Vec<(&'static str, usize)>,
    /// `tar xzf` runs per image.
    pub tar_reps: usize,
    /// Zones installed in a row, and the window compared at each end.
    pub row: usize,
    /// See `row`.
    pub row_window: usize,
    /// Zones installed in parallel.
    pub parallel: usize,
}

impl Plan {
    /// The full plan, or the quick one for iterating.
    pub fn new(quick: bool) -> Plan {
        const MIB: u64 = 1 << 20;
        if quick {
            Plan {
                quick,
                trees: vec![("20m", 20 * MIB), ("100m", 100 * MIB)],
                images: vec![("2m", 2 * MIB), ("10m", 10 * MIB)],
                warm: 3,
                build_reps: vec![("20m", 1), ("100m", 1)],
                tar_reps: 1,
                row: 12,
                row_window: 4,
                parallel: 6,
            }
        } else {
            Plan {
                quick,
                trees: vec![("100m", 100 * MIB), ("1g", 1024 * MIB)],
                images: vec![("5m", 5 * MIB), ("50m", 50 * MIB)],
                warm: 5,
                build_reps: vec![("100m", 3), ("1g", 1)],
                tar_reps: 3,
                row: 50,
                row_window: 10,
                parallel: 16,
            }
        }
    }

    /// How often the builds of tree `label` are repeated.
    pub fn build_reps(&self, label: &str) -> usize {
        self.build_reps
            .iter()
            .find(|(l, _)| *l == label)
            .map_or(1, |(_, n)| *n)
    }
}

fn main() {
    let args = Args::parse();
    let plan = Plan::new(args.quick);
    match args.verb.as_str() {
        "gen" => gen::main(&args, &plan),
        "run" => run::main(&args, &plan),
        _ => usage(),
    }
}
