//! Limits per client: who the client is (its address, through a trusted
//! proxy when one is configured), failed logins, and heavy requests.
//!
//! A limit must never become a weapon. Failed logins are counted per
//! account *and address* pair: ten wrong passwords typed by someone else
//! never lock the account's owner out, who signs in from their own
//! address. An address that fails on many accounts waits for all of them,
//! and an account under attack from many addresses gives each further
//! address one try: a correct password from a new address still passes.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderMap};

use crate::error::AppError;
use crate::{AppState, WebSettings};

/// The client's address as a handler's argument (see [`client_address`]).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddress(pub Option<IpAddr>);

impl FromRequestParts<AppState> for ClientAddress {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(ClientAddress(client_address(&state.settings, &parts.headers, &parts.extensions)))
    }
}

/// A slot for one heavy request (SQL, an export) of `address`; past
/// [`WebSettings::heavy_requests_per_address`] in flight, 429 (the answer
/// carries `Retry-After`).
pub fn heavy_slot(state: &AppState, address: Option<IpAddr>) -> Result<AddressSlot, AppError> {
    state.heavy_slots.take(address).ok_or(AppError::TooManyRequests)
}

/// Whether the proxy header from an untrusted peer was logged (once per process).
static UNTRUSTED_PROXY_WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The client's address: from the proxy's header when one is configured,
/// the connection comes from one of the trusted proxies and the header is
/// there; else the connection's (when the server was started with connect info).
pub fn client_address(settings: &WebSettings, headers: &HeaderMap, extensions: &Extensions) -> Option<IpAddr> {
    let connection = extensions.get::<ConnectInfo<SocketAddr>>().map(|info| info.0.ip());
    if settings.trusted_proxy_header.is_empty() {
        return connection;
    }
    // A proxy on 127.0.0.1 reaches a server bound to `[::]` as ::ffff:127.0.0.1.
    let connection = connection.map(|address| address.to_canonical());
    let from_proxy =
        connection.is_some_and(|address| settings.trusted_proxies.iter().any(|network| network.contains(&address)));
    if !from_proxy {
        if headers.contains_key(settings.trusted_proxy_header.as_str())
            && !UNTRUSTED_PROXY_WARNED.swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            tracing::warn!(
                peer = ?connection,
                header = %settings.trusted_proxy_header,
                "a request carries the proxy header from an address not in trusted_proxies; the header is ignored \
                 (add the proxy's address to trusted_proxies if it is yours)"
            );
        }
        return connection;
    }
    let forwarded = headers
        .get_all(settings.trusted_proxy_header.as_str())
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(forwarded_address)
        .next_back();
    forwarded.or(connection)
}

/// One entry of `X-Forwarded-For`, `X-Real-IP` or `Forwarded` (`for=…`).
fn forwarded_address(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    let value = entry
        .split(';')
        .find_map(|part| part.trim().strip_prefix("for=").or_else(|| part.trim().strip_prefix("For=")))
        .unwrap_or(entry)
        .trim_matches('"');
    if let Ok(address) = value.parse::<IpAddr>() {
        return Some(address);
    }
    if let Ok(address) = value.parse::<SocketAddr>() {
        return Some(address.ip());
    }
    value.strip_prefix('[').and_then(|rest| rest.split(']').next()).and_then(|inner| inner.parse().ok())
}

/// What one client is, for the login limits: an IPv4 address, or the /64
/// network of an IPv6 one (one subscriber gets a whole /64 and could
/// otherwise take a new address for every guess).
fn network(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => {
            let segments = v6.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(segments[0], segments[1], segments[2], segments[3], 0, 0, 0, 0))
        }
    }
}

/// First wait once a pair (or an address) reaches its limit; each further
/// failure doubles it, up to the window.
const FIRST_WAIT: Duration = Duration::from_secs(30);
/// Failures are forgotten this long after the last one.
const WINDOW: Duration = Duration::from_secs(15 * 60);
/// An address failing on this many times the pair limit, over any accounts, waits for all.
const ADDRESS_FACTOR: u32 = 5;
/// An account failing this many times the pair limit, over any addresses,
/// gives each address that has failed on it no further try until the wait.
const ACCOUNT_FACTOR: u32 = 10;
/// Entries kept before the old ones are dropped.
const MAX_ENTRIES: usize = 100_000;

#[derive(Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
}

impl Failures {
    /// Blocked now, with `limit` failures allowed before the waits begin.
    fn blocked(&self, limit: u32, now: Instant) -> bool {
        if self.count < limit.max(1) || now.duration_since(self.last) >= WINDOW {
            return false;
        }
        let doublings = (self.count - limit.max(1)).min(10);
        let wait = FIRST_WAIT.saturating_mul(1 << doublings).min(WINDOW);
        now.duration_since(self.last) < wait
    }
}

