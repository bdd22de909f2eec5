//! Queue allocation among the consumers of a group (clustering mode), computed on every client
//! from the same sorted inputs so all members agree without talking to each other.
//!
//! [`allocate_averagely`] is upstream's default (`AllocateMessageQueueAveragely`): queues and
//! client ids are sorted, each client takes one contiguous block, blocks differ in size by at
//! most one, and the first `queues % clients` clients take the larger blocks. A client beyond
//! the queue count gets nothing. [`allocate_by_circle`] deals queues round-robin instead.
//!
//! Invariants (tested for every pair up to 16 clients x 64 queues): the blocks of all clients
//! are disjoint and together are exactly the queue list; a client not in the list gets nothing.

use rmq_protocol::body::MessageQueue;

/// Which allocation strategy a consumer uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AllocateStrategy {
    /// Contiguous blocks (upstream's default).
    #[default]
    Averagely,
    /// Round-robin.
    ByCircle,
}

impl AllocateStrategy {
    /// The queues of `all_queues` that `client_id` takes among `all_clients`. Both lists must
    /// be sorted (the consumer sorts them before calling).
    pub fn allocate(
        self,
        client_id: &str,
        all_queues: &[MessageQueue],
        all_clients: &[String],
    ) -> Vec<MessageQueue> {
        match self {
            AllocateStrategy::Averagely => allocate_averagely(client_id, all_queues, all_clients),
            AllocateStrategy::ByCircle => allocate_by_circle(client_id, all_queues, all_clients),
        }
    }
}

/// The contiguous block of `all_queues` that belongs to `client_id` (see the module doc).
pub fn allocate_averagely(
    client_id: &str,
    all_queues: &[MessageQueue],
    all_clients: &[String],
) -> Vec<MessageQueue> {
    let Some(index) = all_clients.iter().position(|c| c == client_id) else {
        return Vec::new();
    };
    let clients = all_clients.len();
    let base = all_queues.len() / clients;
    let larger = all_queues.len() % clients;
    let size = base + usize::from(index < larger);
    let start = index * base + index.min(larger);
    all_queues[start..start + size].to_vec()
}

/// Every `clients`-th queue starting at the client's index.
pub fn allocate_by_circle(
    client_id: &str,
    all_queues: &[MessageQueue],
    all_clients: &[String],
) -> Vec<MessageQueue> {
    let Some(index) = all_clients.iter().position(|c| c == client_id) else {
        return Vec::new();
    };
    all_queues
        .iter()
        .skip(index)
        .step_by(all_clients.len())
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queues(n: usize) -> Vec<MessageQueue> {
        let mut v: Vec<MessageQueue> = (0..n)
            .map(|i| MessageQueue::new("T", format!("b{}", i % 3), (i / 3) as i32))
            .collect();
        v.sort();
        v
    }

    fn clients(n: usize) -> Vec<String> {
        let mut v: Vec<String> = (0..n).map(|i| format!("10.0.0.{i}@{i}")).collect();
        v.sort();
        v
    }

    /// Upstream's average strategy stated as its observable contract: walking the clients in
    /// order, client i takes the next `ceil` or `floor` of queues/clients queues, the first
    /// `queues % clients` clients taking the larger share; when there are fewer queues than
    /// clients, the first `queues` clients take one each.
    fn expected_average(index: usize, q: usize, c: usize) -> std::ops::Range<usize> {
        let mut start = 0;
        for i in 0..c {
            let share = if q <= c {
                usize::from(i < q)
            } else if i < q % c {
                q / c + 1
            } else {
                q / c
            };
            if i == index {
                return start..start + share;
            }
            start += share;
        }
        unreachable!()
    }

    #[test]
    fn averagely_matches_upstream_for_every_pair_up_to_16_by_64() {
        for c in 1..=16 {
            let cids = clients(c);
            for q in 0..=64 {
                let mqs = queues(q);
                let mut union = Vec::new();
                for (index, cid) in cids.iter().enumerate() {
                    let got = allocate_averagely(cid, &mqs, &cids);
                    let want = &mqs[expected_average(index, q, c)];
                    assert_eq!(got, want, "clients {c} queues {q} index {index}");
                    union.extend(got);
                }
                union.sort();
                assert_eq!(union, mqs, "clients {c} queues {q}: not a partition");
            }
        }
    }

    #[test]
    fn by_circle_partitions_for_every_pair_up_to_16_by_64() {
        for c in 1..=16 {
            let cids = clients(c);
            for q in 0..=64 {
                let mqs = queues(q);
                let mut union = Vec::new();
                for (index, cid) in cids.iter().enumerate() {
                    let got = allocate_by_circle(cid, &mqs, &cids);
                    assert!(got.len() == q / c || got.len() == q / c + 1);
                    if let Some(first) = got.first() {
                        assert_eq!(first, &mqs[index]);
                    }
                    union.extend(got);
                }
                union.sort();
                assert_eq!(union, mqs);
            }
        }
    }

    #[test]
    fn worked_examples() {
        // seeds-digest §1.9: 3 queues, 2 consumers split 2 / 1; with 4 consumers one is idle.
        let mqs = queues(3);
        let two = clients(2);
        assert_eq!(allocate_averagely(&two[0], &mqs, &two), mqs[0..2]);
        assert_eq!(allocate_averagely(&two[1], &mqs, &two), mqs[2..3]);
        let four = clients(4);
        assert!(allocate_averagely(&four[3], &mqs, &four).is_empty());
        // 8 queues, 3 clients: 3, 3, 2.
        let mqs = queues(8);
        let three = clients(3);
        let sizes: Vec<usize> = three
            .iter()
            .map(|c| allocate_averagely(c, &mqs, &three).len())
            .collect();
        assert_eq!(sizes, [3, 3, 2]);
        // An unknown client gets nothing.
        assert!(allocate_averagely("stranger", &mqs, &three).is_empty());
        assert!(allocate_by_circle("stranger", &mqs, &three).is_empty());
        assert_eq!(
            AllocateStrategy::ByCircle.allocate(&three[1], &mqs, &three),
            vec![mqs[1].clone(), mqs[4].clone(), mqs[7].clone()]
        );
    }
}
