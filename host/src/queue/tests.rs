//! The queue as a whole: order by type, ordering keys, requeues, capacity, and deep
//! queues drained through their window.

use super::*;
use std::collections::HashSet;

pub(super) fn header(id: u64, priority: u8, key: Option<&str>) -> Arc<Header> {
    Arc::new(Header {
        id,
        session_id: id,
        correlation_id: 0,
        causation_id: 0,
        source: Arc::from("a"),
        target: Arc::from("b"),
        priority,
        created_us: 0,
        doc_type: String::new(),
        control_id: String::new(),
        body_id: id,
        attributes: vec![],
        ordering_key: key.map(str::to_string),
    })
}

fn push(q: &Arc<Queue>, id: u64, priority: u8, key: Option<&str>) {
    q.force_reserve().push(Entry { header: header(id, priority, key), body: None, crashes: 0 });
}

/// A stand-in for the journal: every queued entry until it is finished, and a
/// refiller that reads the best non-resident ones back in the queue's order.
fn journal_refiller(journal: Arc<Mutex<Vec<Entry>>>) -> Refiller {
    Arc::new(move |q: Arc<Queue>, resident: HashSet<u64>, want: usize| {
        let journal = journal.clone();
        std::thread::spawn(move || {
            let kind = q.kind();
            let mut rows: Vec<Entry> =
                journal.lock().unwrap().iter().filter(|e| !resident.contains(&e.header.id)).cloned().collect();
            rows.sort_by_key(|e| order_key(kind, &e.header));
            let exhausted = rows.len() <= want;
            rows.truncate(want);
            q.refill(rows, exhausted);
        });
    })
}

/// Pops until the queue is empty, finishing each entry (and removing it from `journal`).
async fn drain_in_order(q: &Arc<Queue>, journal: &Arc<Mutex<Vec<Entry>>>, n: usize) -> Vec<u64> {
    let mut got = vec![];
    for _ in 0..n {
        let lease = tokio::time::timeout(std::time::Duration::from_secs(5), q.pop())
            .await
            .expect("an entry within 5 s")
            .expect("queue open");
        let id = lease.entry.header.id;
        journal.lock().unwrap().retain(|e| e.header.id != id);
        q.finish(lease);
        got.push(id);
        assert!(q.lock().lineup.ready_len() <= 4, "the window bounds memory");
    }
    got
}

fn windowed(kind: QueueType, ids: &[(u64, u8)]) -> (Arc<Queue>, Arc<Mutex<Vec<Entry>>>) {
    let q = Queue::new("t", kind, 0);
    let journal = Arc::new(Mutex::new(Vec::new()));
    q.set_window(4, journal_refiller(journal.clone()));
    for &(id, priority) in ids {
        let entry = Entry { header: header(id, priority, None), body: None, crashes: 0 };
        journal.lock().unwrap().push(entry.clone());
        q.force_reserve().push(entry);
    }
    (q, journal)
}

#[tokio::test]
async fn a_deep_lifo_queue_keeps_only_its_window_in_memory_and_still_hands_out_newest_first() {
    let ids: Vec<(u64, u8)> = (1..=30).map(|i| (i, 3)).collect();
    let (q, journal) = windowed(QueueType::Lifo, &ids);
    assert_eq!(q.lock().lineup.ready_len(), 4);
    assert_eq!(q.depth(), 30);
    let first = drain_in_order(&q, &journal, 10).await;
    assert_eq!(first, (21..=30).rev().collect::<Vec<_>>());
    // Newer arrivals mid-drain still come out first.
    for id in 31..=33 {
        let entry = Entry { header: header(id, 3, None), body: None, crashes: 0 };
        journal.lock().unwrap().push(entry.clone());
        q.force_reserve().push(entry);
    }
    let rest = drain_in_order(&q, &journal, 23).await;
    let mut expected: Vec<u64> = vec![33, 32, 31];
    expected.extend((1..=20).rev());
    assert_eq!(rest, expected);
    assert_eq!(q.depth(), 0);
}

