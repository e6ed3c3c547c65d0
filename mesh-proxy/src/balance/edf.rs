//! Envoy's earliest-deadline-first scheduler (`EdfScheduler`): each entry is due every
//! `1 / weight`; the earliest deadline is picked, ties going to the earliest added.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// An EDF queue over endpoint indices.
#[derive(Debug, Clone, Default)]
pub(crate) struct EdfScheduler {
    queue: BinaryHeap<EdfEntry>,
    current_time: f64,
    order_offset: u64,
}

#[derive(Debug, Clone)]
struct EdfEntry {
    deadline: f64,
    order: u64,
    index: usize,
}

impl EdfScheduler {
    /// Envoy's `createWithPicks`: the scheduler as if `picks` picks had been made from one
    /// holding `entries` (`(index, weight)`), so workers seeded differently start at
    /// different points. Weights get Envoy's `1e-13` so that multiples stay exact.
    pub(crate) fn with_picks(
        entries: &[(usize, f64)],
        weight_of: impl Fn(usize) -> f64,
        picks: u32,
    ) -> Self {
        let picks = picks % 429_496_729;
        let augmented = |w: f64| w + 1e-13;
        let sum: f64 = entries.iter().map(|&(_, w)| augmented(w)).sum();
        let mut scheduler = Self::default();
        let mut picks_so_far = 0u32;
        for (order, &(index, weight)) in entries.iter().enumerate() {
            let weight = augmented(weight);
            let mut floor_picks = (weight * f64::from(picks) / sum) as u32;
            // Floating point can put floor(A * B) above A * B: take one pick back.
            if floor_picks > 0 && f64::from(floor_picks) / weight >= f64::from(picks) / sum {
                floor_picks -= 1;
            }
            scheduler.current_time = scheduler.current_time.max(f64::from(floor_picks) / weight);
            scheduler.queue.push(EdfEntry {
                deadline: f64::from(floor_picks + 1) / weight,
                order: order as u64,
                index,
            });
            picks_so_far += floor_picks;
        }
        scheduler.order_offset = entries.len() as u64;
        while picks_so_far < picks {
            scheduler.pick_and_add(&weight_of);
            picks_so_far += 1;
        }
        scheduler
    }

    /// Adds `index` due `1 / weight` after the current time (Envoy's `add`).
    pub(crate) fn add(&mut self, weight: f64, index: usize) {
        let deadline = self.current_time + 1.0 / weight;
        self.queue.push(EdfEntry {
            deadline,
            order: self.order_offset,
            index,
        });
        self.order_offset += 1;
    }

    /// Picks the entry with the earliest deadline and re-adds it with the weight that
    /// `weight_of` gives now (Envoy's `pickAndAdd`, which lets least request re-weigh).
    pub(crate) fn pick_and_add(&mut self, weight_of: impl Fn(usize) -> f64) -> Option<usize> {
        let entry = self.queue.pop()?;
        self.current_time = entry.deadline;
        self.add(weight_of(entry.index), entry.index);
        Some(entry.index)
    }
}

impl PartialEq for EdfEntry {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for EdfEntry {}

impl PartialOrd for EdfEntry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for EdfEntry {
    // Reversed: `BinaryHeap` is a max-heap and the earliest (deadline, order) must be on top.
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .deadline
            .total_cmp(&self.deadline)
            .then_with(|| other.order.cmp(&self.order))
    }
}
