//! An exhaustive walk over every state small processes can reach, applying every command in
//! every deployment status and checking the invariants after each transition.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

/// Small processes that between them use every kind of step, condition and retry setting.
fn plans() -> Vec<(Vec<StepSpec>, bool)> {
    let retried = StepSpec {
        retries: 1,
        ..spec("Retried")
    };
    let mut plans = Vec::new();
    for guided_failure in [false, true] {
        plans.push((
            vec![
                spec("A"),
                manual("B"),
                with_condition(Condition::Always, spec("C")),
            ],
            guided_failure,
        ));
        plans.push((
            vec![
                retried.clone(),
                with_condition(Condition::Variable(None), manual("B")),
                with_condition(Condition::Failure, spec("C")),
            ],
            guided_failure,
        ));
        plans.push((
            vec![
                with_condition(Condition::Variable(None), spec("A")),
                StepSpec {
                    excluded: true,
                    ..spec("B")
                },
                StepSpec {
                    environment_allows: false,
                    ..with_condition(Condition::Always, spec("C"))
                },
                with_condition(Condition::Always, manual("D")),
            ],
            guided_failure,
        ));
        // Steps on targets: a window of one over two targets with a retry, a window of two,
        // and a role no target has.
        plans.push((
            vec![
                on_targets("T", 1, 1),
                with_condition(Condition::Always, spec("C")),
            ],
            guided_failure,
        ));
    }
    // Steps on targets that are skipped or cannot start: their runs end too.
    plans.push((
        vec![
            with_condition(Condition::Variable(None), on_targets("S1", 1, 0)),
            with_condition(Condition::Failure, on_targets("S2", 1, 0)),
        ],
        false,
    ));
    // (Walked once each: both are small variations of the plan above.)
    plans.push((vec![on_targets("W", 2, 0), manual("M")], true));
    plans.push((vec![on_targets("None", 1, 0), spec("C")], false));
    plans
}

/// A step on targets; `with_targets` gives those named `T` and `W` two targets, those named
/// `S…` one, `None` none.
fn on_targets(name: &str, window: usize, retries: u8) -> StepSpec {
    StepSpec {
        roles: vec![crate::RoleName::parse("web").unwrap()],
        window,
        retries,
        ..spec(name)
    }
}

fn with_targets(mut state: Deployment) -> Deployment {
    for run in &mut state.steps {
        let count = match run.name().as_str() {
            "T" | "W" => 2,
            name if name.starts_with('S') => 1,
            _ => 0,
        };
        if run.spec.on_targets() {
            run.targets = (1..=count)
                .map(|number| {
                    TargetRun::pending(TargetRef {
                        id: crate::TargetId::from_uuid(Uuid::from_u128(number)),
                        name: crate::TargetName::parse(&format!("web-{number}")).unwrap(),
                    })
                })
                .collect();
        }
    }
    state
}

