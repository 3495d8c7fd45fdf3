//! The steps that make a dataset keep the rules, computed from its state
//! (pure), so `dataset setup` runs them and `dataset check` prints them as the
//! `zfs` commands that fix each rule.
//!
//! The order is forced by ZFS and chosen so the dataset is never mounted in the
//! global zone, not even for a moment:
//!
//! - A new dataset is made in one `zfs create` with `zoned=on`,
//!   `mountpoint=/data` and `canmount=on`: ZFS never mounts a zoned dataset in
//!   the global zone. Missing parents are made first, one at a time, with
//!   `canmount=off`, so nothing that was not mounted before becomes mounted.
//! - From the global zone, `mountpoint` cannot be set on a dataset whose
//!   effective `zoned` is on ("cannot be set on dataset in a non-global zone"),
//!   so a zoned dataset with the wrong mountpoint goes `zoned=off` for a moment.
//!   Before that it is unmounted and set `canmount=noauto`: `zfs set` remounts
//!   only what was mounted before, but a `legacy` mountpoint changed with
//!   `canmount=on` would be mounted, and `noauto` rules that out. Then
//!   `mountpoint=/data`, `zoned=on`, and `canmount=on` last (ZFS does not mount
//!   a zoned dataset when `canmount` changes).
//! - Setting `zoned=on` unmounts a mounted dataset; it is unmounted explicitly
//!   first anyway, so a busy mount is reported as such before anything changes.

use omicron1_zfs::DatasetName;

use super::facts::{quoted, State, MOUNTPOINT};

/// The properties a delegated dataset is created with, in one `zfs create`.
pub const CREATE_PROPERTIES: [(&str, &str); 3] = [
    ("zoned", "on"),
    ("mountpoint", MOUNTPOINT),
    ("canmount", "on"),
];

/// One change to the dataset (or, for [`Step::CreateParent`], to a missing parent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Create a missing parent with `canmount=off`.
    CreateParent(DatasetName),
    /// Create the dataset with [`CREATE_PROPERTIES`]; its parent exists.
    Create,
    /// Create it and any missing parents (`zfs create -p`): printed as a fix,
    /// never run (`setup` makes parents with `canmount=off` instead).
    CreateWithParents,
    /// Unmount it from the global zone.
    Unmount,
    /// Set one property.
    Set(&'static str, &'static str),
}

impl Step {
    /// What the step acts on when setting up `dataset`: a parent, or `dataset`.
    pub fn target<'a>(&'a self, dataset: &'a DatasetName) -> &'a DatasetName {
        match self {
            Step::CreateParent(parent) => parent,
            _ => dataset,
        }
    }

    /// The `zfs` command line that does this step to `dataset`.
    pub fn command(&self, dataset: &DatasetName) -> String {
        let ds = quoted(dataset.as_str());
        let create_options: String = CREATE_PROPERTIES
            .iter()
            .map(|(k, v)| format!(" -o {k}={v}"))
            .collect();
        match self {
            Step::CreateParent(parent) => {
                format!("zfs create -o canmount=off {}", quoted(parent.as_str()))
            }
            Step::Create => format!("zfs create{create_options} {ds}"),
            Step::CreateWithParents => format!("zfs create -p{create_options} {ds}"),
            Step::Unmount => format!("zfs unmount {ds}"),
            Step::Set(k, v) => format!("zfs set {k}={v} {ds}"),
        }
    }
}

/// The steps as one shell line, `&&`-joined.
pub fn commands(dataset: &DatasetName, steps: &[Step]) -> String {
    steps
        .iter()
        .map(|s| s.command(dataset))
        .collect::<Vec<_>>()
        .join(" && ")
}

/// Setting `mountpoint=/data` on an unmounted dataset, whatever its `zoned`:
/// `canmount=noauto` while `zoned` goes off (if it is on), then the mountpoint,
/// `zoned=on`, and `canmount=on` last.
pub fn mountpoint_steps(state: &State) -> Vec<Step> {
    let mut steps = Vec::new();
    if state.canmount.value.as_deref() != Some("noauto") {
        steps.push(Step::Set("canmount", "noauto"));
    }
    if state.zoned_on() {
        steps.push(Step::Set("zoned", "off"));
    }
    steps.push(Step::Set("mountpoint", MOUNTPOINT));
    steps.push(Step::Set("zoned", "on"));
    steps.push(Step::Set("canmount", "on"));
    steps
}

