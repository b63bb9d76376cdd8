#!/usr/bin/env bash
# A realistic AWS CLI session against Keyshard, asserting what each command prints.
# Usage: cli_session.sh http://127.0.0.1:PORT   (the `aws` command must be on PATH)
set -euo pipefail

endpoint=$1
export AWS_ACCESS_KEY_ID=AKIDCLIENTTEST000000 AWS_SECRET_ACCESS_KEY=client-test-secret
export AWS_DEFAULT_REGION=us-east-1 AWS_MAX_ATTEMPTS=1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

kms() { aws --endpoint-url "$endpoint" kms "$@"; }

# Fails with both values shown unless they are equal.
expect() {
  if [[ $2 != "$3" ]]; then
    echo "cli session: $1: expected [$3], got [$2]" >&2
    exit 1
  fi
}

# Runs a command that must fail, and checks the error code the CLI reports.
expect_error() {
  local code=$1
  shift
  if "$@" >"$work/out" 2>"$work/err"; then
    echo "cli session: $* succeeded; expected $code" >&2
    exit 1
  fi
  if ! grep -q "($code)" "$work/err"; then
    echo "cli session: $* failed without $code:" >&2
    cat "$work/err" >&2
    exit 1
  fi
}

key_id=$(kms create-key --description "cli session" --query KeyMetadata.KeyId --output text)
arn="arn:aws:kms:us-east-1:111122223333:key/$key_id"
expect "create-key ARN" "$(kms describe-key --key-id "$key_id" --query KeyMetadata.Arn --output text)" "$arn"
expect "description" "$(kms describe-key --key-id "$key_id" --query KeyMetadata.Description --output text)" "cli session"

kms create-alias --alias-name alias/cli-session --target-key-id "$key_id"
expect "alias target" \
  "$(kms list-aliases --key-id "$key_id" --query 'Aliases[0].AliasName' --output text)" \
  "alias/cli-session"

printf 'sixteen byte msg' >"$work/plain"
kms encrypt --key-id alias/cli-session --plaintext "fileb://$work/plain" \
  --encryption-context app=cli --query CiphertextBlob --output text | base64 -d >"$work/blob"
expect "decrypt" \
  "$(kms decrypt --ciphertext-blob "fileb://$work/blob" --encryption-context app=cli \
      --query Plaintext --output text | base64 -d)" \
  "sixteen byte msg"
expect "decrypt KeyId" \
  "$(kms decrypt --ciphertext-blob "fileb://$work/blob" --encryption-context app=cli \
      --query KeyId --output text)" \
  "$arn"
expect_error InvalidCiphertextException kms decrypt --ciphertext-blob "fileb://$work/blob"

kms generate-data-key-without-plaintext --key-id "$arn" --key-spec AES_256 \
  --query CiphertextBlob --output text | base64 -d >"$work/data-key"
expect "data key length" \
  "$(kms decrypt --ciphertext-blob "fileb://$work/data-key" --query Plaintext --output text |
      base64 -d | wc -c | tr -d ' ')" \
  "32"

kms disable-key --key-id "$key_id"
expect "state after disable" \
  "$(kms describe-key --key-id alias/cli-session --query KeyMetadata.KeyState --output text)" \
  "Disabled"
expect_error DisabledException kms encrypt --key-id "$key_id" --plaintext "fileb://$work/plain"
expect_error DisabledException kms decrypt --ciphertext-blob "fileb://$work/blob" \
  --encryption-context app=cli
kms enable-key --key-id "$key_id"
expect "state after enable" \
  "$(kms describe-key --key-id "$key_id" --query KeyMetadata.KeyState --output text)" \
  "Enabled"

# Grants: a named grant is created once, listed, and retired by token or by key and grant id.
grant() {
  kms create-grant --key-id "$key_id" --grantee-principal arn:aws:iam::111122223333:role/cli \
    --operations Encrypt Decrypt --name "$1" --query '[GrantId, GrantToken]' --output text
}
created=$(grant cli-session)
read -r grant_id token <<<"$created"
if [[ ! $grant_id =~ ^[0-9a-f]{64}$ ]]; then
  echo "cli session: grant id [$grant_id] is not 64 lowercase hex digits" >&2
  exit 1
fi
created=$(grant cli-session)
read -r repeated_id repeated_token <<<"$created"
expect "repeated grant id" "$repeated_id" "$grant_id"
if [[ $repeated_token == "$token" ]]; then
  echo "cli session: a repeated create-grant returned the same token" >&2
  exit 1
