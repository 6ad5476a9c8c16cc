//! `civicast-serve`: the inference service's entry point (see the crate docs for its status).

use std::process::ExitCode;

fn main() -> ExitCode {
    eprintln!("{}", civicast_service::NOT_YET_AVAILABLE);
    ExitCode::FAILURE
}
