//! grpc.health.v1 and server reflection on the public gRPC port: unsigned, as probes and grpcurl
//! call them.

use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

use super::start;

async fn channel(address: &str) -> Channel {
    Endpoint::from_shared(format!("http://{address}"))
        .expect("an endpoint")
        .connect()
        .await
        .expect("the gRPC API accepts connections")
}

#[tokio::test]
async fn the_health_service_reports_the_api_serving() {
    let keyshard = start().await;
    let mut health = HealthClient::new(channel(keyshard.grpc_address()).await);

    for service in ["", "keyshard.kms.v1.KeyManagement"] {
        let answer = health
            .check(HealthCheckRequest {
                service: service.to_owned(),
            })
            .await
            .expect("Check")
            .into_inner();
        assert_eq!(answer.status(), ServingStatus::Serving, "{service:?}");
    }
    let unknown = health
        .check(HealthCheckRequest {
            service: "other.Service".to_owned(),
        })
        .await
        .expect_err("an unknown service has no health");
    assert_eq!(unknown.code(), tonic::Code::NotFound);

    keyshard.finish();
}

#[tokio::test]
async fn reflection_lists_the_public_services() {
    let keyshard = start().await;
    let mut reflection = ServerReflectionClient::new(channel(keyshard.grpc_address()).await);

    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut answers = reflection
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .expect("ServerReflectionInfo")
        .into_inner();
    let answer = answers
        .message()
        .await
        .expect("a reflection answer")
        .expect("one message");
    let Some(MessageResponse::ListServicesResponse(list)) = answer.message_response else {
        panic!("expected a service list, got {:?}", answer.message_response);
    };
    let mut names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection",
            "keyshard.kms.v1.KeyManagement"
        ]
    );

    keyshard.finish();
}

// grpcurl and grpcui releases before 2024 speak only the older v1alpha protocol.
#[tokio::test]
async fn reflection_answers_the_v1alpha_protocol_too() {
    use tonic_reflection::pb::v1alpha::ServerReflectionRequest as Request;
    use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient as V1Alpha;
    use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest as Ask;
    use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse as Answer;

    let keyshard = start().await;
    let mut reflection = V1Alpha::new(channel(keyshard.grpc_address()).await);
    let request = Request {
        host: String::new(),
        message_request: Some(Ask::ListServices(String::new())),
    };
    let answer = reflection
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .expect("ServerReflectionInfo")
        .into_inner()
        .message()
        .await
        .expect("a reflection answer")
        .expect("one message");
    let Some(Answer::ListServicesResponse(list)) = answer.message_response else {
        panic!("expected a service list, got {:?}", answer.message_response);
    };
    let mut names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "grpc.health.v1.Health",
            "grpc.reflection.v1alpha.ServerReflection",
            "keyshard.kms.v1.KeyManagement"
        ]
    );

    keyshard.finish();
}