/// Failed logins per account and address, per address, and per account.
pub struct LoginLimiter {
    limit: u32,
    failures: Mutex<HashMap<String, Failures>>,
}

impl LoginLimiter {
    pub fn new(limit: u32) -> LoginLimiter {
        LoginLimiter { limit: limit.max(1), failures: Mutex::new(HashMap::new()) }
    }

    fn account_key(account: &str) -> String {
        format!("account:{}", account.trim().to_lowercase())
    }

    fn pair_key(account: &str, address: Option<IpAddr>) -> String {
        match address {
            Some(address) => format!("pair:{}|{}", account.trim().to_lowercase(), network(address)),
            None => format!("pair:{}|unknown", account.trim().to_lowercase()),
        }
    }

    /// Whether a login to `account` from `address` must wait (refused
    /// before the password is checked, which also keeps argon2 from being
    /// used to exhaust the CPU).
    pub fn is_blocked(&self, account: &str, address: Option<IpAddr>) -> bool {
        let now = Instant::now();
        let failures = self.failures.lock().expect("limiter lock");
        let account_failures = failures
            .get(&Self::account_key(account))
            .map_or(0, |entry| if now.duration_since(entry.last) < WINDOW { entry.count } else { 0 });
        let pair_limit = if account_failures >= self.limit.saturating_mul(ACCOUNT_FACTOR) { 1 } else { self.limit };
        let pair = failures.get(&Self::pair_key(account, address)).is_some_and(|entry| entry.blocked(pair_limit, now));
        let by_address = address.is_some_and(|address| {
            failures
                .get(&format!("address:{}", network(address)))
                .is_some_and(|entry| entry.blocked(self.limit.saturating_mul(ADDRESS_FACTOR), now))
        });
        pair || by_address
    }

    pub fn record_failure(&self, account: &str, address: Option<IpAddr>) {
        let now = Instant::now();
        let mut failures = self.failures.lock().expect("limiter lock");
        if failures.len() > MAX_ENTRIES {
            failures.retain(|_, entry| now.duration_since(entry.last) < WINDOW);
        }
        let mut keys = vec![Self::pair_key(account, address), Self::account_key(account)];
        if let Some(address) = address {
            keys.push(format!("address:{}", network(address)));
        }
        for key in keys {
            let entry = failures.entry(key).or_insert(Failures { count: 0, last: now });
            if now.duration_since(entry.last) >= WINDOW {
                entry.count = 0;
            }
            entry.count = entry.count.saturating_add(1);
            entry.last = now;
        }
    }

    /// A correct password: the pair's failures are forgotten, and the
    /// attempt counted before the check ([`LoginLimiter::record_failure`]
    /// is called first) is taken back from the account and the address.
    pub fn record_success(&self, account: &str, address: Option<IpAddr>) {
        let mut failures = self.failures.lock().expect("limiter lock");
        failures.remove(&Self::pair_key(account, address));
        let mut keys = vec![Self::account_key(account)];
        if let Some(address) = address {
            keys.push(format!("address:{}", network(address)));
        }
        for key in keys {
            if let Some(entry) = failures.get_mut(&key) {
                entry.count = entry.count.saturating_sub(1);
            }
        }
    }
}

/// Heavy requests (SQL, exports) in flight per client address.
pub struct AddressSlots {
    limit: usize,
    taken: Arc<Mutex<HashMap<Option<IpAddr>, usize>>>,
}

/// A heavy request's slot, given back when dropped.
pub struct AddressSlot {
    address: Option<IpAddr>,
    taken: Arc<Mutex<HashMap<Option<IpAddr>, usize>>>,
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut taken = self.taken.lock().expect("slots lock");
        if let Some(count) = taken.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                taken.remove(&self.address);
            }
        }
    }
}

impl AddressSlots {
    pub fn new(limit: usize) -> AddressSlots {
        AddressSlots { limit: limit.max(1), taken: Arc::default() }
    }

