//! The `userctl` CLI for the end-to-end tests: the same library and the same one line as
//! `tools/userctl/src/main.rs`. Cargo hands an integration test only the binaries of its own
//! package, so this package carries its own copy of the one line.

fn main() -> std::process::ExitCode {
    userctl::main()
}
