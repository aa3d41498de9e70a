//! What apply shows while it waits: a spinner per running operation on a terminal, and
//! Terraform-style lines ("Still creating... [10s elapsed]") everywhere else.

use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cloud::CloudError;
use crate::model::Address;

/// How often a line-mode heartbeat is printed for an operation still running.
const HEARTBEAT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Create,
    Modify,
    Destroy,
    /// Bookkeeping (the applied-state tag): not shown.
    Record,
}

impl Verb {
    fn doing(self) -> &'static str {
        match self {
            Self::Create => "Creating",
            Self::Modify => "Modifying",
            Self::Destroy => "Destroying",
            Self::Record => "Recording",
        }
    }

    fn done(self) -> &'static str {
        match self {
            Self::Create => "Creation complete",
            Self::Modify => "Modifications complete",
            Self::Destroy => "Destruction complete",
            Self::Record => "Recorded",
        }
    }
}

#[derive(Clone)]
pub struct Progress {
    /// Spinners on a terminal; `None` prints plain lines.
    bars: Option<MultiProgress>,
    /// Prints nothing at all (benchmarks, library callers with their own display).
    quiet: bool,
}

impl Progress {
    /// Spinners when stdout is a terminal, lines otherwise (CI logs, pipes, tests).
    pub fn for_stdout() -> Progress {
        use std::io::IsTerminal;
        let bars = std::io::stdout()
            .is_terminal()
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stdout()));
        Progress { bars, quiet: false }
    }

    pub fn lines() -> Progress {
        Progress {
            bars: None,
            quiet: false,
        }
    }

    pub fn quiet() -> Progress {
        Progress {
            bars: None,
            quiet: true,
        }
    }

    fn say(&self, line: String) {
        if self.quiet {
            return;
        }
        match &self.bars {
            Some(bars) => {
                let _ = bars.println(line);
            }
            None => println!("{line}"),
        }
    }

    pub(super) fn start(&self, address: &Address, verb: Verb) -> Task {
        let label = address.to_string();
        let visible = verb != Verb::Record && !self.quiet;
        if visible {
            self.say(format!("{label}: {}...", verb.doing()));
        }
        let spinner = self.bars.as_ref().filter(|_| visible).map(|bars| {
            let bar = bars.add(ProgressBar::new_spinner());
            bar.set_style(
                ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
                    .expect("valid template"),
            );
            bar.set_message(format!("{label}: {}", verb.doing()));
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        let heartbeat = (visible && self.bars.is_none()).then(|| {
            let label = label.clone();
            tokio::spawn(async move {
                let started = Instant::now();
                loop {
                    tokio::time::sleep(HEARTBEAT).await;
                    let still = verb.doing().to_lowercase();
                    println!(
                        "{label}: Still {still}... [{}s elapsed]",
                        started.elapsed().as_secs()
                    );
                }
            })
        });
        Task {
            progress: self.clone(),
            label,
            verb,
            started: Instant::now(),
            spinner,
            heartbeat,
        }
    }
}

pub(super) struct Task {
    progress: Progress,
    label: String,
    verb: Verb,
    started: Instant,
    spinner: Option<ProgressBar>,
    heartbeat: Option<tokio::task::JoinHandle<()>>,
}

impl Task {
    pub(super) fn finish(self, id: Option<&str>) {
        if self.verb == Verb::Record {
            return;
        }
        let id = id.map(|id| format!(" [id={id}]")).unwrap_or_default();
        let secs = self.started.elapsed().as_secs();
        self.progress.say(format!(
            "{}: {} after {secs}s{id}",
            self.label,
            self.verb.done()
        ));
    }

    pub(super) fn fail(self, error: &CloudError) {
        self.progress.say(format!("Error: {error}"));
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        if let Some(spinner) = &self.spinner {
            spinner.finish_and_clear();
        }
        if let Some(heartbeat) = &self.heartbeat {
            heartbeat.abort();
        }
    }
}
