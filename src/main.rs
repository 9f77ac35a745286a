//! `simdconv-bench`: checks and times the library on a list of convolution layers (`cargo run --release -- --help`).

mod cli;

fn main() {
    std::process::exit(cli::main());
}
