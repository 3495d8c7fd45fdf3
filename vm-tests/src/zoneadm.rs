//! zoneadm(8) as it drives a brand that has hooks, imitated on real OpenZFS so
//! that the VM suite calls the installer exactly as illumos does.
//!
//! Written from illumos-gate `usr/src/cmd/zoneadm/zoneadm.c` (`install_func`,
//! `clone_func`, `uninstall_func`, `detach_func`, `verify_brand`,
//! `cleanup_zonepath`) and `usr/src/cmd/zoneadm/zfs.c` (`path2name`,
//! `create_zfs_zonepath`, `destroy_zfs`, `is_zonepath_zfs`,
//! `promote_all_clones`, `rm_snap`). Each function names the one it imitates.
//! What is not imitated: the zone index and XML repository (the zone's state
//! is a field here), locks, zoneadmd, and libzfs itself (the `zfs` command
//! does the same operations). illumos's statvfs/mnttab questions ("is this
//! path a ZFS mountpoint?") are answered from `zfs list`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::fixture::Fixture;

/// `ZONE_SUBPROC_OK` (`sys/zone.h`): the hook succeeded.
pub const ZONE_SUBPROC_OK: i32 = 0;
/// `ZONE_SUBPROC_USAGE`: bad arguments; zoneadm prints its usage.
pub const ZONE_SUBPROC_USAGE: i32 = 253;
/// `ZONE_SUBPROC_NOTCOMPLETE`: zoneadm cleans the zonepath and returns the
/// zone to *configured* (`install_func`).
pub const ZONE_SUBPROC_NOTCOMPLETE: i32 = 254;
/// `ZONE_SUBPROC_FATAL`: zoneadm cleans nothing; the zone stays *incomplete*.
pub const ZONE_SUBPROC_FATAL: i32 = 255;

/// A zone's state as zoneadm records it in the zone index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZoneState {
    /// Configured, nothing installed.
    Configured,
    /// An install, clone or uninstall did not finish.
    Incomplete,
    /// Installed.
    Installed,
}

/// A configured zone: what zonecfg would hold, plus its state.
#[derive(Debug, Clone)]
pub struct Zone {
    /// The zone's name.
    pub name: String,
    /// Its zonepath.
    pub zonepath: PathBuf,
    /// Its state in the zone index.
    pub state: ZoneState,
}

impl Zone {
    /// A zone in state *configured* (after `zonecfg create`).
    pub fn configured(name: &str, zonepath: &Path) -> Zone {
        Zone {
            name: name.to_string(),
            zonepath: zonepath.to_path_buf(),
            state: ZoneState::Configured,
        }
    }
}

/// What `cleanup_zonepath` did after a hook exited 254.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cleanup {
    /// `destroy_zfs` destroyed the zonepath's dataset (named).
    DestroyedDataset(String),
    /// `rm -rf ZONEPATH/*` (the dataset could not be destroyed, or there was none).
    RemovedContents,
    /// Non-standard entries were found: only `dev`, `lastexited`, `lu`, `root`
    /// and `SUNWattached.xml` were removed.
    RemovedStandardEntries,
    /// The zonepath did not exist.
    Nothing,
}

/// What one zoneadm subcommand did.
#[derive(Debug)]
pub struct Outcome {
    /// zoneadm's own success (`Z_OK`).
    pub ok: bool,
    /// The exit code of the main hook, if zoneadm got as far as running it.
    pub hook_exit: Option<i32>,
    /// The exit code of `verify_adm`, if it ran.
    pub verify_exit: Option<i32>,
    /// What `cleanup_zonepath` did, if zoneadm ran it.
    pub cleanup: Option<Cleanup>,
    /// The hooks' stdout and stderr, for failure messages.
    pub log: String,
}

