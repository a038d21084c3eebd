"""The CDK app's synthesized template, created as a stack in the local AWS emulator's
CloudFormation (moto), so the template is shown to deploy on an engine and the console's stack
discovery can be tested against a real stack.

usage:
  local-stack.py create  --name NAME --template infra/cdk.out/Driftline.template.json
  local-stack.py outputs --name NAME
  local-stack.py delete  --name NAME

create  uploads the template's assets as `cdk deploy` would (the asset manifest beside the
        template, <stack>.assets.json, names each file or directory and the bucket and key CDK
        expects: with the default synthesizer, the bootstrap bucket
        cdk-hnb659fds-assets-<account>-<region>, created here), puts the bootstrap version
        parameter the template reads, creates the stack, waits for CREATE_COMPLETE, checks that
        every resource of the template exists and every output has a value, and prints the
        outputs as one JSON object on stdout. What it had to do by hand goes to stderr.
outputs prints the outputs of an existing stack as one JSON object.
delete  deletes the stack and what `create` made by hand for it.

The emulator is the one at AWS_ENDPOINT_URL, which must be on loopback: this script never
talks to AWS itself. Region AWS_REGION (default us-east-1), any credentials.

What moto 5.2.5's CloudFormation cannot create, and what this does about it (each is listed on
stderr when the template has it; docs/DEPLOY.md, "The template on a local engine"):

  AWS::SecretsManager::Secret      created first through Secrets Manager's API (an empty
                                   secret, as the template asks), its Ref replaced by its ARN
  AWS::CloudWatch::Alarm           created after the stack through PutMetricAlarm, its
                                   references resolved against the stack; a GetAtt of its Arn
                                   (the dashboard's alarm widget) replaced by the ARN of the
                                   name given here (<stack>-<logical id>)
  AWS::SQS::QueuePolicy            applied after the stack with SetQueueAttributes
  AWS::SNS::TopicPolicy            applied after the stack with SetTopicAttributes
  AWS::SNS::Subscription           made after the stack with Subscribe
  AWS::Lambda::EventInvokeConfig   applied after the stack with PutFunctionEventInvokeConfig
  AWS::CDK::Metadata               left out: CDK's version report, not a resource of the app

Any other type moto cannot create fails `create` before anything is made, naming it. moto does
not evaluate the template's Rules (the bootstrap version check) and cannot run the functions
(Lambda without Docker): they are created, not invoked.
"""

import argparse
import copy
import functools
import io
import json
import os
import sys
import time
import zipfile

import boto3
import botocore.exceptions

REGION = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"

# Made before the stack; the template's references to them become literals.
BEFORE = {"AWS::SecretsManager::Secret"}
# Made after the stack through the service APIs; nothing else in the stack may refer to them
# (except a GetAtt of an alarm's Arn, which is known from its name).
AFTER = {
    "AWS::CloudWatch::Alarm",
    "AWS::SQS::QueuePolicy",
    "AWS::SNS::TopicPolicy",
    "AWS::SNS::Subscription",
    "AWS::Lambda::EventInvokeConfig",
}
LEFT_OUT = {"AWS::CDK::Metadata"}


class HarnessError(Exception):
    """Why the stack could not be made as the template says; the message names the resource."""


def endpoint() -> str:
    url = os.environ.get("AWS_ENDPOINT_URL", "")
    if not (url.startswith("http://127.0.0.1") or url.startswith("http://localhost")):
        raise HarnessError(
            f"AWS_ENDPOINT_URL={url!r} is not the local emulator on loopback: refusing to run "
            "(start one with scripts/with-moto.sh or `make aws-up`)"
        )
    return url


@functools.cache
def client(service: str):
    return boto3.client(
        service,
        endpoint_url=endpoint(),
        region_name=REGION,
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
    )


# What moto 5.2.5 (pinned in scripts/requirements.txt) creates of the types the app uses, so
# the common case needs no look into moto itself (importing its model map takes seconds).
MOTO_CREATES = {
    "AWS::CloudWatch::Dashboard",
    "AWS::DynamoDB::Table",
    "AWS::Events::Rule",
    "AWS::IAM::ManagedPolicy",
    "AWS::IAM::Role",
    "AWS::Lambda::EventSourceMapping",
    "AWS::Lambda::Function",
    "AWS::Lambda::Permission",
    "AWS::Logs::LogGroup",
    "AWS::SNS::Topic",
    "AWS::SQS::Queue",
}


