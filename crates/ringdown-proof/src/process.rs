//! Child processes of the proof: daemons, Alertmanager. Each is killed and
//! reaped when its guard is dropped, so a failing test leaves none behind.

use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};

/// A child process killed (SIGKILL) and reaped when dropped.
pub struct ChildGuard {
    child: Child,
    name: String,
    log: PathBuf,
}

impl ChildGuard {
    /// Starts `cmd` with its output in a fresh `log`.
    pub fn spawn(name: &str, cmd: &mut Command, log: PathBuf) -> Result<ChildGuard> {
        let file =
            std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        Self::spawn_into(name, cmd, log, file)
    }

    /// Starts `cmd` with its output added to `log`: a restarted daemon's
    /// log continues its previous run's.
    pub fn spawn_appending(name: &str, cmd: &mut Command, log: PathBuf) -> Result<ChildGuard> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .with_context(|| format!("opening {}", log.display()))?;
        Self::spawn_into(name, cmd, log, file)
    }

    fn spawn_into(
        name: &str,
        cmd: &mut Command,
        log: PathBuf,
        file: std::fs::File,
    ) -> Result<ChildGuard> {
        let child = cmd
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .spawn()
            .with_context(|| format!("starting {name} ({:?})", cmd.get_program()))?;
        Ok(ChildGuard {
            child,
            name: name.to_string(),
            log,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The last 15 lines of its log.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }

    /// An error if the process has exited.
    pub fn check_alive(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!(
                "{} exited ({status}); its log ends:\n{}",
                self.name,
                self.log_tail()
            );
        }
        Ok(())
    }

    /// SIGKILL: no chance to finish anything.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits for it to exit.
    pub fn terminate(mut self) -> Result<ExitStatus> {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?;
        anyhow::ensure!(status.success(), "kill -TERM {} failed", self.child.id());
        Ok(self.child.wait()?)
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