#[tokio::test]
async fn a_deep_priority_queue_keeps_only_its_window_in_memory_and_still_orders_by_priority() {
    // Priorities cycle 6, 3, 1: the best ones arrive late and must overtake.
    let ids: Vec<(u64, u8)> = (1..=30).map(|i| (i, [6, 3, 1][(i % 3) as usize])).collect();
    let (q, journal) = windowed(QueueType::Priority, &ids);
    assert_eq!(q.lock().lineup.ready_len(), 4);
    let first = drain_in_order(&q, &journal, 5).await;
    // An urgent arrival mid-drain goes ahead of everything that waits at lower priority.
    let entry = Entry { header: header(99, 1, None), body: None, crashes: 0 };
    journal.lock().unwrap().push(entry.clone());
    q.force_reserve().push(entry);
    let rest = drain_in_order(&q, &journal, 26).await;
    let mut expected: Vec<(u8, u64)> = ids.iter().map(|&(id, p)| (p, id)).collect();
    expected.sort();
    let expected: Vec<u64> = expected.into_iter().map(|(_, id)| id).collect();
    assert_eq!(first, expected[..5]);
    let mut later = expected[5..].to_vec();
    // 99 has priority 1: after the priority-1 entries still waiting, before the rest.
    let pos = later.iter().position(|id| ids.iter().any(|&(i, p)| i == *id && p > 1)).unwrap_or(later.len());
    later.insert(pos, 99);
    assert_eq!(rest, later);
}

#[tokio::test]
async fn priority_queue_orders_by_priority_then_arrival() {
    let q = Queue::new("t", QueueType::Priority, 0);
    push(&q, 1, 6, None);
    push(&q, 2, 1, None);
    push(&q, 3, 6, None);
    push(&q, 4, 1, None);
    let mut got = vec![];
    for _ in 0..4 {
        let l = q.pop().await.unwrap();
        got.push(l.entry.header.id);
        q.finish(l);
    }
    assert_eq!(got, vec![2, 4, 1, 3]);
}

#[tokio::test]
async fn lifo_queue_hands_out_newest_first() {
    let q = Queue::new("t", QueueType::Lifo, 0);
    for id in 1..=3 {
        push(&q, id, 6, None);
    }
    let l = q.pop().await.unwrap();
    assert_eq!(l.entry.header.id, 3);
}

#[tokio::test]
async fn requeued_entry_returns_to_the_head() {
    let q = Queue::new("t", QueueType::Fifo, 0);
    for id in 1..=3 {
        push(&q, id, 6, None);
    }
    let l = q.pop().await.unwrap();
    assert_eq!(l.entry.header.id, 1);
    q.requeue(l);
    assert_eq!(q.snapshot_ids(10), vec![1, 2, 3]);
}

#[tokio::test]
async fn a_requeued_entry_stays_ahead_of_the_parked_entries_of_its_key() {
    // A worker crash or a stop gives entry 1 back while 2 and 3 (same key) are parked
    // behind it: 1 must still go first, or a patient's A03 could overtake their A01.
    let q = Queue::new("t", QueueType::Fifo, 0);
    for id in 1..=3 {
        push(&q, id, 6, Some("MRN1"));
    }
    let first = q.pop().await.unwrap();
    assert_eq!(first.entry.header.id, 1);
    // Entry 2 is passed over (parked) while 1 is in flight.
    let waited = tokio::time::timeout(std::time::Duration::from_millis(20), q.pop()).await;
    assert!(waited.is_err(), "nothing else of the key while 1 is in flight");
    q.requeue(first);
    let mut order = Vec::new();
    for _ in 0..3 {
        let l = q.pop().await.unwrap();
        order.push(l.entry.header.id);
        q.finish(l);
    }
    assert_eq!(order, vec![1, 2, 3]);
}

#[tokio::test]
async fn same_ordering_key_is_never_in_flight_twice() {
    let q = Queue::new("t", QueueType::Fifo, 0);
    push(&q, 1, 6, Some("A"));
    push(&q, 2, 6, Some("A"));
    push(&q, 3, 6, Some("B"));
    let a1 = q.pop().await.unwrap();
    let b = q.pop().await.unwrap();
    assert_eq!((a1.entry.header.id, b.entry.header.id), (1, 3));
    // A's second entry must wait for the first.
    let waited = tokio::time::timeout(std::time::Duration::from_millis(50), q.pop()).await;
    assert!(waited.is_err());
    q.finish(a1);
    let a2 = q.pop().await.unwrap();
    assert_eq!(a2.entry.header.id, 2);
}

