fn main() -> std::process::ExitCode {
    userctl::main()
}
