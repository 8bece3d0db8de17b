//! The budget of connections that have not completed `Hello` yet: at most
//! `handshake_connections_max` of them, and at most
//! `handshake_connections_per_address_max` from one source address. They hold
//! no connection slot (`connections_max` counts handshaken connections only),
//! so sockets that never say Hello cannot lock valid clients out.
//!
//! When the budget is full a new connection is still taken, and the oldest
//! connection still in its handshake (from the same address when that
//! address is over its share, else from any) is evicted: a valid client says
//! Hello within a round trip, while an idle socket is the oldest one waiting.
//! See "Limits" in `design/protocol.md`.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

/// Connections in their handshake, oldest first.
#[derive(Debug)]
pub struct HandshakeBudget {
    total_max: usize,
    per_address_max: usize,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    next_id: u64,
    /// By admission order: the address and the eviction signal of each.
    waiting: BTreeMap<u64, (IpAddr, Arc<Notify>)>,
    per_address: HashMap<IpAddr, usize>,
}

/// A connection's place in the budget until it completes `Hello` or closes
/// (dropping it gives the place back).
#[derive(Debug)]
pub struct HandshakeTicket {
    budget: Arc<HandshakeBudget>,
    id: u64,
    evicted: Arc<Notify>,
}

impl HandshakeTicket {
    /// Completes once a newer connection has taken this one's place.
    pub async fn evicted(&self) {
        self.evicted.notified().await;
    }
}

impl Drop for HandshakeTicket {
    fn drop(&mut self) {
        self.budget.remove(self.id);
    }
}

impl HandshakeBudget {
    pub fn new(total_max: u32, per_address_max: u32) -> Self {
        assert!(total_max >= 1 && per_address_max >= 1, "validated by ServerConfig");
        HandshakeBudget {
            total_max: total_max as usize,
            per_address_max: per_address_max as usize,
            state: Mutex::new(State::default()),
        }
    }

    /// Take a place for a connection from `address`, evicting the oldest
    /// waiting connection when the budget is full. Returns the ticket and
    /// whether a connection was evicted.
    pub fn admit(self: &Arc<Self>, address: IpAddr) -> (HandshakeTicket, bool) {
        let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let from_address = state.per_address.get(&address).copied().unwrap_or(0);
        let victim = if from_address >= self.per_address_max {
            state
                .waiting
                .iter()
                .find(|(_, (ip, _))| *ip == address)
                .map(|(&id, _)| id)
        } else if state.waiting.len() >= self.total_max {
            state.waiting.keys().next().copied()
        } else {
            None
        };
        if let Some(id) = victim {
            if let Some((_, signal)) = state.remove(id) {
                signal.notify_one();
            }
        }
        let id = state.next_id;
        state.next_id += 1;
        let evicted = Arc::new(Notify::new());
        state.waiting.insert(id, (address, evicted.clone()));
        *state.per_address.entry(address).or_insert(0) += 1;
        debug_assert!(state.waiting.len() <= self.total_max);
        let ticket = HandshakeTicket {
            budget: self.clone(),
            id,
            evicted,
        };
        (ticket, victim.is_some())
    }

    /// Connections currently in their handshake.
    pub fn waiting(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .waiting
            .len()
    }

    fn remove(&self, id: u64) {
        let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        state.remove(id);
    }
}

impl State {
    fn remove(&mut self, id: u64) -> Option<(IpAddr, Arc<Notify>)> {
        let (address, signal) = self.waiting.remove(&id)?;
        if let Some(count) = self.per_address.get_mut(&address) {
            *count -= 1;
            if *count == 0 {
                self.per_address.remove(&address);
            }
        }
        Some((address, signal))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_budget_evicts_the_oldest_of_the_same_address_first() {
        let budget = Arc::new(HandshakeBudget::new(3, 2));
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let (a1, evicted) = budget.admit(a);
        assert!(!evicted);
        let (_a2, _) = budget.admit(a);
        let (_b1, evicted) = budget.admit(b);
        assert!(!evicted);
        // `a` is at its share: its own oldest goes.
        let (_a3, evicted) = budget.admit(a);
        assert!(evicted);
        assert_eq!(budget.waiting(), 3);
        assert!(a1.evicted.notified().now_or_never_ready());
        drop(a1); // the evicted connection closes: nothing more to give back
        assert_eq!(budget.waiting(), 3);
    }

    #[test]
    fn full_budget_evicts_the_oldest_overall_and_drop_gives_back() {
        let budget = Arc::new(HandshakeBudget::new(2, 2));
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let (a1, _) = budget.admit(a);
        let (b1, _) = budget.admit(b);
        let (c1, evicted) = budget.admit("10.0.0.3".parse().unwrap());
        assert!(evicted);
        assert!(a1.evicted.notified().now_or_never_ready());
        drop(b1);
        drop(c1);
        assert_eq!(budget.waiting(), 0);
        let (_a, evicted) = budget.admit(a);
        assert!(!evicted);
    }

    trait ReadyNow {
        fn now_or_never_ready(self) -> bool;
    }

    impl<F: std::future::Future> ReadyNow for F {
        /// Poll once with a no-op waker.
        fn now_or_never_ready(self) -> bool {
            let waker = std::task::Waker::noop();
            let mut context = std::task::Context::from_waker(waker);
            let mut future = std::pin::pin!(self);
            future.as_mut().poll(&mut context).is_ready()
        }
    }
}