def unsupported_by_moto(types: set[str]) -> set[str]:
    """The resource types moto's CloudFormation has no model for: it would skip them silently.
    (`create` also checks afterwards that every resource it left to moto was created.)"""
    known_missing = BEFORE | AFTER | LEFT_OUT
    unknown = types - MOTO_CREATES - known_missing
    missing = types & known_missing
    if unknown:
        from moto.cloudformation.parsing import get_model_map

        models = get_model_map()
        missing |= {t for t in unknown if t not in models}
    return missing


def walk(value, visit):
    """A copy of `value` with every dict passed through `visit` first (which may replace it)."""
    if isinstance(value, dict):
        replaced = visit(value)
        if replaced is not value:
            return replaced
        return {k: walk(v, visit) for k, v in value.items()}
    if isinstance(value, list):
        return [walk(v, visit) for v in value]
    return value


def references(value) -> set[str]:
    """The logical ids a value refers to with Ref or Fn::GetAtt."""
    found: set[str] = set()

    def visit(node):
        if "Ref" in node and isinstance(node["Ref"], str):
            found.add(node["Ref"])
        if "Fn::GetAtt" in node:
            found.add(node["Fn::GetAtt"][0])
        return node

    walk(value, visit)
    return found


# ---------------------------------------------------------------------------------------------
# assets


def upload_assets(template_path: str, account: str) -> list[str]:
    """Uploads what the asset manifest beside the template lists; returns the keys."""
    out_dir = os.path.dirname(os.path.abspath(template_path))
    stack_file = os.path.basename(template_path)
    manifest_path = os.path.join(out_dir, stack_file.replace(".template.json", ".assets.json"))
    if not os.path.exists(manifest_path):
        raise HarnessError(f"no asset manifest at {manifest_path}: synthesize the app first (make infra-test)")
    with open(manifest_path) as f:
        manifest = json.load(f)
    if manifest.get("dockerImages"):
        raise HarnessError(f"{manifest_path} lists Docker images, which the emulator cannot hold")
    s3 = client("s3")
    made_buckets: set[str] = set()
    keys = []
    for asset in manifest.get("files", {}).values():
        source = os.path.join(out_dir, asset["source"]["path"])
        packaging = asset["source"].get("packaging", "file")
        body = zip_directory(source) if packaging == "zip" and os.path.isdir(source) else read(source)
        for dest in asset["destinations"].values():
            bucket = dest["bucketName"].replace("${AWS::AccountId}", account).replace("${AWS::Region}", REGION)
            if bucket not in made_buckets:
                create_bucket(s3, bucket)
                made_buckets.add(bucket)
            s3.put_object(Bucket=bucket, Key=dest["objectKey"], Body=body)
            keys.append(f"s3://{bucket}/{dest['objectKey']}")
    return keys


def create_bucket(s3, bucket: str) -> None:
    kwargs = {} if REGION == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": REGION}}
    try:
        s3.create_bucket(Bucket=bucket, **kwargs)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass


