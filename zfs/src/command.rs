//! [`Zfs`] over the `zfs` and `zpool` commands.

use std::ffi::OsString;
use std::path::Path;

use crate::error::Error;
use crate::names::{DatasetName, ObjectName, PoolName, SnapshotName};
use crate::parse;
use crate::runner::Runner;
use crate::{CreateOptions, Depth, DestroyOptions, ListKind, ListRow, Properties, Result, Zfs};

/// The command-line backend: every call is one `zfs` or `zpool` process.
#[derive(Debug, Default)]
pub struct CliZfs {
    runner: Runner,
}

impl CliZfs {
    /// A backend using the system's `/usr/sbin/zfs` and `/usr/sbin/zpool`.
    pub fn new() -> Self {
        Self::default()
    }

    /// A backend using the given runner (other binaries, process counting).
    pub fn with_runner(runner: Runner) -> Self {
        CliZfs { runner }
    }

    /// The runner, e.g. to read how many processes were started.
    pub fn runner(&self) -> &Runner {
        &self.runner
    }

    fn zfs(&self, op: &'static str, target: impl ToString, args: Vec<OsString>) -> Result<String> {
        self.runner
            .zfs(args)
            .map_err(|e| Error::command(op, target, e))
    }
}

/// `-o name=value` pairs for create, snapshot and clone.
fn option_args(properties: &[(&str, &str)]) -> Vec<OsString> {
    properties
        .iter()
        .flat_map(|(k, v)| ["-o".into(), format!("{k}={v}").into()])
        .collect()
}

fn parse_err(op: &'static str, target: impl ToString, detail: String) -> Error {
    Error::Parse {
        op,
        target: target.to_string(),
        detail,
    }
}

fn args<const N: usize>(fixed: [&str; N]) -> Vec<OsString> {
    fixed.iter().map(OsString::from).collect()
}

impl Zfs for CliZfs {
    fn create(&self, dataset: &DatasetName, options: &CreateOptions<'_>) -> Result<()> {
        let mut argv = args(["create"]);
        if options.parents {
            argv.push("-p".into());
        }
        argv.extend(option_args(options.properties));
        argv.push(dataset.as_str().into());
        self.zfs("create", dataset, argv).map(drop)
    }

    fn snapshot(&self, snapshot: &SnapshotName, properties: &[(&str, &str)]) -> Result<()> {
        let mut argv = args(["snapshot"]);
        argv.extend(option_args(properties));
        argv.push(snapshot.as_str().into());
        self.zfs("snapshot", snapshot, argv).map(drop)
    }

    fn clone_snapshot(
        &self,
        origin: &SnapshotName,
        target: &DatasetName,
        properties: &[(&str, &str)],
    ) -> Result<()> {
        let mut argv = args(["clone"]);
        argv.extend(option_args(properties));
        argv.push(origin.as_str().into());
        argv.push(target.as_str().into());
        self.zfs("clone", format!("{origin} to {target}"), argv)
            .map(drop)
    }

    fn destroy(&self, object: ObjectName<'_>, options: DestroyOptions) -> Result<()> {
        let mut argv = args(["destroy"]);
        if options.recursive {
            argv.push("-r".into());
        }
        if options.deferred {
            argv.push("-d".into());
        }
        argv.push(object.as_str().into());
        self.zfs("destroy", object, argv).map(drop)
    }

    fn get(&self, object: ObjectName<'_>, properties: &[&str]) -> Result<Properties> {
        let mut argv = args(["get", "-H", "-p", "-o", "property,value,source"]);
        argv.push(properties.join(",").into());
        argv.push(object.as_str().into());
        let out = self.zfs("get", object, argv)?;
        parse::properties(&out).map_err(|d| parse_err("get", object, d))
    }

    fn set(&self, object: ObjectName<'_>, properties: &[(&str, &str)]) -> Result<()> {
        let mut argv = args(["set"]);
        argv.extend(
            properties
                .iter()
                .map(|(k, v)| OsString::from(format!("{k}={v}"))),
        );
        argv.push(object.as_str().into());
        self.zfs("set", object, argv).map(drop)
    }

