//! [`Spec`]: how a piece of work is to be run, as its builder describes it.
//!
//! The builders ([`TaskBuilder`](crate::TaskBuilder), [`ChildBuilder`](crate::ChildBuilder))
//! fill one `Spec`, and the spawn path carries it unchanged down to the runner: a new
//! per-task setting is one field here and one builder method.

use crate::restart::Restart;

/// What kind of work a task carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// The service body: not counted, never a daemon.
    Body,
    /// A task, or the task that supervises a restarting child service.
    Task,
    /// A task (or supervised child service) that must live as long as its service.
    Daemon,
}

/// Everything about a piece of work but its name and its code.
#[derive(Clone, Debug)]
pub(crate) struct Spec {
    pub(crate) role: Role,
    /// Restarted by this policy when it ends (`None`: never restarted).
    pub(crate) restart: Option<Restart>,
}

impl Spec {
    /// A plain task: not a daemon, never restarted.
    pub(crate) fn task() -> Spec {
        Spec {
            role: Role::Task,
            restart: None,
        }
    }

    /// A service's body.
    pub(crate) fn body() -> Spec {
        Spec {
            role: Role::Body,
            restart: None,
        }
    }

    pub(crate) fn is_daemon(&self) -> bool {
        self.role == Role::Daemon
    }
}
