//! The contract's rules for a delegated dataset, as pure functions over what
//! was read from ZFS ([`Facts`]) and from the zone configurations
//! ([`Context`]). Nothing here runs a command, so every rule is tested on
//! literal values.
//!
//! Which broken rule is an error and which a warning is decided here, once
//! ([`Rule::severity`]): an error is a rule whose breaking makes the zone fail
//! to boot (zoneadm refuses the dataset) or share data with the global zone or
//! another zone; a warning leaves the zone bootable and its data private.

use std::fmt;

use omicron1_zfs::{DatasetName, Property, PropertySource};

use super::facts::{quoted, Context, Facts, Listing, State, ZoneView, MOUNTPOINT};
use super::plan::{self, Step};
use super::zonecfg::{zonecfg_add, zonecfg_remove};

/// One rule of the contract's "Delegated datasets" section, in the order they
/// are checked and printed. The order matters: each failed rule's fix assumes
/// the fixes printed above it were run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// The dataset exists.
    Exists,
    /// It is a filesystem (a volume cannot mount at `/data`).
    Filesystem,
    /// It is not mounted in the global zone.
    NotMounted,
    /// `mountpoint=/data`, set locally.
    Mountpoint,
    /// `zoned=on`.
    Zoned,
    /// `canmount=on`.
    Canmount,
    /// Not the zone's zonepath dataset, nor inside or above it.
    Zonepath,
    /// Delegated to no other zone (nor inside or above another zone's dataset).
    OneZone,
    /// The zone's configuration lists it (only asked by `dataset check --zone`).
    ZoneConfig,
}

/// How bad a broken rule is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The zone would fail to boot or share data: install and `verify_cfg` refuse it.
    Error,
    /// The zone boots and its data stays its own: install and `verify_cfg` warn.
    Warning,
}

impl Rule {
    /// The rule's short name, as printed.
    pub fn name(self) -> &'static str {
        match self {
            Rule::Exists => "exists",
            Rule::Filesystem => "filesystem",
            Rule::NotMounted => "not-mounted",
            Rule::Mountpoint => "mountpoint",
            Rule::Zoned => "zoned",
            Rule::Canmount => "canmount",
            Rule::Zonepath => "zonepath",
            Rule::OneZone => "one-zone",
            Rule::ZoneConfig => "zone-config",
        }
    }

    /// `canmount` is the one cosmetic rule: with `noauto` or `off` the zone boots
    /// and nothing is shared, it just does not mount `/data` by itself. Every
    /// other rule either makes zoneadm refuse the zone (missing, a volume, an
    /// inherited mountpoint) or lets data leak or collide (`zoned=off`, mounted
    /// in the global zone, the zone's own root, another zone's dataset).
    pub fn severity(self) -> Severity {
        match self {
            Rule::Canmount => Severity::Warning,
            _ => Severity::Error,
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The outcome of one rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Kept; what was seen.
    Pass(String),
    /// Broken: what is wrong (with the current value) and the command that fixes it.
    Fail {
        /// What is wrong.
        problem: String,
        /// The exact command(s) that fix it.
        fix: String,
    },
    /// Could not be checked, and why.
    Skipped(String),
}

/// One rule's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The rule.
    pub rule: Rule,
    /// Its outcome.
    pub outcome: Outcome,
}

impl Finding {
    /// Whether the rule is broken.
    pub fn failed(&self) -> bool {
        matches!(self.outcome, Outcome::Fail { .. })
    }

    /// `RULE: PROBLEM; fix: FIX` for a failure, `RULE: DETAIL` otherwise.
    pub fn describe(&self) -> String {
        match &self.outcome {
            Outcome::Pass(detail) => format!("{}: {detail}", self.rule),
            Outcome::Fail { problem, fix } => format!("{}: {problem}; fix: {fix}", self.rule),
            Outcome::Skipped(why) => format!("{}: not checked: {why}", self.rule),
        }
    }
}

