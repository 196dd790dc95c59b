//! [`Snapshot`]: the live tree of a service at one moment, from [`Manager::snapshot`].
//!
//! Plain data: the manager builds it from a walk of the task tree (the `tree` module's
//! `snapshot` submodule says why a snapshot never shows a task twice, nor a child without its
//! parent, and never holds more than one node's lock); this module only describes and prints
//! it.
//!
//! [`Manager::snapshot`]: crate::Manager::snapshot

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

/// The live tree of a service at one moment: every task and child service with its kind,
/// state, restart count and age, child services nested with their own tasks.
///
/// From [`Manager::snapshot`](crate::Manager::snapshot). Its `Display` is an indented tree
/// for people (siblings with the same name and kind collapse into one line with a count);
/// its fields are for programs. [`Snapshot::iter`], `Display` and dropping it work without
/// recursion, however deep the tree; the derived `Clone`, `Debug` and `Serialize` recurse
/// once per level (a chain of tens of thousands of nested tasks needs a larger stack for
/// them).
///
/// ```text
/// Node (service, running, 5m03s)
/// ├─ gossip (daemon, running, 5m03s)
/// │  └─ handle ×3 (task, 2 running, 1 waiting for children, 1s–4s)
/// └─ Store (child service, running, 5m03s)
///    └─ flush (daemon, backing off, 12s, 2 restarts)
/// ```
#[derive(Clone, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Snapshot {
    /// The service itself (its body, [`TaskKind::Body`]): its tasks and child services are
    /// its children.
    pub root: TaskSnapshot,
}

/// One task or child service in a [`Snapshot`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct TaskSnapshot {
    /// Its name (for a service, the service's name).
    pub name: Cow<'static, str>,
    /// Its path, as failures name it (`Node/gossip/handle`).
    pub path: String,
    /// What it is.
    pub kind: TaskKind,
    /// Whether it is a failure boundary ([`TaskBuilder::contained`](crate::TaskBuilder::contained),
    /// [`ChildBuilder::contained`](crate::ChildBuilder::contained)).
    pub contained: bool,
    /// Where it is in its life.
    pub state: TaskState,
    /// Times its [`Restart`](crate::Restart) policy restarted it (saturating at
    /// 2²⁸ − 1). A child service with a policy is restarted by the task that supervises it,
    /// which has the count.
    pub restarts: u32,
    /// How long since it was started — spawned, not first polled — (zero while
    /// [`TaskState::Starting`]); a restart does not reset it. The tasks a task starts within
    /// one of its polls share one reading of the clock, so a start is stamped at most that
    /// poll late.
    pub age: Duration,
    /// Its children: the tasks it started, or for a service, its root tasks and child
    /// services. In the order they occupy its slots, which is start order until slots are
    /// reused.
    pub children: Vec<TaskSnapshot>,
}

/// What a [`TaskSnapshot`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "snake_case")
)]
#[non_exhaustive]
pub enum TaskKind {
    /// The service whose snapshot this is: its body.
    Body,
    /// A task. Until its first poll a task's kind is not known yet, and a daemon shows as
    /// one ([`TaskState::Starting`]).
    Task,
    /// A daemon task.
    Daemon,
    /// A child service (its body, with its own tasks below).
    ChildService,
    /// A daemon child service.
    DaemonChildService,
}

/// Where a [`TaskSnapshot`] is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "snake_case")
)]
#[non_exhaustive]
pub enum TaskState {
    /// Started, not yet polled by tokio.
    Starting,
    /// Running (for a service: not cancelled).
    Running,
    /// Asked to stop: its service is cancelled, and it is within its grace period or, once
    /// the grace is over and its children are done, about to be aborted.
    Stopping,
    /// Its own future has ended (or its grace is over), and it waits for its children to be
    /// done (a task is done only when they are).
    WaitingForChildren,
    /// Waiting out the delay before its restart policy starts it again.
    Backoff,
}

impl Snapshot {
    /// Every task in the tree, the service first, each before its children (depth first).
    pub fn iter(&self) -> impl Iterator<Item = &TaskSnapshot> {
        let mut stack = vec![&self.root];
        std::iter::from_fn(move || {
            let task = stack.pop()?;
            stack.extend(task.children.iter().rev());
            Some(task)
        })
    }

    /// How many entries [`Snapshot::iter`] yields: the service and everything below it.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// Always false: a snapshot holds at least its service.
    pub fn is_empty(&self) -> bool {
        false
    }
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        // Without recursion: a chain of thousands of nested tasks needs no stack.
        let mut stack = std::mem::take(&mut self.root.children);
        while let Some(mut task) = stack.pop() {
            stack.append(&mut task.children);
        }
    }
}

impl TaskKind {
    fn label(self) -> &'static str {
        match self {
            TaskKind::Body => "service",
            TaskKind::Task => "task",
            TaskKind::Daemon => "daemon",
            TaskKind::ChildService => "child service",
            TaskKind::DaemonChildService => "daemon child service",
        }
    }
}

