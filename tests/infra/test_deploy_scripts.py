"""The four deploy scripts run for real against stand-in aws/docker/terraform executables on PATH."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.infra.stand_ins import ECR_PASSWORD, Run, run_script

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "scripts"
BUILD = SCRIPTS / "build_and_push.sh"
DEPLOY = SCRIPTS / "deploy_infra.sh"
DESTROY = SCRIPTS / "destroy_infra.sh"
DELETE = SCRIPTS / "delete_image.sh"

ACCESS_KEY = "AKIDSTANDIN0000EXAMPLE"
SECRET_KEY = "stand-in-secret/DoNotLeak+0123456789abcdefXYZ"
WEBHOOK = "https://hooks.slack.com/services/T000/B000/StandInWebhookDoNotLeak"
SUBNETS = '["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]'
SGS = '["sg-0123456789abcdef0"]'
IMAGE = "123456789012.dkr.ecr.us-west-2.amazonaws.com/spotlake-azure-batch:latest"
STACK_ARGS = ["-v", "vpc-0123456789abcdef0", "-s", SUBNETS, "-g", SGS, "-i", IMAGE]


def assert_usage_error(run: Run) -> None:
    assert run.returncode == 2, run.stderr
    assert "error:" in run.stderr
    assert "Usage:" in run.stderr
    assert run.stdout == ""


def everything_printed_and_passed(run: Run) -> str:
    return "\n".join([run.stdout, run.stderr, *("\x1f".join(call.argv) for call in run.calls)])


# ---------------------------------------------------------------- build_and_push.sh


@pytest.mark.parametrize(
    ("args", "why"),
    [
        (["-r"], "option without value"),
        (["-x", "1"], "unknown option"),
        (["-a", ACCESS_KEY], "access key on the command line (removed)"),
        (["-s", SECRET_KEY], "secret key on the command line (removed)"),
        (["-a", ACCESS_KEY, "-s", SECRET_KEY], "both keys on the command line (removed)"),
        (["-c", "/nonexistent/credentials"], "credentials file that does not exist"),
        (["-r", "Oregon"], "region not a region code"),
        (["-t", "bad tag"], "tag with a space"),
        (["-n", "Upper/Case"], "repository name with capitals"),
        (["extra"], "positional argument"),
    ],
)
def test_build_and_push_rejects_bad_usage_with_exit_2_and_usage(tmp_path: Path, args: list[str], why: str):
    run = run_script(BUILD, args, tmp_path)

    assert_usage_error(run)
    assert run.calls == [], why
    assert SECRET_KEY not in run.stderr


def test_build_and_push_refuses_keys_on_the_command_line_and_says_where_they_go(tmp_path: Path):
    run = run_script(BUILD, ["-a", ACCESS_KEY, "-s", SECRET_KEY], tmp_path)

    assert_usage_error(run)
    assert "-a was removed: credentials never go on a command line" in run.stderr
    assert "AWS_SECRET_ACCESS_KEY" in run.stderr and "-c CREDENTIALS_FILE" in run.stderr
    assert ACCESS_KEY not in run.stderr and SECRET_KEY not in run.stderr


def test_build_and_push_logs_in_builds_both_architectures_and_pushes(tmp_path: Path):
    run = run_script(BUILD, ["-r", "eu-west-1", "-t", "v1.2"], tmp_path,
                     {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY})  # fmt: skip

    assert run.returncode == 0, run.stderr
    registry = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
    image = f"{registry}/spotlake-azure-batch:v1.2"
    order = [(c.tool, c.argv[:2]) for c in run.calls]
    # get-login-password and docker login are the two ends of one pipe: they start in either order.
    assert order[0] == ("aws", ["ecr", "describe-repositories"])
    assert sorted(order[1:3]) == [("aws", ["ecr", "get-login-password"]), ("docker", ["login", "--username"])]
    assert order[3:] == [("docker", ["buildx", "inspect"]), ("docker", ["buildx", "build"])]
    [login] = [c for c in run.of("docker") if c.argv[0] == "login"]
    assert login.argv == ["login", "--username", "AWS", "--password-stdin", registry]
    assert (run.log_dir / "docker-login-stdin").read_text().strip() == ECR_PASSWORD
    build = run.of("docker")[-1].argv
    assert build[build.index("--platform") + 1] == "linux/amd64,linux/arm64"
    assert build[build.index("--tag") + 1] == image
    assert "--push" in build
    assert build[build.index("--file") + 1] == str(REPO / "Dockerfile")
    assert build[-1] == str(REPO)
    assert not any(arg.startswith("--build-arg") or arg.startswith("--secret") for arg in build)
    assert run.stdout.strip().splitlines()[-1] == image


def test_build_and_push_keeps_the_secret_key_away_from_docker_and_output(tmp_path: Path):
    run = run_script(BUILD, [], tmp_path, {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY})

    assert run.returncode == 0, run.stderr
    for call in run.of("docker"):
        assert all(SECRET_KEY not in arg and ACCESS_KEY not in arg for arg in call.argv)
        assert "AWS_SECRET_ACCESS_KEY" not in call.env
        assert "AWS_ACCESS_KEY_ID" not in call.env
    assert SECRET_KEY not in run.stdout
    assert SECRET_KEY not in run.stderr
    # The key pair does authenticate the script's own aws calls, through the environment only.
    for call in run.of("aws"):
        assert call.env.get("AWS_SECRET_ACCESS_KEY") == SECRET_KEY
        assert call.env.get("AWS_REGION") == "us-west-2"
        assert SECRET_KEY not in call.argv


def test_build_and_push_reads_keys_from_a_credentials_file_only_for_its_aws_calls(tmp_path: Path):
    credentials = tmp_path / "creds" / "ci.ini"
    credentials.parent.mkdir()
    credentials.write_text(f"[ci]\naws_access_key_id = {ACCESS_KEY}\naws_secret_access_key = {SECRET_KEY}\n")
    credentials.chmod(0o600)
    # Keys in the environment are dropped in favour of the file's.
    run = run_script(BUILD, ["-c", str(credentials), "-p", "ci"], tmp_path,
                     {"AWS_ACCESS_KEY_ID": "AKIDFROMTHEENVIRON", "AWS_SECRET_ACCESS_KEY": "env-secret"})  # fmt: skip

    assert run.returncode == 0, run.stderr
    for call in run.of("aws"):
        assert call.env.get("AWS_SHARED_CREDENTIALS_FILE") == str(credentials)
        assert call.env.get("AWS_PROFILE") == "ci"
        assert "AWS_ACCESS_KEY_ID" not in call.env and "AWS_SECRET_ACCESS_KEY" not in call.env
    for call in run.of("docker"):
        assert "AWS_SHARED_CREDENTIALS_FILE" not in call.env
    assert SECRET_KEY not in everything_printed_and_passed(run)


def test_build_and_push_creates_a_missing_repository_with_scan_on_push(tmp_path: Path):
    run = run_script(BUILD, ["-n", "team/collector"], tmp_path, {"STAND_IN_ECR_MISSING": "1"})

    assert run.returncode == 0, run.stderr
    create = run.of("aws")[1].argv
    assert create[:4] == ["ecr", "create-repository", "--repository-name", "team/collector"]
    assert "scanOnPush=true" in create
    assert run.stdout.strip().endswith("/team/collector:latest")


def test_build_and_push_creates_a_multi_platform_builder_when_none_exists(tmp_path: Path):
    run = run_script(BUILD, [], tmp_path, {"STAND_IN_NO_BUILDER": "1"})

    assert run.returncode == 0, run.stderr
    create = [c.argv for c in run.of("docker") if c.argv[:2] == ["buildx", "create"]]
    assert create and "docker-container" in create[0]


def test_build_and_push_fails_without_building_when_ecr_refuses(tmp_path: Path):
    run = run_script(BUILD, [], tmp_path, {"STAND_IN_ECR_DENIED": "1"})

    assert run.returncode == 1
    assert "AccessDeniedException" in run.stderr
    assert run.of("docker") == []


# ---------------------------------------------------------------- deploy_infra.sh / destroy_infra.sh


@pytest.mark.parametrize("script", [DEPLOY, DESTROY], ids=["deploy", "destroy"])
@pytest.mark.parametrize("missing", ["-v", "-s", "-g", "-i"])
def test_stack_scripts_exit_2_with_usage_when_a_required_option_is_missing(tmp_path: Path, script: Path, missing: str):
    args = list(STACK_ARGS)
    at = args.index(missing)
    del args[at : at + 2]

    run = run_script(script, args, tmp_path)

    assert_usage_error(run)
    assert f"missing required option {missing}" in run.stderr
    assert run.calls == []


@pytest.mark.parametrize("script", [DEPLOY, DESTROY], ids=["deploy", "destroy"])
@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("-s", '["subnet-0123456789abcdef0"'),  # not JSON
        ("-s", '"subnet-0123456789abcdef0"'),  # JSON, not a list
        ("-s", "[]"),  # empty list
        ("-s", '["sg-0123456789abcdef0"]'),  # wrong kind of id
        ("-s", "[1, 2]"),  # not strings
        ("-g", "sg-0123456789abcdef0"),  # bare id
        ("-v", "vpc 123"),
        ("-i", "not an image uri"),
        ("-r", "us_west_2"),
        ("-b", "Bad_Bucket"),
    ],
)
def test_stack_scripts_exit_2_on_invalid_values_before_running_terraform(
    tmp_path: Path, script: Path, option: str, value: str
):
    args = list(STACK_ARGS)
    if option in args:
        args[args.index(option) + 1] = value
    else:
        args += [option, value]

    run = run_script(script, args, tmp_path)

    assert_usage_error(run)
    assert run.calls == []


def tf_vars(argv: list[str]) -> dict[str, str]:
    pairs = [argv[i + 1] for i, arg in enumerate(argv) if arg == "-var"]
    return dict(pair.split("=", 1) for pair in pairs)


def test_deploy_runs_terraform_init_then_apply_with_every_variable(tmp_path: Path):
    run = run_script(DEPLOY, [*STACK_ARGS, "-r", "us-east-1", "-b", "my-spotlake", "-p", "ops"], tmp_path)

    assert run.returncode == 0, run.stderr
    assert [c.tool for c in run.calls] == ["terraform", "terraform"]
    init, apply = (c.argv for c in run.calls)
    chdir = f"-chdir={REPO / 'infrastructure'}"
    assert init == [chdir, "init", "-input=false"]
    assert apply[:3] == [chdir, "apply", "-input=false"]
    assert "-auto-approve" not in apply
    assert tf_vars(apply) == {
        "region": "us-east-1",
        "vpc_id": "vpc-0123456789abcdef0",
        "subnet_ids": '["subnet-0123456789abcdef0","subnet-0fedcba9876543210"]',
        "security_group_ids": '["sg-0123456789abcdef0"]',
        "image_uri": IMAGE,
        "bucket_name": "my-spotlake",
        "bucket_prefix": "collector",
        "timestream_database": "spotlake",
        "timestream_table": "azure",
        "azure_auth_table": "AzureAuth",
        "azure_auth_item": "login_auth_az_true",
        "azure_auth_region": "",
        "public_read": "true",
        "slack_webhook_parameter_name": "error_notification_slack_webhook_url",
    }
    assert all(c.env.get("AWS_PROFILE") == "ops" and c.env.get("AWS_REGION") == "us-east-1" for c in run.calls)


def test_deploy_defaults_to_us_west_2_and_the_spotlake_bucket_and_y_skips_the_prompt(tmp_path: Path):
    run = run_script(DEPLOY, [*STACK_ARGS, "-y"], tmp_path)

    assert run.returncode == 0, run.stderr
    apply = run.calls[-1].argv
    assert tf_vars(apply)["region"] == "us-west-2"
    assert tf_vars(apply)["bucket_name"] == "spotlake"
    assert "-auto-approve" in apply


def write_webhook_file(tmp_path: Path, text: str = WEBHOOK + "\n") -> Path:
    path = tmp_path / "secrets" / "webhook.txt"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    path.chmod(0o600)
    return path


@pytest.mark.parametrize("source", ["file", "stdin"])
def test_deploy_stores_the_webhook_in_ssm_and_gives_terraform_only_the_parameter_name(tmp_path: Path, source: str):
    if source == "file":
        run = run_script(DEPLOY, [*STACK_ARGS, "-w", str(write_webhook_file(tmp_path))], tmp_path)
    else:
        run = run_script(DEPLOY, [*STACK_ARGS, "-w", "-"], tmp_path, stdin=WEBHOOK + "\n")

    assert run.returncode == 0, run.stderr
    assert [(c.tool, c.argv[:2]) for c in run.calls] == [
        ("aws", ["ssm", "put-parameter"]),
        ("terraform", [f"-chdir={REPO / 'infrastructure'}", "init"]),
        ("terraform", [f"-chdir={REPO / 'infrastructure'}", "apply"]),
    ]
    request = json.loads((run.log_dir / "ssm-request.json").read_text())
    assert request["Name"] == "error_notification_slack_webhook_url"
    assert request["Type"] == "SecureString"
    assert request["Overwrite"] is True
    assert request["Value"] == WEBHOOK
    assert tf_vars(run.calls[-1].argv)["enable_failure_notification"] == "true"
    assert WEBHOOK not in everything_printed_and_passed(run)
    assert "hooks.slack.com" not in everything_printed_and_passed(run)
    # The request file with the secret is gone after the run.
    assert list((tmp_path / "tmp").iterdir()) == []


@pytest.mark.parametrize("url", [WEBHOOK, "http://hooks.example/plain-secret-token"])
def test_deploy_refuses_a_webhook_url_on_the_command_line_without_echoing_it(tmp_path: Path, url: str):
    run = run_script(DEPLOY, [*STACK_ARGS, "-w", url], tmp_path)

    assert_usage_error(run)
    assert "-w takes a FILE holding the webhook URL" in run.stderr
    assert url not in run.stderr and "hooks." not in run.stderr
    assert run.calls == []


@pytest.mark.parametrize(
    "content", ["http://hooks.example/plain-secret-token\n", "", "\n", "not a url at all\n", "https://a b\n"],
    ids=["http", "empty", "blank-line", "text", "space"],
)  # fmt: skip
def test_deploy_rejects_a_webhook_file_without_an_https_url_and_never_echoes_it(tmp_path: Path, content: str):
    run = run_script(DEPLOY, [*STACK_ARGS, "-w", str(write_webhook_file(tmp_path, content))], tmp_path)

    assert_usage_error(run)
    assert run.calls == []
    if content.strip():
        assert content.strip() not in run.stderr


def test_deploy_rejects_a_missing_webhook_file(tmp_path: Path):
    run = run_script(DEPLOY, [*STACK_ARGS, "-w", str(tmp_path / "nope.txt")], tmp_path)

    assert_usage_error(run)
    assert "is not a readable file" in run.stderr


def test_deploy_passes_the_parquet_sink_prefix_auth_item_and_private_objects_to_terraform(tmp_path: Path):
    args = [*STACK_ARGS, "-T", "parquet", "-P", "spotlake/azure", "-A", "OtherAuth", "-I", "item-2",
            "-R", "us-east-1", "-N"]  # fmt: skip
    run = run_script(DEPLOY, args, tmp_path)

    assert run.returncode == 0, run.stderr
    variables = tf_vars(run.calls[-1].argv)
    assert variables["timestream_database"] == ""  # the stack's switch to the Parquet sink
    assert variables["bucket_prefix"] == "spotlake/azure"
    assert (variables["azure_auth_table"], variables["azure_auth_item"]) == ("OtherAuth", "item-2")
    assert variables["azure_auth_region"] == "us-east-1"
    assert variables["public_read"] == "false"


def test_deploy_takes_a_named_timestream_table_and_an_explicit_bucket_root(tmp_path: Path):
    run = run_script(DEPLOY, [*STACK_ARGS, "-T", "timestream:lake_db/azure_v2", "-P", ""], tmp_path)

    assert run.returncode == 0, run.stderr
    variables = tf_vars(run.calls[-1].argv)
    assert (variables["timestream_database"], variables["timestream_table"]) == ("lake_db", "azure_v2")
    assert variables["bucket_prefix"] == ""


@pytest.mark.parametrize(
    ("option", "value"),
    [("-P", "*"), ("-P", "collector/*"), ("-P", "a?b"), ("-P", "/collector"), ("-P", "collector/"), ("-P", "a//b"),
     ("-P", "a/../b"), ("-P", ".."), ("-T", "sqlite:///x.db"), ("-T", "timestream:db"), ("-T", "timestream:d/t"),
     ("-A", "a"), ("-A", "bad table"), ("-I", ""), ("-R", "us_east_1")],
)  # fmt: skip
def test_deploy_rejects_bad_stack_options_before_running_terraform(tmp_path: Path, option: str, value: str):
    run = run_script(DEPLOY, [*STACK_ARGS, option, value], tmp_path)

    assert_usage_error(run)
    assert option in run.stderr
    assert run.calls == []


def test_deploy_exits_non_zero_when_terraform_fails(tmp_path: Path):
    run = run_script(DEPLOY, STACK_ARGS, tmp_path, {"STAND_IN_TF_RC": "1"})

    assert run.returncode == 1
    assert [c.argv[1] for c in run.calls] == ["init"]


def test_destroy_runs_terraform_init_then_destroy_with_the_same_variables(tmp_path: Path):
    run = run_script(DESTROY, [*STACK_ARGS, "-y"], tmp_path)

    assert run.returncode == 0, run.stderr
    init, destroy = (c.argv for c in run.calls)
    assert init[1:] == ["init", "-input=false"]
    assert destroy[1:3] == ["destroy", "-input=false"]
    assert "-auto-approve" in destroy
    assert tf_vars(destroy)["subnet_ids"] == '["subnet-0123456789abcdef0","subnet-0fedcba9876543210"]'


def test_destroy_plans_with_the_same_stack_options_as_the_deploy(tmp_path: Path):
    options = ["-T", "parquet", "-P", "spotlake/azure", "-R", "us-east-1", "-N"]
    deploy = run_script(DEPLOY, [*STACK_ARGS, *options], tmp_path)
    destroy = run_script(DESTROY, [*STACK_ARGS, *options], tmp_path)

    assert deploy.returncode == destroy.returncode == 0, deploy.stderr + destroy.stderr
    assert tf_vars(destroy.calls[-1].argv) == tf_vars(deploy.calls[-1].argv)


def test_destroy_does_not_accept_a_webhook(tmp_path: Path):
    run = run_script(DESTROY, [*STACK_ARGS, "-w", str(write_webhook_file(tmp_path))], tmp_path)

    assert_usage_error(run)
    assert WEBHOOK not in run.stderr


# ---------------------------------------------------------------- delete_image.sh


def test_delete_image_deletes_the_latest_tag_of_the_default_repository(tmp_path: Path):
    run = run_script(DELETE, [], tmp_path)

    assert run.returncode == 0, run.stderr
    [call] = run.calls
    assert call.argv[:6] == [
        "ecr", "batch-delete-image", "--repository-name", "spotlake-azure-batch", "--image-ids", "imageTag=latest",
    ]  # fmt: skip
    assert call.env["AWS_REGION"] == "us-west-2"


def test_delete_image_uses_the_given_region_tag_and_repository(tmp_path: Path):
    run = run_script(DELETE, ["-r", "ap-northeast-2", "-t", "v7", "-n", "other"], tmp_path)

    assert run.returncode == 0, run.stderr
    assert run.calls[0].argv[3] == "other"
    assert run.calls[0].argv[5] == "imageTag=v7"
    assert run.calls[0].env["AWS_REGION"] == "ap-northeast-2"


def test_delete_image_fails_when_ecr_reports_the_tag_was_not_deleted(tmp_path: Path):
    run = run_script(DELETE, ["-t", "gone"], tmp_path, {"STAND_IN_DELETE_FAILS": "1"})

    assert run.returncode == 1
    assert "ImageNotFound" in run.stderr


@pytest.mark.parametrize("args", [["-t"], ["-t", "a b"], ["-r", "mars-1"], ["-q"], ["stray"]])
def test_delete_image_rejects_bad_usage_with_exit_2(tmp_path: Path, args: list[str]):
    run = run_script(DELETE, args, tmp_path)

    assert_usage_error(run)
    assert run.calls == []
