//! Abuse limits on the public chat and on uploads: question rates per client address and per
//! conversation (token buckets, `governor`), feedback per client address, concurrent streamed
//! answers (in all and per address), the size of a stored conversation, and image uploads per
//! staff account. Every
//! refusal is a problem report with its own kind and status (429 with Retry-After for rates,
//! 413 for a full conversation, 503 for capacity) and counts in
//! `xiaoban_limit_rejections_total{limit}`.
//!
//! The client address is the connection's peer, or — only when that peer is a configured
//! trusted proxy — the right-most address in `X-Forwarded-For` that is not itself a trusted
//! proxy (addresses further left are written by the client and could be anything).

use super::AppState;
use super::problem::Problem;
use crate::config::LimitsConfig;
use crate::metrics::{LimitLabels, Metrics};
use crate::store::SessionId;
use anyhow::{Context, Result};
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use ipnet::IpNet;
use std::collections::HashMap;
use std::convert::Infallible;
use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};

/// Keys a rate limiter remembers before it forgets those whose bucket is full again.
const TIDY_ABOVE: usize = 10_000;
/// Seconds a client refused for capacity is asked to wait.
const BUSY_RETRY_SECS: u64 = 5;

/// Which limit refused a request: the `limit` label of the metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    AddressRate,
    SessionRate,
    QuestionLength,
    Streams,
    StreamsPerAddress,
    ConversationSize,
    UploadRate,
    FeedbackRate,
}

impl Limit {
    pub fn label(self) -> &'static str {
        match self {
            Limit::AddressRate => "address_rate",
            Limit::SessionRate => "session_rate",
            Limit::QuestionLength => "question_length",
            Limit::Streams => "streams",
            Limit::StreamsPerAddress => "streams_per_address",
            Limit::ConversationSize => "conversation_size",
            Limit::UploadRate => "upload_rate",
            Limit::FeedbackRate => "feedback_rate",
        }
    }
}

/// A token bucket per key; `None` when the configured rate is 0 (no limit).
struct Bucket<K: Hash + Eq + Clone> {
    limiter: Option<DefaultKeyedRateLimiter<K>>,
}

impl<K: Hash + Eq + Clone> Bucket<K> {
    fn new(per_minute: u32, burst: u32) -> Bucket<K> {
        let limiter = NonZeroU32::new(per_minute).map(|rate| {
            let burst = NonZeroU32::new(burst).unwrap_or(rate);
            RateLimiter::keyed(Quota::per_minute(rate).allow_burst(burst))
        });
        Bucket { limiter }
    }

    /// `Err(seconds to wait)` when `key` has no `n` tokens left.
    fn take(&self, key: &K, n: u32, clock: &DefaultClock) -> Result<(), u64> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        if limiter.len() > TIDY_ABOVE {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        let n = NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN);
        match limiter.check_key_n(key, n) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => Err(not_until.wait_time_from(clock.now()).as_secs() + 1),
            // More than the burst at once can never pass: wait for a whole burst.
            Err(_) => Err(60),
        }
    }
}

/// Streamed answers open now, in all and per address.
#[derive(Default)]
struct Streams {
    total: usize,
    per_address: HashMap<IpAddr, usize>,
}

pub struct Limits {
    config: LimitsConfig,
    trusted: Vec<IpNet>,
    per_address: Bucket<IpAddr>,
    per_session: Bucket<String>,
    per_account: Bucket<String>,
    feedback_per_address: Bucket<IpAddr>,
    clock: DefaultClock,
    streams: Arc<Mutex<Streams>>,
    metrics: Arc<Metrics>,
}

/// A place among the open streams; given back when dropped (the stream ended or the client
/// went away).
pub struct StreamSlot {
    streams: Arc<Mutex<Streams>>,
    address: IpAddr,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut s = self.streams.lock().unwrap_or_else(|e| e.into_inner());
        s.total = s.total.saturating_sub(1);
        if let Some(n) = s.per_address.get_mut(&self.address) {
            *n -= 1;
            if *n == 0 {
                s.per_address.remove(&self.address);
            }
        }
    }
}

/// Reads the trusted-proxy list: addresses or CIDR blocks.
fn parse_trusted(list: &[String]) -> Result<Vec<IpNet>> {
    list.iter()
        .map(|entry| {
            let entry = entry.trim();
            entry
                .parse::<IpNet>()
                .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                .with_context(|| {
                    format!("limits.trusted_proxies: “{entry}” 不是 IP 地址或网段（如 10.0.0.0/8）")
                })
        })
        .collect()
}

