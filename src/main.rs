//! `omicron1`: the zone installer for the omicron1 brand. See the README and
//! `brand/omicron1.7` for what it does; this file only hands over to
//! [`omicron1::main`].

fn main() -> std::process::ExitCode {
    omicron1::main()
}
