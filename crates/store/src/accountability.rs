//! Commitments and milestones, and the milestones' permanent timeline.
//!
//! Every change to a milestone (status, progress, dates, blocker, evidence)
//! is a row of `milestone_events`, written in the same transaction as the
//! change; rows are only ever added.

use datalab_core::accountability::{
    ActionPlan, Bilingual, Commitment, Evidence, Institution, InstitutionRole, Milestone, MilestoneEvent,
    MilestoneStatus,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};
use uuid::Uuid;

use crate::{Store, StoreError, StoreResult, format_time, now, parse_time, parse_uuid};

#[derive(Serialize, Deserialize)]
struct CommitmentContent {
    title: Bilingual,
    problem: Bilingual,
    status_quo: Bilingual,
    action: Bilingual,
    contribution: Bilingual,
    policy_area: Bilingual,
    sector: Bilingual,
    ogp_values: Vec<Bilingual>,
}

fn json_text<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("accountability values serialize")
}

fn from_json<T: for<'de> Deserialize<'de>>(row: &SqliteRow, column: &str) -> StoreResult<T> {
    let text: String = row.try_get(column)?;
    serde_json::from_str(&text).map_err(|error| StoreError::Corrupt(format!("{column}: {error}")))
}

async fn record_event(
    connection: &mut SqliteConnection,
    milestone_id: Uuid,
    user_id: Option<Uuid>,
    field: &str,
    before: &Value,
    after: &Value,
    note: &str,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO events (milestone_id, subject_id, at, user_id, stream, kind, field, before_value, after_value, note) \
         VALUES ($1, $1, $2, $3, 'tracker', $4, $4, $5, $6, $7)",
    )
    .bind(milestone_id.to_string())
    .bind(format_time(now()))
    .bind(user_id.map(|id| id.to_string()))
    .bind(field)
    .bind(before.to_string())
    .bind(after.to_string())
    .bind(note)
    .execute(connection)
    .await?;
    Ok(())
}