    fn list(
        &self,
        root: &DatasetName,
        kind: ListKind,
        depth: Depth,
        properties: &[&str],
    ) -> Result<Vec<ListRow>> {
        let columns: Vec<&str> = std::iter::once("name")
            .chain(properties.iter().copied())
            .collect();
        let mut argv = args(["list", "-H", "-p", "-o"]);
        argv.push(columns.join(",").into());
        argv.push("-t".into());
        argv.push(match kind {
            ListKind::Filesystems => "filesystem".into(),
            ListKind::Snapshots => "snapshot".into(),
            ListKind::FilesystemsAndSnapshots => "filesystem,snapshot".into(),
        });
        match depth {
            Depth::Recursive => argv.push("-r".into()),
            Depth::Levels(n) => {
                argv.push("-d".into());
                argv.push(n.to_string().into());
            }
        }
        argv.push(root.as_str().into());
        let out = self.zfs("list", root, argv)?;
        let rows = parse::rows(&out, columns.len()).map_err(|d| parse_err("list", root, d))?;
        rows.into_iter()
            .map(|row| {
                let mut fields = row.into_iter();
                let name = fields
                    .next()
                    .flatten()
                    .ok_or_else(|| parse_err("list", root, "a row without a name".into()))?
                    .parse()?;
                let values = properties
                    .iter()
                    .map(|p| p.to_string())
                    .zip(fields)
                    .collect();
                Ok(ListRow { name, values })
            })
            .collect()
    }

    fn children(&self, dataset: &DatasetName) -> Result<Vec<DatasetName>> {
        let mut argv = args([
            "list",
            "-H",
            "-p",
            "-o",
            "name",
            "-t",
            "filesystem",
            "-d",
            "1",
        ]);
        argv.push(dataset.as_str().into());
        let out = self.zfs("list", dataset, argv)?;
        let names = parse::names(&out).map_err(|d| parse_err("list", dataset, d))?;
        names
            .iter()
            .filter(|n| n.as_str() != dataset.as_str())
            .map(|n| Ok(n.parse()?))
            .collect()
    }

    fn mounted_at(&self, path: &Path, properties: &[&str]) -> Result<Option<ListRow>> {
        let columns: Vec<&str> = ["name", "mountpoint", "mounted"]
            .into_iter()
            .chain(properties.iter().copied())
            .collect();
        let mut argv = args(["list", "-H", "-p", "-o"]);
        argv.push(columns.join(",").into());
        argv.extend(args(["-t", "filesystem"]));
        argv.push(path.as_os_str().to_owned());
        let target = path.display();
        let out = match self.runner.zfs(argv) {
            Ok(out) => out,
            // `zfs list PATH` for a path that is not on ZFS, or does not exist.
            Err(e)
                if e.stderr.contains("not a ZFS filesystem")
                    || e.stderr.contains("No such file or directory") =>
            {
                return Ok(None)
            }
            Err(e) => return Err(Error::command("list", target, e)),
        };
        let rows = parse::rows(&out, columns.len()).map_err(|d| parse_err("list", target, d))?;
        for row in rows {
            let mut fields = row.into_iter();
            let (Some(Some(name)), Some(Some(mountpoint)), Some(Some(mounted))) =
                (fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            if Path::new(&mountpoint) == path && mounted == "yes" {
                let values = properties
                    .iter()
                    .map(|p| p.to_string())
                    .zip(fields)
                    .collect();
                return Ok(Some(ListRow {
                    name: name.parse()?,
                    values,
                }));
            }
        }
        Ok(None)
    }

    fn mount(&self, dataset: &DatasetName) -> Result<()> {
        let mut argv = args(["mount"]);
        argv.push(dataset.as_str().into());
        self.zfs("mount", dataset, argv).map(drop)
    }

    fn unmount(&self, dataset: &DatasetName) -> Result<()> {
        let mut argv = args(["unmount"]);
        argv.push(dataset.as_str().into());
        self.zfs("unmount", dataset, argv).map(drop)
    }

    fn pools(&self) -> Result<Vec<PoolName>> {
        let out = self
            .runner
            .zpool(["list", "-H", "-o", "name"])
            .map_err(|e| Error::command("pool list", "all pools", e))?;
        let names = parse::names(&out).map_err(|d| parse_err("pool list", "all pools", d))?;
        names.iter().map(|n| Ok(n.parse()?)).collect()
    }
}
