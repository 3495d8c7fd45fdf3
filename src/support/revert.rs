//! A revert stack: undo steps pushed as an operation goes, run in reverse if it
//! fails (as Incus does), dropped once it succeeds.
//!
//! This is how a failed or interrupted install leaves nothing behind: each step
//! that creates something (a clone, a snapshot, a folder) pushes the step that
//! removes it, and only the last line of a successful install disarms them.

use std::error::Error;

/// One undo step: what it undoes, for the warning if it fails; and the step.
type Step<'a> = (String, Box<dyn FnOnce() -> Result<(), Box<dyn Error>> + 'a>);

/// Undo steps, run in reverse order on drop unless [`Revert::disarm`]ed.
#[derive(Default)]
pub struct Revert<'a> {
    steps: Vec<Step<'a>>,
}

impl<'a> Revert<'a> {
    /// An empty stack.
    pub fn new() -> Self {
        Revert { steps: Vec::new() }
    }

    /// Adds an undo step; `what` names it in the warning printed if it fails.
    pub fn push<E: Error + 'static>(
        &mut self,
        what: impl Into<String>,
        undo: impl FnOnce() -> Result<(), E> + 'a,
    ) {
        let undo = move || undo().map_err(|e| Box::new(e) as Box<dyn Error>);
        self.steps.push((what.into(), Box::new(undo)));
    }

    /// The operation succeeded: forget the undo steps.
    pub fn disarm(mut self) {
        self.steps.clear();
    }

    /// Runs the undo steps now, newest first; returns the ones that failed.
    pub fn run(&mut self) -> Vec<String> {
        let mut failed = Vec::new();
        while let Some((what, undo)) = self.steps.pop() {
            tracing::info!("rolling back: {what}");
            if let Err(e) = undo() {
                super::output::warn(format_args!(
                    "rolling back ({what}) failed: {}",
                    super::output::chain(e.as_ref())
                ));
                failed.push(what);
            }
        }
        failed
    }
}

impl Drop for Revert<'_> {
    fn drop(&mut self) {
        self.run();
    }
}

impl std::fmt::Debug for Revert<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.steps.iter().map(|(w, _)| w))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::rc::Rc;

    #[test]
    fn runs_in_reverse_unless_disarmed() {
        let log = Rc::new(RefCell::new(Vec::new()));
        {
            let mut r = Revert::new();
            for i in 0..3 {
                let log = log.clone();
                r.push(format!("step {i}"), move || {
                    log.borrow_mut().push(i);
                    Ok::<(), std::io::Error>(())
                });
            }
        }
        assert_eq!(*log.borrow(), vec![2, 1, 0]);
        log.borrow_mut().clear();
        let mut r = Revert::new();
        let l = log.clone();
        r.push("x", move || {
            l.borrow_mut().push(9);
            Ok::<(), std::io::Error>(())
        });
        r.disarm();
        assert!(log.borrow().is_empty());
    }

    #[test]
    fn a_failing_step_does_not_stop_the_others() {
        let log = Rc::new(RefCell::new(Vec::new()));
        let mut r = Revert::new();
        let l = log.clone();
        r.push("first", move || {
            l.borrow_mut().push(1);
            Ok::<(), std::io::Error>(())
        });
        r.push("second", || Err(std::io::Error::other("boom")));
        assert_eq!(r.run(), vec!["second".to_string()]);
        assert_eq!(*log.borrow(), vec![1]);
    }
}
