//! Logs and traces. Logs go to standard error, filtered by `KEYSHARD_LOG`, written in batches
//! by a thread of their own ([`log_output`]). When
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set, spans are also exported over OTLP/gRPC, batched on the
//! runtime, under `OTEL_SERVICE_NAME` (by default the subcommand's name); the trace context
//! crosses the gateway→shard hop as a W3C `traceparent` in gRPC metadata, so a gateway's request
//! span and the shard's span for it share one trace.

mod log_output;

use opentelemetry::propagation::Extractor;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

use log_output::LogOutput;

/// The standard variable that turns trace export on.
const ENDPOINT_ENV: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
/// The standard variable naming the service in exported spans.
const SERVICE_ENV: &str = "OTEL_SERVICE_NAME";

/// What must be flushed before the process exits.
pub(crate) struct Telemetry {
    provider: Option<SdkTracerProvider>,
    logs: LogOutput,
}

/// Sets up logging and, when configured, trace export. Runs inside the tokio runtime, which
/// the exporter's connection and batching use. Returns a warning to log once logging works, if
/// trace export could not be set up, or the error of starting the log writer thread.
pub(crate) fn init(
    filter: EnvFilter,
    default_service: &str,
) -> std::io::Result<(Telemetry, Option<String>)> {
    let output = LogOutput::start(std::io::stderr())?;
    // A panic's message is printed after every line logged before it.
    let flush_on_panic = output.clone();
    let report_panic = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        flush_on_panic.flush();
        report_panic(info);
    }));
    let logs = tracing_subscriber::fmt::layer()
        .with_writer(output.clone())
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let registry = tracing_subscriber::registry().with(filter).with(logs);
    if std::env::var_os(ENDPOINT_ENV).is_none() {
        registry.init();
        let telemetry = Telemetry {
            provider: None,
            logs: output,
        };
        return Ok((telemetry, None));
    }
    let exporter = match opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .build()
    {
        Ok(exporter) => exporter,
        Err(err) => {
            registry.init();
            let warning = format!("traces are not exported: {err}");
            let telemetry = Telemetry {
                provider: None,
                logs: output,
            };
            return Ok((telemetry, Some(warning)));
        }
    };
    let service = std::env::var(SERVICE_ENV).unwrap_or_else(|_| default_service.to_owned());
    let processor =
        BatchSpanProcessor::builder(exporter, opentelemetry_sdk::runtime::Tokio).build();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_resource(Resource::builder().with_service_name(service).build())
        .build();
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let tracer = provider.tracer("keyshard");
    registry
        .with(tracing_opentelemetry::layer().with_tracer(tracer))
        .init();
    let telemetry = Telemetry {
        provider: Some(provider),
        logs: output,
    };
    Ok((telemetry, None))
}

impl Telemetry {
    /// Exports the spans still buffered, then writes the log lines still buffered.
    pub(crate) async fn shutdown(self) {
        if let Some(provider) = self.provider {
            let flushed = tokio::task::spawn_blocking(move || provider.shutdown()).await;
            if let Ok(Err(err)) = flushed {
                tracing::warn!(error = %err, "buffered spans were not all exported");
            }
        }
        self.logs.flush();
    }
}

/// The span a shard opens for one call: a child of the gateway's request span when the call
/// carries its trace context.
pub(crate) fn shard_call_span(request: &http::Request<()>) -> tracing::Span {
    let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.extract(&Headers(request.headers()))
    });
    let span = tracing::info_span!("shard call", rpc = %request.uri().path());
    // Without an exporter there is no parent to attach, and nothing to report.
    let _ = span.set_parent(parent);
    span
}

/// gRPC metadata as the propagator reads it.
struct Headers<'a>(&'a http::HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}
