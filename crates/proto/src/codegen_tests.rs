//! The generated code under `src/generated/` must be exactly what `proto/` produces today.
//!
//! Run with `KEYSHARD_BLESS_PROTO=1` to rewrite the committed files after editing a `.proto`.

use std::fs;
use std::path::{Path, PathBuf};

/// Messages that carry plaintext or key material get a hand-written, redacting `Debug`.
pub(crate) const REDACTED_DEBUG: &[&str] = &[
    ".keyshard.shard.v1.GenerateDataKeyResponse",
    ".keyshard.shard.v1.EncryptRequest",
    ".keyshard.shard.v1.DecryptResponse",
    ".keyshard.shard.v1.GenerateRandomResponse",
    ".keyshard.shard.v1.GetSigningKeyResponse",
    ".keyshard.kms.v1.GenerateDataKeyResponse",
    ".keyshard.kms.v1.EncryptRequest",
    ".keyshard.kms.v1.DecryptResponse",
    ".keyshard.kms.v1.GenerateRandomResponse",
    ".v2.DecryptResponse",
    ".v2.EncryptRequest",
];

/// The public API's descriptor set, which gRPC server reflection serves.
const KMS_DESCRIPTOR_SET: &str = "keyshard.kms.v1.bin";

fn generate(out_dir: &Path) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let public = protox::compile(["keyshard/kms/v1/kms.proto"], [&root]).expect("protos compile");
    fs::write(
        out_dir.join(KMS_DESCRIPTOR_SET),
        prost::Message::encode_to_vec(&public),
    )
    .expect("write the descriptor set");

    let fds = protox::compile(
        [
            "keyshard/shard/v1/shard.proto",
            "keyshard/kms/v1/kms.proto",
            "k8s.io/kms/apis/v2/api.proto",
        ],
        [&root],
    )
    .expect("protos compile");
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .build_transport(false)
        .skip_debug(REDACTED_DEBUG.iter().copied())
        .emit_rerun_if_changed(false)
        .out_dir(out_dir)
        .compile_fds(fds)
        .expect("code generation succeeds");
}

#[test]
fn generated_code_matches_the_protos() {
    let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/generated");
    let fresh = tempfile::tempdir().expect("temporary directory");
    generate(fresh.path());

    let mut names: Vec<PathBuf> = fs::read_dir(fresh.path())
        .expect("read generated files")
        .map(|entry| entry.expect("directory entry").path())
        .collect();
    names.sort();
    for path in names {
        let name = path.file_name().expect("file name");
        let want = fs::read(&path).expect("read fresh file");
        let target = committed.join(name);
        if std::env::var_os("KEYSHARD_BLESS_PROTO").is_some() {
            fs::write(&target, &want).expect("write committed file");
            continue;
        }
        let have = fs::read(&target).unwrap_or_default();
        assert!(
            have == want,
            "{} is stale: rerun with KEYSHARD_BLESS_PROTO=1 and commit it",
            target.display()
        );
    }
}