def read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def zip_directory(directory: str) -> bytes:
    """The directory as CDK publishes it: a zip of its files, modes kept (bootstrap is executable)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for root, _, files in sorted(os.walk(directory)):
            for name in sorted(files):
                path = os.path.join(root, name)
                info = zipfile.ZipInfo(os.path.relpath(path, directory))
                info.external_attr = (os.stat(path).st_mode & 0xFFFF) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                z.writestr(info, read(path))
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------
# what moto cannot create


def plan_workarounds(template: dict, stack: str) -> tuple[dict, dict]:
    """Splits the template's resources moto cannot create into those made before, after, or
    left out, and checks that nothing the emulator does create refers to them in a way this
    script cannot stand in for. Returns ({logical id: type} made by hand, alarm names)."""
    resources = template["Resources"]
    missing = unsupported_by_moto({r["Type"] for r in resources.values()})
    unknown = sorted(
        f"{rid} ({r['Type']})" for rid, r in resources.items() if r["Type"] in missing and r["Type"] not in BEFORE | AFTER | LEFT_OUT
    )
    if unknown:
        raise HarnessError(
            "moto cannot create " + ", ".join(unknown) + " and scripts/local-stack.py does not know how to stand in for it"
        )
    by_hand = {rid: r["Type"] for rid, r in resources.items() if r["Type"] in missing}
    alarm_names = {rid: r["Properties"].get("AlarmName", f"{stack}-{rid}") for rid, r in resources.items() if r["Type"] == "AWS::CloudWatch::Alarm" and rid in by_hand}
    after_or_out = {rid for rid, t in by_hand.items() if t in AFTER | LEFT_OUT}
    for rid, r in resources.items():
        if rid in after_or_out:
            continue
        for ref in references(r) & after_or_out:
            # The dashboard's alarm widget: a GetAtt of the alarm's Arn, known from its name.
            if by_hand[ref] == "AWS::CloudWatch::Alarm" and only_arn_of(r, ref):
                continue
            raise HarnessError(f"{rid} refers to {ref} ({by_hand[ref]}), which moto cannot create before it")
    return by_hand, alarm_names


def only_arn_of(resource: dict, target: str) -> bool:
    uses: list[str] = []

    def visit(node):
        if node.get("Ref") == target:
            uses.append("Ref")
        if "Fn::GetAtt" in node and node["Fn::GetAtt"][0] == target:
            uses.append(node["Fn::GetAtt"][1])
        return node

    walk(resource, visit)
    return all(u == "Arn" for u in uses)


def alarm_arn(account: str, name: str) -> str:
    return f"arn:aws:cloudwatch:{REGION}:{account}:alarm:{name}"


def create_before(template: dict, by_hand: dict, stack: str) -> dict:
    """Makes the resources that come before the stack; returns {logical id: what Ref gives}."""
    made = {}
    secrets = client("secretsmanager")
    for rid, rtype in by_hand.items():
        if rtype != "AWS::SecretsManager::Secret":
            continue
        props = template["Resources"][rid].get("Properties", {})
        if "GenerateSecretString" in props or "SecretString" in props or "KmsKeyId" in props:
            raise HarnessError(f"{rid}: only an empty secret is stood in for, and this one has a value or a key")
        name = props.get("Name", f"{stack}-{rid}")
        kwargs = {"Name": name}
        if "Description" in props:
            kwargs["Description"] = props["Description"]
        made[rid] = secrets.create_secret(**kwargs)["ARN"]
        note(f"{rid} (AWS::SecretsManager::Secret): created before the stack through Secrets Manager as {name}")
    return made


def rewritten(template: dict, by_hand: dict, before: dict, alarm_names: dict, account: str) -> dict:
    """The template moto is given: the resources made by hand taken out, references to those
    made before replaced by their values, an alarm's Arn by the ARN of its name."""
    t = copy.deepcopy(template)
    for rid in by_hand:
        del t["Resources"][rid]

    def visit(node):
        if "Ref" in node and node["Ref"] in before:
            return before[node["Ref"]]
        if "Fn::GetAtt" in node:
            target, attribute = node["Fn::GetAtt"][0], node["Fn::GetAtt"][1]
            if target in before:
                raise HarnessError(f"a GetAtt of {target}.{attribute}, which is made before the stack, is not stood in for")
            if target in alarm_names and attribute == "Arn":
                return alarm_arn(account, alarm_names[target])
        return node

    t = walk(t, visit)
    for r in t["Resources"].values():
        if "DependsOn" in r:
            deps = [r["DependsOn"]] if isinstance(r["DependsOn"], str) else r["DependsOn"]
            r["DependsOn"] = [d for d in deps if d not in by_hand]
            if not r["DependsOn"]:
                del r["DependsOn"]
    return t


