//! What the pipeline asks of AWS and of the exchange, counted for the per-order figures in
//! docs/BENCHMARKS.md: every SDK attempt by service and operation (an SDK interceptor, so
//! retries count as AWS bills them), the DynamoDB capacity the emulator reports, and every
//! call through the exchange port.
//!
//! The same interceptor and exchange decorator also time what a handler waits on, for the
//! executor overhead figure: [`measure`] runs a future (one handler invocation) with a
//! task-local record, and every AWS attempt's transmit and every exchange call made while
//! polling that future lands in it, whichever calls the handler makes. Calls made outside a
//! measured future (the scheduler, the event source stand-in) are not recorded.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{ConsumedCapacity, ReturnConsumedCapacity};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::interceptors::context::{
    AfterDeserializationInterceptorContextRef, BeforeDeserializationInterceptorContextRef,
    BeforeSerializationInterceptorContextMut, BeforeTransmitInterceptorContextRef,
    FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::{
    RuntimeComponents, RuntimeComponentsBuilder,
};
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::byte_stream::ByteStream;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use driftline_core::ports::{
    Exchange, ExchangeAnswer, ExchangeCall, ExchangeError, ExchangeLayer, Venue,
};
use rust_decimal::Decimal;

/// Counts per key, shared by clones.
#[derive(Debug, Default, Clone)]
pub struct Tally(Arc<Mutex<BTreeMap<String, u64>>>);

impl Tally {
    pub fn add(&self, key: &str) {
        if let Ok(mut map) = self.0.lock() {
            *map.entry(key.to_owned()).or_default() += 1;
        }
    }

    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.0.lock().map(|m| m.clone()).unwrap_or_default()
    }

    pub fn total(&self) -> u64 {
        self.snapshot().values().sum()
    }

    pub fn clear(&self) {
        if let Ok(mut map) = self.0.lock() {
            map.clear();
        }
    }
}

/// What a handler was doing during a recorded interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activity {
    /// An AWS attempt in flight: from the signed request handed to the HTTP client until the
    /// response is back (its body too, through [`WholeResponses`]). A wait.
    AwsTransmit,
    /// Deserializing an AWS response (and reading its body, on a client without
    /// [`WholeResponses`]). Not a wait: the SDK's own work, part of the overhead.
    AwsDeserialize,
    /// One call through the exchange port, from call to answer. A wait; it includes the
    /// adapter's own work (rate limiter, signing, building the request, parsing the answer).
    Exchange,
}

impl Activity {
    pub fn is_wait(self) -> bool {
        matches!(self, Self::AwsTransmit | Self::Exchange)
    }
}

/// One recorded interval of a measured invocation.
#[derive(Debug, Clone)]
pub struct Interval {
    pub activity: Activity,
    /// `Service.Operation` for AWS, the port method for the exchange.
    pub what: String,
    pub start: Instant,
    pub end: Instant,
}

tokio::task_local! {
    static RECORD: RefCell<Vec<Interval>>;
}

/// Adds an interval to the invocation being measured, if any.
fn record(activity: Activity, what: &str, start: Instant, end: Instant) {
    let _ = RECORD.try_with(|r| {
        r.borrow_mut().push(Interval {
            activity,
            what: what.to_owned(),
            start,
            end,
        });
    });
}

/// The length of the union of `intervals` (overlapping waits count once).
fn union_length<'a>(intervals: impl Iterator<Item = &'a Interval>) -> Duration {
    let mut spans: Vec<(Instant, Instant)> = intervals.map(|i| (i.start, i.end)).collect();
    spans.sort_by_key(|s| s.0);
    let mut total = Duration::ZERO;
    let mut current: Option<(Instant, Instant)> = None;
    for (start, end) in spans {
        current = match current {
            Some((s, e)) if start <= e => Some((s, e.max(end))),
            Some((s, e)) => {
                total += e - s;
                Some((start, end))
            }
            None => Some((start, end)),
        };
    }
    if let Some((s, e)) = current {
        total += e - s;
    }
    total
}

/// The CPU time the calling thread has used.
fn thread_cpu_time() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(
        u64::try_from(t.tv_sec).unwrap_or(0),
        u32::try_from(t.tv_nsec).unwrap_or(0),
    )
}

/// A future with the CPU time its polls took (on whichever worker thread polled it): its own
/// work, not that of tasks it waits on (the HTTP connections, the paper exchange's server),
/// and not the time its thread was descheduled.
struct OnCpu<F> {
    inner: Pin<Box<F>>,
    cpu: Duration,
}

impl<F: Future> Future for OnCpu<F> {
    type Output = (F::Output, Duration);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let before = thread_cpu_time();
        let polled = self.inner.as_mut().poll(cx);
        self.cpu += thread_cpu_time().saturating_sub(before);
        polled.map(|output| (output, self.cpu))
    }
}

