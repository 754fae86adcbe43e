//! Prometheus metrics, served at `/metrics` in the text exposition format.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReplyLabels {
    pub outcome: String,
    pub mode: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    /// The matched route template (`/api/v1/verify/{job_id}`) or `unmatched`.
    pub route: String,
    pub method: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FeedbackLabels {
    pub helpful: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProblemLabels {
    pub status: String,
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LimitLabels {
    pub limit: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FallbackLabels {
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RecoveryLabels {
    /// `retried` (taken up after its reader's lease ran out) or `failed` (given up after
    /// `scans.max_attempts`).
    pub outcome: String,
}

pub struct Metrics {
    registry: Registry,
    /// Every HTTP request by route template, method and status (`web::request_log`).
    pub http_requests: Family<HttpLabels, Counter>,
    /// Time to the response head by route template.
    pub http_request_seconds: Family<RouteLabels, Histogram, fn() -> Histogram>,
    pub replies: Family<ReplyLabels, Counter>,
    pub feedback: Family<FeedbackLabels, Counter>,
    pub problems: Family<ProblemLabels, Counter>,
    pub answer_seconds: Histogram,
    pub index_documents: Gauge,
    pub index_passages: Gauge,
    pub index_swaps: Counter<u64, AtomicU64>,
    /// Generated answers replaced by the extractive one, by reason.
    pub generation_fallbacks: Family<FallbackLabels, Counter>,
    /// Requests refused because the generation queue was full.
    pub generation_refused: Counter<u64, AtomicU64>,
    pub generation_queue_seconds: Histogram,
    pub generation_first_token_seconds: Histogram,
    pub generation_tokens_per_second: Histogram,
    pub generation_tokens: Counter<u64, AtomicU64>,
    /// Requests refused by an abuse limit (`web::limits`), by limit.
    pub limit_rejections: Family<LimitLabels, Counter>,
    /// Verification jobs taken up after their reader stopped renewing its lease (a node died,
    /// hung or lost its database), or given up after too many such interruptions.
    pub verify_jobs_recovered: Family<RecoveryLabels, Counter>,
    /// Citizens waiting for an agent (all nodes, read from the database).
    pub handoff_waiting: Gauge,
    /// From queueing to the agent's first message.
    pub handoff_first_response_seconds: Histogram,
    /// Citizens who left the queue before an agent took the conversation.
    pub handoff_abandoned: Counter<u64, AtomicU64>,
    /// Callback tickets left by citizens.
    pub handoff_callbacks: Counter<u64, AtomicU64>,
    /// Passwords checked at sign-in (each an argon2id hash of 19 MiB).
    pub password_checks: Counter<u64, AtomicU64>,
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("xiaoban");
        let http_requests = Family::<HttpLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by route template, method and status",
            http_requests.clone(),
        );
        let http_request_seconds: Family<RouteLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.001, 2.0, 16)));
        registry.register(
            "http_request_seconds",
            "Time from request to response head, by route template",
            http_request_seconds.clone(),
        );
        let replies = Family::<ReplyLabels, Counter>::default();
        registry.register(
            "chat_replies",
            "Replies by outcome and mode",
            replies.clone(),
        );
        let feedback = Family::<FeedbackLabels, Counter>::default();
        registry.register("feedback", "Feedback on replies", feedback.clone());
        let problems = Family::<ProblemLabels, Counter>::default();
        registry.register(
            "http_problems",
            "Requests refused with a problem report, by status and kind",
            problems.clone(),
        );
        let answer_seconds = Histogram::new(exponential_buckets(0.0005, 2.0, 14));
        registry.register(
            "answer_seconds",
            "Time to compose a reply (retrieval and composition)",
            answer_seconds.clone(),
        );
        let index_documents = Gauge::default();
        registry.register(
            "index_documents",
            "Documents in the index in use",
            index_documents.clone(),
        );
        let index_passages = Gauge::default();
        registry.register(
            "index_passages",
            "Passages in the index in use",
            index_passages.clone(),
        );
        let index_swaps = Counter::default();
        registry.register(
            "index_swaps",
            "Rebuilt indexes picked up without a restart",
            index_swaps.clone(),
        );
        let generation_fallbacks = Family::<FallbackLabels, Counter>::default();
        registry.register(
            "generation_fallbacks",
            "Generated answers replaced by the extractive answer, by reason",
            generation_fallbacks.clone(),
        );
        let generation_refused = Counter::default();
        registry.register(
            "generation_refused",
            "Requests refused with 503 because the generation queue was full",
            generation_refused.clone(),
        );
        let generation_queue_seconds = Histogram::new(exponential_buckets(0.001, 2.0, 16));
        registry.register(
            "generation_queue_seconds",
            "Time waiting in the generation queue",
            generation_queue_seconds.clone(),
        );
        let generation_first_token_seconds = Histogram::new(exponential_buckets(0.01, 2.0, 14));
        registry.register(
            "generation_first_token_seconds",
            "Time from the start of generation to the first token",
            generation_first_token_seconds.clone(),
        );
        let generation_tokens_per_second = Histogram::new(exponential_buckets(0.5, 2.0, 12));
        registry.register(
            "generation_tokens_per_second",
            "Decoding speed after the first token",
            generation_tokens_per_second.clone(),
        );
        let generation_tokens = Counter::default();
        registry.register(
            "generation_tokens",
            "Tokens generated",
            generation_tokens.clone(),
        );
        let limit_rejections = Family::<LimitLabels, Counter>::default();
        registry.register(
            "limit_rejections",
            "Requests refused by an abuse limit (rates, question length, streams, conversation size, uploads)",
            limit_rejections.clone(),
        );
        let verify_jobs_recovered = Family::<RecoveryLabels, Counter>::default();
        registry.register(
            "verify_jobs_recovered",
            "Verification jobs taken up after their reader's lease ran out (retried), or marked failed after scans.max_attempts (failed)",
            verify_jobs_recovered.clone(),
        );
        let handoff_waiting = Gauge::default();
        registry.register(
            "handoff_waiting",
            "Citizens waiting for a service-centre agent",
            handoff_waiting.clone(),
        );
        let handoff_first_response_seconds = Histogram::new(exponential_buckets(1.0, 2.0, 12));
        registry.register(
            "handoff_first_response_seconds",
            "Time from joining the queue to the agent's first message",
            handoff_first_response_seconds.clone(),
        );
        let handoff_abandoned = Counter::default();
        registry.register(
            "handoff_abandoned",
            "Citizens who left the queue before an agent took the conversation",
            handoff_abandoned.clone(),
        );
        let handoff_callbacks = Counter::default();
        registry.register(
            "handoff_callbacks",
            "Callback tickets left by citizens",
            handoff_callbacks.clone(),
        );
        let password_checks = Counter::default();
        registry.register(
            "password_checks",
            "Passwords checked at sign-in (attempts refused by the throttle are not checked)",
            password_checks.clone(),
        );
        Metrics {
            registry,
            password_checks,
            handoff_waiting,
            handoff_first_response_seconds,
            handoff_abandoned,
            handoff_callbacks,
            verify_jobs_recovered,
            limit_rejections,
            generation_fallbacks,
            generation_refused,
            generation_queue_seconds,
            generation_first_token_seconds,
            generation_tokens_per_second,
            generation_tokens,
            replies,
            feedback,
            problems,
            answer_seconds,
            index_documents,
            index_passages,
            index_swaps,
            http_requests,
            http_request_seconds,
        }
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