/// Everything an existing filesystem needs to keep the property rules, in a
/// safe order; empty if it keeps them all.
pub fn fix_steps(state: &State) -> Vec<Step> {
    let mut steps = Vec::new();
    if state.mounted_in_global_zone {
        steps.push(Step::Unmount);
    }
    if !state.mountpoint_ok() {
        steps.extend(mountpoint_steps(state));
        return steps;
    }
    if !state.zoned_on() {
        steps.push(Step::Set("zoned", "on"));
    }
    if !state.canmount_on() {
        steps.push(Step::Set("canmount", "on"));
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;
    use omicron1_zfs::{Property, PropertySource};

    fn p(value: &str, source: PropertySource) -> Property {
        Property {
            value: Some(value.into()),
            source,
        }
    }

    fn state(zoned: &str, mountpoint: Property, canmount: &str, mounted: bool) -> State {
        State {
            kind: "filesystem".into(),
            zoned: p(zoned, PropertySource::Local),
            mountpoint,
            canmount: p(canmount, PropertySource::Local),
            mounted,
            mounted_in_global_zone: mounted,
        }
    }

    fn set(k: &'static str, v: &'static str) -> Step {
        Step::Set(k, v)
    }

    #[test]
    fn commands_are_exact() {
        let ds: DatasetName = "tp/a b/d".parse().unwrap();
        let parent: DatasetName = "tp/a b".parse().unwrap();
        assert_eq!(
            Step::CreateParent(parent).command(&ds),
            "zfs create -o canmount=off 'tp/a b'"
        );
        assert_eq!(
            Step::Create.command(&ds),
            "zfs create -o zoned=on -o mountpoint=/data -o canmount=on 'tp/a b/d'"
        );
        assert_eq!(
            commands(&ds, &[Step::Unmount, set("zoned", "on")]),
            "zfs unmount 'tp/a b/d' && zfs set zoned=on 'tp/a b/d'"
        );
    }

    #[test]
    fn a_good_dataset_needs_nothing() {
        let local = p("/data", PropertySource::Local);
        assert!(fix_steps(&state("on", local, "on", false)).is_empty());
    }

    #[test]
    fn steps_for_each_broken_state() {
        let local = || p("/data", PropertySource::Local);
        let inherited = || p("/tp/a/d", PropertySource::Inherited("tp/a".into()));
        let cases: Vec<(State, Vec<Step>)> = vec![
            // Only zoned off: one set, no remount (it was not mounted).
            (state("off", local(), "on", false), vec![set("zoned", "on")]),
            // Mounted in the global zone with the right mountpoint: unmount first.
            (
                state("off", local(), "on", true),
                vec![Step::Unmount, set("zoned", "on")],
            ),
            // canmount only.
            (
                state("on", local(), "noauto", false),
                vec![set("canmount", "on")],
            ),
            // The man page's mistake: inherited mountpoint, mounted, zoned off.
            (
                state("off", inherited(), "on", true),
                vec![
                    Step::Unmount,
                    set("canmount", "noauto"),
                    set("mountpoint", "/data"),
                    set("zoned", "on"),
                    set("canmount", "on"),
                ],
            ),
            // Zoned on with the wrong mountpoint: zoned goes off for a moment, under noauto.
            (
                state("on", inherited(), "on", false),
                vec![
                    set("canmount", "noauto"),
                    set("zoned", "off"),
                    set("mountpoint", "/data"),
                    set("zoned", "on"),
                    set("canmount", "on"),
                ],
            ),
            // Already noauto: not set again.
            (
                state("off", p("legacy", PropertySource::Local), "noauto", false),
                vec![
                    set("mountpoint", "/data"),
                    set("zoned", "on"),
                    set("canmount", "on"),
                ],
            ),
        ];
        for (s, expected) in cases {
            assert_eq!(fix_steps(&s), expected, "{s:?}");
        }
    }

    #[test]
    fn mountpoint_never_changes_while_zoned_or_mounted_or_auto() {
        // Whatever the state, replaying the steps on a model of the dataset
        // never sets mountpoint while zoned is on, mounted, or canmount=on.
        for zoned in ["on", "off"] {
            for canmount in ["on", "noauto", "off"] {
                for mounted in [false, true] {
                    for mp in [
                        p("/data", PropertySource::Local),
                        p("/x", PropertySource::Default),
                        p("legacy", PropertySource::Local),
                    ] {
                        if mounted && zoned == "on" {
                            continue; // the global zone never mounts a zoned dataset
                        }
                        let s = state(zoned, mp, canmount, mounted);
                        let (mut z, mut c, mut m) = (zoned, canmount, mounted);
                        for step in fix_steps(&s) {
                            match step {
                                Step::Unmount => m = false,
                                Step::Set("zoned", v) => z = v,
                                Step::Set("canmount", v) => c = v,
                                Step::Set("mountpoint", _) => {
                                    assert!(
                                        z == "off" && !m && c != "on",
                                        "{s:?}: unsafe mountpoint change"
                                    );
                                }
                                other => panic!("unexpected {other:?}"),
                            }
                        }
                        assert_eq!((z, c, m), ("on", "on", false), "{s:?}");
                    }
                }
            }
        }
    }
}