/// One invocation, measured: its wall time and what it waited on.
#[derive(Debug)]
pub struct Measured<T> {
    pub output: T,
    pub wall: Duration,
    /// CPU time spent polling the invocation. Unlike [`Measured::overhead`] it excludes time
    /// the thread was descheduled (a loaded machine) and includes the exchange adapter's own
    /// work (signing, parsing), which the overhead counts as exchange wait.
    pub cpu: Duration,
    pub intervals: Vec<Interval>,
    /// Intervals that began before the invocation or ended after it (never expected: they
    /// would mean a call was attributed to the wrong invocation).
    pub outside: usize,
}

impl<T> Measured<T> {
    fn total(&self, activity: Activity) -> Duration {
        union_length(self.intervals.iter().filter(|i| i.activity == activity))
    }

    fn count(&self, activity: Activity) -> usize {
        self.intervals
            .iter()
            .filter(|i| i.activity == activity)
            .count()
    }

    /// Time with an AWS attempt in flight.
    pub fn aws_wait(&self) -> Duration {
        self.total(Activity::AwsTransmit)
    }

    /// Time inside exchange port calls.
    pub fn exchange_wait(&self) -> Duration {
        self.total(Activity::Exchange)
    }

    /// Time waiting on either; concurrent waits count once.
    pub fn waited(&self) -> Duration {
        union_length(self.intervals.iter().filter(|i| i.activity.is_wait()))
    }

    /// The sum of the waits less their union: zero while the handler makes one call at a time.
    pub fn overlap(&self) -> Duration {
        (self.aws_wait() + self.exchange_wait()).saturating_sub(self.waited())
    }

    /// Deserializing AWS responses (inside the overhead).
    pub fn aws_deserialize(&self) -> Duration {
        self.total(Activity::AwsDeserialize)
    }

    pub fn aws_attempts(&self) -> usize {
        self.count(Activity::AwsTransmit)
    }

    pub fn exchange_calls(&self) -> usize {
        self.count(Activity::Exchange)
    }

    /// Wall time not spent waiting: the handler's own work.
    pub fn overhead(&self) -> Duration {
        self.wall.saturating_sub(self.waited())
    }
}

/// Runs `invocation` and measures it: wall time from first poll to completion, and every AWS
/// attempt and exchange call made while polling it (through an [`AwsCalls`]-intercepted
/// client or a [`CountingExchange`]). Calls on other tasks are not attributed to it.
pub async fn measure<F: Future>(invocation: F) -> Measured<F::Output> {
    RECORD
        .scope(RefCell::new(Vec::new()), async {
            let start = Instant::now();
            let (output, cpu) = OnCpu {
                inner: Box::pin(invocation),
                cpu: Duration::ZERO,
            }
            .await;
            let end = Instant::now();
            let intervals = RECORD.with(|r| r.take());
            let outside = intervals
                .iter()
                .filter(|i| i.start < start || i.end > end || i.end < i.start)
                .count();
            Measured {
                output,
                wall: end - start,
                cpu,
                intervals,
                outside,
            }
        })
        .await
}

/// When the current attempt's request was handed to the HTTP client.
#[derive(Debug, Clone, Copy)]
struct TransmitStarted(Instant);

impl Storable for TransmitStarted {
    type Storer = StoreReplace<Self>;
}

/// When the current attempt's response began to be deserialized.
#[derive(Debug, Clone, Copy)]
struct DeserializeStarted(Instant);

impl Storable for DeserializeStarted {
    type Storer = StoreReplace<Self>;
}

/// Records the attempt's wait, if one is open, as ending `now`.
fn close_transmit(cfg: &mut ConfigBag, now: Instant) {
    if let Some(TransmitStarted(start)) = cfg.load::<TransmitStarted>().copied() {
        record(Activity::AwsTransmit, &operation(cfg), start, now);
        cfg.interceptor_state().unset::<TransmitStarted>();
    }
}

fn operation(cfg: &ConfigBag) -> String {
    cfg.load::<Metadata>()
        .map(|m| format!("{}.{}", m.service(), m.name()))
        .unwrap_or_default()
}

/// The SDK's HTTP client with each response's body read in full before the SDK sees it, so an
/// attempt's transmit (a wait) ends when its last byte is in and what follows, deserializing,
/// is the SDK's own work. DynamoDB and SQS answers are never streamed: the SDK reads them
/// whole anyway, just later.
#[derive(Debug, Clone)]
pub struct WholeResponses(pub SharedHttpClient);

impl HttpClient for WholeResponses {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(WholeResponseConnector(
            self.0.http_connector(settings, components),
        ))
    }

    fn validate_base_client_config(
        &self,
        runtime_components: &RuntimeComponentsBuilder,
        cfg: &ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.validate_base_client_config(runtime_components, cfg)
    }
}

#[derive(Debug)]
struct WholeResponseConnector(SharedHttpConnector);

impl HttpConnector for WholeResponseConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let response = self.0.call(request);
        HttpConnectorFuture::new(async move {
            let mut response = response.await?;
            let body = ByteStream::new(response.take_body())
                .collect()
                .await
                .map_err(|e| ConnectorError::io(e.into()))?;
            *response.body_mut() = SdkBody::from(body.into_bytes());
            Ok(response)
        })
    }
}

