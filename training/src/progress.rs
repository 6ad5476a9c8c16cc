//! Progress on a terminal, the same for backtest, fit and risk: a bar over a known count of
//! tasks, or a spinner for one long step; hidden when not shown (scripts, `--quiet`).

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// A bar over `total` tasks: `{what} {msg} [=====>   ] pos/len {unit}, elapsed`.
pub fn bar(show: bool, total: usize, what: &str, unit: &str) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total as u64);
    let template =
        format!("{{spinner}} {what} {{msg:>7}} [{{bar:30}}] {{pos}}/{{len}} {unit}, {{elapsed}}");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// A spinner with `message`, ticking on its own while a step without a count runs.
pub fn spinner(show: bool, message: String) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let spinner = ProgressBar::new_spinner().with_message(message);
    spinner.enable_steady_tick(Duration::from_millis(200));
    spinner
}
