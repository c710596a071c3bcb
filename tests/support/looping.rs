//! The controller's own process: `reconcile` as a loop against a test's endpoint, its HTTP
//! port and its logs; killed on drop.

use super::*;

/// The controller running as a loop against a moto server; killed on drop.
pub struct Loop {
    /// The process.
    pub child: Child,
    /// Its HTTP port.
    pub port: u16,
    /// Where its stderr (the logs) goes.
    pub log: PathBuf,
}

impl Loop {
    /// Starts `reconcile` (no --once) with `args` after the subcommand's own.
    pub fn start(moto: &Moto, args: &[&str]) -> Loop {
        Loop::spawn(moto, None, args)
    }

    /// `start`, then waits up to `limit` for /readyz.
    #[track_caller]
    pub fn ready(moto: &Moto, args: &[&str], limit: Duration) -> Loop {
        let looping = Loop::start(moto, args);
        assert!(looping.wait_ready(limit), "not ready: {}", looping.logs());
        looping
    }

    /// Starts `reconcile` (no --once) with `args`, its AWS traffic through `proxy`.
    pub fn start_via(moto: &Moto, proxy: &proxy::Proxy, args: &[&str]) -> Loop {
        Loop::spawn(moto, Some(&proxy.url), args)
    }

    fn spawn(moto: &Moto, endpoint: Option<&str>, args: &[&str]) -> Loop {
        let port = free_port();
        let log = moto.dir.join(format!("loop-{port}.log"));
        let listen = format!("127.0.0.1:{port}");
        let mut command = binary();
        command
            .args(["reconcile", "--listen", &listen])
            .args(args)
            .current_dir(&moto.dir)
            .envs(moto.env())
            .env_remove("AWS_PROFILE")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"));
        if let Some(url) = endpoint {
            command.env("AWS_ENDPOINT_URL", url);
        }
        let child = command.spawn().expect("the loop starts");
        Loop { child, port, log }
    }

    /// Sends a signal (`-STOP`, `-CONT`, `-TERM`, `-KILL`).
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// GET on the loop's HTTP port.
    pub fn get(&self, path: &str) -> (u16, String) {
        http_get(self.port, path).unwrap_or((0, String::new()))
    }

    /// Waits until /readyz answers 200.
    pub fn wait_ready(&self, limit: Duration) -> bool {
        eventually(limit, || (self.get("/readyz").0 == 200).then_some(())).is_some()
    }

    /// The logs so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        self.signal("-TERM");
    }

    /// SIGTERM, then the process must exit 0 within `limit`.
    #[track_caller]
    pub fn stop(&mut self, limit: Duration) {
        self.terminate();
        let exit = self.wait_exit(limit);
        let logs = self.logs();
        assert!(
            exit.is_some_and(|e| e.success()),
            "no clean exit within {limit:?}: {exit:?}\n{logs}"
        );
    }

    /// Waits for the process to exit.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        eventually(limit, || self.child.try_wait().ok().flatten())
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