#[tokio::test]
async fn a_full_fifo_window_spills_and_a_refill_excludes_every_entry_held() {
    let q = Queue::new("t", QueueType::Fifo, 0);
    let asked: Arc<Mutex<Option<HashSet<u64>>>> = Arc::new(Mutex::new(None));
    let a = asked.clone();
    q.set_window(4, Arc::new(move |_q, resident, _want| *a.lock().unwrap() = Some(resident)));
    for id in 1..=6 {
        push(&q, id, 6, None);
    }
    assert_eq!(q.depth(), 6);
    assert_eq!(q.spilled(), 2, "two entries beyond the window stay in the journal");
    let l1 = q.pop().await.unwrap();
    let l2 = q.pop().await.unwrap();
    let resident = asked.lock().unwrap().clone().expect("running low triggers a refill");
    // Both taken entries (the second taken by the very pop that started the refill)
    // must be excluded, or the refill would read them back as still queued.
    assert!(resident.contains(&l1.entry.header.id) && resident.contains(&l2.entry.header.id), "{resident:?}");
    assert!(resident.contains(&3) && resident.contains(&4));
    // The refill brings the spilled ones back, in order.
    q.refill(
        vec![
            Entry { header: header(5, 6, None), body: None, crashes: 0 },
            Entry { header: header(6, 6, None), body: None, crashes: 0 },
        ],
        true,
    );
    assert_eq!(q.spilled(), 0);
    assert_eq!(q.snapshot_ids(10), vec![3, 4, 5, 6]);
}

#[tokio::test]
async fn a_withdrawn_spilled_entry_is_never_loaded_back_until_it_is_queued_again() {
    let ids: Vec<(u64, u8)> = (1..=12).map(|i| (i, 3)).collect();
    let (q, journal) = windowed(QueueType::Fifo, &ids);
    assert!(!q.withdraw_spilled(2), "held in memory: not a spilled entry");
    assert!(q.withdraw_spilled(9));
    assert!(!q.withdraw_spilled(9), "only once");
    assert_eq!(q.depth(), 11);
    // The stand-in journal still lists 9 as queued, as a refill racing with the
    // operator's commit would read it.
    let got = drain_in_order(&q, &journal, 11).await;
    assert_eq!(got, vec![1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12]);
    // Resent under its own id, it is waiting again and is handed out.
    q.force_reserve().push(Entry { header: header(9, 3, None), body: None, crashes: 0 });
    assert_eq!(drain_in_order(&q, &journal, 1).await, vec![9]);
}

#[tokio::test]
async fn bounded_queue_refuses_beyond_capacity_until_space_frees() {
    let q = Queue::new("t", QueueType::Fifo, 2);
    let r1 = q.try_reserve().unwrap();
    let _r2 = q.try_reserve().unwrap();
    assert!(q.try_reserve().is_none());
    drop(r1);
    assert!(q.try_reserve().is_some());
}

#[tokio::test]
async fn removing_an_entry_uncounts_its_body_whether_it_was_ready_or_parked_behind_its_key() {
    let q = Queue::new("t", QueueType::Fifo, 0);
    let with_body =
        |id, key| Entry { header: header(id, 6, key), body: Some(Bytes::from(vec![b'x'; 100])), crashes: 0 };
    q.force_reserve().push(with_body(1, Some("A")));
    let _leased = q.pop().await.expect("1 leased: key A is in flight");
    q.force_reserve().push(with_body(2, Some("A")));
    q.force_reserve().push(with_body(3, None));
    assert_eq!(q.lock().cache.bytes(), 200, "2 (parked behind A) and 3 (ready)");
    assert!(q.remove(2) && q.remove(3));
    assert_eq!(q.lock().cache.bytes(), 0, "nothing left counted against the body budget");
}