impl Limits {
    pub fn new(config: LimitsConfig, metrics: Arc<Metrics>) -> Result<Limits> {
        Ok(Limits {
            trusted: parse_trusted(&config.trusted_proxies)?,
            per_address: Bucket::new(
                config.questions_per_minute_per_address,
                config.burst_per_address,
            ),
            per_session: Bucket::new(
                config.questions_per_minute_per_session,
                config.burst_per_session,
            ),
            per_account: Bucket::new(
                config.uploads_per_minute_per_account,
                config.upload_burst_per_account,
            ),
            feedback_per_address: Bucket::new(
                config.feedback_per_minute_per_address,
                config.feedback_burst_per_address,
            ),
            clock: DefaultClock::default(),
            streams: Arc::default(),
            metrics,
            config,
        })
    }

    /// Counts a refusal in `xiaoban_limit_rejections_total`.
    pub fn note(&self, limit: Limit) {
        self.metrics
            .limit_rejections
            .get_or_create(&LimitLabels {
                limit: limit.label().into(),
            })
            .inc();
    }

    fn refuse(&self, limit: Limit, problem: Problem) -> Problem {
        self.note(limit);
        problem
    }

    /// The client's address: the peer, or what trusted proxies say the client was.
    pub fn client_address(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let trusted = |a: &IpAddr| self.trusted.iter().any(|n| n.contains(a));
        if !trusted(&peer) {
            return peer;
        }
        let forwarded: Vec<IpAddr> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map_while(|a| a.trim().parse::<IpAddr>().ok())
            .collect();
        forwarded
            .iter()
            .rev()
            .find(|a| !trusted(a))
            .or(forwarded.first())
            .copied()
            .unwrap_or(peer)
    }

    /// One question from `address` in conversation `session` (none for a new one).
    pub fn admit_question(
        &self,
        address: IpAddr,
        session: Option<&SessionId>,
    ) -> Result<(), Problem> {
        if let Err(secs) = self.per_address.take(&address, 1, &self.clock) {
            return Err(self.refuse(
                Limit::AddressRate,
                Problem::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too-many-questions",
                    "Too many questions from this address; try again later",
                    format!(
                        "提问过于频繁，请{secs}秒后再试。如需帮助，可拨打12345政务服务便民热线。"
                    ),
                )
                .retry_after(secs),
            ));
        }
        if let Some(s) = session
            && let Err(secs) = self
                .per_session
                .take(&s.as_str().to_string(), 1, &self.clock)
        {
            return Err(self.refuse(
                Limit::SessionRate,
                Problem::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too-many-questions-in-conversation",
                    "Too many questions in this conversation; try again later",
                    format!("这个对话中提问过于频繁，请{secs}秒后再试。"),
                )
                .retry_after(secs),
            ));
        }
        Ok(())
    }

    /// Refuses a question in a conversation that already holds as much as one may.
    pub async fn check_conversation(
        &self,
        state: &AppState,
        session: &SessionId,
    ) -> Result<(), Problem> {
        let (turns, chars) = match state.assistant.store.conversation_size(session).await {
            Ok(size) => size,
            Err(e) => {
                tracing::error!(error = %e, "conversation size unavailable");
                return Err(Problem::internal());
            }
        };
        if turns >= i64::from(self.config.max_conversation_turns)
            || u64::try_from(chars).unwrap_or(0) >= self.config.max_conversation_chars
        {
            return Err(self.refuse(
                Limit::ConversationSize,
                Problem::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "conversation-full",
                    "This conversation is full; start a new conversation",
                    "这个对话已经很长了，无法继续保存。请开始新的对话再提问。",
                ),
            ));
        }
        Ok(())
    }

    /// A place for one more streamed answer from `address`, or 503.
    pub fn open_stream(&self, address: IpAddr) -> Result<StreamSlot, Problem> {
        let mut s = self.streams.lock().unwrap_or_else(|e| e.into_inner());
        let here = s.per_address.get(&address).copied().unwrap_or(0);
        let refused = if s.total >= self.config.max_streams {
            Some((Limit::Streams, "服务繁忙，同时进行的回答已达上限"))
        } else if here >= self.config.max_streams_per_address {
            Some((Limit::StreamsPerAddress, "来自您所在网络的同时提问已达上限"))
        } else {
            None
        };
        if let Some((limit, why)) = refused {
            drop(s);
            return Err(self.refuse(
                limit,
                Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "too-many-streams",
                    "Too many answers being streamed at once; try again shortly",
                    format!("{why}，请{BUSY_RETRY_SECS}秒后再试，或拨打12345政务服务便民热线。"),
                )
                .retry_after(BUSY_RETRY_SECS),
            ));
        }
        s.total += 1;
        *s.per_address.entry(address).or_default() += 1;
        Ok(StreamSlot {
            streams: self.streams.clone(),
            address,
        })
    }

    /// One feedback (helpful or not, with or without a comment) from `address`.
    pub fn admit_feedback(&self, address: IpAddr) -> Result<(), Problem> {
        self.feedback_per_address
            .take(&address, 1, &self.clock)
            .map_err(|secs| {
                self.refuse(
                    Limit::FeedbackRate,
                    Problem::new(
                        StatusCode::TOO_MANY_REQUESTS,
                        "too-much-feedback",
                        "Too much feedback from this address; try again later",
                        format!("评价提交过于频繁，请{secs}秒后再试。"),
                    )
                    .retry_after(secs),
                )
            })
    }

    /// `images` uploads by staff account `account`.
    pub fn admit_uploads(&self, account: &str, images: u32) -> Result<(), Problem> {
        self.per_account
            .take(&account.to_string(), images, &self.clock)
            .map_err(|secs| {
                self.refuse(
                    Limit::UploadRate,
                    Problem::new(
                        StatusCode::TOO_MANY_REQUESTS,
                        "too-many-uploads",
                        "Too many uploads from this account; try again later",
                        format!("上传过于频繁，请{secs}秒后再试。"),
                    )
                    .retry_after(secs),
                )
            })
    }
}

