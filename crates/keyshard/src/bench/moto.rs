//! moto's server (`moto_server`, from PyPI) as a peer reference: installed into a Python
//! virtual environment on first use and started on a loopback port the bench picks.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::process::{self, Ready, Server};

/// The moto release the bench measures.
const REQUIREMENT: &str = "moto[server]==5.2.5";

/// Written once the install has finished, naming what was installed.
const COMPLETE_MARKER: &str = ".keyshard-bench-complete";

/// Installs moto into `venv` unless it is there already, and returns the path of
/// `moto_server`; otherwise says why it cannot be had (no Python, no pip, no network).
pub(crate) async fn install(venv: &Path) -> Result<PathBuf, String> {
    let venv = venv.to_owned();
    tokio::task::spawn_blocking(move || install_blocking(&venv))
        .await
        .map_err(|err| format!("the install task failed: {err}"))?
}

/// Starts `moto_server` on a free loopback port.
pub(crate) async fn start(moto_server: &Path) -> Result<Server, String> {
    let port = process::free_port().map_err(|err| format!("no free loopback port: {err}"))?;
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let args: Vec<OsString> = ["-H", "127.0.0.1", "-p", &port.to_string()]
        .into_iter()
        .map(OsString::from)
        .collect();
    Server::start(
        "moto_server",
        moto_server,
        &args,
        &[],
        Ready::Accepts(address),
    )
    .await
    .map_err(|err| err.to_string())
}

fn install_blocking(venv: &Path) -> Result<PathBuf, String> {
    let moto_server = venv.join("bin").join("moto_server");
    let marker = venv.join(COMPLETE_MARKER);
    if moto_server.exists() && std::fs::read_to_string(&marker).is_ok_and(|m| m == REQUIREMENT) {
        return Ok(moto_server);
    }

    tracing::info!(venv = %venv.display(), requirement = REQUIREMENT, "installing moto from PyPI");
    run(
        Command::new("python3").arg("-m").arg("venv").arg(venv),
        "python3 -m venv",
    )?;
    let python = venv.join("bin").join("python");
    run(
        Command::new(&python).args(["-m", "pip", "--version"]),
        "pip (python3 -m pip)",
    )?;
    run(
        Command::new(&python).args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            REQUIREMENT,
        ]),
        "pip install moto",
    )?;
    std::fs::write(&marker, REQUIREMENT)
        .map_err(|err| format!("cannot write {}: {err}", marker.display()))?;
    Ok(moto_server)
}

/// Runs `command`, turning a failure into a short reason with the end of its error output.
fn run(command: &mut Command, what: &str) -> Result<(), String> {
    let output = command
        .output()
        .map_err(|err| format!("{what} is not available: {err}"))?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let tail: Vec<&str> = stderr.lines().rev().take(3).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    Err(format!(
        "{what} failed ({}): {}",
        output.status,
        tail.join(" / ")
    ))
}