/// A value and where it comes from, as a person reads it: `off (default)`,
/// `/tp/a (inherited from tp)`.
pub fn shown(p: &Property) -> String {
    let value = p.value.as_deref().unwrap_or("-");
    match &p.source {
        PropertySource::Local => format!("{value} (local)"),
        PropertySource::Default => format!("{value} (default)"),
        PropertySource::Inherited(from) => format!("{value} (inherited from {from})"),
        PropertySource::Temporary => format!("{value} (temporary)"),
        PropertySource::Received => format!("{value} (received)"),
        PropertySource::None => value.to_string(),
    }
}

fn pass(rule: Rule, detail: impl Into<String>) -> Finding {
    Finding {
        rule,
        outcome: Outcome::Pass(detail.into()),
    }
}

fn fail(rule: Rule, problem: impl Into<String>, fix: impl Into<String>) -> Finding {
    Finding {
        rule,
        outcome: Outcome::Fail {
            problem: problem.into(),
            fix: fix.into(),
        },
    }
}

fn skipped(rule: Rule, why: &str) -> Finding {
    Finding {
        rule,
        outcome: Outcome::Skipped(why.to_string()),
    }
}

/// Checks every rule, in [`Rule`] order.
pub fn evaluate(facts: &Facts, context: &Context) -> Vec<Finding> {
    let ds = &facts.dataset;
    let mut out = Vec::new();
    match &facts.state {
        None => {
            out.push(fail(
                Rule::Exists,
                "does not exist",
                plan::commands(ds, &[Step::CreateWithParents]),
            ));
            for rule in [
                Rule::Filesystem,
                Rule::NotMounted,
                Rule::Mountpoint,
                Rule::Zoned,
                Rule::Canmount,
            ] {
                out.push(skipped(rule, "the dataset does not exist"));
            }
        }
        Some(state) => {
            out.push(pass(Rule::Exists, "exists"));
            if state.kind != "filesystem" {
                let renamed = format!("{}-{}", ds, state.kind);
                out.push(fail(
                    Rule::Filesystem,
                    format!(
                        "is a {}, not a filesystem: only a filesystem can mount at {MOUNTPOINT}",
                        state.kind
                    ),
                    format!(
                        "zfs rename {} {} && {}",
                        quoted(ds.as_str()),
                        quoted(&renamed),
                        plan::commands(ds, &[Step::Create])
                    ),
                ));
                for rule in [
                    Rule::NotMounted,
                    Rule::Mountpoint,
                    Rule::Zoned,
                    Rule::Canmount,
                ] {
                    out.push(skipped(rule, "not a filesystem"));
                }
            } else {
                out.push(pass(Rule::Filesystem, "a filesystem"));
                out.extend(property_rules(ds, state));
            }
        }
    }
    out.push(zonepath_rule(ds, context));
    out.push(one_zone_rule(ds, context));
    if let Some(zone) = &context.zone {
        match &zone.listing {
            Listing::NotAsked => {}
            Listing::Listed => out.push(pass(
                Rule::ZoneConfig,
                format!("zone {}'s configuration lists it", zone.name),
            )),
            Listing::NotListed => out.push(fail(
                Rule::ZoneConfig,
                format!(
                    "zone {}'s configuration does not list it, so the zone will not get it",
                    zone.name
                ),
                zonecfg_add(&zone.name, ds.as_str()),
            )),
            Listing::NoConfig(path) => out.push(fail(
                Rule::ZoneConfig,
                format!(
                    "zone {} is not configured ({} does not exist)",
                    zone.name,
                    path.display()
                ),
                format!(
                    "configure the zone with zonecfg (see omicron1(7)), then {}",
                    zonecfg_add(&zone.name, ds.as_str())
                ),
            )),
        }
    }
    out
}

