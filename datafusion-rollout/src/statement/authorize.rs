//! Which privileges each statement needs, checked against its actor's grants before it runs
//! and again inside its commit (so a grant revoked meanwhile still stops it).

use super::Statement;
use super::check::CheckTarget;
use super::settings::SettingAction;
use super::tokens::ShowPrincipals;
use crate::catalog::{Need, Privilege, State};

impl Statement {
    /// What `actor` must hold to run this statement on `state`. Reads through a dataset's
    /// name are checked where the dataset is scanned, so DataFusion's own statements need
    /// nothing here.
    pub fn needs(&self, actor: &str, state: &State) -> Vec<Need> {
        use Privilege as P;
        let on = Need::on;
        let admin = || vec![Need::everywhere(P::Admin)];
        // A user may manage what is theirs (password, tokens, view of their grants).
        let own = |user: &str| {
            if user == actor && state.access.users.contains_key(actor) {
                vec![]
            } else {
                admin()
            }
        };
        let with_force = |privilege: P, dataset: &str, force: bool| {
            let mut needs = vec![on(privilege, dataset)];
            if force {
                needs.push(on(P::Force, dataset));
            }
            needs
        };
        match self {
            Statement::DataFusion(_)
            | Statement::Assert(_)
            | Statement::ShowDatasets(_)
            | Statement::ShowCohorts(_) => vec![],
            Statement::CreateDataset(s) => vec![on(P::Register, &s.name)],
            Statement::RegisterVersion(s) => vec![on(P::Register, &s.dataset)],
            Statement::CreateVersion(s) => vec![on(P::Register, &s.dataset)],
            Statement::ShowVersions(s) => vec![on(P::Read, &s.dataset)],
            Statement::ShowRollout(s) => vec![on(P::Read, &s.dataset)],
            Statement::ShowHistory(s) => match &s.dataset {
                Some(d) => vec![on(P::Read, d)],
                None => vec![Need::everywhere(P::Read)],
            },
            Statement::ShowContract(s) => vec![on(P::Read, &s.dataset)],
            Statement::ExplainChange(s) => vec![on(P::Read, s.dataset())],
            Statement::DropVersion(s) => vec![on(P::Admin, &s.dataset)],
            Statement::ShowLineage(s) => vec![on(P::Read, &s.dataset)],
            Statement::SetRetention(s) => vec![on(P::Admin, &s.dataset)],
            Statement::FinishMigration(s) => vec![on(P::Register, &s.dataset)],
            Statement::VerifyVersion(s) => vec![on(P::Read, &s.dataset)],
            Statement::ReportMetric(s) => vec![on(P::Read, &s.dataset)],
            Statement::ShowExposure(s) => vec![on(P::Read, &s.dataset)],
            Statement::Check(s) => match &s.target {
                CheckTarget::Version { dataset, .. } | CheckTarget::Rollout { dataset } => {
                    vec![on(P::Read, dataset)]
                }
                CheckTarget::Rollouts => vec![Need::everywhere(P::Read)],
            },
            Statement::Promote(s) => s
                .targets()
                .flat_map(|(d, _)| with_force(P::Promote, d, s.force))
                .collect(),
            Statement::Advance(s) => with_force(P::Promote, &s.dataset, s.force),
            Statement::Rollback(s) => s.datasets().map(|d| on(P::Rollback, d)).collect(),
            Statement::CreateContract(s) => vec![on(P::Contract, &s.dataset)],
            Statement::Setting(s) => match &s.action {
                // Reading as someone else; one's own name is no impersonation.
                SettingAction::Set(v)
                    if (s.key == "consumer" && v != actor)
                        || (s.key == "cohort" && !v.is_empty()) =>
                {
                    vec![Need::everywhere(P::Impersonate)]
                }
                _ => vec![],
            },
            Statement::CreateCohort(_)
            | Statement::AlterCohort(_)
            | Statement::Vacuum(_)
            | Statement::CreateNotification(_)
            | Statement::DropNotification(_)
            | Statement::ShowNotifications(_)
            | Statement::CreateUser(_)
            | Statement::DropUser(_)
            | Statement::Role(_) => admin(),
            Statement::AlterUser(s) => own(&s.name),
            Statement::CreateToken(s) => own(&s.user),
            Statement::DropToken(s) => match s.owner(state) {
                Some(owner) => own(&owner),
                None => admin(),
            },
            Statement::ShowPrincipals(ShowPrincipals::Tokens { user: Some(u) }) => own(u),
            Statement::ShowPrincipals(_) => admin(),
            Statement::ShowGrants(s) => match &s.user {
                Some(u) => own(u),
                None => admin(),
            },
            Statement::SetApprovals(s) => vec![on(P::Admin, &s.dataset)],
            // An approver holds what the statement needs; it then runs as its requester.
            Statement::Approve(s) => s.statement.needs(actor, state),
            Statement::ShowPending(s) => match &s.dataset {
                Some(d) => vec![on(P::Read, d)],
                None => vec![Need::everywhere(P::Read)],
            },
            Statement::ChangeGrants(s) => match s.scope() {
                Some(d) => vec![on(P::Admin, d)],
                None => admin(),
            },
        }
    }
}
