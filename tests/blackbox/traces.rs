//! OpenTelemetry: with `OTEL_EXPORTER_OTLP_ENDPOINT` set, spans reach an OTLP receiver, and a
//! gateway's request span and the shard's span for the same call share one trace.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_kms::types::DataKeySpec;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::Span;
use tokio_stream::wrappers::TcpListenerStream;

use crate::harness::{Keyshard, lock};
use crate::support::create_key;

/// An OTLP/gRPC trace receiver that keeps every span it is sent.
#[derive(Clone, Default)]
struct Receiver {
    spans: Arc<Mutex<Vec<Span>>>,
}

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let spans = request
            .into_inner()
            .resource_spans
            .into_iter()
            .flat_map(|r| r.scope_spans)
            .flat_map(|s| s.spans);
        lock(&self.spans).extend(spans);
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

/// The text of a string attribute.
fn text(value: Option<&AnyValue>) -> Option<&str> {
    match value?.value.as_ref()? {
        any_value::Value::StringValue(text) => Some(text),
        _ => None,
    }
}

async fn start_receiver() -> (Receiver, SocketAddr) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port for the receiver");
    let address = listener.local_addr().expect("a bound address");
    let receiver = Receiver::default();
    let service = TraceServiceServer::new(receiver.clone());
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    (receiver, address)
}

#[tokio::test]
async fn a_gateway_request_span_and_its_shard_span_share_one_trace() {
    let (receiver, address) = start_receiver().await;
    let endpoint = format!("http://{address}");
    let ks = Keyshard::start_with_env(
        &[],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ],
    )
    .await;
    let client = ks.client();
    let key_id = create_key(&client).await;
    client
        .generate_data_key()
        .key_id(&key_id)
        .key_spec(DataKeySpec::Aes256)
        .send()
        .await
        .expect("GenerateDataKey");

    let rpc = "/keyshard.shard.v1.Shard/GenerateDataKey";
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let (request, call) = loop {
        let found = {
            let spans = lock(&receiver.spans);
            let calls: Vec<Span> = spans
                .iter()
                .filter(|s| s.name == "shard call")
                .filter(|s| {
                    s.attributes
                        .iter()
                        .any(|a| a.key == "rpc" && text(a.value.as_ref()) == Some(rpc))
                })
                .cloned()
                .collect();
            calls.into_iter().find_map(|call| {
                spans
                    .iter()
                    .find(|s| s.name == "request" && s.span_id == call.parent_span_id)
                    .cloned()
                    .map(|request| (request, call))
            })
        };
        if let Some(found) = found {
            break found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no shard span with the gateway's request span as its parent was exported"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(request.trace_id, call.trace_id);
    assert_eq!(request.trace_id.len(), 16);
    assert!(request.trace_id.iter().any(|&b| b != 0));

    ks.finish();
}