/// `not-mounted`, `mountpoint`, `zoned` and `canmount` for an existing filesystem.
fn property_rules(ds: &DatasetName, state: &State) -> Vec<Finding> {
    let mut out = Vec::new();
    let where_ = state.mountpoint.value.as_deref().unwrap_or("-");
    out.push(if state.mounted_in_global_zone {
        fail(
            Rule::NotMounted,
            format!("is mounted in the global zone at {where_}: the global zone would share its files with the zone"),
            plan::commands(ds, &[Step::Unmount]),
        )
    } else if state.mounted {
        pass(Rule::NotMounted, "mounted inside a running zone, not in the global zone")
    } else {
        pass(Rule::NotMounted, "not mounted in the global zone")
    });
    out.push(if state.mountpoint_ok() {
        pass(
            Rule::Mountpoint,
            format!("mountpoint={}", shown(&state.mountpoint)),
        )
    } else {
        let problem = match &state.mountpoint {
            Property {
                value: Some(v),
                source: PropertySource::Inherited(from),
            } if v == MOUNTPOINT => format!(
                "is {MOUNTPOINT} but inherited from {from}: it must be set on the dataset itself \
                 (zoneadm refuses it: \"mountpoint cannot be inherited\")"
            ),
            p @ Property {
                source: PropertySource::Inherited(_) | PropertySource::Default,
                ..
            } => format!(
                "is {}, must be {MOUNTPOINT} set locally (zoneadm refuses an inherited \
                 mountpoint: \"mountpoint cannot be inherited\")",
                shown(p)
            ),
            p => format!("is {}, must be {MOUNTPOINT}", shown(p)),
        };
        fail(
            Rule::Mountpoint,
            problem,
            plan::commands(ds, &plan::mountpoint_steps(state)),
        )
    });
    out.push(if state.zoned_on() {
        pass(Rule::Zoned, format!("zoned={}", shown(&state.zoned)))
    } else {
        fail(
            Rule::Zoned,
            format!(
                "is {}, must be on: the zone could not manage it and the global zone would mount it",
                shown(&state.zoned)
            ),
            plan::commands(ds, &[Step::Set("zoned", "on")]),
        )
    });
    out.push(if state.canmount_on() {
        pass(
            Rule::Canmount,
            format!("canmount={}", shown(&state.canmount)),
        )
    } else {
        fail(
            Rule::Canmount,
            format!(
                "is {}, should be on: the zone will not mount {MOUNTPOINT} when it boots",
                shown(&state.canmount)
            ),
            plan::commands(ds, &[Step::Set("canmount", "on")]),
        )
    });
    out
}

/// The fix for a dataset that may not be delegated to this zone: take it out of
/// the configuration if it is there, and give the zone a dataset of its own.
fn use_another_dataset(zone: &ZoneView, ds: &DatasetName) -> String {
    let own = format!("{}/delegated/{}", ds.pool(), zone.name);
    let setup = format!(
        "omicron1 dataset setup {} --zone {}",
        quoted(&own),
        quoted(&zone.name)
    );
    match zone.listing {
        Listing::NotListed | Listing::NoConfig(_) => {
            format!("give the zone a dataset of its own: {setup}")
        }
        _ => format!(
            "{}, then give the zone a dataset of its own: {setup}",
            zonecfg_remove(&zone.name, ds.as_str())
        ),
    }
}

fn zonepath_rule(ds: &DatasetName, context: &Context) -> Finding {
    let Some(zone) = &context.zone else {
        return skipped(
            Rule::Zonepath,
            "no zone given and no zone delegates it (use --zone ZONE)",
        );
    };
    let Some((path, zonepath_ds)) = &zone.zonepath else {
        return skipped(
            Rule::Zonepath,
            &format!("zone {} has no zonepath", zone.name),
        );
    };
    let Some(zpds) = zonepath_ds else {
        return pass(
            Rule::Zonepath,
            format!(
                "zone {}'s zonepath {} is not a ZFS mountpoint (yet)",
                zone.name,
                path.display()
            ),
        );
    };
    let problem = if ds == zpds {
        format!(
            "is zone {}'s zonepath dataset (mounted at {}): the zone's own root is inside it",
            zone.name,
            path.display()
        )
    } else if ds.is_within(zpds) {
        format!(
            "is inside zone {}'s zonepath dataset {zpds}: uninstalling the zone would destroy it",
            zone.name
        )
    } else if zpds.is_within(ds) {
        format!(
            "is above zone {}'s zonepath dataset {zpds}: the zone's own root would be inside it",
            zone.name
        )
    } else {
        return pass(
            Rule::Zonepath,
            format!("outside zone {}'s zonepath dataset {zpds}", zone.name),
        );
    };
    fail(Rule::Zonepath, problem, use_another_dataset(zone, ds))
}

