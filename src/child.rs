//! The programs rekey starts (the engines' dump and restore tools for a live run's snapshot):
//! each dies with rekey. A SIGKILLed rekey cannot stop them itself, and a dump left running,
//! waiting on a lock, would later write into the snapshot copy that the resumed run made again.

use std::process::Command;

/// A `Command` for `program` that the kernel kills when rekey dies (Linux's parent-death
/// signal; elsewhere a plain `Command`).
pub fn command(program: impl AsRef<std::ffi::OsStr>) -> Command {
    #[allow(unused_mut)]
    let mut cmd = Command::new(program);
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        let parent = std::process::id();
        // SAFETY: the closure runs in the child between fork and exec and calls only
        // async-signal-safe functions (prctl, getppid, and building an io::Error from errno).
        unsafe {
            cmd.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // rekey died before the signal was asked for: nothing would send it.
                if libc::getppid() as u32 != parent {
                    return Err(std::io::Error::other("rekey exited while starting it"));
                }
                Ok(())
            });
        }
    }
    cmd
}
