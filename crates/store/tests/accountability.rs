//! The milestone timeline: every kind of change is an entry, rules refuse
//! bad updates and write nothing.

use datalab_core::accountability::{
    ActionPlan, Bilingual, Commitment, Evidence, EvidenceTarget, Milestone, MilestoneStatus,
};
use datalab_store::{Store, StoreError};
use uuid::Uuid;

fn text(es: &str) -> Bilingual {
    Bilingual { es: es.into(), en: String::new() }
}

async fn fixture() -> (tempfile::TempDir, Store, Commitment, Milestone) {
    let directory = tempfile::tempdir().unwrap();
    let store = Store::open(&directory.path().join("db.sqlite")).await.unwrap();
    let commitment = Commitment {
        id: Uuid::new_v4(),
        code: "MXNLE0001".into(),
        action_plan: ActionPlan::default(),
        title: text("Participación"),
        problem: text(""),
        status_quo: text(""),
        action: text(""),
        contribution: text(""),
        policy_area: text(""),
        sector: text(""),
        ogp_values: vec![],
        start: "2023-01".into(),
        end: "2024-06".into(),
        institutions: vec![],
    };
    let milestone = Milestone {
        id: Uuid::new_v4(),
        commitment_id: commitment.id,
        number: 2,
        parent_id: None,
        weight: 1.0,
        title: text("Marco de cooperación"),
        description: text(""),
        start: "2023-02".into(),
        end: "2023-01".into(),
        status: MilestoneStatus::NotStarted,
        progress: 0,
        blocker_reason: String::new(),
        blocker_owner: String::new(),
        organizations: vec![],
        evidence: vec![],
    };
    store.create_commitment(None, &commitment, std::slice::from_ref(&milestone)).await.unwrap();
    (directory, store, commitment, milestone)
}

#[tokio::test]
async fn every_kind_of_change_is_a_timeline_entry() {
    let (_directory, store, commitment, milestone) = fixture().await;
    let stored = store.milestone(commitment.id, 2).await.unwrap();
    assert_eq!(stored, milestone, "what is stored is what is read back");

    let mut stuck = stored.clone();
    stuck.status = MilestoneStatus::Stuck;
    stuck.blocker_reason = "Falta firmar el convenio".into();
    stuck.blocker_owner = "Secretaría de Administración".into();
    stuck.progress = 30;
    assert_eq!(store.update_milestone(None, &stored, &stuck, "reunión del 3 de marzo").await.unwrap(), 4);

    let mut finished = stuck.clone();
    finished.status = MilestoneStatus::Finished;
    finished.progress = 100;
    finished.end = "2023-03".into();
    finished.evidence.push(Evidence {
        id: Uuid::new_v4(),
        target: EvidenceTarget::Url { url: "https://example.org/convenio.pdf".into() },
        note: "Convenio firmado".into(),
        added_by: None,
        added_at: datalab_store::now(),
    });
    store.update_milestone(None, &stuck, &finished, "").await.unwrap();
    store
        .update_milestone(None, &finished, &finished, "Corrección: el convenio se firmó el 28 de marzo")
        .await
        .unwrap();

    let events = store.milestone_events(milestone.id).await.unwrap();
    let fields: Vec<&str> = events.iter().map(|event| event.field.as_str()).collect();
    assert_eq!(
        fields,
        vec![
            "created",
            "status",
            "progress",
            "blocker_reason",
            "blocker_owner",
            "status",
            "progress",
            "end",
            "evidence",
            "comment"
        ]
    );
    assert_eq!(events[1].before, serde_json::json!("not-started"));
    assert_eq!(events[1].after, serde_json::json!("stuck"));
    assert_eq!(events[1].note, "reunión del 3 de marzo");
    assert_eq!(events[7].before, serde_json::json!("2023-01"));
    assert_eq!(events[9].note, "Corrección: el convenio se firmó el 28 de marzo");
    let reloaded = store.milestone(commitment.id, 2).await.unwrap();
    assert_eq!(reloaded.status, MilestoneStatus::Finished);
    assert_eq!(reloaded.evidence.len(), 1);
}

#[tokio::test]
async fn rule_breaking_updates_write_nothing() {
    let (_directory, store, commitment, milestone) = fixture().await;
    let mut finished_without_evidence = milestone.clone();
    finished_without_evidence.status = MilestoneStatus::Finished;
    let mut out_of_range = milestone.clone();
    out_of_range.progress = 150;
    let mut stuck_without_reason = milestone.clone();
    stuck_without_reason.status = MilestoneStatus::Stuck;
    for bad in [finished_without_evidence, out_of_range, stuck_without_reason] {
        assert!(matches!(store.update_milestone(None, &milestone, &bad, "x").await, Err(StoreError::Validation(_))));
    }
    assert_eq!(store.milestone_events(milestone.id).await.unwrap().len(), 1, "only the creation entry");
    assert_eq!(store.milestone(commitment.id, 2).await.unwrap(), milestone);
}

#[tokio::test]
async fn a_parent_progress_is_derived_from_its_weighted_tasks() {
    let (_directory, store, commitment, parent) = fixture().await;
    let task = |title: &str, weight: f64| Milestone {
        id: Uuid::new_v4(),
        title: text(title),
        weight,
        start: "2023-02".into(),
        end: "2023-03".into(),
        ..parent.clone()
    };
    let first = store.create_task(None, &parent, &task("Convocar", 3.0)).await.unwrap();
    let second = store.create_task(None, &parent, &task("Firmar", 1.0)).await.unwrap();
    assert_eq!((first.number, second.number), (3, 4), "tasks are numbered after every milestone");
    let mut advanced = first.clone();
    advanced.status = MilestoneStatus::InProgress;
    advanced.progress = 100;
    store.update_milestone(None, &first, &advanced, "").await.unwrap();
    let parent_now = store.milestone(commitment.id, 2).await.unwrap();
    assert_eq!(parent_now.progress, 75, "(3 × 100 + 1 × 0) / 4");
    let events = store.milestone_events(parent.id).await.unwrap();
    let last = events.last().unwrap();
    assert_eq!((last.field.as_str(), last.note.as_str()), ("progress", "derived-from-tasks"));
    assert_eq!(last.before, serde_json::json!(0));
    assert_eq!(last.after, serde_json::json!(75));
    let children: Vec<i64> = store
        .milestones(commitment.id)
        .await
        .unwrap()
        .iter()
        .filter(|milestone| milestone.parent_id == Some(parent.id))
        .map(|milestone| milestone.number)
        .collect();
    assert_eq!(children, vec![3, 4]);
}