class Resolver:
    """Resolves Ref, Fn::GetAtt and Fn::Join against a created stack, for what comes after it."""

    def __init__(self, stack: str, template: dict, account: str, before: dict, alarm_names: dict):
        self.template = template
        self.before = before
        self.alarm_names = alarm_names
        self.pseudo = {
            "AWS::Region": REGION,
            "AWS::AccountId": account,
            "AWS::Partition": "aws",
            "AWS::StackName": stack,
            "AWS::URLSuffix": "amazonaws.com",
        }
        cfn = client("cloudformation")
        self.physical = {}
        # Created, whether or not it has a physical id (a Lambda permission has none in moto).
        self.complete: set[str] = set()
        for page in cfn.get_paginator("list_stack_resources").paginate(StackName=stack):
            for r in page["StackResourceSummaries"]:
                self.physical[r["LogicalResourceId"]] = r.get("PhysicalResourceId")
                if r["ResourceStatus"] == "CREATE_COMPLETE":
                    self.complete.add(r["LogicalResourceId"])

    def ref(self, rid: str):
        if rid in self.pseudo:
            return self.pseudo[rid]
        if rid in self.before:
            return self.before[rid]
        if rid in self.alarm_names:
            return self.alarm_names[rid]
        if self.physical.get(rid):
            return self.physical[rid]
        raise HarnessError(f"Ref {rid}: not in the created stack")

    def get_att(self, rid: str, attribute: str):
        rtype = self.template["Resources"].get(rid, {}).get("Type")
        physical = self.ref(rid)
        if rtype == "AWS::SQS::Queue":
            if attribute == "Arn":
                return client("sqs").get_queue_attributes(QueueUrl=physical, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            if attribute == "QueueName":
                return physical.rsplit("/", 1)[-1]
            if attribute == "QueueUrl":
                return physical
        if rtype == "AWS::SNS::Topic" and attribute == "TopicArn":
            return physical
        if rtype == "AWS::Lambda::Function" and attribute == "Arn":
            return client("lambda").get_function(FunctionName=physical)["Configuration"]["FunctionArn"]
        if rtype == "AWS::DynamoDB::Table" and attribute == "Arn":
            return client("dynamodb").describe_table(TableName=physical)["Table"]["TableArn"]
        raise HarnessError(f"GetAtt {rid}.{attribute} ({rtype}): not resolved by scripts/local-stack.py")

    def resolve(self, value):
        def visit(node):
            if "Ref" in node:
                return self.ref(node["Ref"])
            if "Fn::GetAtt" in node:
                return self.get_att(node["Fn::GetAtt"][0], node["Fn::GetAtt"][1])
            if "Fn::Join" in node:
                separator, parts = node["Fn::Join"]
                return separator.join(str(self.resolve(p)) for p in parts)
            intrinsic = [k for k in node if k.startswith("Fn::")]
            if intrinsic:
                raise HarnessError(f"{intrinsic[0]} is not resolved by scripts/local-stack.py")
            return node

        return walk(value, visit)


def create_after(stack: str, template: dict, by_hand: dict, resolver: Resolver) -> None:
    """Makes, through the service APIs, what comes after the stack."""
    for rid, rtype in by_hand.items():
        if rtype not in AFTER:
            continue
        props = resolver.resolve(template["Resources"][rid].get("Properties", {}))
        if rtype == "AWS::CloudWatch::Alarm":
            props = {k: v for k, v in props.items() if k != "AlarmName"}
            client("cloudwatch").put_metric_alarm(AlarmName=resolver.alarm_names[rid], **props)
            how = f"PutMetricAlarm {resolver.alarm_names[rid]}"
        elif rtype == "AWS::SQS::QueuePolicy":
            for url in props["Queues"]:
                client("sqs").set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(props["PolicyDocument"])})
            how = "SetQueueAttributes Policy"
        elif rtype == "AWS::SNS::TopicPolicy":
            for arn in props["Topics"]:
                client("sns").set_topic_attributes(TopicArn=arn, AttributeName="Policy", AttributeValue=json.dumps(props["PolicyDocument"]))
            how = "SetTopicAttributes Policy"
        elif rtype == "AWS::SNS::Subscription":
            client("sns").subscribe(TopicArn=props["TopicArn"], Protocol=props["Protocol"], Endpoint=props["Endpoint"])
            how = f"Subscribe {props['Protocol']}"
        elif rtype == "AWS::Lambda::EventInvokeConfig":
            client("lambda").put_function_event_invoke_config(**props)
            how = "PutFunctionEventInvokeConfig"
        note(f"{rid} ({rtype}): made after the stack through {how}")