async fn insert_evidence(
    connection: &mut SqliteConnection,
    milestone_id: Uuid,
    evidence: &Evidence,
) -> StoreResult<()> {
    sqlx::query("INSERT INTO milestone_evidence (id, milestone_id, target, note, added_by, added_at) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(evidence.id.to_string())
        .bind(milestone_id.to_string())
        .bind(json_text(&evidence.target))
        .bind(&evidence.note)
        .bind(evidence.added_by.map(|id| id.to_string()))
        .bind(format_time(evidence.added_at))
        .execute(connection)
        .await?;
    Ok(())
}

/// A `milestone_events` row joined with the user's name as `user_name`.
fn event_from_row(row: &SqliteRow) -> StoreResult<MilestoneEvent> {
    Ok(MilestoneEvent {
        id: row.try_get("id")?,
        at: parse_time(row.try_get("at")?)?,
        user_id: row.try_get::<Option<String>, _>("user_id")?.as_deref().map(parse_uuid).transpose()?,
        user_name: row.try_get("user_name")?,
        field: row.try_get("field")?,
        before: from_json(row, "before_value")?,
        after: from_json(row, "after_value")?,
        note: row.try_get("note")?,
    })
}

fn evidence_value(evidence: &Evidence) -> Value {
    json!({"id": evidence.id, "target": evidence.target, "note": evidence.note})
}

async fn write_milestone_update(
    connection: &mut SqliteConnection,
    by_user: Option<Uuid>,
    before: &Milestone,
    after: &Milestone,
    note: &str,
) -> StoreResult<usize> {
    let mut entries = 0;
    for (field, old, new) in before.changes(after) {
        record_event(&mut *connection, before.id, by_user, field, &old, &new, note).await?;
        entries += 1;
    }
    for evidence in after.evidence.iter().filter(|item| !before.evidence.iter().any(|known| known.id == item.id)) {
        insert_evidence(&mut *connection, before.id, evidence).await?;
        record_event(&mut *connection, before.id, by_user, "evidence", &Value::Null, &evidence_value(evidence), note)
            .await?;
        entries += 1;
    }
    if entries == 0 && !note.trim().is_empty() {
        record_event(&mut *connection, before.id, by_user, "comment", &Value::Null, &Value::Null, note).await?;
        entries += 1;
    }
    sqlx::query(
        "UPDATE milestones SET status = $2, progress = $3, start_date = $4, end_date = $5, blocker_reason = $6, blocker_owner = $7, \
         modified = $8 WHERE id = $1",
    )
    .bind(before.id.to_string())
    .bind(after.status.as_str())
    .bind(after.progress)
    .bind(&after.start)
    .bind(&after.end)
    .bind(&after.blocker_reason)
    .bind(&after.blocker_owner)
    .bind(format_time(now()))
    .execute(&mut *connection)
    .await?;
    Ok(entries)
}

/// Inserts a milestone (or task) with its organizations and evidence, and
/// starts its timeline with a `created` entry.
async fn insert_milestone(
    connection: &mut SqliteConnection,
    by_user: Option<Uuid>,
    milestone: &Milestone,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO milestones (id, commitment_id, number, parent_id, weight, title, description, start_date, end_date, status, \
         progress, blocker_reason, blocker_owner, modified) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(milestone.id.to_string())
    .bind(milestone.commitment_id.to_string())
    .bind(milestone.number)
    .bind(milestone.parent_id.map(|id| id.to_string()))
    .bind(milestone.weight)
    .bind(json_text(&milestone.title))
    .bind(json_text(&milestone.description))
    .bind(&milestone.start)
    .bind(&milestone.end)
    .bind(milestone.status.as_str())
    .bind(milestone.progress)
    .bind(&milestone.blocker_reason)
    .bind(&milestone.blocker_owner)
    .bind(format_time(now()))
    .execute(&mut *connection)
    .await?;
    for organization in &milestone.organizations {
        sqlx::query("INSERT INTO milestone_organizations (milestone_id, organization_id) VALUES ($1, $2)")
            .bind(milestone.id.to_string())
            .bind(organization.to_string())
            .execute(&mut *connection)
            .await?;
    }
    for evidence in &milestone.evidence {
        insert_evidence(&mut *connection, milestone.id, evidence).await?;
    }
    let snapshot = json!({"status": milestone.status, "progress": milestone.progress, "start": milestone.start, "end": milestone.end});
    record_event(connection, milestone.id, by_user, "created", &Value::Null, &snapshot, "").await
}

/// Sets a parent's progress to the weighted mean of its tasks' (a timeline
/// entry on the parent when it changes). Returns the entries written.
async fn derive_parent_progress(
    connection: &mut SqliteConnection,
    by_user: Option<Uuid>,
    parent: Uuid,
) -> StoreResult<usize> {
    let rows = sqlx::query("SELECT progress, weight FROM milestones WHERE parent_id = $1")
        .bind(parent.to_string())
        .fetch_all(&mut *connection)
        .await?;
    let total: f64 = rows.iter().map(|row| row.try_get::<f64, _>("weight").unwrap_or(0.0)).sum();
    if rows.is_empty() || total <= 0.0 {
        return Ok(0);
    }
    let weighted: f64 = rows
        .iter()
        .map(|row| {
            row.try_get::<f64, _>("weight").unwrap_or(0.0) * row.try_get::<i64, _>("progress").unwrap_or(0) as f64
        })
        .sum();
    let derived = (weighted / total).round() as i64;
    let current: i64 = sqlx::query_scalar("SELECT progress FROM milestones WHERE id = $1")
        .bind(parent.to_string())
        .fetch_one(&mut *connection)
        .await?;
    if current == derived {
        return Ok(0);
    }
    sqlx::query("UPDATE milestones SET progress = $2, modified = $3 WHERE id = $1")
        .bind(parent.to_string())
        .bind(derived)
        .bind(format_time(now()))
        .execute(&mut *connection)
        .await?;
    record_event(connection, parent, by_user, "progress", &json!(current), &json!(derived), "derived-from-tasks")
        .await?;
    Ok(1)
}

impl Store {
    /// Adds a task under a milestone, numbered after every milestone of the
    /// commitment; the parent's progress is derived again.
    pub async fn create_task(
        &self,
        by_user: Option<Uuid>,
        parent: &Milestone,
        task: &Milestone,
    ) -> StoreResult<Milestone> {
        let mut task = task.clone();
        task.parent_id = Some(parent.id);
        task.commitment_id = parent.commitment_id;
        task.validate().into_result()?;
        if task.title.es.trim().is_empty() && task.title.en.trim().is_empty() {
            return Err(datalab_core::FieldErrors::single("title", datalab_core::FieldError::Missing).into());
        }
        let mut transaction = self.write_transaction().await?;
        let next: i64 =
            sqlx::query_scalar("SELECT COALESCE(MAX(number), 0) + 1 FROM milestones WHERE commitment_id = $1")
                .bind(parent.commitment_id.to_string())
                .fetch_one(&mut *transaction)
                .await?;
        task.number = next;
        insert_milestone(&mut transaction, by_user, &task).await?;
        derive_parent_progress(&mut transaction, by_user, parent.id).await?;
        transaction.commit().await?;
        Ok(task)
    }

    /// Stores a commitment with its milestones; each milestone's timeline
    /// starts with a `created` entry.
    pub async fn create_commitment(
        &self,
        by_user: Option<Uuid>,
        commitment: &Commitment,
        milestones: &[Milestone],
    ) -> StoreResult<()> {
        let mut errors = datalab_core::FieldErrors::new();
        for milestone in milestones {
            for (field, field_errors) in milestone.validate().0 {
                for error in field_errors {
                    errors.add(&format!("milestones.{}.{field}", milestone.number), error);
                }
            }
        }
        errors.into_result()?;
        let mut transaction = self.write_transaction().await?;
        let content = CommitmentContent {
            title: commitment.title.clone(),
            problem: commitment.problem.clone(),
            status_quo: commitment.status_quo.clone(),
            action: commitment.action.clone(),
            contribution: commitment.contribution.clone(),
            policy_area: commitment.policy_area.clone(),
            sector: commitment.sector.clone(),
            ogp_values: commitment.ogp_values.clone(),
        };
        let inserted = sqlx::query(
            "INSERT INTO commitments (id, code, action_plan, content, start_date, end_date, created) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(commitment.id.to_string())
        .bind(&commitment.code)
        .bind(json_text(&commitment.action_plan))
        .bind(json_text(&content))
        .bind(&commitment.start)
        .bind(&commitment.end)
        .bind(format_time(now()))
        .execute(&mut *transaction)
        .await;
        crate::name_taken_on_conflict(inserted)?;
        for (position, institution) in commitment.institutions.iter().enumerate() {
            sqlx::query(
                "INSERT INTO commitment_institutions (commitment_id, position, organization_id, name, role) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(commitment.id.to_string())
            .bind(position as i64)
            .bind(institution.organization_id.map(|id| id.to_string()))
            .bind(json_text(&institution.name))
            .bind(institution.role.as_str())
            .execute(&mut *transaction)
            .await?;
        }
        for milestone in milestones {
            insert_milestone(&mut transaction, by_user, milestone).await?;
        }
        transaction.commit().await?;
        Ok(())
    }

    pub async fn commitments(&self) -> StoreResult<Vec<Commitment>> {
        let codes: Vec<String> =
            sqlx::query_scalar("SELECT code FROM commitments ORDER BY code").fetch_all(&self.reader).await?;
        let mut commitments = Vec::with_capacity(codes.len());
        for code in codes {
            commitments.push(self.commitment(&code).await?);
        }
        Ok(commitments)
    }

    pub async fn commitment_by_id(&self, id: Uuid) -> StoreResult<Commitment> {
        let code: String = sqlx::query_scalar("SELECT code FROM commitments WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&self.reader)
            .await?
            .ok_or(StoreError::NotFound)?;
        self.commitment(&code).await
    }

    pub async fn commitment(&self, code: &str) -> StoreResult<Commitment> {
        let row = sqlx::query("SELECT * FROM commitments WHERE code = $1")
            .bind(code)
            .fetch_optional(&self.reader)
            .await?
            .ok_or(StoreError::NotFound)?;
        let id: String = row.try_get("id")?;
        let content: CommitmentContent = from_json(&row, "content")?;
        let action_plan: ActionPlan = from_json(&row, "action_plan")?;
        let institution_rows =
            sqlx::query("SELECT * FROM commitment_institutions WHERE commitment_id = $1 ORDER BY position")
                .bind(&id)
                .fetch_all(&self.reader)
                .await?;
        let mut institutions = Vec::new();
        for row in &institution_rows {
            let role: String = row.try_get("role")?;
            institutions.push(Institution {
                organization_id: row
                    .try_get::<Option<String>, _>("organization_id")?
                    .as_deref()
                    .map(parse_uuid)
                    .transpose()?,
                name: from_json(row, "name")?,
                role: InstitutionRole::parse(&role)
                    .ok_or_else(|| StoreError::Corrupt(format!("institution role {role:?}")))?,
            });
        }
        Ok(Commitment {
            id: parse_uuid(&id)?,
            code: row.try_get("code")?,
            action_plan,
            title: content.title,
            problem: content.problem,
            status_quo: content.status_quo,
            action: content.action,
            contribution: content.contribution,
            policy_area: content.policy_area,
            sector: content.sector,
            ogp_values: content.ogp_values,
            start: row.try_get("start_date")?,
            end: row.try_get("end_date")?,
            institutions,
        })
    }

    /// A commitment's milestones by number, with organizations and evidence.
    pub async fn milestones(&self, commitment_id: Uuid) -> StoreResult<Vec<Milestone>> {
        let rows = sqlx::query("SELECT * FROM milestones WHERE commitment_id = $1 ORDER BY number")
            .bind(commitment_id.to_string())
            .fetch_all(&self.reader)
            .await?;
        let mut milestones = Vec::with_capacity(rows.len());
        for row in &rows {
            milestones.push(self.milestone_from_row(row).await?);
        }
        Ok(milestones)
    }

    pub async fn milestone(&self, commitment_id: Uuid, number: i64) -> StoreResult<Milestone> {
        let row = sqlx::query("SELECT * FROM milestones WHERE commitment_id = $1 AND number = $2")
            .bind(commitment_id.to_string())
            .bind(number)
            .fetch_optional(&self.reader)
            .await?
            .ok_or(StoreError::NotFound)?;
        self.milestone_from_row(&row).await
    }

    async fn milestone_from_row(&self, row: &SqliteRow) -> StoreResult<Milestone> {
        let id: String = row.try_get("id")?;
        let organizations: Vec<String> =
            sqlx::query_scalar("SELECT organization_id FROM milestone_organizations WHERE milestone_id = $1")
                .bind(&id)
                .fetch_all(&self.reader)
                .await?;
        let evidence_rows = sqlx::query("SELECT * FROM milestone_evidence WHERE milestone_id = $1 ORDER BY added_at")
            .bind(&id)
            .fetch_all(&self.reader)
            .await?;
        let mut evidence = Vec::new();
        for row in &evidence_rows {
            evidence.push(Evidence {
                id: parse_uuid(row.try_get("id")?)?,
                target: from_json(row, "target")?,
                note: row.try_get("note")?,
                added_by: row.try_get::<Option<String>, _>("added_by")?.as_deref().map(parse_uuid).transpose()?,
                added_at: parse_time(row.try_get("added_at")?)?,
            });
        }
        let status: String = row.try_get("status")?;
        Ok(Milestone {
            id: parse_uuid(&id)?,
            commitment_id: parse_uuid(row.try_get("commitment_id")?)?,
            number: row.try_get("number")?,
            parent_id: row.try_get::<Option<String>, _>("parent_id")?.as_deref().map(parse_uuid).transpose()?,
            weight: row.try_get("weight")?,
            title: from_json(row, "title")?,
            description: from_json(row, "description")?,
            start: row.try_get("start_date")?,
            end: row.try_get("end_date")?,
            status: MilestoneStatus::parse(&status)
                .ok_or_else(|| StoreError::Corrupt(format!("milestone status {status:?}")))?,
            progress: row.try_get("progress")?,
            blocker_reason: row.try_get("blocker_reason")?,
            blocker_owner: row.try_get("blocker_owner")?,
            organizations: organizations.iter().map(|id| parse_uuid(id)).collect::<StoreResult<_>>()?,
            evidence,
        })
    }

    /// Saves a new version of a milestone. Each changed field and each new
    /// piece of evidence becomes a timeline entry carrying `note`; a note
    /// with no change is kept as a comment. Evidence is only ever added.
    /// Returns how many timeline entries were written.
    pub async fn update_milestone(
        &self,
        by_user: Option<Uuid>,
        before: &Milestone,
        after: &Milestone,
        note: &str,
    ) -> StoreResult<usize> {
        self.update_milestones(by_user, &[(before.clone(), after.clone(), note.to_string())]).await
    }

    /// Saves several milestone updates in one transaction: all or nothing.
    pub async fn update_milestones(
        &self,
        by_user: Option<Uuid>,
        updates: &[(Milestone, Milestone, String)],
    ) -> StoreResult<usize> {
        self.apply_milestone_changes(by_user, &[], updates).await
    }

    /// Adds new milestones and saves updates of existing ones in one
    /// transaction: all or nothing (a bulk upsert).
    pub async fn apply_milestone_changes(
        &self,
        by_user: Option<Uuid>,
        inserts: &[Milestone],
        updates: &[(Milestone, Milestone, String)],
    ) -> StoreResult<usize> {
        let mut errors = datalab_core::FieldErrors::new();
        for milestone in inserts {
            for (field, field_errors) in milestone.validate().0 {
                for error in field_errors {
                    errors.add(&format!("milestones.{}.{field}", milestone.number), error);
                }
            }
        }
        for (before, after, _) in updates {
            for (field, field_errors) in after.validate().0 {
                for error in field_errors {
                    let key = if updates.len() == 1 {
                        field.clone()
                    } else {
                        format!("milestones.{}.{field}", before.number)
                    };
                    errors.add(&key, error);
                }
            }
        }
        errors.into_result()?;
        let mut transaction = self.write_transaction().await?;
        let mut entries = 0;
        for milestone in inserts {
            insert_milestone(&mut transaction, by_user, milestone).await?;
            entries += 1;
        }
        for (before, after, note) in updates {
            entries += write_milestone_update(&mut transaction, by_user, before, after, note).await?;
        }
        let mut parents: Vec<Uuid> = updates.iter().filter_map(|(before, _, _)| before.parent_id).collect();
        parents.sort();
        parents.dedup();
        for parent in parents {
            entries += derive_parent_progress(&mut transaction, by_user, parent).await?;
        }
        transaction.commit().await?;
        Ok(entries)
    }

    /// The milestone's timeline, oldest first.
    pub async fn milestone_events(&self, milestone_id: Uuid) -> StoreResult<Vec<MilestoneEvent>> {
        let rows = sqlx::query(
            "SELECT e.*, users.name AS user_name FROM milestone_events e LEFT JOIN users ON users.id = e.user_id \
             WHERE e.milestone_id = $1 ORDER BY e.id",
        )
        .bind(milestone_id.to_string())
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(event_from_row).collect()
    }
}

impl Store {
    /// The newest timeline entries of a whole commitment for the given
    /// fields, with the milestone number each belongs to: what feeds show.
    pub async fn commitment_events(
        &self,
        commitment_id: Uuid,
        fields: &[&str],
        limit: i64,
    ) -> StoreResult<Vec<(i64, MilestoneEvent)>> {
        let placeholders: Vec<String> = (0..fields.len()).map(|index| format!("${}", index + 3)).collect();
        let sql = format!(
            "SELECT e.*, m.number AS number, users.name AS user_name FROM milestone_events e \
             JOIN milestones m ON m.id = e.milestone_id LEFT JOIN users ON users.id = e.user_id \
             WHERE m.commitment_id = $1 AND e.field IN ({}) ORDER BY e.id DESC LIMIT $2",
            placeholders.join(", ")
        );
        let mut query = sqlx::query(&sql).bind(commitment_id.to_string()).bind(limit);
        for field in fields {
            query = query.bind(*field);
        }
        let rows = query.fetch_all(&self.reader).await?;
        rows.iter().map(|row| Ok((row.try_get("number")?, event_from_row(row)?))).collect()
    }
}

/// A monitor's flag on a piece of evidence.
#[derive(Debug, Clone, PartialEq)]
pub struct EvidenceFlag {
    pub evidence_id: Uuid,
    pub user_name: Option<String>,
    pub reason: String,
    pub at: time::OffsetDateTime,
}

impl Store {
    pub async fn add_monitor(&self, commitment_id: Uuid, user_id: Uuid) -> StoreResult<()> {
        sqlx::query("INSERT INTO commitment_monitors (commitment_id, user_id, added) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
            .bind(commitment_id.to_string())
            .bind(user_id.to_string())
            .bind(format_time(now()))
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// The monitors of a commitment: (user id, user name).
    pub async fn monitors(&self, commitment_id: Uuid) -> StoreResult<Vec<(Uuid, String)>> {
        let rows = sqlx::query(
            "SELECT users.id AS id, users.name AS name FROM commitment_monitors JOIN users ON users.id = commitment_monitors.user_id \
             WHERE commitment_monitors.commitment_id = $1 ORDER BY users.name",
        )
        .bind(commitment_id.to_string())
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(|row| Ok((parse_uuid(row.try_get("id")?)?, row.try_get("name")?))).collect()
    }

    /// Records a monitor's comment on a milestone's timeline.
    pub async fn add_milestone_comment(
        &self,
        by_user: Option<Uuid>,
        milestone_id: Uuid,
        comment: &str,
    ) -> StoreResult<()> {
        if comment.trim().is_empty() {
            return Err(datalab_core::FieldErrors::single("comment", datalab_core::FieldError::Missing).into());
        }
        let mut connection = self.writer.acquire().await?;
        record_event(&mut connection, milestone_id, by_user, "comment", &Value::Null, &Value::Null, comment.trim())
            .await
    }

    /// Flags a piece of evidence as insufficient, visibly and permanently:
    /// the flag and a timeline entry, in one transaction.
    pub async fn flag_evidence(
        &self,
        by_user: Option<Uuid>,
        milestone_id: Uuid,
        evidence_id: Uuid,
        reason: &str,
    ) -> StoreResult<()> {
        if reason.trim().is_empty() {
            return Err(datalab_core::FieldErrors::single("reason", datalab_core::FieldError::Missing).into());
        }
        let mut transaction = self.write_transaction().await?;
        let known: Option<String> =
            sqlx::query_scalar("SELECT id FROM milestone_evidence WHERE id = $1 AND milestone_id = $2")
                .bind(evidence_id.to_string())
                .bind(milestone_id.to_string())
                .fetch_optional(&mut *transaction)
                .await?;
        if known.is_none() {
            return Err(StoreError::NotFound);
        }
        sqlx::query("INSERT INTO evidence_flags (id, evidence_id, user_id, reason, at) VALUES ($1, $2, $3, $4, $5)")
            .bind(Uuid::new_v4().to_string())
            .bind(evidence_id.to_string())
            .bind(by_user.map(|id| id.to_string()))
            .bind(reason.trim())
            .bind(format_time(now()))
            .execute(&mut *transaction)
            .await?;
        record_event(
            &mut transaction,
            milestone_id,
            by_user,
            "evidence_flag",
            &Value::Null,
            &json!({"evidence_id": evidence_id}),
            reason.trim(),
        )
        .await?;
        transaction.commit().await?;
        Ok(())
    }

    /// Flags on the evidence of a milestone, oldest first.
    pub async fn evidence_flags(&self, milestone_id: Uuid) -> StoreResult<Vec<EvidenceFlag>> {
        let rows = sqlx::query(
            "SELECT f.evidence_id, f.reason, f.at, users.name AS user_name FROM evidence_flags f \
             JOIN milestone_evidence e ON e.id = f.evidence_id LEFT JOIN users ON users.id = f.user_id \
             WHERE e.milestone_id = $1 ORDER BY f.at",
        )
        .bind(milestone_id.to_string())
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(EvidenceFlag {
                    evidence_id: parse_uuid(row.try_get("evidence_id")?)?,
                    user_name: row.try_get("user_name")?,
                    reason: row.try_get("reason")?,
                    at: parse_time(row.try_get("at")?)?,
                })
            })
            .collect()
    }
}

impl Store {
    /// Follows or stops following a commitment.
    pub async fn set_following(&self, commitment_id: Uuid, user_id: Uuid, follow: bool) -> StoreResult<()> {
        let query = if follow {
            "INSERT INTO commitment_followers (commitment_id, user_id, since) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"
        } else {
            "DELETE FROM commitment_followers WHERE commitment_id = $1 AND user_id = $2 AND $3 = $3"
        };
        sqlx::query(query)
            .bind(commitment_id.to_string())
            .bind(user_id.to_string())
            .bind(format_time(now()))
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    pub async fn follower_count(&self, commitment_id: Uuid) -> StoreResult<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM commitment_followers WHERE commitment_id = $1")
            .bind(commitment_id.to_string())
            .fetch_one(&self.reader)
            .await?)
    }

    /// Codes of the commitments a user follows.
    pub async fn followed_commitments(&self, user_id: Uuid) -> StoreResult<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT commitments.code FROM commitment_followers JOIN commitments ON commitments.id = commitment_followers.commitment_id \
             WHERE commitment_followers.user_id = $1 ORDER BY commitments.code",
        )
        .bind(user_id.to_string())
        .fetch_all(&self.reader)
        .await?)
    }
}