/// The client's address as [`Limits::client_address`] decides it.
pub struct ClientAddress(pub IpAddr);

impl FromRequestParts<Arc<AppState>> for ClientAddress {
    type Rejection = Infallible;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Infallible> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
        Ok(ClientAddress(
            state.limits.client_address(peer, &parts.headers),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn limits(config: LimitsConfig) -> Limits {
        Limits::new(config, Arc::new(Metrics::new())).expect("valid limits")
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn forwarded(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let l = limits(LimitsConfig {
            trusted_proxies: vec!["10.0.0.0/8".into(), "192.168.1.1".into()],
            ..LimitsConfig::default()
        });
        let h = forwarded("1.2.3.4, 10.1.1.1");
        assert_eq!(l.client_address(ip("203.0.113.9"), &h), ip("203.0.113.9"));
        assert_eq!(l.client_address(ip("10.0.0.2"), &h), ip("1.2.3.4"));
        // A client cannot hide behind an address it writes itself.
        let h = forwarded("6.6.6.6, 1.2.3.4");
        assert_eq!(l.client_address(ip("192.168.1.1"), &h), ip("1.2.3.4"));
        assert_eq!(
            l.client_address(ip("10.0.0.2"), &HeaderMap::new()),
            ip("10.0.0.2")
        );
        assert_eq!(
            l.client_address(ip("10.0.0.2"), &forwarded("garbage")),
            ip("10.0.0.2")
        );
        let err = Limits::new(
            LimitsConfig {
                trusted_proxies: vec!["proxy.local".into()],
                ..LimitsConfig::default()
            },
            Arc::new(Metrics::new()),
        )
        .err()
        .expect("a host name is refused");
        assert!(err.to_string().contains("proxy.local"));
    }

    #[test]
    fn a_burst_passes_then_the_rate_applies_per_key() {
        let l = limits(LimitsConfig {
            questions_per_minute_per_address: 2,
            burst_per_address: 3,
            ..LimitsConfig::default()
        });
        let a = ip("1.2.3.4");
        for _ in 0..3 {
            l.admit_question(a, None).expect("within the burst");
        }
        let p = l.admit_question(a, None).expect_err("over the burst");
        assert_eq!(p.status, 429);
        let wait = p.retry_after.expect("Retry-After");
        assert!((1..=31).contains(&wait), "{wait}");
        l.admit_question(ip("1.2.3.5"), None)
            .expect("another address has its own bucket");
        assert!(
            l.metrics
                .encode()
                .contains("xiaoban_limit_rejections_total{limit=\"address_rate\"} 1")
        );
    }

    #[test]
    fn stream_slots_are_given_back() {
        let l = limits(LimitsConfig {
            max_streams: 3,
            max_streams_per_address: 2,
            ..LimitsConfig::default()
        });
        let a = ip("1.2.3.4");
        let s1 = l.open_stream(a).unwrap();
        let _s2 = l.open_stream(a).unwrap();
        assert_eq!(l.open_stream(a).err().unwrap().status, 503);
        let _s3 = l.open_stream(ip("5.6.7.8")).unwrap();
        assert_eq!(l.open_stream(ip("9.9.9.9")).err().unwrap().status, 503);
        drop(s1);
        l.open_stream(ip("9.9.9.9")).expect("a slot was given back");
    }

    #[test]
    fn a_rate_of_zero_is_no_limit() {
        let l = limits(LimitsConfig {
            uploads_per_minute_per_account: 0,
            ..LimitsConfig::default()
        });
        for _ in 0..1000 {
            l.admit_uploads("clerk", 20).unwrap();
        }
    }
}