fi
expect "grant listed" \
  "$(kms list-grants --key-id "$key_id" \
      --query "Grants[].[KeyId, GrantId, Name, join(',', Operations)]" --output text)" \
  "$arn	$grant_id	cli-session	Decrypt,Encrypt"
expect "issuing account" \
  "$(kms list-grants --key-id "$arn" --query 'Grants[0].IssuingAccount' --output text)" \
  "arn:aws:iam::111122223333:root"
kms retire-grant --grant-token "$token"
expect "grants after retiring by token" \
  "$(kms list-grants --key-id "$key_id" --query 'length(Grants)' --output text)" "0"
expect_error NotFoundException kms retire-grant --grant-token "$repeated_token"
expect_error InvalidGrantTokenException kms retire-grant --grant-token not-a-grant-token
created=$(grant cli-session-2)
read -r grant_id token <<<"$created"
kms retire-grant --key-id "$arn" --grant-id "$grant_id"
expect "grants after retiring by id" \
  "$(kms list-grants --key-id "$key_id" --query 'length(Grants)' --output text)" "0"
expect_error NotFoundException kms revoke-grant --key-id "$key_id" --grant-id "$grant_id"

expect "random bytes" \
  "$(kms generate-random --number-of-bytes 24 --query Plaintext --output text |
      base64 -d | wc -c | tr -d ' ')" \
  "24"
expect_error NotFoundException kms describe-key --key-id alias/no-such-alias
expect_error ValidationException kms generate-random --number-of-bytes 2000

kms tag-resource --key-id "$key_id" --tags TagKey=team,TagValue=payments TagKey=env,TagValue=prod
expect "tags" \
  "$(kms list-resource-tags --key-id "$key_id" --query 'Tags[].[TagKey,TagValue]' --output text |
      tr '\t\n' '= ')" \
  "env=prod team=payments "
expect_error TagException kms tag-resource --key-id "$key_id" --tags TagKey=aws:owner,TagValue=x
kms update-key-description --key-id "$key_id" --description "payments key"
expect "new description" \
  "$(kms describe-key --key-id "$key_id" --query KeyMetadata.Description --output text)" \
  "payments key"

kms enable-key-rotation --key-id "$key_id" --rotation-period-in-days 180
expect "rotation status" \
  "$(kms get-key-rotation-status --key-id "$key_id" \
      --query '[KeyRotationEnabled,RotationPeriodInDays]' --output text)" \
  "True	180"
before=$(kms describe-key --key-id "$key_id" --query KeyMetadata.CurrentKeyMaterialId --output text)
expect "rotate on demand" "$(kms rotate-key-on-demand --key-id "$key_id" --query KeyId --output text)" "$arn"
after=$(kms describe-key --key-id "$key_id" --query KeyMetadata.CurrentKeyMaterialId --output text)
if [[ $before == "$after" ]]; then
  echo "cli session: RotateKeyOnDemand left CurrentKeyMaterialId at $before" >&2
  exit 1
fi
expect "old ciphertext after rotation" \
  "$(kms decrypt --ciphertext-blob "fileb://$work/blob" --encryption-context app=cli \
      --query KeyMaterialId --output text)" \
  "$before"

other_id=$(kms create-key --query KeyMetadata.KeyId --output text)
kms re-encrypt --ciphertext-blob "fileb://$work/blob" --source-encryption-context app=cli \
  --destination-key-id "$other_id" --query CiphertextBlob --output text | base64 -d >"$work/moved"
expect "re-encrypted" \
  "$(kms decrypt --ciphertext-blob "fileb://$work/moved" --query Plaintext --output text | base64 -d)" \
  "sixteen byte msg"

expect "scheduled state" \
  "$(kms schedule-key-deletion --key-id "$other_id" --pending-window-in-days 7 \
      --query '[KeyState,PendingWindowInDays]' --output text)" \
  "PendingDeletion	7"
expect_error KMSInvalidStateException kms decrypt --ciphertext-blob "fileb://$work/moved"
expect "cancelled" "$(kms cancel-key-deletion --key-id "$other_id" --query KeyId --output text)" \
  "arn:aws:kms:us-east-1:111122223333:key/$other_id"
expect "state after cancel" \
  "$(kms describe-key --key-id "$other_id" --query KeyMetadata.KeyState --output text)" \
  "Disabled"

echo "cli session: every command printed what AWS KMS prints"
