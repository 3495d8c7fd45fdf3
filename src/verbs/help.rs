//! The command line as a person meets it: `--help` with the administration
//! commands first and the brand hooks under their own heading, the settings
//! and exit codes after them, `help VERB`, and argument errors as one
//! `omicron1: error:` line (exit 253) like every other error.

use std::ffi::OsString;

use clap::{CommandFactory, FromArgMatches};

use super::exit::Failure;
use super::settings;
use crate::cli::{Cli, ADMIN_VERBS, HOOK_VERBS};

/// What parsing the command line came to.
#[derive(Debug)]
pub(crate) enum Parsed {
    /// A verb to run.
    Cli(Cli),
    /// Help or the version was asked for and printed: exit 0.
    Printed,
    /// The arguments are wrong: exit 253.
    Refused(Failure),
}

/// The message for a hook called without `-z ZONE -R ZONEPATH` before its
/// verb, or with them after it.
pub(crate) fn needs_zone(verb: &str) -> String {
    format!("{verb} needs -z ZONE and -R ZONEPATH before the verb")
}

/// The command with its help laid out: the verbs in two groups, then the
/// settings and the exit codes.
pub(crate) fn command() -> clap::Command {
    let cmd = Cli::command();
    let line = |name: &str| {
        let about = cmd
            .find_subcommand(name)
            .and_then(|s| s.get_about())
            .map(|a| a.to_string())
            .unwrap_or_default();
        format!("  {name:<16}{about}\n")
    };
    let admin: String = ADMIN_VERBS.iter().map(|v| line(v)).collect();
    let hooks: String = HOOK_VERBS.iter().map(|v| line(v)).collect();
    let template = format!(
        "{{about}}\n\n{{usage-heading}} {{usage}}\n\n\
         Administration:\n{admin}  {:<16}Print this message or the help of VERB\n\n\
         Brand hooks (zoneadm calls them through config.xml, with -z ZONE -R ZONEPATH \
         before the verb):\n{hooks}\n\
         Options:\n{{options}}\n{{after-help}}",
        "help [VERB]"
    );
    cmd.help_template(template)
        .override_usage(
            "omicron1 COMMAND [ARGS]...\n       omicron1 -z ZONE -R ZONEPATH HOOK [ARGS]...",
        )
        .after_help(settings::help())
}

/// Parses `argv` (OS strings: an image path need not be UTF-8). Help and
/// the version are printed here.
pub(crate) fn parse(argv: &[OsString]) -> Parsed {
    let matches = match command().try_get_matches_from(argv) {
        Ok(m) => m,
        Err(e) => return refused(e, argv),
    };
    match Cli::from_arg_matches(&matches) {
        Ok(cli) => Parsed::Cli(cli),
        Err(e) => refused(e, argv),
    }
}

fn refused(e: clap::Error, argv: &[OsString]) -> Parsed {
    use clap::error::ErrorKind;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        // Help on stdout, as every tool does; a closed stdout is not an error.
        let _ = e.print();
        return Parsed::Printed;
    }
    if let Some(verb) = zone_after_hook(argv) {
        return Parsed::Refused(Failure::usage(needs_zone(&verb)));
    }
    Parsed::Refused(Failure::usage(one_line(&e)))
}

/// A hook verb followed by `-z` or `-R`: zoneadm's options must come first.
fn zone_after_hook(argv: &[OsString]) -> Option<String> {
    let mut args = argv.iter().skip(1).map(|a| a.to_string_lossy());
    let verb = loop {
        let arg = args.next()?;
        if arg == "-z" || arg == "-R" {
            args.next();
        } else if !arg.starts_with('-') {
            break arg.into_owned();
        }
    };
    if !HOOK_VERBS.contains(&verb.as_str()) {
        return None;
    }
    args.any(|a| a == "-z" || a == "-R" || a.starts_with("-z") || a.starts_with("-R"))
        .then_some(verb)
}

/// clap's message as one line: what is wrong, then the usage.
fn one_line(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let mut what = None;
    let mut usage = None;
    for line in text.lines().map(str::trim) {
        if let Some(w) = line.strip_prefix("error: ") {
            what.get_or_insert(w.to_string());
        } else if let Some(u) = line.strip_prefix("Usage: ") {
            usage.get_or_insert(u.to_string());
        }
    }
    let what = what.unwrap_or_else(|| "invalid arguments".into());
    match usage {
        Some(u) => format!("{what} (usage: {u}; see --help)"),
        None => what,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(args: &[&str]) -> Vec<OsString> {
        std::iter::once("omicron1")
            .chain(args.iter().copied())
            .map(OsString::from)
            .collect()
    }

    #[test]
    fn zone_options_after_a_hook_verb_get_the_missing_zone_message() {
        for args in [
            &["install", "-z", "z1", "-R", "/z", "/img.tgz"][..],
            &["uninstall", "-R", "/z"][..],
            &["-z", "z1", "clone", "-R", "/z", "src"][..],
        ] {
            let Parsed::Refused(f) = parse(&argv(args)) else {
                panic!("{args:?} parsed")
            };
            let text = f.to_string();
            assert!(
                text.ends_with("needs -z ZONE and -R ZONEPATH before the verb"),
                "{args:?}: {text}"
            );
        }
    }

    #[test]
    fn clap_errors_are_one_line_with_the_usage() {
        let Parsed::Refused(f) = parse(&argv(&["template", "list", "--bogus"])) else {
            panic!("parsed")
        };
        let text = f.to_string();
        assert!(!text.contains('\n'), "{text}");
        assert!(
            text.contains("--bogus") && text.contains("usage: omicron1 template list"),
            "{text}"
        );
    }

    #[test]
    fn help_lists_administration_before_hooks() {
        let help = command().render_help().to_string();
        let admin = help.find("Administration:").unwrap();
        let hooks = help.find("Brand hooks").unwrap();
        assert!(admin < hooks, "{help}");
        for verb in ADMIN_VERBS {
            let at = help.find(&format!("\n  {verb} ")).expect(verb);
            assert!(admin < at && at < hooks, "{verb}: {help}");
        }
        for verb in HOOK_VERBS {
            let at = help.find(&format!("\n  {verb} ")).expect(verb);
            assert!(at > hooks, "{verb}: {help}");
        }
        assert!(help.contains("OMICRON1_REPLICATE"), "{help}");
        assert!(help.contains("-z ZONE -R ZONEPATH HOOK"), "{help}");
    }

    #[test]
    fn non_utf8_image_paths_are_kept() {
        use std::os::unix::ffi::OsStringExt;
        let mut args = argv(&["-z", "z1", "-R", "/z", "install"]);
        args.push(OsString::from_vec(b"/img-\xff.tgz".to_vec()));
        let Parsed::Cli(cli) = parse(&args) else {
            panic!("refused")
        };
        let crate::cli::Verb::Install { images } = cli.verb else {
            panic!("not install")
        };
        use std::os::unix::ffi::OsStrExt;
        assert_eq!(images[0].as_os_str().as_bytes(), b"/img-\xff.tgz");
    }
}