/// An SDK interceptor that counts attempts as `Service.Operation` and asks DynamoDB for the
/// capacity each read and write consumed.
#[derive(Debug, Default, Clone)]
pub struct AwsCalls {
    pub attempts: Tally,
    capacity: Arc<Mutex<BTreeMap<String, Decimal>>>,
}

fn capacity_units(c: Option<&ConsumedCapacity>) -> Option<Decimal> {
    c.and_then(ConsumedCapacity::capacity_units)
        .and_then(|u| Decimal::try_from(u).ok())
}

impl AwsCalls {
    /// Capacity units consumed per DynamoDB operation, as the service (here the emulator)
    /// reported them.
    pub fn capacity(&self) -> BTreeMap<String, Decimal> {
        self.capacity.lock().map(|m| m.clone()).unwrap_or_default()
    }

    pub fn clear(&self) {
        self.attempts.clear();
        if let Ok(mut map) = self.capacity.lock() {
            map.clear();
        }
    }

    fn add_capacity(&self, operation: &str, units: Option<Decimal>) {
        if let (Some(units), Ok(mut map)) = (units, self.capacity.lock()) {
            *map.entry(operation.to_owned()).or_default() += units;
        }
    }
}

impl Intercept for AwsCalls {
    fn name(&self) -> &'static str {
        "driftline-e2e-aws-calls"
    }

    fn modify_before_serialization(
        &self,
        context: &mut BeforeSerializationInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        use aws_sdk_dynamodb::operation::{
            get_item::GetItemInput, put_item::PutItemInput, query::QueryInput,
            update_item::UpdateItemInput,
        };
        let input = context.input_mut();
        let total = Some(ReturnConsumedCapacity::Total);
        if let Some(i) = input.downcast_mut::<PutItemInput>() {
            i.return_consumed_capacity = total;
        } else if let Some(i) = input.downcast_mut::<UpdateItemInput>() {
            i.return_consumed_capacity = total;
        } else if let Some(i) = input.downcast_mut::<GetItemInput>() {
            i.return_consumed_capacity = total;
        } else if let Some(i) = input.downcast_mut::<QueryInput>() {
            i.return_consumed_capacity = total;
        }
        Ok(())
    }

    fn read_before_transmit(
        &self,
        _: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(m) = cfg.load::<Metadata>() {
            self.attempts.add(&format!("{}.{}", m.service(), m.name()));
        }
        // Last, so the counting above is not part of the wait.
        cfg.interceptor_state()
            .store_put(TransmitStarted(Instant::now()));
        Ok(())
    }

    fn read_after_transmit(
        &self,
        _: &BeforeDeserializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        close_transmit(cfg, Instant::now());
        Ok(())
    }

    fn read_before_deserialization(
        &self,
        _: &BeforeDeserializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state()
            .store_put(DeserializeStarted(Instant::now()));
        Ok(())
    }

    fn read_after_attempt(
        &self,
        _: &FinalizerInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // An attempt whose transmit failed (no response) waited until now.
        close_transmit(cfg, Instant::now());
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let now = Instant::now();
        if let Some(DeserializeStarted(start)) = cfg.load::<DeserializeStarted>().copied() {
            record(Activity::AwsDeserialize, &operation(cfg), start, now);
            cfg.interceptor_state().unset::<DeserializeStarted>();
        }
        use aws_sdk_dynamodb::operation::{
            get_item::GetItemOutput, put_item::PutItemOutput, query::QueryOutput,
            update_item::UpdateItemOutput,
        };
        let Ok(output) = context.output_or_error() else {
            return Ok(());
        };
        if let Some(o) = output.downcast_ref::<PutItemOutput>() {
            self.add_capacity("PutItem", capacity_units(o.consumed_capacity()));
        } else if let Some(o) = output.downcast_ref::<UpdateItemOutput>() {
            self.add_capacity("UpdateItem", capacity_units(o.consumed_capacity()));
        } else if let Some(o) = output.downcast_ref::<GetItemOutput>() {
            self.add_capacity("GetItem", capacity_units(o.consumed_capacity()));
        } else if let Some(o) = output.downcast_ref::<QueryOutput>() {
            self.add_capacity("Query", capacity_units(o.consumed_capacity()));
        }
        Ok(())
    }
}

/// The exchange port with every call counted by method name, and timed into the invocation
/// being [`measure`]d, if any.
pub struct CountingExchange {
    inner: Arc<dyn Exchange>,
    pub calls: Tally,
}

impl CountingExchange {
    pub fn new(inner: Arc<dyn Exchange>, calls: Tally) -> Self {
        Self { inner, calls }
    }

    async fn timed<T>(&self, method: &'static str, call: impl Future<Output = T>) -> T {
        self.calls.add(method);
        let start = Instant::now();
        let answer = call.await;
        record(Activity::Exchange, method, start, Instant::now());
        answer
    }
}

#[async_trait]
impl ExchangeLayer for CountingExchange {
    fn venue(&self) -> Venue {
        self.inner.venue()
    }
    async fn around(&self, call: ExchangeCall<'_>) -> Result<ExchangeAnswer, ExchangeError> {
        self.timed(call.name(), call.send(self.inner.as_ref()))
            .await
    }
}