impl fmt::Display for TaskKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

impl TaskState {
    const ALL: [TaskState; 5] = [
        TaskState::Starting,
        TaskState::Running,
        TaskState::Stopping,
        TaskState::WaitingForChildren,
        TaskState::Backoff,
    ];

    fn label(self) -> &'static str {
        match self {
            TaskState::Starting => "starting",
            TaskState::Running => "running",
            TaskState::Stopping => "stopping",
            TaskState::WaitingForChildren => "waiting for children",
            TaskState::Backoff => "backing off",
        }
    }
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// An age, compactly: `350ms`, `12s`, `5m03s`, `3h05m`, `2d03h`.
struct Age(Duration);

impl fmt::Display for Age {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.as_secs();
        match secs {
            0 => write!(f, "{}ms", self.0.subsec_millis()),
            1..60 => write!(f, "{secs}s"),
            60..3600 => write!(f, "{}m{:02}s", secs / 60, secs % 60),
            3600..86400 => write!(f, "{}h{:02}m", secs / 3600, secs % 3600 / 60),
            _ => write!(f, "{}d{:02}h", secs / 86400, secs % 86400 / 3600),
        }
    }
}

/// Siblings shown as one line: the same name, kind and boundary.
type Group<'a> = Vec<&'a TaskSnapshot>;

/// The children of every task of `members`, grouped by name, kind and boundary, in the
/// order each group first appears: a group's children are its members' children merged, so
/// a thousand connections with a reader each read as two lines.
fn child_groups<'a>(members: &[&'a TaskSnapshot]) -> Vec<Group<'a>> {
    let mut index: HashMap<(&str, TaskKind, bool), usize> = HashMap::new();
    let mut groups: Vec<Group<'a>> = Vec::new();
    for child in members.iter().flat_map(|task| &task.children) {
        let key = (&*child.name, child.kind, child.contained);
        let at = *index.entry(key).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[at].push(child);
    }
    groups
}

/// Queues the groups of `members`' children, to be printed at `indent`, first on top.
fn push_children<'a>(
    stack: &mut Vec<(Group<'a>, String, bool)>,
    members: &[&'a TaskSnapshot],
    indent: &str,
) {
    let groups = child_groups(members);
    let last = groups.len().saturating_sub(1);
    for (i, group) in groups.into_iter().enumerate().rev() {
        stack.push((group, indent.to_owned(), i == last));
    }
}

/// One line of the tree: `name (kind, state, age, restarts)`, or for a group
/// `name ×n (kind, n₁ state₁, n₂ state₂, youngest–oldest, restarts)`.
fn write_line(f: &mut fmt::Formatter<'_>, group: &[&TaskSnapshot]) -> fmt::Result {
    let first = group[0];
    f.write_str(&first.name)?;
    if group.len() > 1 {
        write!(f, " ×{}", group.len())?;
    }
    f.write_str(" (")?;
    if first.contained {
        f.write_str("contained ")?;
    }
    f.write_str(first.kind.label())?;
    if let [task] = group {
        write!(f, ", {}, {}", task.state, Age(task.age))?;
    } else {
        // One pass over the group: thousands of members are common.
        let mut counts = [0usize; TaskState::ALL.len()];
        let (mut youngest, mut oldest) = (Duration::MAX, Duration::ZERO);
        for task in group {
            if let Some(at) = TaskState::ALL.iter().position(|state| *state == task.state) {
                counts[at] += 1;
            }
            youngest = youngest.min(task.age);
            oldest = oldest.max(task.age);
        }
        for (state, n) in TaskState::ALL.iter().zip(counts) {
            if n > 0 {
                write!(f, ", {n} {state}")?;
            }
        }
        let (youngest, oldest) = (Age(youngest).to_string(), Age(oldest).to_string());
        if youngest == oldest {
            write!(f, ", {youngest}")?;
        } else {
            write!(f, ", {youngest}–{oldest}")?;
        }
    }
    let restarts: u64 = group.iter().map(|task| u64::from(task.restarts)).sum();
    match restarts {
        0 => {}
        1 => f.write_str(", 1 restart")?,
        n => write!(f, ", {n} restarts")?,
    }
    f.write_str(")")
}

impl fmt::Display for Snapshot {
    /// An indented tree, one line per group of siblings with the same name and kind
    /// (members' children merged), each with its kind, states, age and restarts.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let root = vec![&self.root];
        write_line(f, &root)?;
        // Iterative, so that deep trees need no stack: (group, indent of its line, last).
        let mut stack: Vec<(Group<'_>, String, bool)> = Vec::new();
        push_children(&mut stack, &root, "");
        while let Some((group, indent, last)) = stack.pop() {
            f.write_str("\n")?;
            f.write_str(&indent)?;
            f.write_str(if last { "└─ " } else { "├─ " })?;
            write_line(f, &group)?;
            let indent = format!("{indent}{}", if last { "   " } else { "│  " });
            push_children(&mut stack, &group, &indent);
        }
        Ok(())
    }
}