fn one_zone_rule(ds: &DatasetName, context: &Context) -> Finding {
    let mut problems = Vec::new();
    let mut fixes = Vec::new();
    for d in &context.others {
        let theirs = &d.dataset;
        let problem = if ds == theirs {
            format!("is also delegated to zone {}", d.zone)
        } else if ds.is_within(theirs) {
            format!("is inside {theirs}, delegated to zone {}", d.zone)
        } else if theirs.is_within(ds) {
            format!("contains {theirs}, delegated to zone {}", d.zone)
        } else {
            continue;
        };
        problems.push(problem);
        fixes.push(zonecfg_remove(&d.zone, theirs.as_str()));
    }
    if problems.is_empty() {
        let n = context.others.len();
        return pass(
            Rule::OneZone,
            format!("delegated to no other zone ({n} other delegations compared)"),
        );
    }
    fail(
        Rule::OneZone,
        format!(
            "{}: zones sharing a dataset corrupt each other's data",
            problems.join(", ")
        ),
        fixes.join(" && "),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delegated::facts::Delegation;
    use crate::delegated::zonecfg::add_dataset_script;
    use std::path::PathBuf;

    fn prop(value: &str, source: PropertySource) -> Property {
        Property {
            value: Some(value.to_string()),
            source,
        }
    }

    fn local(value: &str) -> Property {
        prop(value, PropertySource::Local)
    }

    fn ds(name: &str) -> DatasetName {
        name.parse().unwrap()
    }

    /// A dataset that keeps every property rule.
    fn good() -> State {
        State {
            kind: "filesystem".into(),
            zoned: local("on"),
            mountpoint: local("/data"),
            canmount: prop("on", PropertySource::Default),
            mounted: false,
            mounted_in_global_zone: false,
        }
    }

    fn zone(name: &str, zonepath_ds: Option<&str>, listing: Listing) -> ZoneView {
        ZoneView {
            name: name.into(),
            zonepath: Some((PathBuf::from(format!("/zones/{name}")), zonepath_ds.map(ds))),
            listing,
        }
    }

    fn run(state: Option<State>, context: &Context) -> Vec<Finding> {
        evaluate(
            &Facts {
                dataset: ds("tp/d/z1"),
                state,
            },
            context,
        )
    }

    fn outcome(findings: &[Finding], rule: Rule) -> &Outcome {
        &findings
            .iter()
            .find(|f| f.rule == rule)
            .unwrap_or_else(|| panic!("no {rule}"))
            .outcome
    }

    fn failure(findings: &[Finding], rule: Rule) -> (String, String) {
        match outcome(findings, rule) {
            Outcome::Fail { problem, fix } => (problem.clone(), fix.clone()),
            other => panic!("{rule} did not fail: {other:?}"),
        }
    }

    fn failed_rules(findings: &[Finding]) -> Vec<Rule> {
        findings
            .iter()
            .filter(|f| f.failed())
            .map(|f| f.rule)
            .collect()
    }

    #[test]
    fn a_good_dataset_passes_every_rule_in_order() {
        let ctx = Context {
            zone: Some(zone("z1", Some("tp/zones/z1"), Listing::Listed)),
            others: vec![Delegation {
                zone: "z2".into(),
                dataset: ds("tp/d/z2"),
            }],
        };
        let f = run(Some(good()), &ctx);
        let rules: Vec<Rule> = f.iter().map(|f| f.rule).collect();
        assert_eq!(
            rules,
            [
                Rule::Exists,
                Rule::Filesystem,
                Rule::NotMounted,
                Rule::Mountpoint,
                Rule::Zoned,
                Rule::Canmount,
                Rule::Zonepath,
                Rule::OneZone,
                Rule::ZoneConfig
            ]
        );
        assert!(failed_rules(&f).is_empty(), "{f:#?}");
        assert!(
            f.iter().all(|f| matches!(f.outcome, Outcome::Pass(_))),
            "{f:#?}"
        );
    }

    #[test]
    fn only_canmount_is_a_warning() {
        for rule in [
            Rule::Exists,
            Rule::Filesystem,
            Rule::NotMounted,
            Rule::Mountpoint,
            Rule::Zoned,
            Rule::Zonepath,
            Rule::OneZone,
            Rule::ZoneConfig,
        ] {
            assert_eq!(rule.severity(), Severity::Error, "{rule}");
        }
        assert_eq!(Rule::Canmount.severity(), Severity::Warning);
    }

    #[test]
    fn missing_dataset() {
        let f = run(None, &Context::default());
        let (problem, fix) = failure(&f, Rule::Exists);
        assert_eq!(problem, "does not exist");
        assert_eq!(
            fix,
            "zfs create -p -o zoned=on -o mountpoint=/data -o canmount=on tp/d/z1"
        );
        assert!(matches!(outcome(&f, Rule::Zoned), Outcome::Skipped(_)));
        assert_eq!(failed_rules(&f), [Rule::Exists]);
    }

    #[test]
    fn a_volume_is_not_a_filesystem() {
        let state = State {
            kind: "volume".into(),
            ..good()
        };
        let f = run(Some(state), &Context::default());
        let (problem, fix) = failure(&f, Rule::Filesystem);
        assert!(problem.contains("is a volume"), "{problem}");
        assert!(
            fix.starts_with("zfs rename tp/d/z1 tp/d/z1-volume && zfs create -o zoned=on"),
            "{fix}"
        );
        assert_eq!(failed_rules(&f), [Rule::Filesystem]);
    }

    #[test]
    fn zoned_off() {
        let state = State {
            zoned: prop("off", PropertySource::Default),
            ..good()
        };
        let f = run(Some(state), &Context::default());
        let (problem, fix) = failure(&f, Rule::Zoned);
        assert!(
            problem.starts_with("is off (default), must be on"),
            "{problem}"
        );
        assert_eq!(fix, "zfs set zoned=on tp/d/z1");
        assert_eq!(failed_rules(&f), [Rule::Zoned]);
        assert_eq!(Rule::Zoned.severity(), Severity::Error);
    }

    #[test]
    fn inherited_or_wrong_mountpoints() {
        // Inherited /data: the value is right, the source is not.
        let inherited = State {
            mountpoint: prop("/data", PropertySource::Inherited("tp/d".into())),
            ..good()
        };
        let f = run(Some(inherited), &Context::default());
        let (problem, fix) = failure(&f, Rule::Mountpoint);
        assert!(
            problem.contains("inherited from tp/d") && problem.contains("cannot be inherited"),
            "{problem}"
        );
        // zoned is on, so it must go off (with canmount=noauto so nothing mounts) to set the mountpoint.
        assert_eq!(
            fix,
            "zfs set canmount=noauto tp/d/z1 && zfs set zoned=off tp/d/z1 && zfs set mountpoint=/data tp/d/z1 \
             && zfs set zoned=on tp/d/z1 && zfs set canmount=on tp/d/z1"
        );
        // The default mountpoint, with zoned off too.
        let default = State {
            mountpoint: prop("/tp/d/z1", PropertySource::Default),
            zoned: prop("off", PropertySource::Default),
            ..good()
        };
        let f = run(Some(default), &Context::default());
        let (problem, fix) = failure(&f, Rule::Mountpoint);
        assert!(
            problem.starts_with("is /tp/d/z1 (default), must be /data set locally"),
            "{problem}"
        );
        assert_eq!(
            fix,
            "zfs set canmount=noauto tp/d/z1 && zfs set mountpoint=/data tp/d/z1 && zfs set zoned=on tp/d/z1 \
             && zfs set canmount=on tp/d/z1"
        );
        assert_eq!(failed_rules(&f), [Rule::Mountpoint, Rule::Zoned]);
        // Set locally, to something else; received counts as local.
        let other = State {
            mountpoint: local("/srv"),
            ..good()
        };
        let (problem, _) = failure(&run(Some(other), &Context::default()), Rule::Mountpoint);
        assert_eq!(problem, "is /srv (local), must be /data");
        let received = State {
            mountpoint: prop("/data", PropertySource::Received),
            ..good()
        };
        assert!(failed_rules(&run(Some(received), &Context::default())).is_empty());
    }

    #[test]
    fn canmount_not_on_is_a_warning() {
        let state = State {
            canmount: local("noauto"),
            ..good()
        };
        let f = run(Some(state), &Context::default());
        let (problem, fix) = failure(&f, Rule::Canmount);
        assert!(
            problem.starts_with("is noauto (local), should be on"),
            "{problem}"
        );
        assert_eq!(fix, "zfs set canmount=on tp/d/z1");
        assert_eq!(failed_rules(&f), [Rule::Canmount]);
    }

    #[test]
    fn mounted_in_the_global_zone_but_not_in_a_zone() {
        let state = State {
            zoned: prop("off", PropertySource::Default),
            mountpoint: prop("/tp/d/z1", PropertySource::Default),
            mounted: true,
            mounted_in_global_zone: true,
            ..good()
        };
        let f = run(Some(state), &Context::default());
        let (problem, fix) = failure(&f, Rule::NotMounted);
        assert!(
            problem.contains("mounted in the global zone at /tp/d/z1"),
            "{problem}"
        );
        assert_eq!(fix, "zfs unmount tp/d/z1");
        // A running zone has it mounted: that is what it is for.
        let in_zone = State {
            mounted: true,
            mounted_in_global_zone: false,
            ..good()
        };
        let f = run(Some(in_zone), &Context::default());
        assert!(failed_rules(&f).is_empty());
        assert!(
            matches!(outcome(&f, Rule::NotMounted), Outcome::Pass(d) if d.contains("running zone"))
        );
    }

    #[test]
    fn zonepath_dataset_inside_and_above() {
        let cases = [
            ("tp/d/z1", "is zone z1's zonepath dataset"),
            ("tp/d", "is inside zone z1's zonepath dataset tp/d"),
            ("tp/d/z1/x", "is above zone z1's zonepath dataset tp/d/z1/x"),
        ];
        for (zpds, expected) in cases {
            let ctx = Context {
                zone: Some(zone("z1", Some(zpds), Listing::Listed)),
                others: vec![],
            };
            let f = run(Some(good()), &ctx);
            let (problem, fix) = failure(&f, Rule::Zonepath);
            assert!(problem.contains(expected), "{zpds}: {problem}");
            assert!(
                fix.starts_with("zonecfg -z z1 'remove dataset name=tp/d/z1; commit'"),
                "{fix}"
            );
            assert!(
                fix.contains("omicron1 dataset setup tp/delegated/z1 --zone z1"),
                "{fix}"
            );
            assert_eq!(failed_rules(&f), [Rule::Zonepath]);
        }
        // A sibling is fine; so is a zonepath not on ZFS; no zone at all is not checked.
        let ctx = Context {
            zone: Some(zone("z1", Some("tp/d/z10"), Listing::Listed)),
            others: vec![],
        };
        assert!(failed_rules(&run(Some(good()), &ctx)).is_empty());
        let ctx = Context {
            zone: Some(zone("z1", None, Listing::Listed)),
            others: vec![],
        };
        assert!(
            matches!(outcome(&run(Some(good()), &ctx), Rule::Zonepath), Outcome::Pass(d) if d.contains("not a ZFS"))
        );
        assert!(matches!(
            outcome(&run(Some(good()), &Context::default()), Rule::Zonepath),
            Outcome::Skipped(_)
        ));
    }

    #[test]
    fn another_zone_the_same_a_parent_or_a_child() {
        let other = |d: &str| Delegation {
            zone: "z2".into(),
            dataset: ds(d),
        };
        let cases = [
            ("tp/d/z1", "is also delegated to zone z2"),
            ("tp/d", "is inside tp/d, delegated to zone z2"),
            ("tp/d/z1/sub", "contains tp/d/z1/sub, delegated to zone z2"),
        ];
        for (theirs, expected) in cases {
            let ctx = Context {
                zone: None,
                others: vec![other("tp/d/z10"), other(theirs)],
            };
            let f = run(Some(good()), &ctx);
            let (problem, fix) = failure(&f, Rule::OneZone);
            assert!(problem.starts_with(expected), "{theirs}: {problem}");
            assert_eq!(
                fix,
                format!("zonecfg -z z2 'remove dataset name={theirs}; commit'")
            );
            assert_eq!(failed_rules(&f), [Rule::OneZone]);
        }
        // Two zones: both named, both fixes.
        let ctx = Context {
            zone: None,
            others: vec![
                Delegation {
                    zone: "a".into(),
                    dataset: ds("tp/d/z1"),
                },
                Delegation {
                    zone: "b".into(),
                    dataset: ds("tp/d/z1"),
                },
            ],
        };
        let (problem, fix) = failure(&run(Some(good()), &ctx), Rule::OneZone);
        assert!(
            problem.contains("zone a") && problem.contains("zone b"),
            "{problem}"
        );
        assert_eq!(fix.matches("zonecfg -z").count(), 2, "{fix}");
    }

    #[test]
    fn zone_configuration_listing() {
        let ctx = Context {
            zone: Some(zone("z1", None, Listing::NotListed)),
            others: vec![],
        };
        let (problem, fix) = failure(&run(Some(good()), &ctx), Rule::ZoneConfig);
        assert!(problem.contains("does not list it"), "{problem}");
        assert_eq!(
            fix,
            "zonecfg -z z1 'add dataset; set name=tp/d/z1; end; commit'"
        );
        let ctx = Context {
            zone: Some(zone(
                "z1",
                None,
                Listing::NoConfig("/etc/zones/z1.xml".into()),
            )),
            others: vec![],
        };
        let (problem, _) = failure(&run(Some(good()), &ctx), Rule::ZoneConfig);
        assert!(
            problem.contains("/etc/zones/z1.xml does not exist"),
            "{problem}"
        );
        // Install and verify_cfg do not ask.
        let ctx = Context {
            zone: Some(zone("z1", None, Listing::NotAsked)),
            others: vec![],
        };
        assert!(run(Some(good()), &ctx)
            .iter()
            .all(|f| f.rule != Rule::ZoneConfig));
    }

    #[test]
    fn every_failure_is_one_line_naming_rule_value_and_fix() {
        let state = State {
            kind: "filesystem".into(),
            zoned: prop("off", PropertySource::Default),
            mountpoint: prop("/tp/d/z1", PropertySource::Inherited("tp".into())),
            canmount: local("off"),
            mounted: true,
            mounted_in_global_zone: true,
        };
        let ctx = Context {
            zone: Some(zone("z1", Some("tp/d/z1"), Listing::NotListed)),
            others: vec![Delegation {
                zone: "z2".into(),
                dataset: ds("tp/d/z1"),
            }],
        };
        let f = run(Some(state), &ctx);
        assert_eq!(
            failed_rules(&f),
            [
                Rule::NotMounted,
                Rule::Mountpoint,
                Rule::Zoned,
                Rule::Canmount,
                Rule::Zonepath,
                Rule::OneZone,
                Rule::ZoneConfig
            ]
        );
        for finding in f.iter().filter(|f| f.failed()) {
            let line = finding.describe();
            assert!(!line.contains('\n'), "{line}");
            assert!(line.starts_with(&format!("{}: ", finding.rule)), "{line}");
            assert!(
                line.contains("; fix: zfs ")
                    || line.contains("; fix: zonecfg ")
                    || line.contains("; fix: give the zone"),
                "{line}"
            );
        }
    }

    #[test]
    fn quoting() {
        assert_eq!(quoted("tp/a-b_c.d:e"), "tp/a-b_c.d:e");
        assert_eq!(quoted("tp/a b"), "'tp/a b'");
        assert_eq!(
            zonecfg_add("z1", "tp/a b"),
            "zonecfg -z z1 'add dataset; set name=\"tp/a b\"; end; commit'"
        );
        assert_eq!(
            add_dataset_script("tp/a"),
            "add dataset; set name=tp/a; end; commit"
        );
        assert_eq!(
            zonecfg_remove("z1", "tp/a"),
            "zonecfg -z z1 'remove dataset name=tp/a; commit'"
        );
    }
}