    /// A slot for `address`, or `None` when it already has `limit` in flight.
    pub fn take(&self, address: Option<IpAddr>) -> Option<AddressSlot> {
        let mut taken = self.taken.lock().expect("slots lock");
        let count = taken.entry(address).or_insert(0);
        if *count >= self.limit {
            return None;
        }
        *count += 1;
        Some(AddressSlot { address, taken: self.taken.clone() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_proxy_header_is_believed_only_from_a_trusted_proxy() {
        let settings = WebSettings { trusted_proxy_header: "x-forwarded-for".into(), ..WebSettings::default() };
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "198.51.100.7, 203.0.113.9".parse().unwrap());
        let from = |address: &str| {
            let mut extensions = Extensions::new();
            extensions.insert(ConnectInfo(SocketAddr::new(address.parse().unwrap(), 40000)));
            client_address(&settings, &headers, &extensions).unwrap().to_string()
        };
        assert_eq!(from("127.0.0.1"), "203.0.113.9", "the proxy's own entry, the right-most");
        assert_eq!(from("::1"), "203.0.113.9");
        assert_eq!(from("::ffff:127.0.0.1"), "203.0.113.9", "a proxy on loopback, to a server bound to [::]");
        assert_eq!(from("192.0.2.50"), "192.0.2.50", "anyone else's header is ignored");
        let settings = WebSettings { trusted_proxies: vec!["10.0.0.0/8".parse().unwrap()], ..settings };
        let mut extensions = Extensions::new();
        extensions.insert(ConnectInfo(SocketAddr::new("10.1.2.3".parse().unwrap(), 40000)));
        assert_eq!(client_address(&settings, &headers, &extensions).unwrap().to_string(), "203.0.113.9");
    }

    #[test]
    fn someone_elses_failures_never_lock_the_owner_out() {
        let limiter = LoginLimiter::new(3);
        let attacker: IpAddr = "203.0.113.9".parse().unwrap();
        let owner: IpAddr = "198.51.100.4".parse().unwrap();
        for _ in 0..50 {
            limiter.record_failure("ana", Some(attacker));
        }
        assert!(limiter.is_blocked("ana", Some(attacker)));
        assert!(limiter.is_blocked("otra", Some(attacker)), "an address failing on and on waits for every account");
        assert!(!limiter.is_blocked("ana", Some(owner)), "the owner, elsewhere, may try");
        limiter.record_failure("ana", Some(owner));
        assert!(limiter.is_blocked("ana", Some(owner)), "under attack, each address gets one try");
    }

    #[test]
    fn a_few_failures_wait_then_double() {
        let limiter = LoginLimiter::new(2);
        let address: IpAddr = "192.0.2.1".parse().unwrap();
        limiter.record_failure("ana", Some(address));
        assert!(!limiter.is_blocked("ana", Some(address)));
        limiter.record_failure("ana", Some(address));
        assert!(limiter.is_blocked("ana", Some(address)));
        let entry = Failures { count: 4, last: Instant::now() - Duration::from_secs(100) };
        assert!(entry.blocked(2, Instant::now()), "the wait doubled twice: 120 s");
        let entry = Failures { count: 2, last: Instant::now() - Duration::from_secs(31) };
        assert!(!entry.blocked(2, Instant::now()), "the first wait is 30 s");
    }

    #[test]
    fn an_ipv6_network_is_one_client() {
        let limiter = LoginLimiter::new(1);
        limiter.record_failure("ana", Some("2001:db8:1:2::1".parse().unwrap()));
        assert!(limiter.is_blocked("ana", Some("2001:db8:1:2::ffff".parse().unwrap())), "the same /64");
        assert!(!limiter.is_blocked("ana", Some("2001:db8:1:3::1".parse().unwrap())), "another /64");
    }

    #[test]
    fn proxy_headers_name_the_client() {
        let settings = WebSettings { trusted_proxy_header: "x-forwarded-for".into(), ..WebSettings::default() };
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "10.0.0.1, 203.0.113.7".parse().unwrap());
        let mut from_proxy = Extensions::new();
        from_proxy.insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
        assert_eq!(client_address(&settings, &headers, &from_proxy), Some("203.0.113.7".parse().unwrap()));
        // Without the connection's address, no peer is known to be a proxy.
        assert_eq!(client_address(&settings, &headers, &Extensions::new()), None);
        let untrusted = WebSettings::default();
        assert_eq!(client_address(&untrusted, &headers, &Extensions::new()), None);
        assert_eq!(forwarded_address("for=\"[2001:db8::1]:4711\""), Some("2001:db8::1".parse().unwrap()));
        assert_eq!(forwarded_address("198.51.100.2:80"), Some("198.51.100.2".parse().unwrap()));
    }

    #[test]
    fn slots_per_address() {
        let slots = AddressSlots::new(1);
        let address = Some("192.0.2.8".parse().unwrap());
        let first = slots.take(address).unwrap();
        assert!(slots.take(address).is_none());
        assert!(slots.take(None).is_some(), "another client has its own");
        drop(first);
        assert!(slots.take(address).is_some());
    }
}