# ---------------------------------------------------------------------------------------------
# commands


def note(message: str) -> None:
    print(f"local-stack: {message}", file=sys.stderr)


def stack_outputs(name: str) -> dict:
    stacks = client("cloudformation").describe_stacks(StackName=name)["Stacks"]
    return {o["OutputKey"]: o.get("OutputValue") for o in stacks[0].get("Outputs", [])}


def create(name: str, template_path: str) -> dict:
    if not os.path.exists(template_path):
        raise HarnessError(f"no template at {template_path}: synthesize the app first (make infra-test)")
    with open(template_path) as f:
        template = json.load(f)
    account = client("sts").get_caller_identity()["Account"]
    by_hand, alarm_names = plan_workarounds(template, name)
    for rid, rtype in by_hand.items():
        if rtype in LEFT_OUT:
            note(f"{rid} ({rtype}): left out (CDK's version report, not a resource of the app)")
    upload_assets(template_path, account)
    # The bootstrap version the template reads (and checks, in Rules moto does not evaluate).
    for parameter in template.get("Parameters", {}).values():
        if parameter.get("Type", "").startswith("AWS::SSM::Parameter::Value") and parameter.get("Default"):
            client("ssm").put_parameter(Name=parameter["Default"], Value="30", Type="String", Overwrite=True)
    before = create_before(template, by_hand, name)
    cfn = client("cloudformation")
    cfn.create_stack(
        StackName=name,
        TemplateBody=json.dumps(rewritten(template, by_hand, before, alarm_names, account)),
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    deadline = time.monotonic() + 120
    while True:
        found = cfn.describe_stacks(StackName=name)["Stacks"][0]
        if not found["StackStatus"].endswith("_IN_PROGRESS") or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    if found["StackStatus"] != "CREATE_COMPLETE":
        raise HarnessError(f"stack {name}: {found['StackStatus']} {found.get('StackStatusReason') or ''}".strip())
    resolver = Resolver(name, template, account, before, alarm_names)
    absent = sorted(set(template["Resources"]) - resolver.complete - set(by_hand))
    if absent:
        raise HarnessError(f"stack {name} is CREATE_COMPLETE without " + ", ".join(absent))
    create_after(name, template, by_hand, resolver)
    outputs = stack_outputs(name)
    empty = sorted(set(template.get("Outputs", {})) - {k for k, v in outputs.items() if v})
    if empty:
        raise HarnessError(f"stack {name} has no value for output(s) " + ", ".join(empty))
    return outputs


def delete(name: str) -> None:
    client("cloudformation").delete_stack(StackName=name)
    secrets = client("secretsmanager")
    for page in secrets.get_paginator("list_secrets").paginate(Filters=[{"Key": "name", "Values": [f"{name}-"]}]):
        for secret in page["SecretList"]:
            secrets.delete_secret(SecretId=secret["ARN"], ForceDeleteWithoutRecovery=True)
    cloudwatch = client("cloudwatch")
    alarms = [a["AlarmName"] for a in cloudwatch.describe_alarms(AlarmNamePrefix=f"{name}-")["MetricAlarms"]]
    if alarms:
        cloudwatch.delete_alarms(AlarmNames=alarms)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["create", "outputs", "delete"])
    parser.add_argument("--name", required=True, help="the stack's name")
    parser.add_argument("--template", help="the synthesized template (create)")
    args = parser.parse_args()
    try:
        if args.command == "create":
            if not args.template:
                parser.error("create needs --template")
            print(json.dumps(create(args.name, args.template), indent=2, sort_keys=True))
        elif args.command == "outputs":
            print(json.dumps(stack_outputs(args.name), indent=2, sort_keys=True))
        else:
            delete(args.name)
    except (HarnessError, botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
        print(f"local-stack: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
