//! What the pipeline asks of AWS and of the exchange, counted for the per-order figures in
//! docs/BENCHMARKS.md: every SDK attempt by service and operation (an SDK interceptor, so
//! retries count as AWS bills them), the DynamoDB capacity the emulator reports, and every
//! call through the exchange port.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{ConsumedCapacity, ReturnConsumedCapacity};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    AfterDeserializationInterceptorContextRef, BeforeSerializationInterceptorContextMut,
    BeforeTransmitInterceptorContextRef,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use driftline_core::ports::{Balance, Exchange, ExchangeError, LimitOrderRequest, OrderReport};
use driftline_core::{ClientOrderId, EpochMillis, MarketFilters, OrderBook, Symbol};
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
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
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

/// The exchange port with every call counted by method name.
pub struct CountingExchange {
    inner: Arc<dyn Exchange>,
    pub calls: Tally,
}

impl CountingExchange {
    pub fn new(inner: Arc<dyn Exchange>, calls: Tally) -> Self {
        Self { inner, calls }
    }
}

#[async_trait]
impl Exchange for CountingExchange {
    async fn market_filters(&self, symbol: &Symbol) -> Result<MarketFilters, ExchangeError> {
        self.calls.add("market_filters");
        self.inner.market_filters(symbol).await
    }
    async fn order_book(&self, symbol: &Symbol, depth: u16) -> Result<OrderBook, ExchangeError> {
        self.calls.add("order_book");
        self.inner.order_book(symbol, depth).await
    }
    async fn balances(&self) -> Result<Vec<Balance>, ExchangeError> {
        self.calls.add("balances");
        self.inner.balances().await
    }
    async fn place_limit_order(
        &self,
        order: &LimitOrderRequest,
    ) -> Result<OrderReport, ExchangeError> {
        self.calls.add("place_limit_order");
        self.inner.place_limit_order(order).await
    }
    async fn order(
        &self,
        symbol: &Symbol,
        client_order_id: &ClientOrderId,
    ) -> Result<OrderReport, ExchangeError> {
        self.calls.add("order");
        self.inner.order(symbol, client_order_id).await
    }
    async fn open_orders(&self, symbol: &Symbol) -> Result<Vec<OrderReport>, ExchangeError> {
        self.calls.add("open_orders");
        self.inner.open_orders(symbol).await
    }
    async fn cancel_order(
        &self,
        symbol: &Symbol,
        client_order_id: &ClientOrderId,
    ) -> Result<OrderReport, ExchangeError> {
        self.calls.add("cancel_order");
        self.inner.cancel_order(symbol, client_order_id).await
    }
    async fn server_time(&self) -> Result<EpochMillis, ExchangeError> {
        self.calls.add("server_time");
        self.inner.server_time().await
    }
}