/// Commands about each target's run of a step: results for nearby attempts, claims, losses.
fn target_commands(index: usize, run: &StepRun, commands: &mut Vec<(&'static str, Command)>) {
    for (position, on) in run.targets.iter().enumerate() {
        for attempt in [on.attempt.saturating_sub(1), on.attempt, on.attempt + 1] {
            for outcome in [
                StepOutcome::Succeeded,
                StepOutcome::Failed {
                    exit_code: Some(4),
                    reason: "exit 4".into(),
                },
            ] {
                commands.push((
                    "step finished",
                    Command::StepFinished(StepReport {
                        step: index,
                        target: Some(position),
                        attempt,
                        outcome,
                        started_at: at(10),
                        finished_at: at(11),
                        outputs: BTreeMap::new(),
                    }),
                ));
            }
        }
        let claim_by = |worker: &str, process: u128| Command::Claim {
            step: index,
            target: Some(position),
            attempt: on.attempt,
            worker: worker.into(),
            claim_id: crate::ClaimId::from_uuid(Uuid::from_u128(process)),
        };
        commands.push(("claim", claim_by("w1", process_of("w1"))));
        if on.claimed_by.is_some() {
            commands.push(("claim", claim_by("w2", process_of("w2"))));
        }
        for why in [
            LostAttempt::NotTaken { waited_seconds: 60 },
            LostAttempt::Silent {
                worker: "w1".into(),
                silent_seconds: 60,
            },
        ] {
            commands.push((
                "lost",
                Command::Lost {
                    step: index,
                    target: Some(position),
                    attempt: on.attempt,
                    why,
                },
            ));
        }
    }
}

/// Every command worth trying on a state: each result for each step and nearby attempts,
/// taking and answering by two people, cancelling, starting and creating.
fn commands_for(state: &Deployment) -> Vec<(&'static str, Command)> {
    let mut commands = vec![
        ("create", create()),
        (
            "create behind",
            Command::Create {
                requested_by: "jenkins".into(),
                purpose: Purpose::Deploy,
                ahead: Some(DeploymentId::from(Uuid::from_u128(1))),
            },
        ),
        ("start", Command::Start),
        ("take", take("alice")),
        ("take", take("bob")),
        ("cancel", cancel("frank")),
    ];
    for answer_kind in Answer::ALL {
        commands.push(("answer", answer("alice", answer_kind, Some("note"))));
        commands.push(("answer", answer("bob", answer_kind, None)));
    }
    for (index, run) in state.steps.iter().enumerate() {
        target_commands(index, run, &mut commands);
        for attempt in [run.attempt.saturating_sub(1), run.attempt, run.attempt + 1] {
            commands.push(("step finished", succeeded(index, attempt)));
            commands.push(("step finished", failed(index, attempt, 4)));
        }
        for attempt in [run.attempt, run.attempt + 1] {
            commands.push(("claim", claim(index, attempt, "w1")));
        }
        // Another process once w1 holds the attempt: refused, whatever its name. (Only then:
        // a w2 that won would double every state after it.)
        if run.claimed_by.is_some() {
            commands.push(("claim", claim(index, run.attempt, "w2")));
            commands.push((
                "claim",
                claim_as(index, run.attempt, "w1", process_of("w1") + 1),
            ));
        }
        commands.push((
            "lost",
            Command::Lost {
                step: index,
                target: None,
                attempt: run.attempt,
                why: LostAttempt::NotTaken { waited_seconds: 60 },
            },
        ));
        // (A silent worker's loss fails the step just as `NotTaken` does, with another
        // reason: `claims.rs` tests it; walking both would only double the failed states.)
        // Another worker than the one holding the attempt: stale.
        commands.push((
            "lost",
            Command::Lost {
                step: index,
                target: None,
                attempt: run.attempt,
                why: LostAttempt::Silent {
                    worker: "w2".into(),
                    silent_seconds: 60,
                },
            },
        ));
        commands.push((
            "condition evaluated",
            Command::ConditionEvaluated {
                step: index,
                result: Ok(true),
            },
        ));
        commands.push((
            "instructions rendered",
            Command::InstructionsRendered {
                step: index,
                result: Ok("ok".into()),
            },
        ));
    }
    commands
}

#[test]
fn every_command_in_every_reachable_state_keeps_the_invariants() {
    let mut seen: HashSet<String> = HashSet::new();
    let mut queue: VecDeque<Deployment> = VecDeque::new();
    for (plan, guided_failure) in plans() {
        let state = with_targets(Deployment {
            guided_failure,
            ..deployment(plan)
        });
        seen.insert(format!("{state:?}"));
        queue.push_back(state);
    }
    let mut applied: BTreeSet<(String, &'static str)> = BTreeSet::new();
    let mut tried: BTreeSet<(String, &'static str)> = BTreeSet::new();
    let mut transitions = 0;
    let mut asked = (0, 0);
    while let Some(before) = queue.pop_front() {
        for (name, command) in commands_for(&before) {
            tried.insert((before.status.as_str().to_owned(), name));
            for shell in [Shell::Agreeable, Shell::Declining, Shell::Broken] {
                let result = settle(before.clone(), command.clone(), at(30), |_, request| {
                    match request {
                        Request::EvaluateCondition { .. } => asked.0 += 1,
                        Request::RenderInstructions { .. } => asked.1 += 1,
                    }
                    shell.reply(request)
                });
                let Ok(after) = result else {
                    continue;
                };
                applied.insert((before.status.as_str().to_owned(), name));
                transitions += 1;
                check_invariants(shell, &before, &command, &after);
                // Retries under guided failure can go on for ever: three attempts show it all.
                let bounded =
                    after.deployment.steps.iter().all(|run| {
                        run.attempt <= 3 && run.targets.iter().all(|on| on.attempt <= 2)
                    });
                if bounded && seen.insert(format!("{:?}", after.deployment)) {
                    queue.push_back(after.deployment);
                }
            }
        }
    }
    assert!(
        seen.len() > 200,
        "the walk reached {} states only",
        seen.len()
    );
    assert!(transitions > 5_000, "{transitions} transitions");
    // The machine's questions are answered inside `settle`; a resting deployment asked
    // nothing, so an answer out of the blue is refused in every status.
    assert!(asked.0 > 20 && asked.1 > 20, "questions asked: {asked:?}");
    println!(
        "{} states, {transitions} transitions, {asked:?} questions",
        seen.len()
    );
    // Every command was tried in every deployment status, and taken exactly where it may be.
    let names = [
        "create",
        "create behind",
        "start",
        "step finished",
        "take",
        "answer",
        "cancel",
        "condition evaluated",
        "instructions rendered",
    ];
    for status in DeploymentStatus::ALL {
        for name in names {
            let key = (status.as_str().to_owned(), name);
            assert!(tried.contains(&key), "`{name}` was never tried in {status}");
            let may = match name {
                "create" | "create behind" | "start" => status == DeploymentStatus::Queued,
                // Stale results are taken (and change nothing) whatever the status.
                "step finished" => true,
                "take" | "answer" => status == DeploymentStatus::WaitingForIntervention,
                "cancel" => !status.is_terminal(),
                _ => false,
            };
            assert_eq!(applied.contains(&key), may, "`{name}` in {status}");
        }
    }
}

/// Whether the machine must treat a worker's report as stale, worked out from the state
/// before it independently of the machine: only the running attempt of a step counts, while
/// nobody is asked about it and the deployment has not ended.
fn must_be_stale(before: &Deployment, report: &StepReport) -> bool {
    match report.target {
        Some(target) => target_is_stale(before, report.step, target, report.attempt),
        None => attempt_is_stale(before, report.step, report.attempt),
    }
}

fn target_is_stale(before: &Deployment, step: usize, target: usize, attempt: u32) -> bool {
    let on = &before.steps[step].targets[target];
    before.status.is_terminal()
        || before.status == DeploymentStatus::WaitingForIntervention
        || on.status != Running
        || on.attempt != attempt
}

fn attempt_is_stale(before: &Deployment, step: usize, attempt: u32) -> bool {
    let run = &before.steps[step];
    run.spec.on_targets()
        || before.status.is_terminal()
        || before.status == DeploymentStatus::WaitingForIntervention
        || run.status != Running
        || run.attempt != attempt
}

fn check_invariants(shell: Shell, before: &Deployment, command: &Command, transition: &Transition) {
    let after = &transition.deployment;
    let context = || format!("{command:?}\nbefore: {before:#?}\nafter: {after:#?}");
    assert_eq!(transition.request, None, "settle answers every question");
    assert_eq!(after.awaiting, None);
    if let Command::StepFinished(report) = command {
        assert_eq!(
            transition.stale.is_some(),
            must_be_stale(before, report),
            "staleness: {}",
            context()
        );
    } else if let Command::Claim {
        step,
        target: None,
        attempt,
        claim_id,
        ..
    } = command
    {
        // Only the first claim of the running attempt wins (and that claim sent again).
        let run = &before.steps[*step];
        let claimed = run.claimed_by.is_some() && run.claim_id != Some(*claim_id);
        assert_eq!(
            transition.stale.is_some(),
            claimed || attempt_is_stale(before, *step, *attempt),
            "claim staleness: {}",
            context()
        );
    } else if let Command::Lost {
        step,
        target: None,
        attempt,
        why,
        ..
    } = command
    {
        let holder = before.steps[*step].claimed_by.as_deref();
        let holds = match why {
            LostAttempt::NotTaken { .. } => holder.is_none(),
            LostAttempt::Silent { worker, .. } => holder == Some(worker.as_str()),
        };
        assert_eq!(
            transition.stale.is_some(),
            !holds || attempt_is_stale(before, *step, *attempt),
            "loss staleness: {}",
            context()
        );
    } else if let Command::Claim {
        step,
        target: Some(target),
        attempt,
        claim_id,
        ..
    } = command
    {
        let on = &before.steps[*step].targets[*target];
        let claimed = on.claimed_by.is_some() && on.claim_id != Some(*claim_id);
        assert_eq!(
            transition.stale.is_some(),
            claimed || target_is_stale(before, *step, *target, *attempt),
            "target claim staleness: {}",
            context()
        );
    } else if let Command::Lost {
        step,
        target: Some(target),
        attempt,
        why,
    } = command
    {
        let holder = before.steps[*step].targets[*target].claimed_by.as_deref();
        let holds = match why {
            LostAttempt::NotTaken { .. } => holder.is_none(),
            LostAttempt::Silent { worker, .. } => holder == Some(worker.as_str()),
        };
        assert_eq!(
            transition.stale.is_some(),
            !holds || target_is_stale(before, *step, *target, *attempt),
            "target loss staleness: {}",
            context()
        );
    } else {
        assert!(transition.stale.is_none());
    }
    if transition.stale.is_some() {
        assert_eq!(after, before, "a stale result changes nothing");
        assert!(transition.effects.is_empty());
        return;
    }
    // Only the person who took the question answers it.
    if let Command::Answer { answered_by, .. } = command {
        let open = before
            .open_interruption
            .as_ref()
            .expect("answered an open question");
        assert_eq!(open.taken_by.as_ref(), Some(answered_by), "{}", context());
    }
    check_effects_agree_with_the_state(before, transition);
    // Final states stay final, attempts only grow.
    for (old, new) in before.steps.iter().zip(&after.steps) {
        if old.status.is_terminal() {
            assert_eq!(old, new, "a final step never changes: {}", context());
        }
        assert!(new.attempt >= old.attempt);
        if new.status == StepStatus::Running {
            assert!(new.attempt >= 1, "a running step has an attempt");
        }
    }
    assert!(
        !before.status.is_terminal() || after == before,
        "{}",
        context()
    );
    let running: Vec<usize> = after
        .steps
        .iter()
        .enumerate()
        .filter(|(_, run)| run.status == StepStatus::Running)
        .map(|(index, _)| index)
        .collect();
    assert!(running.len() <= 1, "one step at a time: {}", context());
    // Target runs: never more at once than the window, only inside a running step, none
    // while a person is asked, and all over once the step is.
    for run in &after.steps {
        let running_targets = run.targets.iter().filter(|on| on.status == Running).count();
        assert!(
            running_targets <= run.spec.window,
            "the window: {}",
            context()
        );
        if run.status != Running || after.status == DeploymentStatus::WaitingForIntervention {
            assert_eq!(
                running_targets,
                0,
                "a run outside a running step: {}",
                context()
            );
        }
        if run.status.is_terminal() {
            assert!(
                run.targets.iter().all(|on| on.status.is_terminal()),
                "a finished step with an unfinished run: {}",
                context()
            );
        }
    }
    match after.status {
        DeploymentStatus::Queued => {
            assert!(after.steps.iter().all(|run| run.status == Pending));
            assert_eq!(after.started_at, None);
        }
        DeploymentStatus::Running => {
            assert_eq!(running.len(), 1, "a running deployment rests on a step");
            assert!(after.steps[running[0]].spec.runs_on_worker());
            assert!(after.open_interruption.is_none());
            assert!(after.started_at.is_some());
        }
        DeploymentStatus::WaitingForIntervention => {
            let open = after.open_interruption.as_ref().expect("an open question");
            assert_eq!(running, [open.step], "{}", context());
        }
        DeploymentStatus::Success | DeploymentStatus::Failed | DeploymentStatus::Canceled => {
            assert!(after.steps.iter().all(|run| run.status.is_terminal()));
            assert!(after.open_interruption.is_none());
            assert!(after.finished_at.is_some());
            let failed = after.steps.iter().any(|run| run.status.is_failure());
            match after.status {
                DeploymentStatus::Success => assert!(!failed && after.error.is_none()),
                _ => assert!(failed && after.error.is_some(), "{}", context()),
            }
        }
    }
    // The finished event is sent exactly when the deployment ends.
    let finished: Vec<_> = transition
        .effects
        .iter()
        .filter_map(|effect| match effect {
            Effect::Finished { status, .. } => Some(*status),
            _ => None,
        })
        .collect();
    if after.status.is_terminal() && !before.status.is_terminal() {
        assert_eq!(finished, [after.status]);
    } else {
        assert!(finished.is_empty());
    }
    // Each job dispatched is for a worker step, for the attempt the step is now at.
    for effect in &transition.effects {
        if let Effect::Dispatch {
            step,
            target,
            attempt,
        } = effect
        {
            let run = &after.steps[*step];
            assert!(run.spec.runs_on_worker());
            match target {
                Some(target) => {
                    let on = &run.targets[*target];
                    assert_eq!(
                        (on.status, on.attempt),
                        (Running, *attempt),
                        "{}",
                        context()
                    );
                }
                None => {
                    assert!(!run.spec.on_targets(), "{}", context());
                    assert_eq!(run.attempt, *attempt);
                }
            }
        }
        if let Effect::Log(note) = effect {
            assert!(!note.to_string().is_empty());
        }
    }
    // Every step skipped now is in the log with a reason that holds.
    for (index, (old, new)) in before.steps.iter().zip(&after.steps).enumerate() {
        if old.status == Pending && new.status == Skipped {
            let reason = transition
                .effects
                .iter()
                .find_map(|effect| match effect {
                    Effect::Log(Note::StepSkipped { step, reason }) if step == new.name() => {
                        Some(*reason)
                    }
                    _ => None,
                })
                .unwrap_or_else(|| panic!("step {index} skipped silently: {}", context()));
            let failed_before = after.steps[..index]
                .iter()
                .any(|run| run.status.is_failure());
            let spec = &new.spec;
            let holds = match reason {
                SkipReason::Excluded => spec.excluded,
                SkipReason::EnvironmentCondition => !spec.excluded && !spec.environment_allows,
                SkipReason::RunCondition => match spec.condition {
                    Condition::Success => failed_before,
                    Condition::Failure => !failed_before,
                    _ => false,
                },
                // Only a condition the shell evaluated to false skips its step.
                SkipReason::VariableCondition => {
                    matches!(spec.condition, Condition::Variable(_)) && shell == Shell::Declining
                }
            };
            assert!(holds, "step {index} skipped for {reason:?}: {}", context());
        }
    }
}

/// The effects the shell persists one by one must say what the new state says: an
/// interruption row exactly when a question opens, its taker, its answer, the stop of a step
/// a worker runs, and the next queued deployment exactly when this one ends.
fn check_effects_agree_with_the_state(before: &Deployment, transition: &Transition) {
    let after = &transition.deployment;
    let context = || {
        format!(
            "before: {before:#?}\nafter: {after:#?}\n{:#?}",
            transition.effects
        )
    };
    let effects = &transition.effects;
    let opened = effects.iter().rev().find_map(|effect| match effect {
        Effect::OpenInterruption { step, kind, .. } => Some((*step, *kind)),
        _ => None,
    });
    let closed = effects.iter().any(|effect| {
        matches!(
            effect,
            Effect::ResolveInterruption { .. } | Effect::CloseInterruption { .. }
        )
    });
    match (&before.open_interruption, &after.open_interruption) {
        (_, Some(open)) if opened.is_some() => {
            assert_eq!(opened, Some((open.step, open.kind)), "{}", context());
            assert_eq!(open.taken_by, None);
        }
        (Some(old), Some(new)) => {
            assert_eq!((old.step, old.kind), (new.step, new.kind), "{}", context());
            assert!(!closed, "{}", context());
        }
        (None, Some(_)) => panic!("a question opened without its row: {}", context()),
        (Some(_), None) => assert!(closed, "a question closed without its row: {}", context()),
        (None, None) => assert!(opened.is_none() && !closed, "{}", context()),
    }
    for effect in effects {
        match effect {
            Effect::TakeInterruption { taken_by, .. } => {
                let open = after.open_interruption.as_ref().expect("taken while open");
                assert_eq!(open.taken_by.as_ref(), Some(taken_by));
            }
            Effect::StopStep {
                step,
                target: Some(target),
                attempt,
                why,
            } => {
                let old = &before.steps[*step].targets[*target];
                assert_eq!(
                    (old.status, old.attempt),
                    (Running, *attempt),
                    "{}",
                    context()
                );
                assert_eq!(before.status, DeploymentStatus::Running, "{}", context());
                let new = &after.steps[*step].targets[*target];
                match why {
                    StopReason::Cancelled => assert_eq!(new.status, Canceled),
                    StopReason::NotHeld => panic!("the machine sent a shell's stop: {}", context()),
                    StopReason::Lost => assert!(
                        new.status != Running || new.attempt > old.attempt,
                        "{}",
                        context()
                    ),
                }
            }
            Effect::StopStep {
                step, attempt, why, ..
            } => {
                let old = &before.steps[*step];
                assert!(old.spec.runs_on_worker(), "{}", context());
                assert_eq!((old.status, old.attempt), (Running, *attempt));
                assert_eq!(before.status, DeploymentStatus::Running, "{}", context());
                let new = &after.steps[*step];
                match why {
                    StopReason::Cancelled => assert_eq!(new.status, Canceled),
                    StopReason::NotHeld => panic!("the machine sent a shell's stop: {}", context()),
                    // Given up: failed, running again as a new attempt, or (under guided
                    // failure) waiting for a person to say which.
                    StopReason::Lost => assert!(
                        new.status != Running
                            || new.attempt > old.attempt
                            || after.status == DeploymentStatus::WaitingForIntervention,
                        "{}",
                        context()
                    ),
                }
            }
            _ => {}
        }
    }
    // And the other way round: what the state says happened has its effect.
    for (index, (old, new)) in before.steps.iter().zip(&after.steps).enumerate() {
        for (position, (was, now)) in old.targets.iter().zip(&new.targets).enumerate() {
            if now.status == Running && now.attempt > was.attempt {
                assert!(
                    effects.contains(&Effect::Dispatch {
                        step: index,
                        target: Some(position),
                        attempt: now.attempt
                    }),
                    "target run {position} of step {index} runs with no job: {}",
                    context()
                );
            }
            if was.status == Running
                && now.status == Canceled
                && before.status == DeploymentStatus::Running
            {
                assert!(
                    effects.contains(&Effect::StopStep {
                        step: index,
                        target: Some(position),
                        attempt: was.attempt,
                        why: StopReason::Cancelled,
                    }),
                    "target run {position} cancelled with no stop: {}",
                    context()
                );
            }
        }
        let new_attempt = new.status == Running && new.attempt > old.attempt;
        if new_attempt && new.spec.runs_on_worker() && !new.spec.on_targets() {
            assert!(
                effects.contains(&Effect::Dispatch {
                    step: index,
                    target: None,
                    attempt: new.attempt
                }),
                "step {index} runs attempt {} with no job: {}",
                new.attempt,
                context()
            );
        }
        let stopped = old.status == Running
            && new.status == Canceled
            && old.spec.runs_on_worker()
            && !old.spec.on_targets()
            && before.status == DeploymentStatus::Running;
        if stopped {
            assert!(
                effects.contains(&Effect::StopStep {
                    step: index,
                    target: None,
                    attempt: old.attempt,
                    why: StopReason::Cancelled,
                }),
                "step {index} was cancelled while a worker ran it, with no stop: {}",
                context()
            );
        }
    }
    let next_queued: Vec<NextQueued> = effects
        .iter()
        .filter_map(|effect| match effect {
            Effect::StartNextQueued(next) => Some(*next),
            _ => None,
        })
        .collect();
    let ended = after.status.is_terminal() && !before.status.is_terminal();
    let expected = match () {
        _ if !ended => vec![],
        // A queued deployment cancelled may sit behind one that still runs.
        _ if before.status == DeploymentStatus::Queued
            && after.status == DeploymentStatus::Canceled =>
        {
            vec![NextQueued::IfIdle]
        }
        _ => vec![NextQueued::Start],
    };
    assert_eq!(next_queued, expected, "{}", context());
}