/// Runs a command, returning its stdout, or its stderr on failure.
pub fn run(cmd: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .map_err(|e| format!("{cmd}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{cmd} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn zfs(args: &[&str]) -> Result<String, String> {
    run("zfs", args)
}

/// The filesystem mounted at `path`, if any: libzfs's `mount2zhandle`
/// (zfs.c), which looks `path` up in mnttab.
pub fn mount2zhandle(path: &Path) -> Option<String> {
    let list = zfs(&[
        "list",
        "-H",
        "-t",
        "filesystem",
        "-o",
        "name,mountpoint,mounted",
    ])
    .ok()?;
    list.lines().find_map(|line| {
        let mut f = line.split('\t');
        let (name, mountpoint, mounted) = (f.next()?, f.next()?, f.next()?);
        (Path::new(mountpoint) == path && mounted == "yes").then(|| name.to_string())
    })
}

/// `is_zonepath_zfs` (zfs.c): the zonepath is its own ZFS filesystem.
pub fn is_zonepath_zfs(zonepath: &Path) -> bool {
    mount2zhandle(zonepath).is_some()
}

/// `path2name` (zfs.c): the dataset name zoneadm gives a zonepath — the
/// dataset mounted on the zonepath's parent directory, plus the zonepath's
/// last component. None when the parent is not a mounted ZFS filesystem.
pub fn path2name(zonepath: &Path) -> Option<String> {
    let parent = zonepath.parent()?;
    let base = zonepath.file_name()?.to_str()?;
    mount2zhandle(parent).map(|p| format!("{p}/{base}"))
}

fn exists(dataset: &str) -> bool {
    zfs(&["list", "-H", "-o", "name", dataset]).is_ok()
}

/// `create_zfs_zonepath` (zfs.c): creates `path2name(zonepath)` with
/// `sharenfs=off` and `sharesmb=off`, mounts it and makes the zonepath mode
/// 0700. Does nothing when that dataset exists already (Oxide's sled-agent
/// makes it first) or the parent is not ZFS. A dataset that fails to mount is
/// destroyed again. Returns the dataset it created.
pub fn create_zfs_zonepath(zonepath: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let name = path2name(zonepath)?;
    if exists(&name) {
        return None;
    }
    if let Err(e) = zfs(&["create", "-o", "sharenfs=off", "-o", "sharesmb=off", &name]) {
        eprintln!("zoneadm: cannot create ZFS dataset {name}: {e}");
        return None;
    }
    if mount2zhandle(zonepath).is_none() {
        if let Err(e) = zfs(&["mount", &name]) {
            eprintln!("zoneadm: cannot mount ZFS dataset {name}: {e}");
            let _ = zfs(&["destroy", &name]);
            return None;
        }
    }
    if let Err(e) = std::fs::set_permissions(zonepath, std::fs::Permissions::from_mode(0o700)) {
        eprintln!("zoneadm: {name} created, but chmod 700 failed: {e}");
        let _ = destroy_zfs(zonepath);
        return None;
    }
    Some(name)
}

/// Snapshots of `dataset` with their clones: (snapshot, clones).
fn snapshots_with_clones(dataset: &str) -> Vec<(String, Vec<String>)> {
    zfs(&[
        "list",
        "-H",
        "-d",
        "1",
        "-t",
        "snapshot",
        "-s",
        "creation",
        "-o",
        "name,clones",
        dataset,
    ])
    .unwrap_or_default()
    .lines()
    .filter_map(|l| {
        let (name, clones) = l.split_once('\t')?;
        let clones = clones
            .split(',')
            .filter(|c| !c.is_empty() && *c != "-")
            .map(str::to_string)
            .collect();
        Some((name.to_string(), clones))
    })
    .collect()
}

/// `promote_all_clones` (zfs.c): promotes the youngest clone of any of
/// `dataset`'s snapshots, so that the dataset can be destroyed. (zoneadm also
/// renames `@SUNWzoneN` snapshots first to avoid name clashes; omicron1 makes
/// none.)
fn promote_all_clones(dataset: &str) -> Result<(), String> {
    let youngest = snapshots_with_clones(dataset)
        .into_iter()
        .rfind(|(_, clones)| !clones.is_empty());
    if let Some((_, clones)) = youngest {
        zfs(&["promote", &clones[0]])?;
    }
    Ok(())
}

/// `destroy_zfs` (zfs.c): destroys the filesystem mounted at the zonepath:
/// promotes its clones, destroys its snapshots (`rm_snap`), refuses if it
/// still has dependents (children), unmounts and destroys it (remounting it
/// if the destroy fails), removes the mountpoint directory, and destroys the
/// snapshot it was cloned from if nothing else depends on that snapshot.
pub fn destroy_zfs(zonepath: &Path) -> Result<String, String> {
    let ds = mount2zhandle(zonepath).ok_or("not a ZFS mountpoint")?;
    promote_all_clones(&ds)?;
    for (snap, clones) in snapshots_with_clones(&ds) {
        if clones.is_empty() {
            let _ = zfs(&["destroy", &snap]);
        }
    }
    let children = zfs(&[
        "list", "-H", "-r", "-d", "1", "-t", "all", "-o", "name", &ds,
    ])?;
    if children.lines().any(|c| c != ds) {
        return Err(format!(
            "zfs destroy {ds} failed: the dataset still has dependents"
        ));
    }
    let origin = zfs(&["get", "-H", "-o", "value", "origin", &ds])?
        .trim()
        .to_string();
    zfs(&["unmount", &ds])?;
    if let Err(e) = zfs(&["destroy", &ds]) {
        let _ = zfs(&["mount", &ds]);
        return Err(e);
    }
    let _ = std::fs::remove_dir(zonepath);
    if origin != "-" && snapshots_with_clones_of(&origin).is_empty() {
        let _ = zfs(&["destroy", &origin]);
    }
    Ok(ds)
}

fn snapshots_with_clones_of(snapshot: &str) -> Vec<String> {
    zfs(&["get", "-H", "-o", "value", "clones", snapshot])
        .unwrap_or_default()
        .trim()
        .split(',')
        .filter(|c| !c.is_empty() && *c != "-")
        .map(str::to_string)
        .collect()
}

/// `cleanup_zonepath(zonepath, B_FALSE)` (zoneadm.c), run after a hook exits
/// 254: with non-standard entries in the zonepath, `rm -rf` only the standard
/// ones; else, if the zonepath is its own dataset, `destroy_zfs`, falling back
/// to `rm -rf ZONEPATH/*` (a shell glob: dot files stay); else `rm -rf ZONEPATH`.
pub fn cleanup_zonepath(zonepath: &Path) -> Result<Cleanup, String> {
    const STD_ENTRIES: [&str; 5] = ["dev", "lastexited", "lu", "root", "SUNWattached.xml"];
    let Ok(dir) = std::fs::read_dir(zonepath) else {
        return Ok(Cleanup::Nothing);
    };
    let non_std = dir
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .any(|n| n != ".zfs" && !STD_ENTRIES.contains(&n.as_str()));
    if non_std {
        for e in STD_ENTRIES {
            let _ = run("rm", &["-rf", zonepath.join(e).to_str().unwrap_or("")]);
        }
        return Ok(Cleanup::RemovedStandardEntries);
    }
    if is_zonepath_zfs(zonepath) {
        match destroy_zfs(zonepath) {
            Ok(ds) => return Ok(Cleanup::DestroyedDataset(ds)),
            Err(e) => eprintln!("zoneadm: {e}"),
        }
        run(
            "sh",
            &["-c", &format!("exec rm -rf {}/*", zonepath.display())],
        )?;
        return Ok(Cleanup::RemovedContents);
    }
    run("rm", &["-rf", zonepath.to_str().unwrap_or("")])?;
    Ok(Cleanup::RemovedContents)
}

/// `validate_zonepath` for a new zonepath (zoneadm.c, as `clone_func` and
/// `install_func` reach it through `verify_details`): a missing zonepath is
/// made as a directory, mode 0700.
pub fn validate_zonepath(zonepath: &Path) -> Result<(), String> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    if !zonepath.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(zonepath)
            .map_err(|e| format!("{}: {e}", zonepath.display()))?;
        std::fs::set_permissions(zonepath, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// zoneadm for one machine: runs the brand's hooks through `fixture` (the
/// installer with the test's settings), as `config.xml` routes them.
pub struct Zoneadm<'a> {
    fixture: &'a Fixture,
}

impl<'a> Zoneadm<'a> {
    /// zoneadm calling the installer with `fixture`'s settings.
    pub fn new(fixture: &'a Fixture) -> Zoneadm<'a> {
        Zoneadm { fixture }
    }

    fn hook(&self, zone: &Zone, args: &[&str], log: &mut String) -> i32 {
        let out: Output = self.fixture.hook(&zone.name, &zone.zonepath, args);
        log.push_str(&format!(
            "$ brand -z {} -R {} {}\n{}{}exit {:?}\n",
            zone.name,
            zone.zonepath.display(),
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            out.status.code()
        ));
        out.status.code().unwrap_or(-1)
    }

    /// `verify_brand` (zoneadm.c): `verify_adm` gets the subcommand's name and
    /// zoneadm's raw argv for it (`install -x nodataset IMAGE`).
    fn verify_brand(&self, zone: &Zone, subcommand: &str, argv: &[&str], log: &mut String) -> i32 {
        let mut args = vec!["verify_adm", subcommand];
        args.extend_from_slice(argv);
        self.hook(zone, &args, log)
    }

    /// `zoneadm -z ZONE install ARGV...` (`install_func`): the zone must be
    /// *configured*; `verify_adm install ARGV`; state *incomplete*; unless
    /// `-x nodataset`, `create_zfs_zonepath`; the install hook with ARGV less
    /// `-x nodataset`. Then 0: *installed*; 253: stays *incomplete* (usage);
    /// 254: `cleanup_zonepath`, then *configured*; anything else: stays
    /// *incomplete*, nothing cleaned.
    pub fn install(&self, zone: &mut Zone, argv: &[&str]) -> Outcome {
        let mut log = String::new();
        let mut outcome = Outcome {
            ok: false,
            hook_exit: None,
            verify_exit: None,
            cleanup: None,
            log: String::new(),
        };
        if zone.state != ZoneState::Configured {
            outcome.log = format!(
                "zoneadm: zone {} is {:?}; configured is required",
                zone.name, zone.state
            );
            return outcome;
        }
        let v = self.verify_brand(zone, "install", argv, &mut log);
        outcome.verify_exit = Some(v);
        if v != ZONE_SUBPROC_OK {
            outcome.log = log;
            return outcome;
        }
        let mut pass = Vec::new();
        let mut do_dataset = true;
        let mut i = 0;
        while i < argv.len() {
            if argv[i] == "-x" && argv.get(i + 1) == Some(&"nodataset") {
                do_dataset = false;
                i += 2;
                continue;
            }
            pass.push(argv[i]);
            i += 1;
        }
        zone.state = ZoneState::Incomplete;
        if do_dataset {
            create_zfs_zonepath(&zone.zonepath);
        }
        let mut args = vec!["install"];
        args.extend(pass);
        let code = self.hook(zone, &args, &mut log);
        outcome.hook_exit = Some(code);
        match code {
            ZONE_SUBPROC_OK => {
                zone.state = ZoneState::Installed;
                outcome.ok = true;
            }
            ZONE_SUBPROC_NOTCOMPLETE => match cleanup_zonepath(&zone.zonepath) {
                Ok(c) => {
                    outcome.cleanup = Some(c);
                    zone.state = ZoneState::Configured;
                }
                Err(e) => log.push_str(&format!("zoneadm: cleaning up zonepath failed: {e}\n")),
            },
            _ => {}
        }
        outcome.log = log;
        outcome
    }

    /// `zoneadm -z ZONE clone [-s SNAPSHOT] SOURCE` (`clone_func`) for a brand
    /// with a clone hook: the target must be *configured* and the source
    /// *installed*; `verify_details` makes the zonepath a directory (mode
    /// 0700) and runs `verify_adm clone ARGV`; state *incomplete*; the clone
    /// hook with ARGV. No dataset is made and nothing is cleaned on failure:
    /// 0 makes the zone *installed*, anything else leaves it *incomplete*.
    pub fn clone(&self, zone: &mut Zone, source: &Zone, snapshot: Option<&str>) -> Outcome {
        let mut log = String::new();
        let mut outcome = Outcome {
            ok: false,
            hook_exit: None,
            verify_exit: None,
            cleanup: None,
            log: String::new(),
        };
        if zone.state != ZoneState::Configured || source.state != ZoneState::Installed {
            outcome.log = format!(
                "zoneadm: {:?} zone cloned from {:?} zone",
                zone.state, source.state
            );
            return outcome;
        }
        if let Err(e) = validate_zonepath(&zone.zonepath) {
            outcome.log = e;
            return outcome;
        }
        let mut argv = Vec::new();
        if let Some(s) = snapshot {
            argv.extend(["-s", s]);
        }
        argv.push(&source.name);
        let v = self.verify_brand(zone, "clone", &argv, &mut log);
        outcome.verify_exit = Some(v);
        if v != ZONE_SUBPROC_OK {
            outcome.log = log;
            return outcome;
        }
        zone.state = ZoneState::Incomplete;
        let mut args = vec!["clone"];
        args.extend(argv);
        let code = self.hook(zone, &args, &mut log);
        outcome.hook_exit = Some(code);
        if code == ZONE_SUBPROC_OK {
            zone.state = ZoneState::Installed;
            outcome.ok = true;
        }
        outcome.log = log;
        outcome
    }

    /// `zoneadm -z ZONE uninstall -F` (`uninstall_func`) for a brand with an
    /// uninstall hook: the zone must be installed or incomplete; state
    /// *incomplete*; the hook with `-F`; 0 makes the zone *configured*. With a
    /// hook, zoneadm does not clean the zonepath itself.
    pub fn uninstall(&self, zone: &mut Zone) -> Outcome {
        let mut log = String::new();
        let mut outcome = Outcome {
            ok: false,
            hook_exit: None,
            verify_exit: None,
            cleanup: None,
            log: String::new(),
        };
        if zone.state == ZoneState::Configured {
            outcome.log = format!(
                "zoneadm: zone {} is configured: nothing to uninstall",
                zone.name
            );
            return outcome;
        }
        zone.state = ZoneState::Incomplete;
        let code = self.hook(zone, &["uninstall", "-F"], &mut log);
        outcome.hook_exit = Some(code);
        if code == ZONE_SUBPROC_OK {
            zone.state = ZoneState::Configured;
            outcome.ok = true;
        }
        outcome.log = log;
        outcome
    }

    /// `zoneadm -z ZONE detach` (`detach_func`) for a brand with a detach
    /// hook: the zone must be installed; the hook; 0 makes the zone
    /// *configured* with its files left where they are.
    pub fn detach(&self, zone: &mut Zone) -> Outcome {
        let mut log = String::new();
        let mut outcome = Outcome {
            ok: false,
            hook_exit: None,
            verify_exit: None,
            cleanup: None,
            log: String::new(),
        };
        if zone.state != ZoneState::Installed {
            outcome.log = format!(
                "zoneadm: zone {} is {:?}; installed is required",
                zone.name, zone.state
            );
            return outcome;
        }
        let v = self.verify_brand(zone, "detach", &[], &mut log);
        outcome.verify_exit = Some(v);
        if v != ZONE_SUBPROC_OK {
            outcome.log = log;
            return outcome;
        }
        let code = self.hook(zone, &["detach"], &mut log);
        outcome.hook_exit = Some(code);
        if code == ZONE_SUBPROC_OK {
            zone.state = ZoneState::Configured;
            outcome.ok = true;
        }
        outcome.log = log;
        outcome
    }
}
